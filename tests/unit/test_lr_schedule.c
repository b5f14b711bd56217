/* train/lr_schedule: one case per rule of training.md §3 (the webui's LearnScheduleIterator and
 * LearnRateScheduler, Python int()/float() syntax) and §11 (warmup, cosine to lr_min). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testkit.h"
#include "train/lr_schedule.h"

/* Parses and compares the pairs with want[] = {rate, end, rate, end, ...}. */
static void pairs(const char *text, int64_t max, int64_t s0, const double *want, size_t n_want,
                  bool tail)
{
    vkt_lr_schedule s;
    vkt_err err = {0};
    if (vkt_lr_schedule_parse(text, max, s0, "learning rate", &s, &err)) {
        TK_CHECK(0, "\"%s\" (max %lld, s0 %lld) failed: %s", text, (long long)max, (long long)s0,
                 err.msg);
        return;
    }
    bool ok = s.n == n_want / 2 && s.tail_ignored == tail;
    for (size_t i = 0; ok && i < s.n; i++)
        ok = s.pairs[i].rate == want[2 * i] && s.pairs[i].end == (int64_t)want[2 * i + 1];
    TK_CHECK(ok, "\"%s\" (max %lld, s0 %lld): %zu pairs, first (%g, %lld), tail %d", text,
             (long long)max, (long long)s0, s.n, s.n ? s.pairs[0].rate : 0,
             s.n ? (long long)s.pairs[0].end : 0, s.tail_ignored);
    vkt_lr_schedule_fini(&s);
}

static void bad(const char *text, int64_t max, int64_t s0, const char *want)
{
    vkt_lr_schedule s;
    vkt_err err = {0};
    vkt_status st = vkt_lr_schedule_parse(text, max, s0, "learning rate", &s, &err);
    TK_CHECK(st == VKT_ERR_USAGE && strstr(err.msg, want) &&
                 strstr(err.msg, "invalid learning rate"),
             "\"%s\" should fail with \"%s\": %s", text, want, err.msg);
    if (!st) vkt_lr_schedule_fini(&s);
}

static void test_parse(void)
{
    /* the wiki's example */
    pairs("0.005:100, 1e-3:1000, 1e-5", 100000, 0, (double[]){0.005, 100, 1e-3, 1000, 1e-5, 100000},
          6, false);
    /* a bare number lasts until max_steps */
    pairs("0.005", 500, 0, (double[]){0.005, 500}, 2, false);
    /* ends are clamped to max_steps; parsing stops after an end beyond it */
    pairs("0.005:100, 1e-3:1000, 1e-5", 500, 0, (double[]){0.005, 100, 1e-3, 500}, 4, true);
    /* an end equal to max_steps does not stop parsing */
    pairs("0.1:500, 0.2:600", 500, 0, (double[]){0.1, 500, 0.2, 500}, 4, false);
    /* rate:-1 means until the end and ignores later items */
    pairs("0.1:-1, 0.2:100", 1000, 0, (double[]){0.1, 1000}, 2, true);
    /* items ending at or before the start step are dropped (resume); -5 is not -1 */
    pairs("0.1:100, 0.2:200, 0.3", 1000, 150, (double[]){0.2, 200, 0.3, 1000}, 4, false);
    pairs("0.1:150, 0.2", 1000, 150, (double[]){0.2, 1000}, 2, false);
    pairs("9:0, 8:-5, 0.5", 1000, 0, (double[]){0.5, 1000}, 2, false);
    /* a dropped item's rate is never read */
    pairs("abc:5, 0.1", 1000, 10, (double[]){0.1, 1000}, 2, false);
    /* blank items are skipped; a tail after a bare rate is ignored (even garbage) */
    pairs(" , ,0.1:10,, 0.2 ,garbage", 100, 0, (double[]){0.1, 10, 0.2, 100}, 4, true);
    pairs("0.1,  ,", 100, 0, (double[]){0.1, 100}, 2, false);
    /* 3+ ':' parts: only the first is read, as a bare rate */
    pairs("0.1:5:7, 0.2", 100, 0, (double[]){0.1, 100}, 2, true);
    /* Python int(): whitespace, sign, underscores */
    pairs("0.1: +1_0 ", 100, 0, (double[]){0.1, 10}, 2, false);
    /* Python float(): exponent, leading dot, trailing dot, underscores, surrounding space */
    pairs("1e-3:1, .5:2, 5.:3, 1_0.2_5:4,\t2E+0 ", 100, 0,
          (double[]){1e-3, 1, 0.5, 2, 5.0, 3, 10.25, 4, 2.0, 100}, 10, false);
    /* zero is a valid rate; huge ends saturate and clamp */
    pairs("0:99999999999999999999999", 100, 0, (double[]){0, 100}, 2, false);

    bad("", 100, 0, "no rate applies");
    bad("  ,  ", 100, 0, "no rate applies");
    bad("0.005:100", 1000, 150, "no rate applies after step 150");
    bad("0.1:1e3", 100, 0, "not an integer");
    bad("0.1:100.0", 100, 0, "not an integer");
    bad("0.1:", 100, 0, "not an integer");
    bad("0.1:1__0", 100, 0, "not an integer");
    bad(":5", 100, 0, "is not a number");
    bad("abc", 100, 0, "is not a number");
    bad("0x1p3", 100, 0, "is not a number");
    bad("1e", 100, 0, "is not a number");
    bad("1_", 100, 0, "is not a number");
    bad("-0.1", 100, 0, "finite and >= 0");
    bad("nan", 100, 0, "finite and >= 0");
    bad("inf:10, 0.1", 100, 0, "finite and >= 0");
}

