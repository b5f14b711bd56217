/* Checks for the random ops: Philox4x32-10 against the Random123 known-answer vectors on the
 * host and the GPU, GPU streams against the host definition (bits exactly, uniform and normal
 * values within derived bounds), prefix stability (element i depends only on i), statistics of
 * the GPU output (mean, variance, tails, independence of offsets), and dropout forward/backward
 * (both grad modes, p = 0 and p = 1) with the reference backward vs central differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fault.h"
#include "nn/checks/checkutil.h"
#include "nn/ops/rng.h"
#include "nn/philox.h"
#include "nn/ref/rng_ref.h"

/* Random123's kat_vectors for philox4x32_10: counter, key, expected output. */
static const uint32_t KAT[3][10] = {
    {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
    {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6,
     0x6d5451fd},
    {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420,
     0x24126ea1},
};

/* Records "number of mismatching words == 0". */
static void count_check(vkt_check_ctx *ctx, const char *variant, const char *what, const char *desc, size_t mismatches)
{
    float got = (float)mismatches;
    double want = 0;
    vkt_check_compare(ctx, "rng", variant, what, desc, &got, &want, 1, 1e-30, 0);
}

static vkt_status download_u32(vkt_check_ctx *ctx, const vkt_tensor *t, uint32_t *out, vkt_err *err)
{
    return vkt_buffer_download(ctx->dev, t->buf, t->offset, out, vkt_tensor_bytes(t), err);
}

static vkt_status kat_checks(vkt_check_ctx *ctx, vkt_err *err)
{
    const int64_t shape[1] = {4};
    vkt_tensor t = {0};
    vkt_status st = vkt_tensor_alloc(ctx->dev, VKT_I32, 1, shape, "bits", &t, err);
    for (int k = 0; k < 3 && !st; k++) {
        char desc[64];
        snprintf(desc, sizeof desc, "philox4x32-10 KAT %d", k);
        uint32_t out[4], gpu[4];
        vkt_philox4x32_10(KAT[k], KAT[k] + 4, out);
        size_t bad = 0;
        for (int j = 0; j < 4; j++) bad += out[j] != KAT[k][6 + j];
        count_check(ctx, "ref", "kat:host", desc, bad);
        /* the counter's low 64 bits are the block, the high 64 bits the offset; the key the seed */
        uint64_t blk = KAT[k][0] | (uint64_t)KAT[k][1] << 32, off = KAT[k][2] | (uint64_t)KAT[k][3] << 32;
        uint64_t seed = KAT[k][4] | (uint64_t)KAT[k][5] << 32;
        if ((st = vkt_step_begin(ctx->step, err))) break;
        if ((st = vkt_op_rng_bits(ctx->step, seed, off, blk, &t, err))) break;
        if ((st = vkt_step_run(ctx->step, err))) break;
        if ((st = download_u32(ctx, &t, gpu, err))) break;
        bad = 0;
        for (int j = 0; j < 4; j++) bad += gpu[j] != KAT[k][6 + j];
        count_check(ctx, "rng_fill_f32", "kat:gpu", desc, bad);
    }
    vkt_tensor_free(ctx->dev, &t);
    return st;
}

/* GPU bits vs host over many blocks, starting 2 blocks below 2^32 so the counter carries. */
static vkt_status bits_check(vkt_check_ctx *ctx, size_t n, vkt_err *err)
{
    const uint64_t seed = 0x0123456789abcdefull, off = 77, blk = 0xfffffffeull;
    const int64_t shape[1] = {(int64_t)n};
    uint32_t *gpu = vkt_malloc(n * 4);
    vkt_tensor t = {0};
    vkt_status st = gpu ? vkt_tensor_alloc(ctx->dev, VKT_I32, 1, shape, "bits", &t, err)
                        : vkt_fail(err, VKT_ERR_NOMEM, "rng check");
    if (!st) st = vkt_step_begin(ctx->step, err);
    if (!st) st = vkt_op_rng_bits(ctx->step, seed, off, blk, &t, err);
    if (!st) st = vkt_step_run(ctx->step, err);
    if (!st) st = download_u32(ctx, &t, gpu, err);
    if (!st) {
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t b = blk + i / 4;
            uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), (uint32_t)off, 0}, key[2] = {(uint32_t)seed,
                                                                                               (uint32_t)(seed >> 32)};
            uint32_t w[4];
            vkt_philox4x32_10(ctr, key, w);
            bad += gpu[i] != w[i % 4];
        }
        char desc[64];
        snprintf(desc, sizeof desc, "[%zu] from block 2^32-2", n);
        count_check(ctx, "rng_fill_f32", "bits", desc, bad);
    }
    vkt_tensor_free(ctx->dev, &t);
    free(gpu);
    return st;
}

