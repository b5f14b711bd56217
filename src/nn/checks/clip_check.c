/* Checks for gradient clipping: by value (exact), and by global norm over a list of tensors of
 * odd sizes (one spanning several chunks, one empty-ish single element): the norm, the scale,
 * the scaled gradients, no change when under the limit or without a limit, and the "not finite"
 * flag for a NaN gradient. No finite differences: clipping is not a differentiable op here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fault.h"
#include "nn/checks/checkutil.h"
#include "nn/ops/clip.h"
#include "nn/ref/clip_ref.h"

#define NT 4

static vkt_status value_case(vkt_check_ctx *ctx, vkt_err *err)
{
    const int64_t shape[2] = {7, 19};
    const size_t n = 7 * 19;
    float h[7 * 19], got[7 * 19];
    double want[7 * 19];
    uint64_t rng = ctx->seed ^ 0xc11;
    vkt_rng_fill(&rng, h, n, -2.0, 2.0);
    for (size_t i = 0; i < n; i++) want[i] = fmin(fmax(h[i], -0.5f), 0.5f);
    vkt_tensor t = {0};
    vkt_status st = vkt_check_tensor(ctx, VKT_F32, 2, shape, h, "g", &t, err);
    if (!st) st = vkt_step_begin(ctx->step, err);
    if (!st) st = vkt_op_clip_value(ctx->step, &t, 0.5f, err);
    if (!st) st = vkt_step_run(ctx->step, err);
    if (!st) st = vkt_tensor_download_f32(ctx->dev, &t, got, err);
    /* clamp is exact */
    if (!st) vkt_check_compare(ctx, "clip", "clip_value_f32", "value", "g[7,19] v=0.5", got, want, n, 1e-30, 0);
    vkt_tensor_free(ctx->dev, &t);
    return st;
}

