/* models/tiny_model + models/schedule: key sets (SD1.5 equals the spec's key table), parameter
 * counts, value rules, schedule check values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/schedule.h"
#include "models/tiny_model.h"
#include "testkit.h"

static int64_t count(const vkt_gen_tensor *ts, uint32_t n, const char *prefix, int *n_keys)
{
    int64_t p = 0;
    *n_keys = 0;
    for (uint32_t i = 0; i < n; i++)
        if (*prefix ? strncmp(ts[i].key, prefix, strlen(prefix)) == 0 : !strchr(ts[i].key, '.')) {
            (*n_keys)++;
            if (!ts[i].is_i64) p += vkt_gen_numel(&ts[i]);
        }
    return p;
}

static void test_sd15_matches_spec(void)
{
    vkt_gen_tensor *ts;
    uint32_t n;
    vkt_err err;
    TK_CHECK(vkt_gen_keys(&VKT_GEN_SD15, &ts, &n, &err) == VKT_OK, "keys");
    FILE *f = fopen(tk_src("tests/golden/sd15-keys.tsv"), "r");
    TK_CHECK(f != NULL, "open sd15-keys.tsv");
    if (!f) return;
    char line[512];
    uint32_t rows = 0, found = 0;
    if (!fgets(line, sizeof line, f)) line[0] = 0; /* header */
    while (fgets(line, sizeof line, f)) {
        char *key = strtok(line, "\t"), *shape = strtok(NULL, "\t");
        if (!key || !shape) continue;
        rows++;
        for (uint32_t i = 0; i < n; i++) {
            if (strcmp(ts[i].key, key) != 0) continue;
            char buf[64] = "";
            int k = 0;
            for (int d = 0; d < ts[i].ndim; d++) k += snprintf(buf + k, sizeof buf - k, "%s%lld", d ? "," : "", (long long)ts[i].shape[d]);
            /* position_ids is [1,77] in the file and listed as such */
            if (strcmp(buf, shape) == 0) found++;
            else TK_CHECK(0, "%s: shape %s, spec %s", key, buf, shape);
            break;
        }
    }
    fclose(f);
    TK_CHECK(rows == 1143 && n == 1143 && found == 1143, "SD1.5 key set: %u rows, %u generated, %u equal", rows, n, found);
    int nk;
    TK_CHECK(count(ts, n, "model.diffusion_model.", &nk) == 859520964 && nk == 686, "UNet params");
    TK_CHECK(count(ts, n, "cond_stage_model.", &nk) == 123060480 && nk == 197, "CLIP params");
    TK_CHECK(count(ts, n, "first_stage_model.", &nk) == 83653863 && nk == 248, "VAE params");
    free(ts);
}

static void test_tiny(void)
{
    vkt_gen_tensor *ts;
    uint32_t n;
    vkt_err err;
    TK_CHECK(vkt_gen_keys(&VKT_GEN_TINY, &ts, &n, &err) == VKT_OK, "keys");
    int a, b, c, d;
    count(ts, n, "cond_stage_model.", &a);
    count(ts, n, "model.diffusion_model.", &b);
    count(ts, n, "first_stage_model.", &c);
    count(ts, n, "", &d);
    TK_CHECK(a == 37 && b == 208 && c == 180 && d == 12, "TINY key counts %d/%d/%d/%d", a, b, c, d);
    /* value rules */
    for (uint32_t i = 0; i < n; i++) {
        if (ts[i].is_i64) continue;
        int64_t m = vkt_gen_numel(&ts[i]);
        float *v = malloc((size_t)m * sizeof *v);
        vkt_gen_values(0, &ts[i], v);
        float lo = 1e30f, hi = -1e30f;
        for (int64_t k = 0; k < m; k++) { lo = fminf(lo, v[k]); hi = fmaxf(hi, v[k]); }
        const char *key = ts[i].key;
        size_t kl = strlen(key);
        if (!strchr(key, '.')) { /* schedule */ }
        else if (kl > 5 && strcmp(key + kl - 5, ".bias") == 0) TK_CHECK(lo >= -0.1f && hi < 0.1f, "%s range", key);
        else if (ts[i].ndim == 1) TK_CHECK(lo >= 0.9f && hi < 1.1f, "%s range", key);
        else TK_CHECK(lo >= -1.0f && hi < 1.0f && hi > lo, "%s range", key);
        float again = 0;
        vkt_gen_values(0, &ts[i], v); /* deterministic */
        again = v[m - 1];
        vkt_gen_values(1, &ts[i], v);
        if (strchr(key, '.') && m > 4) TK_CHECK(v[m - 1] != again, "%s depends on the seed", key);
        free(v);
    }
    free(ts);
}

static void test_schedule(void)
{
    vkt_schedule s;
    vkt_schedule_init(&s, 0.00085, 0.012);
    TK_CHECK(fabs(s.alphas_cumprod[0] - 0.99915) < 1e-12, "abar_0");
    TK_CHECK(fabs(s.alphas_cumprod[499] - 0.2776696505) < 1e-9, "abar_499 %.10f", s.alphas_cumprod[499]);
    TK_CHECK(fabs(s.alphas_cumprod[500] - 0.2763326838) < 1e-9, "abar_500");
    TK_CHECK(fabs(s.alphas_cumprod[999] - 0.0046600985) < 1e-9, "abar_999");
    double buf[VKT_SCHED_T];
    TK_CHECK(vkt_schedule_buffer(&s, "sqrt_one_minus_alphas_cumprod", buf) == 0 && fabs(buf[0] - 0.0291547595) < 1e-9,
             "sqrt(1-abar_0)");
    TK_CHECK(vkt_schedule_buffer(&s, "sqrt_alphas_cumprod", buf) == 0 && fabs(buf[999] - 0.0682649142) < 1e-9,
             "sqrt(abar_999)");
    TK_CHECK(vkt_schedule_buffer(&s, "nope", buf) == -1, "unknown buffer");
}

int main(void)
{
    test_sd15_matches_spec();
    test_tiny();
    test_schedule();
    return tk_finish("generator");
}