/* Runs a uniform (normal = false) or normal fill of n elements into host memory. */
static vkt_status gpu_fill(vkt_check_ctx *ctx, bool normal, uint64_t seed, uint64_t off, float a, float b, size_t n,
                           float *out, vkt_err *err)
{
    const int64_t shape[1] = {(int64_t)n};
    vkt_tensor t = {0};
    vkt_status st = vkt_tensor_alloc(ctx->dev, VKT_F32, 1, shape, "rng", &t, err);
    if (!st) st = vkt_step_begin(ctx->step, err);
    if (!st) st = normal ? vkt_op_rng_normal(ctx->step, seed, off, a, b, &t, err)
                         : vkt_op_rng_uniform(ctx->step, seed, off, a, b, &t, err);
    if (!st) st = vkt_step_run(ctx->step, err);
    if (!st) st = vkt_tensor_download_f32(ctx->dev, &t, out, err);
    vkt_tensor_free(ctx->dev, &t);
    return st;
}

/* Box-Muller radius of element i (for the error bound). */
static double radius(uint64_t seed, uint64_t off, size_t i)
{
    uint32_t w = vkt_philox_bits(seed, off, i & ~(size_t)1);
    return sqrt(-2.0 * log(((double)(w >> 8) + 1.0) / 16777216.0));
}

static vkt_status values_check(vkt_check_ctx *ctx, vkt_err *err)
{
    const size_t n = 1003; /* not a multiple of 4: the last block is partial */
    const uint64_t seed = 42, off = 5;
    vkt_status st = VKT_OK;
    float *got = vkt_malloc(n * 4);
    double *want = vkt_malloc(n * 8), *mag = vkt_malloc(n * 8);
    if (!got || !want || !mag) { st = vkt_fail(err, VKT_ERR_NOMEM, "rng check"); goto done; }
    const double u = CK_EPS32;
    /* uniform: (hi - lo) rounds, the product and the sum round: 2u|hi - lo|u_i + u|y| */
    const float lo = -2.0f, hi = 3.0f;
    if ((st = gpu_fill(ctx, false, seed, off, lo, hi, n, got, err))) goto done;
    vkt_ref_rng_uniform(seed, off, lo, hi, want, n);
    for (size_t i = 0; i < n; i++) mag[i] = 2 * u * (hi - lo) * vkt_philox_uniform(seed, off, i) + u * fabs(want[i]);
    vkt_check_compare_mag(ctx, "rng", "rng_fill_f32", "uniform", "[1003] lo=-2 hi=3", got, want, mag, n, 1e-30, 0, 1);
    /* normal: u1, u2 and u2 - 1 are exact. vkt_log is within 15u relative (8u for the series
     * with its 5u division, up to 2x from the cancellation of e*ln2 + ln m); -2x is exact, the
     * sqrt adds CK_SQRT_U, so r is within 16.5u; the angle errs by <= pi*1.5u (2pi in f32, one
     * product) = 2.8e-7 and vkt_sincos by <= 1.5e-7; then z = r*c, b*z and a + b*z each round:
     *   |dy| <= |b|(|z| 18.5u + r*4.3e-7) + u|b z| + u|y|. */
    const float mean = 0.5f, std = 2.0f;
    if ((st = gpu_fill(ctx, true, seed, off, mean, std, n, got, err))) goto done;
    vkt_ref_rng_normal(seed, off, mean, std, want, n);
    for (size_t i = 0; i < n; i++) {
        double z = vkt_philox_normal(seed, off, i);
        mag[i] = std * (fabs(z) * 18.5 * u + radius(seed, off, i) * 4.3e-7) + u * std * fabs(z) + u * fabs(want[i]);
    }
    vkt_check_compare_mag(ctx, "rng", "rng_fill_f32", "normal", "[1003] mean=0.5 std=2", got, want, mag, n, 1e-30,
                          0, 1);
done:
    free(got);
    free(want);
    free(mag);
    return st;
}