static void sim(const char *text, int64_t max, int64_t s0, int G, const double *want,
                int64_t n_want)
{
    vkt_lr_schedule s;
    vkt_err err = {0};
    if (vkt_lr_schedule_parse(text, max, s0, "learning rate", &s, &err)) {
        TK_CHECK(0, "%s", err.msg);
        return;
    }
    double got[64];
    int64_t n = vkt_lr_schedule_simulate(&s, s0, max, G, got, 64);
    bool ok = n == n_want;
    for (int64_t i = 0; ok && i < n && i < 64; i++)
        ok = got[i] == want[i];
    TK_CHECK(ok, "simulate \"%s\" max %lld s0 %lld G %d: %lld updates", text, (long long)max,
             (long long)s0, G, (long long)n);
    vkt_lr_schedule_fini(&s);
}

static void test_use(void)
{
    /* switches at the right updates: update s uses the first pair with end > s */
    sim("0.3:2, 0.2:4, 0.1", 6, 0, 1, (double[]){0.3, 0.3, 0.2, 0.2, 0.1, 0.1}, 6);
    /* same with accumulation: checks before every mini-batch do not skip pairs */
    sim("0.3:2, 0.2:4, 0.1", 6, 0, 3, (double[]){0.3, 0.3, 0.2, 0.2, 0.1, 0.1}, 6);
    /* the last pair ending before max_steps stops training there */
    sim("0.3:2, 0.2:4", 10, 0, 1, (double[]){0.3, 0.3, 0.2, 0.2}, 4);
    /* resumed at 3: parsed against 3, the schedule continues where it was */
    sim("0.3:2, 0.2:4, 0.1", 6, 3, 1, (double[]){0.2, 0.1, 0.1}, 3);
    /* one pair per check: an out-of-order end is still used for one update ... */
    sim("0.3:2, 0.2:1, 0.1", 6, 0, 1, (double[]){0.3, 0.3, 0.2, 0.1, 0.1, 0.1}, 6);
    /* ... unless the update's next mini-batch check moves on again */
    sim("0.3:2, 0.2:1, 0.1", 6, 0, 2, (double[]){0.3, 0.3, 0.1, 0.1, 0.1, 0.1}, 6);
    /* as the last pair it is used once, then training stops */
    sim("0.3:2, 0.2:1", 6, 0, 1, (double[]){0.3, 0.3, 0.2}, 3);
    /* with accumulation 2 the second check inside that update finishes first */
    sim("0.3:2, 0.2:1", 6, 0, 2, (double[]){0.3, 0.3}, 2);

    vkt_lr_schedule s;
    vkt_err err = {0};
    vkt_lr_schedule_parse("0.3:2, 0.2", 5, 0, "gradient clip value", &s, &err);
    TK_CHECK(!vkt_lr_schedule_check(&s, 0) && !vkt_lr_schedule_check(&s, 1) && s.rate == 0.3,
             "no change before the end");
    TK_CHECK(vkt_lr_schedule_check(&s, 2) && s.rate == 0.2 && s.end == 5, "changes at step 2");
    TK_CHECK(!vkt_lr_schedule_check(&s, 5) && s.finished && s.rate == 0.2,
             "finished keeps the last value (clip schedules go on)");
    vkt_lr_schedule_fini(&s);
    TK_CHECK(vkt_lr_schedule_parse("x", 5, 0, "gradient clip value", &s, &err) == VKT_ERR_USAGE &&
                 strstr(err.msg, "invalid gradient clip value schedule \"x\""),
             "names the setting: %s", err.msg);
}

