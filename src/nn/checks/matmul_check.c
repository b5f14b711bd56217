/* Checks for the matmul family: every GEMM kernel through strided descriptors (offsets,
 * transposes, broadcast, batch sums), the tensor-level matmul forward/backward and linear
 * forward/backward against the double reference, and the reference backward against finite
 * differences. Sizes are odd and not multiples of the tiles (64/32 rows, K slices of 16). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "nn/check.h"
#include "nn/checks/ckbuf.h"
#include "nn/ops/matmul.h"
#include "nn/ref/matmul_ref.h"

/* Tolerances, as |got - want| <= atol + rtol*|want|, for sums of K products of values in [-1, 1]
 * (|terms| <= 1, results of size ~sqrt(K)/3):
 *   f32: fp32 accumulation error ~ sqrt(K) * 2^-24 * |partial sums| (about 1e-6 at K = 100, with
 *        every order of summation the kernels use), so atol 1e-5 and rtol 1e-5.
 *   f16: inputs are f16 values and the reference sees the same ones, so only the output rounding
 *        (half an ulp, 2^-11 relative) and the fp32 error remain: rtol 1e-3 = 2x the rounding,
 *        atol 2e-5 for results that cancel to near zero. */
static void tol(vkt_dtype dt, double *atol, double *rtol)
{
    *atol = dt == VKT_F16 ? 2e-5 : 1e-5;
    *rtol = dt == VKT_F16 ? 1e-3 : 1e-5;
}

/* ---- strided descriptors, one run per kernel ---- */

typedef struct desc_case {
    const char *name;
    int64_t batch, M, N, K;
    vkt_ref_operand a, b, c;
    int64_t bias_off; /* -1: no bias */
    float alpha;
    bool accumulate;
} desc_case;

static int64_t extent(vkt_ref_operand o, int64_t batch, int64_t rows, int64_t cols)
{
    return o.offset + (batch - 1) * o.batch_stride + (rows - 1) * o.row_stride +
           (cols - 1) * o.col_stride + 1;
}

static vkt_status run_desc(vkt_check_ctx *ctx, const desc_case *k, vkt_dtype dt, const char *kernel,
                           vkt_err *err)
{
    vkt_status st = VKT_OK;
    ckbuf h[4] = {0};
    double *want = NULL;
    uint64_t rng = ctx->seed ^ (uint64_t)k->M * 7919u ^ (uint64_t)k->K;
    int64_t na = extent(k->a, k->batch, k->M, k->K), nb = extent(k->b, k->batch, k->K, k->N);
    int64_t nc = extent(k->c, k->batch, k->M, k->N), nbias = k->bias_off + k->N;
    if ((st = ckbuf_make(ctx, &h[0], dt, 1, &na, &rng, -1.0, 1.0, "a", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[1], dt, 1, &nb, &rng, -1.0, 1.0, "b", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[2], dt, 1, &nbias, &rng, -1.0, 1.0, "bias", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[3], dt, 1, &nc, &rng, -1.0, 1.0, "c", err))) goto done;
    want = vkt_malloc((size_t)nc * sizeof *want);
    if (!want) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "matmul check");
        goto done;
    }
    /* Elements the product does not write keep their value in both. */
    memcpy(want, h[3].d, (size_t)nc * sizeof *want);
    bool has_bias = k->bias_off >= 0;
    vkt_ref_matmul_strided(k->batch, k->M, k->N, k->K, h[0].d, k->a, h[1].d, k->b,
                           has_bias ? h[2].d + k->bias_off : NULL, k->alpha, k->accumulate, want,
                           k->c);
    vkt_matmul_desc d = {
        k->batch,
        k->M,
        k->N,
        k->K,
        {&h[0].t, k->a.offset, k->a.batch_stride, k->a.row_stride, k->a.col_stride},
        {&h[1].t, k->b.offset, k->b.batch_stride, k->b.row_stride, k->b.col_stride},
        {&h[3].t, k->c.offset, k->c.batch_stride, k->c.row_stride, k->c.col_stride},
        has_bias ? &h[2].t : NULL,
        has_bias ? k->bias_off : 0,
        k->alpha,
        k->accumulate ? VKT_GRAD_ACCUMULATE : VKT_GRAD_OVERWRITE,
        kernel};
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_matmul(ctx->step, &d, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    char variant[64], desc[96];
    snprintf(variant, sizeof variant, "matmul_fwd_%s:%s", vkt_dtype_name(dt), kernel);
    snprintf(desc, sizeof desc, "%s b%lld %lldx%lldx%lld", k->name, (long long)k->batch,
             (long long)k->M, (long long)k->N, (long long)k->K);
    double atol, rtol;
    tol(dt, &atol, &rtol);
    st = ckbuf_compare(ctx, &h[3], want, false, "matmul", variant, "desc", desc, atol, rtol, err);
done:
    ckbuf_free(ctx, h, 4);
    free(want);
    return st;
}