/* Statistics of GPU output. The streams are bit-identical everywhere, so these are fixed
 * numbers; bounds are 5 standard errors of each statistic (a sound generator fails one with
 * probability ~6e-7, a broken one — constant, short period, bad mapping — fails by far). */
static vkt_status stats_check(vkt_check_ctx *ctx, size_t n, vkt_err *err)
{
    vkt_status st = VKT_OK;
    float *a = vkt_malloc(n * 4), *b = vkt_malloc(n * 4), *c = vkt_malloc(n * 4);
    if (!a || !b || !c) { st = vkt_fail(err, VKT_ERR_NOMEM, "rng check"); goto done; }
    char desc[64];
    snprintf(desc, sizeof desc, "[%zu] seed 7", n);
    double sn = sqrt((double)n);
    /* normal: mean 0 (se 1/sqrt n), variance 1 (se sqrt(2/n)), P(|z| > 2) = 0.0455 (se
     * sqrt(p(1-p)/n)); a second offset and a second seed: correlation 0 (se 1/sqrt n) */
    if ((st = gpu_fill(ctx, true, 7, 0, 0.0f, 1.0f, n, a, err))) goto done;
    if ((st = gpu_fill(ctx, true, 7, 1, 0.0f, 1.0f, n, b, err))) goto done;
    if ((st = gpu_fill(ctx, true, 8, 0, 0.0f, 1.0f, n, c, err))) goto done;
    double m = 0, v = 0, tail = 0, cab = 0, cac = 0;
    for (size_t i = 0; i < n; i++) {
        m += a[i];
        v += (double)a[i] * a[i];
        tail += fabs(a[i]) > 2.0;
        cab += (double)a[i] * b[i];
        cac += (double)a[i] * c[i];
    }
    m /= (double)n;
    v = v / (double)n - m * m;
    tail /= (double)n;
    const double p2 = 0.04550026389635842; /* P(|z| > 2) = erfc(sqrt 2) */
    float got[4] = {(float)m, (float)v, (float)tail, (float)(cab / (double)n)};
    double want[4] = {0, 1, p2, 0}, se[4] = {1 / sn, sqrt(2.0) / sn, sqrt(p2 * (1 - p2)) / sn, 1 / sn};
    const char *names[4] = {"normal:mean", "normal:var", "normal:tail", "normal:corr-off"};
    for (int k = 0; k < 4; k++)
        vkt_check_compare(ctx, "rng", "rng_fill_f32", names[k], desc, &got[k], &want[k], 1, 5 * se[k], 0);
    float corr = (float)(cac / (double)n);
    double zero = 0;
    vkt_check_compare(ctx, "rng", "rng_fill_f32", "normal:corr-seed", desc, &corr, &zero, 1, 5 / sn, 0);
    /* uniform: mean 1/2 (se sqrt(1/12 n)), variance 1/12 (se sqrt(1/180 n)) */
    if ((st = gpu_fill(ctx, false, 7, 2, 0.0f, 1.0f, n, a, err))) goto done;
    m = v = 0;
    for (size_t i = 0; i < n; i++) {
        m += a[i];
        v += (double)a[i] * a[i];
    }
    m /= (double)n;
    v = v / (double)n - m * m;
    float gu[2] = {(float)m, (float)v};
    double wu[2] = {0.5, 1.0 / 12};
    vkt_check_compare(ctx, "rng", "rng_fill_f32", "uniform:mean", desc, &gu[0], &wu[0], 1, 5 * sqrt(1.0 / 12) / sn, 0);
    vkt_check_compare(ctx, "rng", "rng_fill_f32", "uniform:var", desc, &gu[1], &wu[1], 1, 5 * sqrt(1.0 / 180) / sn, 0);
    /* prefix: the first 1000 elements of a longer fill equal a fill of 1000 (bit for bit) */
    if ((st = gpu_fill(ctx, true, 7, 0, 0.0f, 1.0f, 1000, b, err))) goto done;
    if ((st = gpu_fill(ctx, true, 7, 0, 0.0f, 1.0f, n, a, err))) goto done;
    size_t bad = 0;
    for (size_t i = 0; i < 1000; i++) bad += b[i] != a[i];
    count_check(ctx, "rng_fill_f32", "prefix", "normal [1000] vs [n]", bad);
done:
    free(a);
    free(b);
    free(c);
    return st;
}

