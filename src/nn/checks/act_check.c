/* Checks for the activation family: GPU vs reference (fwd, bwd overwrite and accumulate) for
 * every activation and storage type, and reference backward vs finite differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fault.h"
#include "nn/check.h"
#include "nn/ref/act_ref.h"

typedef struct fd_user { vkt_act a; double p; size_t n; } fd_user;

static void fd_fwd(void *u, const double *x, double *y)
{
    fd_user *f = u;
    vkt_ref_act_fwd(f->a, f->p, x, y, f->n);
}

/* Moves samples off the kinks so that central differences do not straddle them. */
static void avoid_kinks(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        if (fabs(v) < 0.02) v = v < 0 ? -0.02 : 0.02;
        /* the other kinks: |x| = 3 (hardswish, hardsigmoid), 6 (relu6), 1 (hardtanh), lambda 0.5
         * (hardshrink, softshrink) */
        static const double kinks[] = {3.0, 6.0, 1.0, 0.5};
        for (int k = 0; k < 4; k++)
            if (fabs(fabs(v) - kinks[k]) < 0.02) v += v > 0 ? 0.05 : -0.05;
        x[i] = (float)v;
    }
}

static vkt_status one_case(vkt_check_ctx *ctx, vkt_act a, vkt_dtype dt, int ndim, const int64_t *shape, vkt_err *err)
{
    vkt_status st = VKT_OK;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    char desc[96], variant[64];
    int k = snprintf(desc, sizeof desc, "%s [", vkt_act_name(a));
    for (int i = 0; i < ndim; i++) k += snprintf(desc + k, sizeof desc - (size_t)k, "%s%lld", i ? "," : "", (long long)shape[i]);
    snprintf(desc + k, sizeof desc - (size_t)k, "]");
    float param = vkt_act_default_param(a);

    float *hx = vkt_malloc(n * 4), *hdy = vkt_malloc(n * 4), *hacc = vkt_malloc(n * 4), *got = vkt_malloc(n * 4);
    double *dx = NULL, *ddy = NULL, *want = vkt_malloc(n * 8), *wgrad = vkt_malloc(n * 8);
    vkt_tensor x = {0}, y = {0}, dyt = {0}, dxt = {0};
    if (!hx || !hdy || !hacc || !got || !want || !wgrad) { st = vkt_fail(err, VKT_ERR_NOMEM, "act check"); goto done; }
    uint64_t rng = ctx->seed ^ ((uint64_t)a << 32) ^ n;
    vkt_rng_fill(&rng, hx, n, -5.0, 5.0);
    vkt_rng_fill(&rng, hdy, n, -1.0, 1.0);
    vkt_rng_fill(&rng, hacc, n, -1.0, 1.0);
    avoid_kinks(hx, n);
    if (dt == VKT_F16) { vkt_round_f16(hx, n); vkt_round_f16(hdy, n); vkt_round_f16(hacc, n); }
    dx = vkt_to_double(hx, n);
    ddy = vkt_to_double(hdy, n);
    if (!dx || !ddy) { st = vkt_fail(err, VKT_ERR_NOMEM, "act check"); goto done; }

    if ((st = vkt_check_tensor(ctx, dt, ndim, shape, hx, "x", &x, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, ndim, shape, NULL, "y", &y, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, ndim, shape, hdy, "dy", &dyt, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, ndim, shape, hacc, "dx", &dxt, err))) goto done;

    /* fp32: the GPU's exp/erf/tanh are within a few ulp (erf approximation < 1.2e-7 absolute).
     * fp16 storage: inputs are already f16 values, so only the output rounding (2^-11 relative)
     * and fp32 math remain; subnormal outputs give the absolute floor. */
    double atol = dt == VKT_F16 ? 1e-4 : 2e-6, rtol = dt == VKT_F16 ? 1.2e-3 : 2e-5;

    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_act_fwd(ctx->step, a, param, &x, &y, err))) goto done;
    if ((st = vkt_op_act_bwd(ctx->step, a, param, &x, &dyt, &dxt, VKT_GRAD_ACCUMULATE, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;

    vkt_ref_act_fwd(a, param, dx, want, n);
    if ((st = vkt_tensor_download_f32(ctx->dev, &y, got, err))) goto done;
    vkt_check_compare(ctx, "act", vkt_variant_name(variant, sizeof variant, "act", "fwd", dt), "fwd", desc, got,
                      want, n, atol, rtol);

    vkt_ref_act_bwd(a, param, dx, ddy, wgrad, n);
    for (size_t i = 0; i < n; i++) want[i] = wgrad[i] + hacc[i];
    if ((st = vkt_tensor_download_f32(ctx->dev, &dxt, got, err))) goto done;
    vkt_check_compare(ctx, "act", vkt_variant_name(variant, sizeof variant, "act", "bwd", dt), "bwd:dx+=", desc, got,
                      want, n, atol, rtol);

    /* Overwrite mode on the same buffers. */
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_act_bwd(ctx->step, a, param, &x, &dyt, &dxt, VKT_GRAD_OVERWRITE, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    if ((st = vkt_tensor_download_f32(ctx->dev, &dxt, got, err))) goto done;
    vkt_check_compare(ctx, "act", variant, "bwd:dx", desc, got, wgrad, n, atol, rtol);

    if (!ctx->no_fd && dt == VKT_F32) {
        fd_user u = {a, param, n};
        /* eps 1e-4 in double: truncation error ~eps^2*f''' << 1e-6 and rounding ~1e-12/eps. */
        vkt_check_fd(ctx, "act", "fd:dx", desc, fd_fwd, &u, dx, n, n, ddy, wgrad, 1e-4, 1e-6, 1e-6, 64);
    }
done:
    vkt_tensor_free(ctx->dev, &x);
    vkt_tensor_free(ctx->dev, &y);
    vkt_tensor_free(ctx->dev, &dyt);
    vkt_tensor_free(ctx->dev, &dxt);
    free(hx); free(hdy); free(hacc); free(got); free(dx); free(ddy); free(want); free(wgrad);
    return st;
}

vkt_status vkt_opcheck_act(vkt_check_ctx *ctx, vkt_err *err)
{
    static const int64_t s0[] = {7}, s1[] = {3, 5, 13}, s2[] = {2, 33, 65};
    const struct { int nd; const int64_t *s; } shapes[] = {{1, s0}, {3, s1}, {3, s2}};
    int n_shapes = ctx->quick ? 2 : 3;
    vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    for (int d = 0; d < 2; d++) {
        if (!vkt_step_dtype_ok(ctx->step, dts[d])) continue;
        for (int a = 0; a < VKT_ACT_COUNT; a++)
            for (int i = 0; i < n_shapes; i++) {
                vkt_status st = one_case(ctx, (vkt_act)a, dts[d], shapes[i].nd, shapes[i].s, err);
                if (st) return st;
            }
    }
    return VKT_OK;
}