static void test_extras(void)
{
    vkt_lr_extras none = {0};
    TK_CHECK(vkt_lr_effective(&none, 0.005, 17, 100) == 0.005 &&
                 vkt_lr_effective(NULL, 0.5, 3, 9) == 0.5,
             "no extras: the scheduled rate");
    vkt_lr_extras w = {.warmup = 4};
    TK_CHECK(
        vkt_lr_effective(&w, 1.0, 0, 100) == 0.25 && vkt_lr_effective(&w, 1.0, 2, 100) == 0.75 &&
            vkt_lr_effective(&w, 1.0, 3, 100) == 1.0 && vkt_lr_effective(&w, 1.0, 50, 100) == 1.0,
        "linear warmup min(1, (k+1)/W)");
    vkt_lr_extras c = {.cosine = true};
    /* lr_k = (1 + cos(pi k / T)) / 2 with T = max_steps = 100 */
    TK_CHECK(vkt_lr_effective(&c, 2.0, 0, 100) == 2.0, "cosine starts at the rate");
    TK_CHECK(fabs(vkt_lr_effective(&c, 2.0, 50, 100) - 1.0) < 1e-15, "half way: half");
    TK_CHECK(fabs(vkt_lr_effective(&c, 2.0, 25, 100) - (1 + cos(M_PI / 4))) < 1e-15, "quarter");
    TK_CHECK(vkt_lr_effective(&c, 2.0, 100, 100) == 0 && vkt_lr_effective(&c, 2.0, 150, 100) == 0,
             "clamped at T (torch would rise again)");
    c.lr_min = 0.5;
    c.cosine_steps = 10;
    TK_CHECK(fabs(vkt_lr_effective(&c, 2.5, 5, 100) - 1.5) < 1e-15 &&
                 vkt_lr_effective(&c, 2.5, 10, 100) == 0.5,
             "to lr_min over T = cosine_steps");
    /* both: lr0 * (1 + cos(pi k / T)) / 2 * min(1, (k+1)/W) */
    vkt_lr_extras b = {.cosine = true, .warmup = 10};
    double want = 1e-3 * (1 + cos(M_PI * 4 / 200.0)) / 2 * 5 / 10.0;
    TK_CHECK(fabs(vkt_lr_effective(&b, 1e-3, 4, 200) - want) < 1e-18, "warmup x cosine");
    vkt_err err = {0};
    TK_CHECK(vkt_lr_extras_check(&b, &err) == VKT_OK, "good extras");
    b.lr_min = -1;
    TK_CHECK(vkt_lr_extras_check(&b, &err) == VKT_ERR_USAGE, "negative lr_min");
    b.lr_min = 0;
    b.warmup = -3;
    TK_CHECK(vkt_lr_extras_check(&b, &err) == VKT_ERR_USAGE, "negative warmup");
}

int main(void)
{
    test_parse();
    test_use();
    test_extras();
    return tk_finish("lr_schedule");
}