typedef struct fd_user { uint64_t seed, off; double p; size_t n; } fd_user;

static void fd_fwd(void *u, const double *x, double *y)
{
    fd_user *f = u;
    vkt_ref_dropout(f->seed, f->off, f->p, x, y, f->n);
}

static vkt_status dropout_case(vkt_check_ctx *ctx, float p, size_t n_stat, vkt_err *err)
{
    static const int64_t shape[3] = {3, 5, 77};
    const size_t n = 3 * 5 * 77;
    const uint64_t seed = 1234, off = 99;
    vkt_status st = VKT_OK;
    char desc[64];
    snprintf(desc, sizeof desc, "[3,5,77] p=%g", p);
    float *hx = vkt_malloc(n * 4), *hdy = vkt_malloc(n * 4), *hacc = vkt_malloc(n * 4), *got = vkt_malloc(n * 4);
    double *dx = NULL, *ddy = NULL, *want = vkt_malloc(n * 8), *grad = vkt_malloc(n * 8), *mag = vkt_malloc(n * 8);
    vkt_tensor tx = {0}, ty = {0}, tdy = {0}, tdx = {0};
    if (!hx || !hdy || !hacc || !got || !want || !grad || !mag) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "rng check");
        goto done;
    }
    uint64_t rng = ctx->seed ^ 0xd0;
    vkt_rng_fill(&rng, hx, n, -1.0, 1.0);
    vkt_rng_fill(&rng, hdy, n, -1.0, 1.0);
    vkt_rng_fill(&rng, hacc, n, -1.0, 1.0);
    dx = vkt_to_double(hx, n);
    ddy = vkt_to_double(hdy, n);
    if (!dx || !ddy) { st = vkt_fail(err, VKT_ERR_NOMEM, "rng check"); goto done; }
    if ((st = vkt_check_tensor(ctx, VKT_F32, 3, shape, hx, "x", &tx, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 3, shape, NULL, "y", &ty, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 3, shape, hdy, "dy", &tdy, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 3, shape, hacc, "dx", &tdx, err))) goto done;
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_dropout_fwd(ctx->step, seed, off, p, &tx, &ty, err))) goto done;
    if ((st = vkt_op_dropout_bwd(ctx->step, seed, off, p, &tdy, &tdx, VKT_GRAD_ACCUMULATE, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    /* x*scale with scale = 1/(1-p) rounded to f32: 2u relative (p = 0: exact copy; p = 1:
     * exact zeros); accumulation adds u(|grad| + |acc|). */
    double rtol = p > 0 && p < 1 ? 2 * CK_EPS32 : 0;
    vkt_ref_dropout(seed, off, p, dx, want, n);
    if ((st = vkt_tensor_download_f32(ctx->dev, &ty, got, err))) goto done;
    vkt_check_compare(ctx, "rng", "rng_dropout_f32", "dropout:fwd", desc, got, want, n, 1e-30, rtol);
    vkt_ref_dropout(seed, off, p, ddy, grad, n);
    for (size_t i = 0; i < n; i++) {
        want[i] = grad[i] + hacc[i];
        mag[i] = (rtol + CK_EPS32) * (fabs(grad[i]) + fabs(hacc[i]));
    }
    if ((st = vkt_tensor_download_f32(ctx->dev, &tdx, got, err))) goto done;
    vkt_check_compare_mag(ctx, "rng", "rng_dropout_f32", "dropout:bwd+=", desc, got, want, mag, n, 1e-30, 0, 1);
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_dropout_bwd(ctx->step, seed, off, p, &tdy, &tdx, VKT_GRAD_OVERWRITE, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    if ((st = vkt_tensor_download_f32(ctx->dev, &tdx, got, err))) goto done;
    vkt_check_compare(ctx, "rng", "rng_dropout_f32", "dropout:bwd", desc, got, grad, n, 1e-30, rtol);
    if (!ctx->no_fd) {
        /* linear in x for a fixed mask: central differences exact up to double rounding */
        fd_user fu = {seed, off, p, n};
        vkt_check_fd(ctx, "rng", "fd:dropout", desc, fd_fwd, &fu, dx, n, n, ddy, grad, 1e-3, 1e-9, 1e-9, 64);
    }
    if (n_stat) { /* kept fraction of a long vector of ones: 1 - p within 5 standard errors */
        const int64_t ls[1] = {(int64_t)n_stat};
        float *ones = vkt_malloc(n_stat * 4), *out = vkt_malloc(n_stat * 4);
        vkt_tensor t1 = {0};
        if (!ones || !out) st = vkt_fail(err, VKT_ERR_NOMEM, "rng check");
        for (size_t i = 0; !st && i < n_stat; i++) ones[i] = 1.0f;
        if (!st) st = vkt_check_tensor(ctx, VKT_F32, 1, ls, ones, "ones", &t1, err);
        if (!st) st = vkt_step_begin(ctx->step, err);
        if (!st) st = vkt_op_dropout_fwd(ctx->step, seed, off + 1, p, &t1, &t1, err); /* in place */
        if (!st) st = vkt_step_run(ctx->step, err);
        if (!st) st = vkt_tensor_download_f32(ctx->dev, &t1, out, err);
        if (!st) {
            double kept = 0;
            for (size_t i = 0; i < n_stat; i++) kept += out[i] != 0.0f;
            float frac = (float)(kept / (double)n_stat);
            double want_frac = 1.0 - p;
            vkt_check_compare(ctx, "rng", "rng_dropout_f32", "dropout:kept", desc, &frac, &want_frac, 1,
                              5 * sqrt(p * (1 - p) / (double)n_stat) + 1e-30, 0);
        }
        vkt_tensor_free(ctx->dev, &t1);
        free(ones);
        free(out);
    }
done:
    vkt_tensor_free(ctx->dev, &tx);
    vkt_tensor_free(ctx->dev, &ty);
    vkt_tensor_free(ctx->dev, &tdy);
    vkt_tensor_free(ctx->dev, &tdx);
    free(hx); free(hdy); free(hacc); free(got); free(dx); free(ddy); free(want); free(grad); free(mag);
    return st;
}

vkt_status vkt_opcheck_rng(vkt_check_ctx *ctx, vkt_err *err)
{
    size_t n_stat = ctx->quick ? 16384 : 65536;
    vkt_status st = kat_checks(ctx, err);
    if (!st) st = bits_check(ctx, ctx->quick ? 1001 : 4099, err);
    if (!st) st = values_check(ctx, err);
    if (!st) st = stats_check(ctx, n_stat, err);
    if (!st) st = dropout_case(ctx, 0.3f, n_stat, err);
    if (!st && !ctx->quick) st = dropout_case(ctx, 0.0f, 0, err);
    if (!st && !ctx->quick) st = dropout_case(ctx, 1.0f, 0, err);
    return st;
}