// clang-format off
static const desc_case desc_cases[] = {
    /* A transposed with padded rows at an offset, B broadcast with padding, C padded, bias at an
     * offset, accumulate. */
    {"strided", 3, 37, 29, 45, {7, 41 * 45 + 3, 1, 41}, {2, 0, 31, 1}, {5, 37 * 30 + 1, 30, 1}, 3,
     0.5f, true},
    /* Sum over a batch that cannot fold into K (A padded between batches), C written transposed. */
    {"batchsum", 4, 21, 18, 19, {0, 21 * 19 + 5, 19, 1}, {1, 19 * 18, 18, 1}, {0, 0, 1, 21}, 0, 1.0f,
     false},
    /* Sum over a batch that folds into one product with K' = batch*K. */
    {"foldK", 4, 13, 22, 17, {0, 17, 4 * 17, 1}, {0, 17 * 22, 22, 1}, {0, 0, 22, 1}, -1, -0.75f, true},
    /* Larger than one 64x64 tile in M and N, K not a multiple of 16. */
    {"big", 2, 131, 70, 33, {0, 131 * 33, 33, 1}, {0, 0, 70, 1}, {0, 131 * 70, 70, 1}, 0, 1.0f, false},
};
// clang-format on

/* ---- tensor-level matmul ---- */

typedef struct mm_case {
    int nlead;
    int64_t lead[2];
    int64_t M, N, K;
    bool ta, tb, a2d, b2d, bias;
    float alpha;
    vkt_grad_mode mode;
} mm_case;

typedef struct fd_mm {
    const mm_case *k;
    int64_t batch;
    const double *a, *b, *bias;
} fd_mm;

static void fd_mm_fwd(void *u, const double *x, double *y)
{
    (void)x; /* x is one of the arrays in u, perturbed in place */
    fd_mm *f = u;
    const mm_case *k = f->k;
    vkt_ref_matmul_fwd(f->a, k->ta, k->a2d, f->b, k->tb, k->b2d, f->bias, k->alpha, y, f->batch,
                       k->M, k->N, k->K);
}

static int shape_of(const mm_case *k, bool is2d, int64_t r, int64_t c, int64_t *out)
{
    int n = 0;
    if (!is2d)
        for (int i = 0; i < k->nlead; i++)
            out[n++] = k->lead[i];
    out[n++] = r;
    out[n++] = c;
    return n;
}