/* max_norm_rel: max_norm as a multiple of the true norm (0: no limit); nan: put a NaN in g[1]. */
static vkt_status norm_case(vkt_check_ctx *ctx, double max_norm_rel, bool nan, vkt_err *err)
{
    static const int64_t s0[2] = {7, 13}, s1[1] = {9001}, s2[3] = {3, 5, 7}, s3[1] = {1};
    const struct { int nd; const int64_t *s; } shapes[NT] = {{2, s0}, {1, s1}, {3, s2}, {1, s3}};
    vkt_status st = VKT_OK;
    char desc[96];
    snprintf(desc, sizeof desc, "4 tensors, max_norm %s", nan ? "1, NaN grad" : max_norm_rel == 0 ? "0 (off)"
                                                           : max_norm_rel < 1 ? "0.5*norm" : "2*norm");
    float *h[NT] = {0}, *got = NULL;
    double *d[NT] = {0}, *want = NULL;
    size_t len[NT], nmax = 0;
    vkt_tensor t[NT] = {{0}}, state = {0};
    vkt_tensor *tp[NT] = {&t[0], &t[1], &t[2], &t[3]};
    uint64_t rng = ctx->seed ^ 0xc1a9;
    for (int i = 0; i < NT; i++) {
        len[i] = ck_numel(shapes[i].nd, shapes[i].s);
        nmax = len[i] > nmax ? len[i] : nmax;
        h[i] = vkt_malloc(len[i] * 4);
        if (!h[i]) { st = vkt_fail(err, VKT_ERR_NOMEM, "clip check"); goto done; }
        vkt_rng_fill(&rng, h[i], len[i], -1.0, 1.0);
        if (nan && i == 1) h[i][100] = NAN;
        if (!(d[i] = vkt_to_double(h[i], len[i]))) { st = vkt_fail(err, VKT_ERR_NOMEM, "clip check"); goto done; }
        if ((st = vkt_check_tensor(ctx, VKT_F32, shapes[i].nd, shapes[i].s, h[i], "g", &t[i], err))) goto done;
    }
    got = vkt_malloc((nmax > 3 ? nmax : 3) * 4);
    want = vkt_malloc(nmax * 8);
    if (!got || !want) { st = vkt_fail(err, VKT_ERR_NOMEM, "clip check"); goto done; }
    int64_t slen = vkt_clip_norm_state_len((const vkt_tensor *const *)tp, NT);
    if ((st = vkt_check_tensor(ctx, VKT_F32, 1, &slen, NULL, "state", &state, err))) goto done;
    double norm = vkt_ref_clip_norm((const double *const *)d, len, NT);
    float max_norm = nan ? 1.0f : (float)(max_norm_rel * norm);
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_clip_norm(ctx->step, tp, NT, max_norm, true, &state, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    if ((st = vkt_tensor_download_f32(ctx->dev, &state, got, err))) goto done;
    if (nan) {
        /* torch: a NaN norm gives a NaN coefficient; the state flags it for the optimizer */
        float flags[2] = {got[VKT_CLIP_FINITE], isnan(got[VKT_CLIP_SCALE]) && isnan(got[VKT_CLIP_NORM]) ? 0.0f : 1.0f};
        double zeros[2] = {0, 0};
        vkt_check_compare(ctx, "clip", "clip_final_f32", "nonfinite", desc, flags, zeros, 2, 1e-30, 0);
        goto done;
    }
    /* Sum of squares (terms >= 0, so relative bounds): each chunk is 16 strided terms per thread
     * and an 8-level tree, the final pass ceil(partials/256) strided terms and 8 levels, plus the
     * squaring: depth D; the sqrt halves D*u and adds CK_SQRT_U (Vulkan). The scale adds the
     * +1e-6 and a division (1 + CK_DIV_U); the applied gradients one product. */
    double n_part = (double)(slen - VKT_CLIP_HEADER);
    double D = 16 + 8 + ceil(n_part / 256) + 8 + 1;
    double r_norm = (D / 2 + CK_SQRT_U) * CK_EPS32, r_scale = r_norm + (1 + CK_DIV_U) * CK_EPS32;
    double scale = vkt_ref_clip_scale(norm, max_norm);
    double wstate[3] = {norm, scale, 1.0};
    vkt_check_compare(ctx, "clip", "clip_final_f32", "norm", desc, &got[0], &wstate[0], 1, 1e-30, r_norm);
    vkt_check_compare(ctx, "clip", "clip_final_f32", "scale,finite", desc, &got[1], &wstate[1], 2, 1e-30,
                      scale < 1 ? r_scale : 0);
    for (int i = 0; i < NT; i++) {
        for (size_t j = 0; j < len[i]; j++) want[j] = d[i][j] * scale;
        if ((st = vkt_tensor_download_f32(ctx->dev, &t[i], got, err))) goto done;
        char what[32];
        snprintf(what, sizeof what, "apply:g%d", i);
        /* scale 1 (not clipped) must leave the gradients bit-identical */
        vkt_check_compare(ctx, "clip", "clip_apply_f32", what, desc, got, want, len[i], 1e-30,
                          scale < 1 ? r_scale + CK_EPS32 : 0);
    }
done:
    for (int i = 0; i < NT; i++) {
        vkt_tensor_free(ctx->dev, &t[i]);
        free(h[i]);
        free(d[i]);
    }
    vkt_tensor_free(ctx->dev, &state);
    free(got);
    free(want);
    return st;
}

vkt_status vkt_opcheck_clip(vkt_check_ctx *ctx, vkt_err *err)
{
    vkt_status st = value_case(ctx, err);
    if (!st) st = norm_case(ctx, 0.5, false, err);
    if (!st && !ctx->quick) st = norm_case(ctx, 2.0, false, err);
    if (!st && !ctx->quick) st = norm_case(ctx, 0.0, false, err);
    if (!st) st = norm_case(ctx, 1.0, true, err);
    return st;
}
