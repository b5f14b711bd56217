/* Learning-rate schedules: the webui's learn_schedule.py (LearnScheduleIterator,
 * LearnRateScheduler) with Python's int()/float() number syntax, and the DALLE2 extras.
 * Host code only; the rules are listed in lr_schedule.h. */
#include "train/lr_schedule.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/fault.h"

/* Python's str.strip() whitespace, ASCII part: \t \n \v \f \r, \x1c-\x1f, space. */
static bool py_space(unsigned char c)
{
    return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f);
}

static void strip(const char **s, size_t *n)
{
    while (*n && py_space((unsigned char)**s))
        (*s)++, (*n)--;
    while (*n && py_space((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

/* A run of digits with single underscores between digits (PEP 515); returns its length, copying
 * the digits (without underscores) to *o. 0 when malformed or empty. */
static size_t digits(const char *s, size_t n, char **o)
{
    size_t i = 0;
    while (i < n) {
        if (isdigit((unsigned char)s[i])) {
            *(*o)++ = s[i++];
        } else if (s[i] == '_' && i > 0 && isdigit((unsigned char)s[i - 1]) && i + 1 < n &&
                   isdigit((unsigned char)s[i + 1])) {
            i++;
        } else {
            break;
        }
    }
    return i;
}

/* Python int(s): [sign] digits, surrounding whitespace allowed. Values beyond int64 saturate
 * (they are only compared with step counts). */
static bool py_int(const char *s, size_t n, int64_t *out)
{
    strip(&s, &n);
    char buf[4096], *o = buf;
    bool neg = false;
    if (n && (*s == '+' || *s == '-')) neg = *s == '-', s++, n--;
    if (!n || n >= sizeof buf) return false;
    if (digits(s, n, &o) != n || o == buf) return false;
    int64_t v = 0;
    for (char *p = buf; p < o; p++) {
        int d = *p - '0';
        v = v > (INT64_MAX - d) / 10 ? INT64_MAX : v * 10 + d;
    }
    *out = neg ? -v : v;
    return true;
}

/* Python float(s) for decimal text: [sign] (digits [. [digits]] | . digits) [e [sign] digits],
 * or inf / infinity / nan in any case; underscores between digits; whitespace around. */
static bool py_float(const char *s, size_t n, double *out)
{
    strip(&s, &n);
    char buf[4096], *o = buf;
    if (!n || n + 2 > sizeof buf) return false;
    size_t i = 0;
    bool ok = false;
    if (s[i] == '+' || s[i] == '-') *o++ = s[i++];
    size_t rest = n - i;
    if ((rest == 3 && !strncasecmp(s + i, "inf", 3)) ||
        (rest == 8 && !strncasecmp(s + i, "infinity", 8)) ||
        (rest == 3 && !strncasecmp(s + i, "nan", 3))) {
        memcpy(o, s + i, rest);
        o += rest;
        ok = true;
    } else {
        size_t int_digits = digits(s + i, n - i, &o);
        i += int_digits;
        size_t frac_digits = 0;
        if (i < n && s[i] == '.') {
            *o++ = '.';
            i++;
            frac_digits = digits(s + i, n - i, &o);
            i += frac_digits;
        }
        ok = int_digits + frac_digits > 0;
        if (ok && i < n && (s[i] == 'e' || s[i] == 'E')) {
            *o++ = 'e';
            i++;
            if (i < n && (s[i] == '+' || s[i] == '-')) *o++ = s[i++];
            size_t e = digits(s + i, n - i, &o);
            i += e;
            ok = e > 0;
        }
        ok = ok && i == n;
    }
    *o = 0;
    if (ok) {
        char *end;
        *out = strtod(buf, &end);
        ok = *end == 0;
    }
    return ok;
}

static vkt_status invalid(vkt_err *err, const char *what, const char *text, const char *why)
{
    return vkt_fail(err, VKT_ERR_USAGE,
                    "invalid %s schedule \"%s\": %s (write a number, or e.g. \"0.005:100, "
                    "1e-3:1000, 1e-5\" for 0.005 until step 100, 1e-3 until 1000, then 1e-5)",
                    what, text, why);
}

static bool item_blank(const char *s, size_t n)
{
    strip(&s, &n);
    return n == 0;
}

vkt_status vkt_lr_schedule_parse(const char *text, int64_t max_steps, int64_t s0, const char *what,
                                 vkt_lr_schedule *out, vkt_err *err)
{
    vkt_lr_schedule s = {0};
    vkt_status st = VKT_OK;
    char why[128];
    if (!text) text = "";
    size_t cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == ',';
    s.pairs = vkt_malloc(cap * sizeof *s.pairs);
    if (!s.pairs) return vkt_fail(err, VKT_ERR_NOMEM, "%s schedule: out of host memory", what);
    const char *item = text, *rest = NULL;
    bool stop = false;
    while (!stop) {
        const char *comma = strchr(item, ',');
        size_t len = comma ? (size_t)(comma - item) : strlen(item);
        if (!item_blank(item, len)) {
            /* parts = item.split(':') */
            const char *c1 = memchr(item, ':', len);
            const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - item)) : NULL;
            size_t rate_len = c1 ? (size_t)(c1 - item) : len;
            bool add = false;
            int64_t end = max_steps;
            if (c1 && !c2) {
                size_t end_len = len - (size_t)(c1 + 1 - item);
                if (!py_int(c1 + 1, end_len, &end)) {
                    snprintf(why, sizeof why, "step \"%.*s\" is not an integer", (int)end_len,
                             c1 + 1);
                    st = invalid(err, what, text, why);
                    goto done;
                }
                if (end > s0) {
                    add = true;
                    stop = end > max_steps;
                    end = end < max_steps ? end : max_steps;
                } else if (end == -1) {
                    add = stop = true;
                    end = max_steps;
                }
            } else {
                add = stop = true; /* a bare rate (3+ parts: the first one) lasts to the end */
            }
            if (add) {
                double rate;
                if (!py_float(item, rate_len, &rate)) {
                    snprintf(why, sizeof why, "\"%.*s\" is not a number", (int)rate_len, item);
                    st = invalid(err, what, text, why);
                    goto done;
                }
                if (!isfinite(rate) || rate < 0) {
                    snprintf(why, sizeof why, "%s %.*s must be finite and >= 0", what,
                             (int)rate_len, item);
                    st = invalid(err, what, text, why);
                    goto done;
                }
                s.pairs[s.n++] = (vkt_lr_pair){rate, end};
            }
        }
        if (!comma) break;
        item = comma + 1;
        if (stop) rest = item;
    }
    /* anything non-blank left unread after the item that stopped parsing? */
    while (rest && !s.tail_ignored) {
        const char *next = strchr(rest, ',');
        s.tail_ignored = !item_blank(rest, next ? (size_t)(next - rest) : strlen(rest));
        rest = next ? next + 1 : NULL;
    }
    if (!s.n) {
        snprintf(why, sizeof why, "no rate applies after step %lld", (long long)s0);
        st = invalid(err, what, text, why);
        goto done;
    }
    s.cur = 0;
    s.rate = s.pairs[0].rate;
    s.end = s.pairs[0].end;
    *out = s;
    s.pairs = NULL;
done:
    free(s.pairs);
    return st;
}

void vkt_lr_schedule_fini(vkt_lr_schedule *s)
{
    if (!s) return;
    free(s->pairs);
    *s = (vkt_lr_schedule){0};
}

bool vkt_lr_schedule_check(vkt_lr_schedule *s, int64_t step)
{
    if (s->finished || step < s->end) return false;
    if (s->cur + 1 >= s->n) {
        s->finished = true;
        return false;
    }
    s->cur++;
    s->rate = s->pairs[s->cur].rate;
    s->end = s->pairs[s->cur].end;
    return true;
}

int64_t vkt_lr_schedule_simulate(const vkt_lr_schedule *s, int64_t s0, int64_t max_steps,
                                 int grad_accum, double *rates, int64_t cap)
{
    vkt_lr_schedule c = *s; /* pairs shared read-only */
    int64_t step = s0, done = 0;
    while (step < max_steps) {
        for (int g = 0; g < grad_accum; g++) {
            vkt_lr_schedule_check(&c, step);
            if (c.finished) return done;
        }
        if (done < cap) rates[done] = c.rate;
        done++;
        step++;
    }
    return done;
}

double vkt_lr_effective(const vkt_lr_extras *x, double scheduled, int64_t k, int64_t max_steps)
{
    double lr = scheduled;
    if (!x) return lr;
    if (x->cosine) {
        int64_t T = x->cosine_steps > 0 ? x->cosine_steps : max_steps;
        int64_t kk = k < T ? k : T;
        if (kk < 0) kk = 0;
        double c = T > 0 ? (1 + cos(M_PI * (double)kk / (double)T)) / 2 : 1;
        lr = x->lr_min + (scheduled - x->lr_min) * c;
    }
    if (x->warmup > 0 && k + 1 < x->warmup) lr *= (double)(k + 1) / (double)x->warmup;
    return lr;
}

vkt_status vkt_lr_extras_check(const vkt_lr_extras *x, vkt_err *err)
{
    if (x->warmup < 0)
        return vkt_fail(err, VKT_ERR_USAGE, "warmup %lld must be >= 0", (long long)x->warmup);
    if (x->cosine_steps < 0)
        return vkt_fail(err, VKT_ERR_USAGE, "cosine steps %lld must be >= 0",
                        (long long)x->cosine_steps);
    if (!isfinite(x->lr_min) || x->lr_min < 0)
        return vkt_fail(err, VKT_ERR_USAGE, "minimum learning rate %g must be finite and >= 0",
                        x->lr_min);
    return VKT_OK;
}
