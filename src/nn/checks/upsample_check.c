/* Checks for nearest upsampling / resize: GPU vs reference (fwd; bwd accumulate and overwrite)
 * for 2x, identity, odd up and down sizes, f32 and f16; reference backward vs finite
 * differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fault.h"
#include "nn/check.h"
#include "nn/ops/upsample.h"
#include "nn/ref/upsample_ref.h"

typedef struct fd_user {
    int64_t P, H, W, OH, OW;
} fd_user;

static void fd_fwd(void *u, const double *x, double *y)
{
    const fd_user *f = u;
    vkt_ref_upsample_fwd(f->P, f->H, f->W, f->OH, f->OW, x, y);
}

static vkt_status one_case(vkt_check_ctx *ctx, vkt_dtype dt, const int64_t *sx, const int64_t *sy,
                           vkt_err *err)
{
    vkt_status st = VKT_OK;
    int64_t P = sx[0] * sx[1], H = sx[2], W = sx[3], OH = sy[2], OW = sy[3];
    size_t nx = (size_t)(P * H * W), ny = (size_t)(P * OH * OW), nmax = nx > ny ? nx : ny;
    char desc[96], vf[64], vb[64];
    snprintf(desc, sizeof desc, "[%lld,%lld,%lld,%lld] -> %lldx%lld", (long long)sx[0],
             (long long)sx[1], (long long)H, (long long)W, (long long)OH, (long long)OW);
    vkt_variant_name(vf, sizeof vf, "upsample", "fwd", dt);
    vkt_variant_name(vb, sizeof vb, "upsample", "bwd", dt);

    float *hx = vkt_malloc(nx * 4), *hdy = vkt_malloc(ny * 4), *hacc = vkt_malloc(nx * 4);
    float *got = vkt_malloc(nmax * 4);
    double *dx = NULL, *ddy = NULL, *want = vkt_malloc(nmax * 8), *grad = vkt_malloc(nx * 8);
    double *mag = vkt_malloc(nmax * 8), *gmag = vkt_malloc(nx * 8), *zero = vkt_calloc(nmax, 8);
    vkt_tensor x = {0}, y = {0}, dyt = {0}, dxt = {0};
    if (!hx || !hdy || !hacc || !got || !want || !grad || !mag || !gmag || !zero) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "upsample check");
        goto done;
    }
    uint64_t rng = ctx->seed ^ (uint64_t)(nx * 31 + ny) ^ (dt == VKT_F16 ? 0x16 : 0x32);
    vkt_rng_fill(&rng, hx, nx, -1.0, 1.0);
    vkt_rng_fill(&rng, hdy, ny, -1.0, 1.0);
    vkt_rng_fill(&rng, hacc, nx, -1.0, 1.0);
    if (dt == VKT_F16) {
        vkt_round_f16(hx, nx);
        vkt_round_f16(hdy, ny);
        vkt_round_f16(hacc, nx);
    }
    dx = vkt_to_double(hx, nx);
    ddy = vkt_to_double(hdy, ny);
    if (!dx || !ddy) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "upsample check");
        goto done;
    }
    if ((st = vkt_check_tensor(ctx, dt, 4, sx, hx, "x", &x, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 4, sy, NULL, "y", &y, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 4, sy, hdy, "dy", &dyt, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 4, sx, hacc, "dx", &dxt, err))) goto done;

    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_upsample_fwd(ctx->step, &x, &y, err))) goto done;
    if ((st = vkt_op_upsample_bwd(ctx->step, &dyt, &dxt, VKT_GRAD_ACCUMULATE, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;

    /* The forward copies: exact in both dtypes. */
    vkt_ref_upsample_fwd(P, H, W, OH, OW, dx, want);
    if ((st = vkt_tensor_download_f32(ctx->dev, &y, got, err))) goto done;
    vkt_check_compare_mag(ctx, "upsample", vf, "fwd", desc, got, want, zero, ny, 0, 0, 0);

    /* The backward sums at most 2x2 values of dy plus the prior dx in float: at most 4
     * roundings of partial sums, each <= 2^-24 of sum|terms| (mtol 2.4e-7 = 4*2^-24). f16
     * storage adds the output rounding: 2^-11 relative, 2^-25 absolute for subnormals. */
    double atol = dt == VKT_F16 ? 0x1p-25 : 0, rtol = dt == VKT_F16 ? 4.9e-4 : 0, mtol = 2.4e-7;
    vkt_ref_upsample_bwd(P, H, W, OH, OW, ddy, grad, gmag);
    for (size_t i = 0; i < nx; i++) {
        want[i] = grad[i] + hacc[i];
        mag[i] = gmag[i] + fabs(hacc[i]);
    }
    if ((st = vkt_tensor_download_f32(ctx->dev, &dxt, got, err))) goto done;
    vkt_check_compare_mag(ctx, "upsample", vb, "bwd:dx+=", desc, got, want, mag, nx, atol, rtol,
                          mtol);

    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_upsample_bwd(ctx->step, &dyt, &dxt, VKT_GRAD_OVERWRITE, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    if ((st = vkt_tensor_download_f32(ctx->dev, &dxt, got, err))) goto done;
    vkt_check_compare_mag(ctx, "upsample", vb, "bwd:dx", desc, got, grad, gmag, nx, atol, rtol,
                          mtol);

    if (!ctx->no_fd && dt == VKT_F32) {
        /* Linear in x: central differences are exact but for double rounding (~1e-13 here). */
        fd_user u = {P, H, W, OH, OW};
        vkt_check_fd(ctx, "upsample", "fd:dx", desc, fd_fwd, &u, dx, nx, ny, ddy, grad, 1e-2, 1e-8,
                     1e-8, 64);
    }
done:
    vkt_tensor_free(ctx->dev, &x);
    vkt_tensor_free(ctx->dev, &y);
    vkt_tensor_free(ctx->dev, &dyt);
    vkt_tensor_free(ctx->dev, &dxt);
    free(hx), free(hdy), free(hacc), free(got), free(dx), free(ddy), free(want), free(grad);
    free(mag), free(gmag), free(zero);
    return st;
}

vkt_status vkt_opcheck_upsample(vkt_check_ctx *ctx, vkt_err *err)
{
    static const int64_t cases[][2][4] = {
        {{2, 3, 5, 7}, {2, 3, 10, 14}},   /* SD Upsample, scale 2 */
        {{2, 3, 5, 7}, {2, 3, 5, 7}},     /* same size: a copy */
        {{2, 3, 5, 7}, {2, 3, 9, 13}},    /* odd sizes up (torch's float scale) */
        {{2, 3, 10, 10}, {2, 3, 9, 9}},   /* webui: 2*ceil(9/2) features resized to a skip of 9 */
        {{2, 5, 17, 33}, {2, 5, 34, 66}}, /* scale 2, many workgroups */
    };
    const vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    for (int d = 0; d < 2; d++) {
        if (!vkt_step_dtype_ok(ctx->step, dts[d])) continue;
        for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
            if (ctx->quick && i != 0 && i != 3) continue;
            vkt_status st = one_case(ctx, dts[d], cases[i][0], cases[i][1], err);
            if (st) return st;
        }
    }
    return VKT_OK;
}
