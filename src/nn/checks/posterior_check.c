/* Checks for the VAE posterior: split + clamp (exact: a copy and a clamp), sampling with noise
 * (also in place over mean) and without (scale * mean), f32 and f16, at odd sizes with logvar
 * values beyond both clamp limits. Forward only (no backward exists). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "nn/check.h"
#include "nn/checks/checkutil.h"
#include "nn/ops/posterior.h"
#include "nn/ref/posterior_ref.h"

#define SCALE 0.18215

static void fill(uint64_t *rng, float *x, size_t n, double lo, double hi, vkt_dtype dt)
{
    vkt_rng_fill(rng, x, n, lo, hi);
    if (dt == VKT_F16) vkt_round_f16(x, n);
}

static vkt_status one_case(vkt_check_ctx *ctx, vkt_dtype dt, const int64_t *sl, vkt_err *err)
{
    vkt_status st = VKT_OK;
    int64_t B = sl[0], Z = sl[1], ZS = Z * sl[2] * sl[3];
    int64_t sm[4] = {B, 2 * Z, sl[2], sl[3]};
    size_t n = (size_t)(B * ZS);
    char desc[96], vs[64], vsa[64];
    snprintf(desc, sizeof desc, "[%lld,%lld,%lld,%lld]", (long long)B, (long long)Z, (long long)sl[2],
             (long long)sl[3]);
    snprintf(vs, sizeof vs, "posterior_fwd_%s", vkt_dtype_name(dt));
    snprintf(vsa, sizeof vsa, "posterior_fwd_%s_sample", vkt_dtype_name(dt));
    float *hm = vkt_malloc(2 * n * 4), *hmean = vkt_malloc(n * 4), *hlv = vkt_malloc(n * 4);
    float *hnoise = vkt_malloc(n * 4), *got = vkt_malloc(n * 4);
    double *want = vkt_malloc(2 * n * 8), *want2 = vkt_malloc(n * 8), *mag = vkt_malloc(n * 8);
    double *dm = NULL, *dmean = NULL, *dlv = NULL, *dnoise = NULL;
    vkt_tensor tm = {0}, tmean = {0}, tlv = {0}, tnoise = {0}, tz = {0}, tinpl = {0};
    if (!hm || !hmean || !hlv || !hnoise || !got || !want || !want2 || !mag) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "posterior check");
        goto done;
    }
    uint64_t rng = ctx->seed ^ (uint64_t)(n * 977) ^ (dt == VKT_F16 ? 0x16 : 0x32);
    /* moments: mean halves in [-3, 3], logvar halves in [-45, 35] (both clamps are hit) */
    for (int64_t b = 0; b < B; b++) {
        fill(&rng, hm + 2 * b * ZS, (size_t)ZS, -3, 3, dt);
        fill(&rng, hm + (2 * b + 1) * ZS, (size_t)ZS, -45, 35, dt);
    }
    /* sampling inputs: a clamped logvar range whose std stays finite in f16 */
    fill(&rng, hmean, n, -3, 3, dt);
    fill(&rng, hlv, n, dt == VKT_F16 ? -12 : -30, dt == VKT_F16 ? 8 : 20, dt);
    fill(&rng, hnoise, n, -3, 3, dt);
    if (!(dm = vkt_to_double(hm, 2 * n)) || !(dmean = vkt_to_double(hmean, n)) || !(dlv = vkt_to_double(hlv, n)) ||
        !(dnoise = vkt_to_double(hnoise, n))) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "posterior check");
        goto done;
    }
    if ((st = vkt_check_tensor(ctx, dt, 4, sm, hm, "moments", &tm, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 4, sl, hmean, "mean", &tmean, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 4, sl, hlv, "logvar", &tlv, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 4, sl, hnoise, "noise", &tnoise, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 4, sl, NULL, "z", &tz, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 4, sl, hmean, "mean (in place)", &tinpl, err))) goto done;

    vkt_tensor omean = {0}, olv = {0};
    if ((st = vkt_check_tensor(ctx, dt, 4, sl, NULL, "out mean", &omean, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 4, sl, NULL, "out logvar", &olv, err))) {
        vkt_tensor_free(ctx->dev, &omean);
        goto done;
    }
    st = vkt_step_begin(ctx->step, err);
    if (!st) st = vkt_op_posterior_fwd(ctx->step, &tm, &omean, &olv, err);
    if (!st) st = vkt_op_posterior_sample(ctx->step, &tmean, &tlv, &tnoise, (float)SCALE, &tz, err);
    if (!st) st = vkt_op_posterior_sample(ctx->step, &tinpl, &tlv, &tnoise, (float)SCALE, &tinpl, err);
    if (!st) st = vkt_step_run(ctx->step, err);
    if (!st) {
        /* a copy and a clamp to limits that f16 represents exactly: exact in both dtypes */
        vkt_ref_posterior_fwd(B, ZS, dm, want, want + n);
        for (size_t i = 0; i < n; i++) mag[i] = 0;
        st = vkt_tensor_download_f32(ctx->dev, &omean, got, err);
        if (!st) vkt_check_compare_mag(ctx, "posterior", vs, "fwd:mean", desc, got, want, mag, n, 0, 0, 0);
        if (!st) st = vkt_tensor_download_f32(ctx->dev, &olv, got, err);
        if (!st) vkt_check_compare_mag(ctx, "posterior", vs, "fwd:logvar", desc, got, want + n, mag, n, 0, 0, 0);
    }
    vkt_tensor_free(ctx->dev, &omean);
    vkt_tensor_free(ctx->dev, &olv);
    if (st) goto done;

    /* z = scale (mean + sd eps), sd = exp(lv/2): Vulkan's exp is within 3 + 2|x| ULP (ck_exp_u,
     * in units of u = 2^-24), |x| = |lv|/2, and the product sd eps rounds once more: scale |sd eps|
     * (ck_exp_u(lv/2) + 1) u. Then the sum, float32's copy of 0.18215 and the product by it round
     * once each, 3u |z|. f16 storage adds the store's rounding (CK_F16_STORE_*). */
    vkt_ref_posterior_sample((int64_t)n, dmean, dlv, dnoise, SCALE, want2);
    for (size_t i = 0; i < n; i++)
        mag[i] = SCALE * fabs(exp(0.5 * dlv[i]) * dnoise[i]) * (ck_exp_u(0.5 * dlv[i]) + 1);
    double atol = dt == VKT_F16 ? CK_F16_STORE_ABS : 0, rtol = 3 * CK_EPS32 + (dt == VKT_F16 ? CK_F16_STORE_REL : 0);
    if ((st = vkt_tensor_download_f32(ctx->dev, &tz, got, err))) goto done;
    vkt_check_compare_mag(ctx, "posterior", vsa, "sample", desc, got, want2, mag, n, atol, rtol, CK_EPS32);
    if ((st = vkt_tensor_download_f32(ctx->dev, &tinpl, got, err))) goto done;
    vkt_check_compare_mag(ctx, "posterior", vsa, "sample:in-place", desc, got, want2, mag, n, atol, rtol, CK_EPS32);

    /* no noise: z = scale * mean through the binary scale op: float32's 0.18215 and the product
     * round once each (2u |z|), then f16 storage as above */
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_posterior_sample(ctx->step, &tmean, &tlv, NULL, (float)SCALE, &tz, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    vkt_ref_posterior_sample((int64_t)n, dmean, dlv, NULL, SCALE, want2);
    for (size_t i = 0; i < n; i++) mag[i] = 0;
    if ((st = vkt_tensor_download_f32(ctx->dev, &tz, got, err))) goto done;
    vkt_check_compare_mag(ctx, "posterior", "binary_fwd", "sample:no-noise", desc, got, want2, mag, n, atol,
                          2 * CK_EPS32 + (dt == VKT_F16 ? CK_F16_STORE_REL : 0), 0);
done:
    vkt_tensor_free(ctx->dev, &tm);
    vkt_tensor_free(ctx->dev, &tmean);
    vkt_tensor_free(ctx->dev, &tlv);
    vkt_tensor_free(ctx->dev, &tnoise);
    vkt_tensor_free(ctx->dev, &tz);
    vkt_tensor_free(ctx->dev, &tinpl);
    free(hm), free(hmean), free(hlv), free(hnoise), free(got), free(want), free(want2), free(mag);
    free(dm), free(dmean), free(dlv), free(dnoise);
    return st;
}

vkt_status vkt_opcheck_posterior(vkt_check_ctx *ctx, vkt_err *err)
{
    static const int64_t cases[][4] = {
        {2, 3, 5, 7},   /* odd sizes, B > 1 */
        {1, 4, 13, 21}, /* SD's 4 latent channels, several workgroups */
    };
    const vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    for (int d = 0; d < 2; d++) {
        if (!vkt_step_dtype_ok(ctx->step, dts[d])) continue;
        for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
            if (ctx->quick && i) continue;
            vkt_status st = one_case(ctx, dts[d], cases[i], err);
            if (st) return st;
        }
    }
    return VKT_OK;
}
