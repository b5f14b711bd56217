/* Checks for sum / mean: over the last dim (with and without keepdim) and over the whole tensor,
 * rows shorter and longer than the workgroup, backward in both grad modes; reference backward vs
 * central differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fault.h"
#include "nn/checks/checkutil.h"
#include "nn/ops/reduce.h"
#include "nn/ref/reduce_ref.h"

typedef struct fd_user { bool mean; size_t rows, L; } fd_user;

static void fd_fwd(void *u, const double *x, double *y)
{
    fd_user *f = u;
    vkt_ref_reduce_fwd(f->mean, x, f->rows, f->L, y);
}

static vkt_status one_case(vkt_check_ctx *ctx, vkt_reduce op, int nd, const int64_t *xs, int ynd, const int64_t *ys,
                           vkt_err *err)
{
    vkt_status st = VKT_OK;
    size_t n = ck_numel(nd, xs), ny = ck_numel(ynd, ys), rows = ny, L = n / ny;
    bool mean = op == VKT_REDUCE_MEAN;
    char desc[96];
    int k = snprintf(desc, sizeof desc, "%s x", mean ? "mean" : "sum");
    ck_shape_append(desc, sizeof desc, &k, nd, xs);
    k += snprintf(desc + k, sizeof desc - (size_t)k, " y");
    ck_shape_append(desc, sizeof desc, &k, ynd, ys);
    float *hx = vkt_malloc(n * 4), *hdy = vkt_malloc(ny * 4), *hacc = vkt_malloc(n * 4), *got = vkt_malloc(n * 4);
    double *dx = NULL, *ddy = NULL, *want = vkt_malloc(n * 8), *mag = vkt_malloc(n * 8), *grad = vkt_malloc(n * 8);
    vkt_tensor tx = {0}, ty = {0}, tdy = {0}, tdx = {0};
    if (!hx || !hdy || !hacc || !got || !want || !mag || !grad) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "reduce");
        goto done;
    }
    uint64_t rng = ctx->seed ^ (n * 31u + ny) ^ ((uint64_t)op << 50);
    vkt_rng_fill(&rng, hx, n, -1.0, 1.0);
    vkt_rng_fill(&rng, hdy, ny, -1.0, 1.0);
    vkt_rng_fill(&rng, hacc, n, -1.0, 1.0);
    dx = vkt_to_double(hx, n);
    ddy = vkt_to_double(hdy, ny);
    if (!dx || !ddy) { st = vkt_fail(err, VKT_ERR_NOMEM, "reduce"); goto done; }
    if ((st = vkt_check_tensor(ctx, VKT_F32, nd, xs, hx, "x", &tx, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, ynd, ys, NULL, "y", &ty, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, ynd, ys, hdy, "dy", &tdy, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, nd, xs, hacc, "dx", &tdx, err))) goto done;

    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_reduce_fwd(ctx->step, op, &tx, &ty, err))) goto done;
    if ((st = vkt_op_reduce_bwd(ctx->step, op, &tdy, &tdx, VKT_GRAD_ACCUMULATE, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;

    /* Each row is a f32 sum whose longest chain is ceil(L/256) strided additions plus an 8-level
     * tree: ck_sum_bound over sum|x| (mag, divided by L for the mean), and the mean's division
     * adds up to CK_DIV_U (Vulkan: 2.5 ULP). */
    double depth = (double)((L + 255) / 256) + 8;
    vkt_ref_reduce_fwd(mean, dx, rows, L, want);
    for (size_t r = 0; r < rows; r++) {
        double s = 0;
        for (size_t i = 0; i < L; i++) s += fabs(dx[r * L + i]);
        mag[r] = mean ? s / (double)L : s;
    }
    if ((st = vkt_tensor_download_f32(ctx->dev, &ty, got, err))) goto done;
    vkt_check_compare_mag(ctx, "reduce", "reduce_fwd_f32", "fwd", desc, got, want, mag, ny, 0,
                          mean ? CK_DIV_U * CK_EPS32 : 0, (depth + 1) * CK_EPS32);

    /* Backward: a copy (sum) or one division (mean, CK_DIV_U), plus one rounding when
     * accumulating: u of |grad| + |acc|. */
    vkt_ref_reduce_bwd(mean, ddy, rows, L, grad);
    for (size_t i = 0; i < n; i++) {
        want[i] = grad[i] + hacc[i];
        mag[i] = fabs(grad[i]) + fabs(hacc[i]);
    }
    if ((st = vkt_tensor_download_f32(ctx->dev, &tdx, got, err))) goto done;
    double rdiv = mean ? CK_DIV_U * CK_EPS32 : 0;
    vkt_check_compare_mag(ctx, "reduce", "reduce_bwd_f32", "bwd:dx+=", desc, got, want, mag, n, 0, 0,
                          rdiv + CK_EPS32);
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_reduce_bwd(ctx->step, op, &tdy, &tdx, VKT_GRAD_OVERWRITE, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    if ((st = vkt_tensor_download_f32(ctx->dev, &tdx, got, err))) goto done;
    vkt_check_compare(ctx, "reduce", "reduce_bwd_f32", "bwd:dx", desc, got, grad, n, 1e-30, rdiv);

    if (!ctx->no_fd) {
        /* Linear: central differences exact up to double rounding. */
        fd_user u = {mean, rows, L};
        vkt_check_fd(ctx, "reduce", "fd:dx", desc, fd_fwd, &u, dx, n, ny, ddy, grad, 1e-3, 1e-9, 1e-9, 64);
    }
done:
    vkt_tensor_free(ctx->dev, &tx);
    vkt_tensor_free(ctx->dev, &ty);
    vkt_tensor_free(ctx->dev, &tdy);
    vkt_tensor_free(ctx->dev, &tdx);
    free(hx); free(hdy); free(hacc); free(got); free(dx); free(ddy); free(want); free(mag); free(grad);
    return st;
}

vkt_status vkt_opcheck_reduce(vkt_check_ctx *ctx, vkt_err *err)
{
    static const int64_t x0[] = {3, 5, 37}, y0[] = {3, 5}, y0k[] = {3, 5, 1}, one[] = {1};
    static const int64_t x1[] = {2, 1000}, y1[] = {2}, x2[] = {70001};
    static const struct { int nd; const int64_t *x; int ynd; const int64_t *y; } cases[] = {
        {3, x0, 2, y0}, {3, x0, 1, one}, {3, x0, 3, y0k}, {2, x1, 1, y1}, {1, x2, 1, one}};
    int nc = ctx->quick ? 2 : (int)(sizeof cases / sizeof *cases);
    for (int op = 0; op < 2; op++)
        for (int i = 0; i < nc; i++) {
            vkt_status st = one_case(ctx, (vkt_reduce)op, cases[i].nd, cases[i].x, cases[i].ynd, cases[i].y, err);
            if (st) return st;
        }
    return VKT_OK;
}