static vkt_status run_mm(vkt_check_ctx *ctx, const mm_case *k, vkt_dtype dt, vkt_err *err)
{
    vkt_status st = VKT_OK;
    ckbuf h[8] = {0}; /* a b bias c dc da db dbias */
    double *want = NULL, *wa = NULL, *wb = NULL, *wbias = NULL;
    int64_t batch = 1;
    for (int i = 0; i < k->nlead; i++)
        batch *= k->lead[i];
    int64_t sa[4], sb[4], sc[4], sbias[1] = {k->N};
    int na = shape_of(k, k->a2d, k->ta ? k->K : k->M, k->ta ? k->M : k->K, sa);
    int nb = shape_of(k, k->b2d, k->tb ? k->N : k->K, k->tb ? k->K : k->N, sb);
    int nc = shape_of(k, false, k->M, k->N, sc);
    uint64_t rng = ctx->seed ^ ((uint64_t)k->M << 20) ^ (uint64_t)k->N ^ ((uint64_t)k->K << 40);
    bool acc = k->mode == VKT_GRAD_ACCUMULATE;
    if ((st = ckbuf_make(ctx, &h[0], dt, na, sa, &rng, -1.0, 1.0, "a", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[1], dt, nb, sb, &rng, -1.0, 1.0, "b", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[2], dt, 1, sbias, &rng, -1.0, 1.0, "bias", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[3], dt, nc, sc, acc ? &rng : NULL, -1.0, 1.0, "c", err)))
        goto done;
    if ((st = ckbuf_make(ctx, &h[4], dt, nc, sc, &rng, -1.0, 1.0, "dc", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[5], dt, na, sa, acc ? &rng : NULL, -1.0, 1.0, "da", err)))
        goto done;
    if ((st = ckbuf_make(ctx, &h[6], dt, nb, sb, acc ? &rng : NULL, -1.0, 1.0, "db", err)))
        goto done;
    if ((st = ckbuf_make(ctx, &h[7], dt, 1, sbias, acc ? &rng : NULL, -1.0, 1.0, "dbias", err)))
        goto done;
    want = vkt_malloc(h[3].n * sizeof *want);
    wa = vkt_malloc(h[0].n * sizeof *wa);
    wb = vkt_malloc(h[1].n * sizeof *wb);
    wbias = vkt_malloc(h[2].n * sizeof *wbias);
    if (!want || !wa || !wb || !wbias) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "matmul check");
        goto done;
    }
    const double *bias = k->bias ? h[2].d : NULL;
    vkt_ref_matmul_fwd(h[0].d, k->ta, k->a2d, h[1].d, k->tb, k->b2d, bias, k->alpha, want, batch,
                       k->M, k->N, k->K);
    vkt_ref_matmul_bwd(h[0].d, k->ta, k->a2d, h[1].d, k->tb, k->b2d, k->alpha, h[4].d, wa, wb,
                       wbias, batch, k->M, k->N, k->K);

    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_matmul_fwd(ctx->step, &h[0].t, k->ta, &h[1].t, k->tb, k->bias ? &h[2].t : NULL,
                                k->alpha, &h[3].t, k->mode, err)))
        goto done;
    if ((st = vkt_op_matmul_bwd(ctx->step, &h[0].t, k->ta, &h[1].t, k->tb, k->alpha, &h[4].t,
                                &h[5].t, &h[6].t, k->bias ? &h[7].t : NULL, k->mode, err)))
        goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;

    char desc[96], vf[64], vb[64];
    snprintf(desc, sizeof desc, "%s[%lld]%s·%s[%lld]%s %lldx%lldx%lld%s%s", k->a2d ? "" : "B",
             (long long)batch, k->ta ? "ᵀ" : "", k->b2d ? "" : "B", (long long)batch,
             k->tb ? "ᵀ" : "", (long long)k->M, (long long)k->N, (long long)k->K,
             k->bias ? " +bias" : "", acc ? " +=" : "");
    vkt_variant_name(vf, sizeof vf, "matmul", "fwd", dt);
    vkt_variant_name(vb, sizeof vb, "matmul", "bwd", dt);
    double atol, rtol;
    tol(dt, &atol, &rtol);
    if ((st = ckbuf_compare(ctx, &h[3], want, acc, "matmul", vf, acc ? "fwd+=" : "fwd", desc, atol,
                            rtol, err)))
        goto done;
    if ((st = ckbuf_compare(ctx, &h[5], wa, acc, "matmul", vf, acc ? "bwd:da+=" : "bwd:da", desc,
                            atol, rtol, err)))
        goto done;
    if ((st = ckbuf_compare(ctx, &h[6], wb, acc, "matmul", vf, acc ? "bwd:db+=" : "bwd:db", desc,
                            atol, rtol, err)))
        goto done;
    if (k->bias && (st = ckbuf_compare(ctx, &h[7], wbias, acc, "matmul", vb,
                                       acc ? "bwd:dbias+=" : "bwd:dbias", desc, atol, rtol, err)))
        goto done;

    if (!ctx->no_fd && dt == VKT_F32) {
        /* The product is linear in each input, so central differences have no truncation error
         * at any step; a large step (0.5) keeps the rounding of L (~1e-16 * sum|terms| / eps,
         * about 1e-11 here) far below the 1e-9 bounds, which a wrong index exceeds by far. */
        fd_mm u = {k, batch, h[0].d, h[1].d, bias};
        vkt_check_fd(ctx, "matmul", "fd:da", desc, fd_mm_fwd, &u, h[0].d, h[0].n, h[4].n, h[4].d,
                     wa, 0.5, 1e-9, 1e-9, 48);
        vkt_check_fd(ctx, "matmul", "fd:db", desc, fd_mm_fwd, &u, h[1].d, h[1].n, h[4].n, h[4].d,
                     wb, 0.5, 1e-9, 1e-9, 48);
        if (k->bias)
            vkt_check_fd(ctx, "matmul", "fd:dbias", desc, fd_mm_fwd, &u, h[2].d, h[2].n, h[4].n,
                         h[4].d, wbias, 0.5, 1e-9, 1e-9, 48);
    }
