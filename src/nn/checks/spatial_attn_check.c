/* Checks for single-head spatial attention: GPU vs the double reference at odd sizes that leave
 * partial query, key and channel blocks, two channel blocks (C > 256), SD's head dim 512, a
 * peaked softmax, and a single position; f32 and f16 storage. Forward only (no backward exists),
 * so there is no finite-difference check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fault.h"
#include "nn/check.h"
#include "nn/checks/checkutil.h"
#include "nn/ops/spatial_attn.h"
#include "nn/ref/spatial_attn_ref.h"

typedef struct attn_case {
    int64_t B, C, H, W;
    double scale; /* 0: C^-1/2 */
} attn_case;

static vkt_status one_case(vkt_check_ctx *ctx, vkt_dtype dt, const attn_case *cs, vkt_err *err)
{
    vkt_status st = VKT_OK;
    int64_t B = cs->B, C = cs->C, N = cs->H * cs->W;
    double scale = cs->scale ? cs->scale : 1.0 / sqrt((double)C);
    size_t n = (size_t)(B * C * N);
    int64_t shape[4] = {B, C, cs->H, cs->W};
    char desc[96], var[64];
    snprintf(desc, sizeof desc, "[%lld,%lld,%lld,%lld] scale %.3g", (long long)B, (long long)C, (long long)cs->H,
             (long long)cs->W, scale);
    vkt_variant_name(var, sizeof var, "spatial_attn", "fwd", dt);

    float *h[3] = {vkt_malloc(n * 4), vkt_malloc(n * 4), vkt_malloc(n * 4)}, *got = vkt_malloc(n * 4);
    double *d[3] = {NULL, NULL, NULL}, *want = vkt_malloc(n * 8), *mag = vkt_malloc(n * 8);
    double *smax = vkt_malloc((size_t)(B * N) * 8);
    vkt_tensor t[4] = {{0}};
    if (!h[0] || !h[1] || !h[2] || !got || !want || !mag || !smax) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "spatial_attn check");
        goto done;
    }
    uint64_t rng = ctx->seed ^ (uint64_t)(n * 131 + (size_t)N) ^ (dt == VKT_F16 ? 0x16 : 0x32);
    for (int i = 0; i < 3; i++) {
        vkt_rng_fill(&rng, h[i], n, -1.0, 1.0);
        if (dt == VKT_F16) vkt_round_f16(h[i], n);
        if (!(d[i] = vkt_to_double(h[i], n))) {
            st = vkt_fail(err, VKT_ERR_NOMEM, "spatial_attn check");
            goto done;
        }
    }
    static const char *names[4] = {"q", "k", "v", "o"};
    for (int i = 0; i < 4; i++)
        if ((st = vkt_check_tensor(ctx, dt, 4, shape, i < 3 ? h[i] : NULL, names[i], &t[i], err))) goto done;
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_spatial_attn_fwd(ctx->step, &t[0], &t[1], &t[2], (float)scale, &t[3], err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    if ((st = vkt_tensor_download_f32(ctx->dev, &t[3], got, err))) goto done;
    vkt_ref_spatial_attn_fwd(B, C, N, scale, d[0], d[1], d[2], want, mag, smax);

    /* Float32 error per output, relative to pmag = sum_j p_j |v_j|, with S = smax (a bound on |s|
     * and on scale * sum |q k|) and u = 2^-24 (half an ULP):
     *   each score is a sum of C products: its worst case (C+2) u S is never approached by
     *   random-sign terms, whose rounding errors add like a random walk, ~sqrt(C) u S; we allow
     *   4 sqrt(C) u S (the same reasoning and margin as conv2d's check);
     *   s - m: one more rounding of a number <= 2S; exp: Vulkan's 3 + 2|x| ULP (ck_exp_u),
     *   |x| <= 2S; the alpha rescales: their exps telescope, sum(3 + 2|dm|) ULP <= (6 nb + 8S) u,
     *   plus a multiply per block (nb key blocks of 32);
     *   so every p_j carries a relative error <= E = 8 sqrt(C) uS + 2uS + ck_exp_u(2S) u +
     *   (7 nb + 8S) u, and o = sum p v / sum p moves by <= 2E pmag; the two sums of N terms add
     *   2*4 sqrt(N) u pmag (random walk again), the division 2.5 ULP of |o| <= pmag.
     * A wrong tap, key or scale moves o by ~1e-2 of pmag, far above this (~2e-5 at C = 40, S = 2).
     * f16 storage adds the store's rounding (CK_F16_STORE_*: Vulkan leaves its mode open); the
     * inputs are f16 values for both sides. */
    double u = CK_EPS32, nb = (double)((N + 31) / 32);
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < N; i++) {
                double S = smax[b * N + i];
                double E = 8 * sqrt((double)C) * u * S + 2 * u * S + ck_exp_u(2 * S) * u + (7 * nb + 8 * S) * u;
                size_t e = (size_t)((b * C + c) * N + i);
                mag[e] *= 2 * E + 8 * sqrt((double)N) * u + CK_DIV_U * u;
            }
    vkt_check_compare_mag(ctx, "spatial_attn", var, "fwd", desc, got, want, mag, n,
                          dt == VKT_F16 ? CK_F16_STORE_ABS : 0, dt == VKT_F16 ? CK_F16_STORE_REL : 0, 1.0);
done:
    for (int i = 0; i < 4; i++) vkt_tensor_free(ctx->dev, &t[i]);
    for (int i = 0; i < 3; i++) free(h[i]), free(d[i]);
    free(got), free(want), free(mag), free(smax);
    return st;
}

vkt_status vkt_opcheck_spatial_attn(vkt_check_ctx *ctx, vkt_err *err)
{
    static const attn_case cases[] = {
        {2, 40, 5, 7, 0},     /* partial blocks of queries (16), keys (32) and channels (32) */
        {1, 300, 6, 12, 0},   /* two channel blocks of 256, the second partial */
        {1, 512, 8, 9, 0},    /* SD's VAE head dim */
        {2, 64, 3, 11, 4.0},  /* peaked softmax: scores up to ~60 apart */
        {3, 8, 1, 1, 0.35},   /* one position: o = v */
    };
    const vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    for (int d = 0; d < 2; d++) {
        if (!vkt_step_dtype_ok(ctx->step, dts[d])) continue;
        for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
            if (ctx->quick && i != 0 && i != 2) continue;
            vkt_status st = one_case(ctx, dts[d], &cases[i], err);
            if (st) return st;
        }
    }
    return VKT_OK;
}
