/* Checks for the emphasis op: GPU vs double reference (forward and backward), f32 and f16
 * storage, and the reference backward vs central differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fault.h"
#include "nn/checks/checkutil.h"
#include "nn/ops/emphasis.h"
#include "nn/ref/emphasis_ref.h"

typedef struct fd_user { const double *m; size_t B, K, T, W; } fd_user;

static void fd_fwd(void *u, const double *x, double *y)
{
    fd_user *f = u;
    vkt_ref_emphasis_fwd(x, f->m, y, f->B, f->K, f->T, f->W);
}

static vkt_status one_case(vkt_check_ctx *ctx, vkt_dtype dt, size_t B, size_t K, size_t T, size_t W, vkt_err *err)
{
    vkt_status st = VKT_OK;
    size_t n = B * K * T * W, nm = B * K * T;
    char desc[96], vf[64], vb[64];
    snprintf(desc, sizeof desc, "[%zu,%zu,%zu,%zu]", B, K, T, W);
    vkt_variant_name(vf, sizeof vf, "emphasis", "fwd", dt);
    vkt_variant_name(vb, sizeof vb, "emphasis", "bwd", dt);
    float *hz = vkt_malloc(n * 4), *hm = vkt_malloc(nm * 4), *hg = vkt_malloc(n * 4), *got = vkt_malloc(n * 4);
    double *dz = NULL, *dm = NULL, *dg = NULL, *want = vkt_malloc(n * 8), *wgrad = vkt_malloc(n * 8);
    vkt_tensor tz = {0}, tm = {0}, ty = {0}, tg = {0}, tdz = {0};
    if (!hz || !hm || !hg || !got || !want || !wgrad) { st = vkt_fail(err, VKT_ERR_NOMEM, "emphasis check"); goto done; }
    uint64_t rng = ctx->seed ^ n;
    /* Encoder outputs have a clear nonzero mean; a mean near zero would make the op (and any
     * comparison) ill-conditioned, as it is in the webui. */
    vkt_rng_fill(&rng, hz, n, -0.5, 1.5);
    vkt_rng_fill(&rng, hm, nm, 0.6, 1.6);
    vkt_rng_fill(&rng, hg, n, -1.0, 1.0);
    if (dt == VKT_F16) { vkt_round_f16(hz, n); vkt_round_f16(hg, n); }
    dz = vkt_to_double(hz, n);
    dm = vkt_to_double(hm, nm);
    dg = vkt_to_double(hg, n);
    if (!dz || !dm || !dg) { st = vkt_fail(err, VKT_ERR_NOMEM, "emphasis check"); goto done; }
    int64_t s4[4] = {(int64_t)B, (int64_t)K, (int64_t)T, (int64_t)W}, s3[3] = {(int64_t)B, (int64_t)K, (int64_t)T};
    if ((st = vkt_check_tensor(ctx, dt, 4, s4, hz, "z", &tz, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 3, s3, hm, "m", &tm, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 4, s4, NULL, "y", &ty, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 4, s4, hg, "dy", &tg, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 4, s4, NULL, "dz", &tdz, err))) goto done;
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_emphasis_fwd(ctx->step, &tz, &tm, &ty, err))) goto done;
    if ((st = vkt_op_emphasis_bwd(ctx->step, &tz, &tm, &tg, &tdz, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    /* f32: the means are sums of n/K terms through a per-thread loop plus a 256-wide tree
     * (depth <= n/(K*256) + 9); with |z| <= 1.5 and mean >= ~0.3 the relative rounding error of
     * the ratio stays below ~30 * 2^-24 * 5 < 1e-5. f16 storage adds the output rounding 2^-11. */
    double atol = dt == VKT_F16 ? 2e-4 : 2e-6, rtol = dt == VKT_F16 ? 1.2e-3 : 2e-5;
    vkt_ref_emphasis_fwd(dz, dm, want, B, K, T, W);
    if ((st = vkt_tensor_download_f32(ctx->dev, &ty, got, err))) goto done;
    vkt_check_compare(ctx, "emphasis", vf, "fwd", desc, got, want, n, atol, rtol);
    vkt_ref_emphasis_bwd(dz, dm, dg, wgrad, B, K, T, W);
    if ((st = vkt_tensor_download_f32(ctx->dev, &tdz, got, err))) goto done;
    vkt_check_compare(ctx, "emphasis", vb, "bwd:dz", desc, got, wgrad, n, atol, rtol);
    if (!ctx->no_fd && dt == VKT_F32) {
        fd_user u = {dm, B, K, T, W};
        /* Smooth in z: eps 1e-5 keeps truncation ~1e-10 and cancellation ~1e-11/1e-5. */
        vkt_check_fd(ctx, "emphasis", "fd:dz", desc, fd_fwd, &u, dz, n, n, dg, wgrad, 1e-5, 1e-7, 1e-6, 48);
    }
done:
    vkt_tensor_free(ctx->dev, &tz);
    vkt_tensor_free(ctx->dev, &tm);
    vkt_tensor_free(ctx->dev, &ty);
    vkt_tensor_free(ctx->dev, &tg);
    vkt_tensor_free(ctx->dev, &tdz);
    free(hz); free(hm); free(hg); free(got); free(dz); free(dm); free(dg); free(want); free(wgrad);
    return st;
}

vkt_status vkt_opcheck_emphasis(vkt_check_ctx *ctx, vkt_err *err)
{
    const size_t cases[][4] = {{2, 2, 7, 5}, {1, 1, 77, 33}, {3, 2, 77, 13}};
    int n_cases = ctx->quick ? 2 : 3;
    vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    for (int d = 0; d < 2; d++) {
        if (!vkt_step_dtype_ok(ctx->step, dts[d])) continue;
        for (int i = 0; i < n_cases; i++) {
            vkt_status st = one_case(ctx, dts[d], cases[i][0], cases[i][1], cases[i][2], cases[i][3], err);
            if (st) return st;
        }
    }
    return VKT_OK;
}
