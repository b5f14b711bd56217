/* Checks for GEGLU: forward and backward (both grad modes) in f32 and f16 storage at odd F and
 * batch > 1; reference backward vs central differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fault.h"
#include "nn/checks/checkutil.h"
#include "nn/ops/geglu.h"
#include "nn/ref/geglu_ref.h"

typedef struct fd_user { size_t rows, F; } fd_user;

static void fd_fwd(void *u, const double *x, double *y)
{
    fd_user *f = u;
    vkt_ref_geglu_fwd(x, f->rows, f->F, y);
}

static vkt_status one_case(vkt_check_ctx *ctx, vkt_dtype dt, int nd, const int64_t *pshape, vkt_err *err)
{
    vkt_status st = VKT_OK;
    size_t np = ck_numel(nd, pshape), F = (size_t)pshape[nd - 1] / 2, ny = np / 2, rows = ny / F;
    int64_t yshape[VKT_MAX_DIMS];
    for (int i = 0; i < nd; i++) yshape[i] = pshape[i];
    yshape[nd - 1] = (int64_t)F;
    char desc[96], var[64];
    int k = snprintf(desc, sizeof desc, "p");
    ck_shape_append(desc, sizeof desc, &k, nd, pshape);
    float *hp = vkt_malloc(np * 4), *hdy = vkt_malloc(ny * 4), *hacc = vkt_malloc(np * 4), *got = vkt_malloc(np * 4);
    double *dp = NULL, *ddy = NULL, *want = vkt_malloc(np * 8), *grad = vkt_malloc(np * 8), *mag = vkt_malloc(np * 8);
    vkt_tensor tp = {0}, ty = {0}, tdy = {0}, tdp = {0};
    if (!hp || !hdy || !hacc || !got || !want || !grad || !mag) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "geglu");
        goto done;
    }
    uint64_t rng = ctx->seed ^ (np * 977u);
    vkt_rng_fill(&rng, hp, np, -4.0, 4.0);
    vkt_rng_fill(&rng, hdy, ny, -1.0, 1.0);
    vkt_rng_fill(&rng, hacc, np, -1.0, 1.0);
    if (dt == VKT_F16) { vkt_round_f16(hp, np); vkt_round_f16(hdy, ny); vkt_round_f16(hacc, np); }
    dp = vkt_to_double(hp, np);
    ddy = vkt_to_double(hdy, ny);
    if (!dp || !ddy) { st = vkt_fail(err, VKT_ERR_NOMEM, "geglu"); goto done; }
    if ((st = vkt_check_tensor(ctx, dt, nd, pshape, hp, "p", &tp, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, nd, yshape, NULL, "y", &ty, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, nd, yshape, hdy, "dy", &tdy, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, nd, pshape, hacc, "dp", &tdp, err))) goto done;

    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_geglu_fwd(ctx->step, &tp, &ty, err))) goto done;
    if ((st = vkt_op_geglu_bwd(ctx->step, &tp, &tdy, &tdp, VKT_GRAD_ACCUMULATE, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;

    /* Per-element error bounds (mag, with mtol = 1) for f32 math under Vulkan's accuracy rules.
     * Phi(g) = 0.5(1 + erf(g/sqrt2)): the erf approximation is within 1.2e-7 and its exp(x)
     * (Vulkan: (3 + 2|x|) ULP) has |x|*erfc <= 0.3, so Phi errs by <= PHI_ERR = 6e-8 + 6u
     * including the roundings around it. Then
     *   y  = v*(g*Phi)                 err <= |v||g| PHI_ERR + 2u|y|
     *   dv = dy*(g*Phi)                err <= |dy||g| PHI_ERR + 2u|dv|
     *   dg = dy*v*(Phi + psi), psi = g*exp(-g^2/2)/sqrt(2pi): exp's ck_exp_u(g^2/2) plus the
     *        rounding of its argument (g^2 * u relative) and 3 products give psi (ck_exp_u + g^2 +
     *        3)u relative:         err <= |dy v| (PHI_ERR + |psi|(ck_exp_u + g^2 + 3)u + u(Phi + |psi|)) + 2u|dg|
     * Accumulation adds u(|grad| + |acc|). f16 storage: inputs are f16 values already; the
     * output store adds CK_F16_STORE_* (rtol, atol). */
    const double u = CK_EPS32, PHI_ERR = 6e-8 + 6 * u;
    double rtol = dt == VKT_F16 ? CK_F16_STORE_REL : 0, atol = dt == VKT_F16 ? CK_F16_STORE_ABS : 0;
    vkt_ref_geglu_fwd(dp, rows, F, want);
    for (size_t r = 0; r < rows; r++)
        for (size_t f = 0; f < F; f++)
            mag[r * F + f] = fabs(dp[r * 2 * F + f] * dp[r * 2 * F + F + f]) * PHI_ERR + 2 * u * fabs(want[r * F + f]);
    if ((st = vkt_tensor_download_f32(ctx->dev, &ty, got, err))) goto done;
    vkt_check_compare_mag(ctx, "geglu", vkt_variant_name(var, sizeof var, "geglu", "fwd", dt), "fwd", desc, got, want,
                          mag, ny, atol, rtol, 1.0);

    vkt_ref_geglu_bwd(dp, ddy, rows, F, grad);
    for (int acc = 1; acc >= 0; acc--) {
        for (size_t r = 0; r < rows; r++)
            for (size_t f = 0; f < F; f++) {
                size_t iv = r * 2 * F + f, ig = iv + F;
                double d = fabs(ddy[r * F + f]), v = fabs(dp[iv]), g = dp[ig];
                double phi_cdf = 0.5 * (1 + erf(g / sqrt(2.0))), psi = fabs(g) * exp(-0.5 * g * g) / sqrt(2 * M_PI);
                double av = acc ? hacc[iv] : 0, ag = acc ? hacc[ig] : 0;
                mag[iv] = d * fabs(g) * PHI_ERR + 2 * u * fabs(grad[iv]) + u * (fabs(grad[iv]) + fabs(av));
                mag[ig] = d * v * (PHI_ERR + psi * (ck_exp_u(0.5 * g * g) + g * g + 3) * u + u * (phi_cdf + psi)) +
                          2 * u * fabs(grad[ig]) + u * (fabs(grad[ig]) + fabs(ag));
                want[iv] = grad[iv] + av;
                want[ig] = grad[ig] + ag;
            }
        if (!acc) {
            if ((st = vkt_step_begin(ctx->step, err))) goto done;
            if ((st = vkt_op_geglu_bwd(ctx->step, &tp, &tdy, &tdp, VKT_GRAD_OVERWRITE, err))) goto done;
            if ((st = vkt_step_run(ctx->step, err))) goto done;
        }
        if ((st = vkt_tensor_download_f32(ctx->dev, &tdp, got, err))) goto done;
        vkt_check_compare_mag(ctx, "geglu", vkt_variant_name(var, sizeof var, "geglu", "bwd", dt),
                              acc ? "bwd:dp+=" : "bwd:dp", desc, got, want, mag, np, atol, rtol, 1.0);
    }

    if (!ctx->no_fd && dt == VKT_F32) {
        /* eps 1e-4 in double: truncation ~eps^2 * |f'''| / 6 < 1e-8 for |p| <= 4, rounding
         * ~1e-16 * |L| / eps < 1e-10. */
        fd_user u = {rows, F};
        vkt_check_fd(ctx, "geglu", "fd:dp", desc, fd_fwd, &u, dp, np, ny, ddy, grad, 1e-4, 1e-7, 1e-6, 64);
    }
done:
    vkt_tensor_free(ctx->dev, &tp);
    vkt_tensor_free(ctx->dev, &ty);
    vkt_tensor_free(ctx->dev, &tdy);
    vkt_tensor_free(ctx->dev, &tdp);
    free(hp); free(hdy); free(hacc); free(got); free(dp); free(ddy); free(want); free(grad); free(mag);
    return st;
}

vkt_status vkt_opcheck_geglu(vkt_check_ctx *ctx, vkt_err *err)
{
    static const int64_t s0[] = {3, 5, 26}, s1[] = {2, 14}, s2[] = {2, 3, 4, 66};
    const struct { int nd; const int64_t *s; } shapes[] = {{3, s0}, {2, s1}, {4, s2}};
    int n_shapes = ctx->quick ? 2 : 3;
    vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    for (int d = 0; d < 2; d++) {
        if (!vkt_step_dtype_ok(ctx->step, dts[d])) continue;
        for (int i = 0; i < n_shapes; i++) {
            vkt_status st = one_case(ctx, dts[d], shapes[i].nd, shapes[i].s, err);
            if (st) return st;
        }
    }
    return VKT_OK;
}