done:
    ckbuf_free(ctx, h, 8);
    free(want);
    free(wa);
    free(wb);
    free(wbias);
    return st;
}

static const mm_case mm_cases[] = {
    /* batched, plain, bias */
    {1, {2}, 13, 19, 37, false, false, false, false, true, 1.0f, VKT_GRAD_OVERWRITE},
    /* both transposed, weight-like B broadcast over a 2-D batch, accumulate */
    {2, {2, 3}, 13, 19, 37, true, true, false, true, false, 0.7f, VKT_GRAD_ACCUMULATE},
    /* A broadcast (its gradient sums the batch), B transposed, bias */
    {1, {3}, 33, 20, 17, false, true, true, false, true, -1.3f, VKT_GRAD_OVERWRITE},
    /* plain 2-D, several tiles */
    {0, {0}, 70, 131, 65, false, false, true, true, true, 1.0f, VKT_GRAD_OVERWRITE},
};

/* ---- linear ---- */

typedef struct lin_case {
    int nd;
    int64_t lead[2];
    int64_t in, out;
    bool bias, want_dx, want_dw;
    vkt_grad_mode dx_mode, dw_mode;
} lin_case;

typedef struct fd_lin {
    int64_t rows, in, out;
    const double *x, *w, *b;
} fd_lin;

static void fd_lin_fwd(void *u, const double *x, double *y)
{
    (void)x;
    fd_lin *f = u;
    vkt_ref_linear_fwd(f->x, f->w, f->b, y, f->rows, f->in, f->out);
}

static vkt_status run_lin(vkt_check_ctx *ctx, const lin_case *k, vkt_dtype dt, vkt_err *err)
{
    vkt_status st = VKT_OK;
    ckbuf h[8] = {0}; /* x w b y dy dx dw db */
    double *wy = NULL, *wdx = NULL, *wdw = NULL, *wdb = NULL;
    int64_t rows = 1, sx[3], sy[3], sw[2] = {k->out, k->in}, sb[1] = {k->out};
    for (int i = 0; i < k->nd - 1; i++) {
        rows *= k->lead[i];
        sx[i] = sy[i] = k->lead[i];
    }
    sx[k->nd - 1] = k->in;
    sy[k->nd - 1] = k->out;
    uint64_t rng = ctx->seed ^ ((uint64_t)k->in << 16) ^ (uint64_t)k->out;
    bool ax = k->dx_mode == VKT_GRAD_ACCUMULATE, aw = k->dw_mode == VKT_GRAD_ACCUMULATE;
    if ((st = ckbuf_make(ctx, &h[0], dt, k->nd, sx, &rng, -1.0, 1.0, "x", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[1], dt, 2, sw, &rng, -1.0, 1.0, "w", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[2], dt, 1, sb, &rng, -1.0, 1.0, "b", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[3], dt, k->nd, sy, NULL, -1.0, 1.0, "y", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[4], dt, k->nd, sy, &rng, -1.0, 1.0, "dy", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[5], dt, k->nd, sx, ax ? &rng : NULL, -1.0, 1.0, "dx", err)))
        goto done;
    if ((st = ckbuf_make(ctx, &h[6], dt, 2, sw, aw ? &rng : NULL, -1.0, 1.0, "dw", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[7], dt, 1, sb, aw ? &rng : NULL, -1.0, 1.0, "db", err))) goto done;
    wy = vkt_malloc(h[3].n * sizeof *wy);
    wdx = vkt_malloc(h[0].n * sizeof *wdx);
    wdw = vkt_malloc(h[1].n * sizeof *wdw);
    wdb = vkt_malloc(h[2].n * sizeof *wdb);
    if (!wy || !wdx || !wdw || !wdb) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "matmul check");
        goto done;
    }
    const double *bias = k->bias ? h[2].d : NULL;
    vkt_ref_linear_fwd(h[0].d, h[1].d, bias, wy, rows, k->in, k->out);
    vkt_ref_linear_bwd(h[0].d, h[1].d, h[4].d, wdx, wdw, wdb, rows, k->in, k->out);

    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_linear_fwd(ctx->step, &h[0].t, &h[1].t, k->bias ? &h[2].t : NULL, &h[3].t,
                                err)))
        goto done;
    if ((st = vkt_op_linear_bwd(ctx->step, &h[0].t, &h[1].t, &h[4].t, k->want_dx ? &h[5].t : NULL,
                                k->dx_mode, k->want_dw ? &h[6].t : NULL, k->bias ? &h[7].t : NULL,
                                k->dw_mode, err)))
        goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;

    char desc[96], vf[64], vb[64];
    snprintf(desc, sizeof desc, "linear [%lld,%lld]->%lld%s%s%s", (long long)rows, (long long)k->in,
             (long long)k->out, k->bias ? " +bias" : "", ax ? " dx+=" : "", aw ? " dw+=" : "");
    vkt_variant_name(vf, sizeof vf, "matmul", "fwd", dt);
    vkt_variant_name(vb, sizeof vb, "matmul", "bwd", dt);
    double atol, rtol;
    tol(dt, &atol, &rtol);
    if ((st = ckbuf_compare(ctx, &h[3], wy, false, "matmul", vf, "linear:fwd", desc, atol, rtol,
                            err)))
        goto done;
    if (k->want_dx && (st = ckbuf_compare(ctx, &h[5], wdx, ax, "matmul", vf,
                                          ax ? "linear:dx+=" : "linear:dx", desc, atol, rtol, err)))
        goto done;
    if (k->want_dw && (st = ckbuf_compare(ctx, &h[6], wdw, aw, "matmul", vf,
                                          aw ? "linear:dw+=" : "linear:dw", desc, atol, rtol, err)))
        goto done;
    if (k->bias && (st = ckbuf_compare(ctx, &h[7], wdb, aw, "matmul", vb,
                                       aw ? "linear:db+=" : "linear:db", desc, atol, rtol, err)))
        goto done;

    if (!ctx->no_fd && dt == VKT_F32) {
        /* linear in each input: see run_mm */
        fd_lin u = {rows, k->in, k->out, h[0].d, h[1].d, bias};
        vkt_check_fd(ctx, "matmul", "fd:linear:dx", desc, fd_lin_fwd, &u, h[0].d, h[0].n, h[4].n,
                     h[4].d, wdx, 0.5, 1e-9, 1e-9, 48);
        vkt_check_fd(ctx, "matmul", "fd:linear:dw", desc, fd_lin_fwd, &u, h[1].d, h[1].n, h[4].n,
                     h[4].d, wdw, 0.5, 1e-9, 1e-9, 48);
        if (k->bias)
            vkt_check_fd(ctx, "matmul", "fd:linear:db", desc, fd_lin_fwd, &u, h[2].d, h[2].n,
                         h[4].n, h[4].d, wdb, 0.5, 1e-9, 1e-9, 48);
    }
