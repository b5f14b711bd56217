/* Checks for softmax: GPU vs double reference (forward, backward overwrite and accumulate) for
 * f32 and f16 storage at row lengths below, around and above the workgroup sizes (32..256),
 * with logits far from zero, and the reference backward vs central finite differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fault.h"
#include "nn/check.h"
#include "nn/checks/ckbuf.h"
#include "nn/ops/softmax.h"
#include "nn/ref/softmax_ref.h"

typedef struct sm_case {
    int nd;
    int64_t shape[3];
    double lo, hi; /* logit range */
} sm_case;

typedef struct fd_user {
    int64_t rows, L;
} fd_user;

static void fd_fwd(void *u, const double *x, double *y)
{
    fd_user *f = u;
    vkt_ref_softmax_fwd(x, y, f->rows, f->L);
}

static vkt_status one_case(vkt_check_ctx *ctx, const sm_case *k, vkt_dtype dt, vkt_err *err)
{
    vkt_status st = VKT_OK;
    ckbuf h[5] = {0}; /* x y dy dx(overwrite) dx(accumulate) */
    double *wy = NULL, *wdx = NULL, *ydev = NULL;
    float *got = NULL;
    int64_t L = k->shape[k->nd - 1], rows = 1;
    for (int i = 0; i < k->nd - 1; i++)
        rows *= k->shape[i];
    uint64_t rng = ctx->seed ^ (uint64_t)(rows * 1000 + L) ^ (uint64_t)(k->lo * 7);
    if ((st = ckbuf_make(ctx, &h[0], dt, k->nd, k->shape, &rng, k->lo, k->hi, "x", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[1], dt, k->nd, k->shape, NULL, 0, 0, "y", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[2], dt, k->nd, k->shape, &rng, -1.0, 1.0, "dy", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[3], dt, k->nd, k->shape, NULL, 0, 0, "dx", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[4], dt, k->nd, k->shape, &rng, -1.0, 1.0, "dx+", err))) goto done;
    size_t n = h[0].n;
    wy = vkt_malloc(n * sizeof *wy);
    wdx = vkt_malloc(n * sizeof *wdx);
    got = vkt_malloc(n * sizeof *got);
    if (!wy || !wdx || !got) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "softmax check");
        goto done;
    }

    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_softmax_fwd(ctx->step, &h[0].t, &h[1].t, err))) goto done;
    if ((st = vkt_op_softmax_bwd(ctx->step, &h[1].t, &h[2].t, &h[3].t, VKT_GRAD_OVERWRITE, err)))
        goto done;
    if ((st = vkt_op_softmax_bwd(ctx->step, &h[1].t, &h[2].t, &h[4].t, VKT_GRAD_ACCUMULATE, err)))
        goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;

    char desc[96], vf[64], vb[64];
    int c = snprintf(desc, sizeof desc, "[");
    for (int i = 0; i < k->nd; i++)
        c += snprintf(desc + c, sizeof desc - (size_t)c, "%s%lld", i ? "," : "",
                      (long long)k->shape[i]);
    snprintf(desc + c, sizeof desc - (size_t)c, "] x in [%g,%g)", k->lo, k->hi);
    vkt_variant_name(vf, sizeof vf, "softmax", "fwd", dt);
    vkt_variant_name(vb, sizeof vb, "softmax", "bwd", dt);

    /* Forward. f32: y = exp(x - m) / s with the exponential and division correct to a few ulp
     * and s summed in fp32 over at most L/WG + log2(WG) <= 12 steps of positive terms, so the
     * relative error is ~1e-6: rtol 1e-5; atol 1e-9 only absorbs denormal-range outputs.
     * f16: the output rounding (2^-11 relative, 3e-8 absolute in the subnormal range) on top:
     * rtol 1e-3, atol 1e-7. */
    double atol = dt == VKT_F16 ? 1e-7 : 1e-9, rtol = dt == VKT_F16 ? 1e-3 : 1e-5;
    vkt_ref_softmax_fwd(h[0].d, wy, rows, L);
    if ((st = ckbuf_compare(ctx, &h[1], wy, false, "softmax", vf, "fwd", desc, atol, rtol, err)))
        goto done;

    /* Backward from the GPU's own y (what the backward op reads). dx = y (dy - d) with
     * d = sum dy*y in [-1, 1]: fp32 error ~ y * 2^-24 * (|dy| + |d| + L/WG + log2(WG)), i.e.
     * absolute <= 1e-6 * y <= 1e-6, relative large only where dy ~ d cancels: atol 1e-7,
     * rtol 1e-5. f16: output rounding as above, atol 2e-7 (rounding of |dx| < 6e-5 plus the
     * fp32 bound). */
    if ((st = ckbuf_get(ctx, &h[1], got, err))) goto done;
    ydev = vkt_to_double(got, n);
    if (!ydev) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "softmax check");
        goto done;
    }
    atol = dt == VKT_F16 ? 2e-7 : 1e-7;
    vkt_ref_softmax_bwd(ydev, h[2].d, wdx, rows, L);
    if ((st =
             ckbuf_compare(ctx, &h[3], wdx, false, "softmax", vb, "bwd:dx", desc, atol, rtol, err)))
        goto done;
    if ((st = ckbuf_compare(ctx, &h[4], wdx, true, "softmax", vb, "bwd:dx+=", desc, atol, rtol,
                            err)))
        goto done;

    if (!ctx->no_fd && dt == VKT_F32) {
        /* Reference backward (from the reference y) vs central differences with eps 1e-5 in
         * double: truncation ~eps^2 * |f'''| ~ 1e-10, rounding ~1e-16 * L / eps ~ 1e-9. */
        vkt_ref_softmax_bwd(wy, h[2].d, wdx, rows, L);
        fd_user u = {rows, L};
        vkt_check_fd(ctx, "softmax", "fd:dx", desc, fd_fwd, &u, h[0].d, n, n, h[2].d, wdx, 1e-5,
                     1e-8, 1e-6, 64);
    }
done:
    ckbuf_free(ctx, h, 5);
    free(wy);
    free(wdx);
    free(ydev);
    free(got);
    return st;
}

static const sm_case cases[] = {
    {1, {7}, -5, 5},           /* one row, shorter than the smallest workgroup */
    {3, {3, 5, 13}, -5, 5},    /* batch of short rows */
    {3, {2, 33, 77}, -10, 10}, /* attention scores over 77 context tokens */
    {2, {3, 300}, -5, 5},      /* longer than the largest workgroup (256): loops */
    {2, {4, 1}, -5, 5},        /* L = 1: y = 1, dx = 0 */
    {3, {2, 3, 40}, 60, 100},  /* large logits: exp(x) alone would overflow f32 (x > 88) */
    {2, {2, 1000}, -20, 5},    /* long rows with many tiny probabilities */
};

vkt_status vkt_opcheck_softmax(vkt_check_ctx *ctx, vkt_err *err)
{
    int n_cases = ctx->quick ? 5 : (int)(sizeof cases / sizeof cases[0]);
    vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    for (int d = 0; d < 2; d++) {
        if (!vkt_step_dtype_ok(ctx->step, dts[d])) continue;
        for (int i = 0; i < n_cases; i++) {
            vkt_status st = one_case(ctx, &cases[i], dts[d], err);
            if (st) return st;
        }
    }
    return VKT_OK;
}
