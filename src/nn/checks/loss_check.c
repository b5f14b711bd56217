/* Checks for the MSE loss: per-sample and mean loss, weighted and unweighted, batch 1 and > 1,
 * backward in both grad modes; reference backward vs central differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fault.h"
#include "nn/checks/checkutil.h"
#include "nn/ops/loss.h"
#include "nn/ref/loss_ref.h"

typedef struct fd_user {
    const double *target, *w;
    size_t B, N;
} fd_user;

static void fd_fwd(void *u, const double *x, double *y)
{
    fd_user *f = u;
    y[0] = vkt_ref_mse_fwd(x, f->target, f->w, f->B, f->N, NULL);
}

static vkt_status one_case(vkt_check_ctx *ctx, int nd, const int64_t *shape, bool weighted, vkt_err *err)
{
    vkt_status st = VKT_OK;
    size_t n = ck_numel(nd, shape), B = (size_t)shape[0], N = n / B;
    const float dloss = 0.5f; /* e.g. 1/G for two accumulated mini-batches */
    char desc[96];
    int k = snprintf(desc, sizeof desc, "%s ", weighted ? "weighted" : "plain");
    ck_shape_append(desc, sizeof desc, &k, nd, shape);
    float *hp = vkt_malloc(n * 4), *ht = vkt_malloc(n * 4), *hw = vkt_malloc(n * 4), *hacc = vkt_malloc(n * 4),
          *got = vkt_malloc(n * 4);
    double *dp = NULL, *dt = NULL, *dw = NULL, *want = vkt_malloc(n * 8), *per = vkt_malloc(B * 8),
           *grad = vkt_malloc(n * 8);
    vkt_tensor tp = {0}, tt = {0}, tw = {0}, tper = {0}, tloss = {0}, tdp = {0};
    if (!hp || !ht || !hw || !hacc || !got || !want || !per || !grad) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "loss check");
        goto done;
    }
    uint64_t rng = ctx->seed ^ (n * 131u + weighted);
    vkt_rng_fill(&rng, hp, n, -1.0, 1.0);
    vkt_rng_fill(&rng, ht, n, -1.0, 1.0);
    vkt_rng_fill(&rng, hw, n, 0.0, 2.0); /* a weight map normalised to mean 1 (training.md §4.3) */
    vkt_rng_fill(&rng, hacc, n, -1.0, 1.0);
    dp = vkt_to_double(hp, n);
    dt = vkt_to_double(ht, n);
    dw = vkt_to_double(hw, n);
    if (!dp || !dt || !dw) { st = vkt_fail(err, VKT_ERR_NOMEM, "loss check"); goto done; }
    const double *rw = weighted ? dw : NULL;
    const int64_t bshape[1] = {(int64_t)B}, lshape[1] = {1};
    if ((st = vkt_check_tensor(ctx, VKT_F32, nd, shape, hp, "pred", &tp, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, nd, shape, ht, "target", &tt, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, nd, shape, hw, "w", &tw, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 1, bshape, NULL, "per_sample", &tper, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 1, lshape, NULL, "loss", &tloss, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, nd, shape, hacc, "dpred", &tdp, err))) goto done;
    const vkt_tensor *pw = weighted ? &tw : NULL;

    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_mse_fwd(ctx->step, &tp, &tt, pw, &tper, &tloss, err))) goto done;
    if ((st = vkt_op_mse_bwd(ctx->step, &tp, &tt, pw, dloss, &tdp, VKT_GRAD_ACCUMULATE, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;

    /* Every term w*e^2 is >= 0 and carries 3 roundings, so the f32 tree sum (chain depth
     * ceil(N/256) + 8) and the division by N (CK_DIV_U: Vulkan allows 2.5 ULP) give a relative
     * bound (depth + 4 + CK_DIV_U)*u; the batch mean adds its own depth (ceil(B/256) + 8) + 1 +
     * CK_DIV_U. */
    double depth = (double)((N + 255) / 256) + 8, r_per = (depth + 4 + CK_DIV_U) * CK_EPS32;
    double r_loss = r_per + ((double)((B + 255) / 256) + 9 + CK_DIV_U) * CK_EPS32;
    double loss = vkt_ref_mse_fwd(dp, dt, rw, B, N, per);
    if ((st = vkt_tensor_download_f32(ctx->dev, &tper, got, err))) goto done;
    vkt_check_compare(ctx, "loss", "loss_fwd_f32", "fwd:per_sample", desc, got, per, B, 1e-30, r_per);
    if ((st = vkt_tensor_download_f32(ctx->dev, &tloss, got, err))) goto done;
    vkt_check_compare(ctx, "loss", "loss_fwd_f32", "fwd:loss", desc, got, &loss, 1, 1e-30, r_loss);

    /* dpred: the scale 2*dloss/n rounded once, then p - t, two products and the accumulated
     * value: 5 roundings of terms at most max|g| + 1 in size. */
    vkt_ref_mse_bwd(dp, dt, rw, B, N, dloss, grad);
    double gmax = 0;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(grad[i]));
    double atol = 5 * CK_EPS32 * (gmax + 1.0);
    for (size_t i = 0; i < n; i++) want[i] = grad[i] + hacc[i];
    if ((st = vkt_tensor_download_f32(ctx->dev, &tdp, got, err))) goto done;
    vkt_check_compare(ctx, "loss", "loss_bwd_f32", "bwd:dpred+=", desc, got, want, n, atol, 0);

    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_mse_bwd(ctx->step, &tp, &tt, pw, dloss, &tdp, VKT_GRAD_OVERWRITE, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    if ((st = vkt_tensor_download_f32(ctx->dev, &tdp, got, err))) goto done;
    vkt_check_compare(ctx, "loss", "loss_bwd_f32", "bwd:dpred", desc, got, grad, n, 4 * CK_EPS32 * gmax, 0);

    if (!ctx->no_fd) {
        /* Quadratic in pred: central differences are exact up to double rounding
         * (~1e-16 * |loss| / eps, eps 1e-3). */
        fd_user u = {dt, rw, B, N};
        double dl = dloss;
        vkt_check_fd(ctx, "loss", "fd:dpred", desc, fd_fwd, &u, dp, n, 1, &dl, grad, 1e-3, 1e-10, 1e-9, 64);
    }
done:
    vkt_tensor_free(ctx->dev, &tp);
    vkt_tensor_free(ctx->dev, &tt);
    vkt_tensor_free(ctx->dev, &tw);
    vkt_tensor_free(ctx->dev, &tper);
    vkt_tensor_free(ctx->dev, &tloss);
    vkt_tensor_free(ctx->dev, &tdp);
    free(hp); free(ht); free(hw); free(hacc); free(got);
    free(dp); free(dt); free(dw); free(want); free(per); free(grad);
    return st;
}

vkt_status vkt_opcheck_loss(vkt_check_ctx *ctx, vkt_err *err)
{
    static const int64_t s0[] = {3, 4, 7, 9}, s1[] = {2, 5, 11}, s2[] = {1, 4, 5, 5}, s3[] = {2, 4, 23, 29};
    static const struct { int nd; const int64_t *s; bool w; } cases[] = {
        {4, s0, true}, {4, s0, false}, {3, s1, true}, {4, s2, true}, {4, s3, false}};
    int nc = ctx->quick ? 2 : (int)(sizeof cases / sizeof *cases);
    for (int i = 0; i < nc; i++) {
        vkt_status st = one_case(ctx, cases[i].nd, cases[i].s, cases[i].w, err);
        if (st) return st;
    }
    return VKT_OK;
}