done:
    ckbuf_free(ctx, h, 8);
    free(wy);
    free(wdx);
    free(wdw);
    free(wdb);
    return st;
}

static const lin_case lin_cases[] = {
    /* tokens [B, T, in], bias, parameter gradients accumulated as in training */
    {3, {2, 7}, 45, 33, true, true, true, VKT_GRAD_OVERWRITE, VKT_GRAD_ACCUMULATE},
    /* rows [N, in], no bias, weight gradient only */
    {2, {3}, 65, 17, false, false, true, VKT_GRAD_OVERWRITE, VKT_GRAD_OVERWRITE},
    /* many rows (several 64-row tiles), dx accumulated */
    {3, {2, 77}, 40, 70, true, true, true, VKT_GRAD_ACCUMULATE, VKT_GRAD_OVERWRITE},
};

vkt_status vkt_opcheck_matmul(vkt_check_ctx *ctx, vkt_err *err)
{
    vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    int n_desc = sizeof desc_cases / sizeof desc_cases[0],
        n_mm = sizeof mm_cases / sizeof mm_cases[0];
    int n_lin = sizeof lin_cases / sizeof lin_cases[0];
    if (ctx->quick) {
        n_desc = 2;
        n_mm = 3;
        n_lin = 2;
    }
    vkt_status st;
    for (int d = 0; d < 2; d++) {
        if (!vkt_step_dtype_ok(ctx->step, dts[d])) continue;
        for (int kn = 0; vkt_matmul_kernel_name(kn); kn++)
            for (int i = 0; i < n_desc; i++)
                if ((st = run_desc(ctx, &desc_cases[i], dts[d], vkt_matmul_kernel_name(kn), err)))
                    return st;
        for (int i = 0; i < n_mm; i++)
            if ((st = run_mm(ctx, &mm_cases[i], dts[d], err))) return st;
        for (int i = 0; i < n_lin; i++)
            if ((st = run_lin(ctx, &lin_cases[i], dts[d], err))) return st;
    }
    return VKT_OK;
}
