/* Checks for the binary family: add / mul / scale with broadcasting (forward, backward in both
 * grad modes, thread and workgroup reduction paths), axpy, in f32 and f16 storage; reference
 * backward vs central differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fault.h"
#include "nn/checks/checkutil.h"
#include "nn/ref/binary_ref.h"

typedef struct bcase {
    vkt_binary op;
    float alpha, beta;
    vkt_ref_shape a, b, y;
} bcase;

typedef struct fd_user {
    const bcase *c;
    const double *a, *b;
    bool wrt_a;
} fd_user;

static void fd_fwd(void *u, const double *x, double *y)
{
    fd_user *f = u;
    vkt_ref_binary_fwd(f->c->op, f->c->alpha, f->c->beta, f->c->a, f->wrt_a ? x : f->a, f->c->b,
                       f->wrt_a ? f->b : x, f->c->y, y);
}

static size_t nel(vkt_ref_shape s) { return ck_numel(s.nd, s.d); }

static double max_abs(const double *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

/* Depth of the GPU's summation chain for a gradient of n_x elements out of n_y (see
 * shaders/binary.comp: workgroup of 128 with a tree when at least 32 terms, else a loop). */
static double sum_depth(size_t n_x, size_t n_y)
{
    size_t r = n_y / n_x;
    return r >= 32 ? (double)((r + 127) / 128) + 7 : (double)r;
}

static vkt_status one_case(vkt_check_ctx *ctx, const bcase *c, vkt_dtype dt, vkt_err *err)
{
    vkt_status st = VKT_OK;
    bool has_b = c->op != VKT_BINARY_SCALE;
    size_t na = nel(c->a), nb = nel(c->b), ny = nel(c->y), nmax = na > nb ? na : nb;
    nmax = nmax > ny ? nmax : ny;
    char desc[96], var_f[64], var_b[64];
    int k = snprintf(desc, sizeof desc, "%s a", vkt_binary_name(c->op));
    ck_shape_append(desc, sizeof desc, &k, c->a.nd, c->a.d);
    if (has_b) {
        k += snprintf(desc + k, sizeof desc - (size_t)k, " b");
        ck_shape_append(desc, sizeof desc, &k, c->b.nd, c->b.d);
    }
    vkt_variant_name(var_f, sizeof var_f, "binary", "fwd", dt);
    vkt_variant_name(var_b, sizeof var_b, "binary", "bwd", dt);

    float *ha = vkt_malloc(na * 4), *hb = vkt_malloc(nb * 4), *hdy = vkt_malloc(ny * 4), *hacc_a = vkt_malloc(na * 4),
          *hacc_b = vkt_malloc(nb * 4), *got = vkt_malloc(nmax * 4);
    double *da = NULL, *db = NULL, *ddy = NULL, *want = vkt_malloc(nmax * 8), *ga = vkt_malloc(na * 8),
           *gb = vkt_malloc(nb * 8), *sa = vkt_malloc(na * 8), *sb = vkt_malloc(nb * 8);
    vkt_tensor ta = {0}, tb = {0}, ty = {0}, tdy = {0}, tda = {0}, tdb = {0};
    if (!ha || !hb || !hdy || !hacc_a || !hacc_b || !got || !want || !ga || !gb || !sa || !sb) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "binary check");
        goto done;
    }
    uint64_t rng = ctx->seed ^ ((uint64_t)c->op << 40) ^ (na * 1000003u + nb * 101u + ny);
    vkt_rng_fill(&rng, ha, na, -1.0, 1.0);
    vkt_rng_fill(&rng, hb, nb, -1.0, 1.0);
    vkt_rng_fill(&rng, hdy, ny, -1.0, 1.0);
    vkt_rng_fill(&rng, hacc_a, na, -1.0, 1.0);
    vkt_rng_fill(&rng, hacc_b, nb, -1.0, 1.0);
    if (dt == VKT_F16) {
        vkt_round_f16(ha, na); vkt_round_f16(hb, nb); vkt_round_f16(hdy, ny);
        vkt_round_f16(hacc_a, na); vkt_round_f16(hacc_b, nb);
    }
    da = vkt_to_double(ha, na);
    db = vkt_to_double(hb, nb);
    ddy = vkt_to_double(hdy, ny);
    if (!da || !db || !ddy) { st = vkt_fail(err, VKT_ERR_NOMEM, "binary check"); goto done; }

    if ((st = vkt_check_tensor(ctx, dt, c->a.nd, c->a.d, ha, "a", &ta, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, c->b.nd, c->b.d, hb, "b", &tb, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, c->y.nd, c->y.d, NULL, "y", &ty, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, c->y.nd, c->y.d, hdy, "dy", &tdy, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, c->a.nd, c->a.d, hacc_a, "da", &tda, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, c->b.nd, c->b.d, hacc_b, "db", &tdb, err))) goto done;

    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_binary_fwd(ctx->step, c->op, c->alpha, c->beta, &ta, has_b ? &tb : NULL, &ty, err))) goto done;
    if ((st = vkt_op_binary_bwd(ctx->step, c->op, c->alpha, c->beta, &ta, has_b ? &tb : NULL, &tdy, &tda,
                                has_b ? &tdb : NULL, VKT_GRAD_ACCUMULATE, err)))
        goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;

    /* Forward: inputs lie in [-1, 1], so each output is one or two f32 roundings of a value at
     * most mag = |alpha| + |beta| in size (3u*mag absolute, 2u relative). f16 storage adds the
     * output store (CK_F16_STORE_*). */
    double mag = fabs(c->alpha) + fabs(c->beta);
    double atol = 3 * CK_EPS32 * mag + (dt == VKT_F16 ? CK_F16_STORE_ABS : 0);
    double rtol = 2 * CK_EPS32 + (dt == VKT_F16 ? CK_F16_STORE_REL : 0);
    vkt_ref_binary_fwd(c->op, c->alpha, c->beta, c->a, da, c->b, db, c->y, want);
    if ((st = vkt_tensor_download_f32(ctx->dev, &ty, got, err))) goto done;
    vkt_check_compare(ctx, "binary", var_f, "fwd", desc, got, want, ny, atol, rtol);

    /* Backward: each gradient element is a f32 sum of r = ny/nx terms; the bound is
     * ck_sum_bound(depth of the GPU's chain, sum of |terms|), sum of |terms| taken from the
     * reference on absolute values. Accumulate adds one rounding (relative). */
    vkt_ref_binary_bwd(c->op, c->alpha, c->beta, c->a, da, c->b, db, c->y, ddy, ga, has_b ? gb : NULL);
    {
        double *aa = vkt_malloc(na * 8), *ab = vkt_malloc(nb * 8), *ady = vkt_malloc(ny * 8);
        bool ok = aa && ab && ady;
        if (ok) {
            for (size_t i = 0; i < na; i++) aa[i] = fabs(da[i]);
            for (size_t i = 0; i < nb; i++) ab[i] = fabs(db[i]);
            for (size_t i = 0; i < ny; i++) ady[i] = fabs(ddy[i]);
            vkt_ref_binary_bwd(c->op, fabs(c->alpha), fabs(c->beta), c->a, aa, c->b, ab, c->y, ady, sa,
                               has_b ? sb : NULL);
        }
        free(aa); free(ab); free(ady);
        if (!ok) { st = vkt_fail(err, VKT_ERR_NOMEM, "binary check"); goto done; }
    }
    const struct {
        const char *what, *what_acc;
        size_t n;
        const double *g, *s;
        const float *acc;
        vkt_tensor *t;
    } gs[2] = {
        {"bwd:da", "bwd:da+=", na, ga, sa, hacc_a, &tda}, {"bwd:db", "bwd:db+=", nb, gb, sb, hacc_b, &tdb}};
    double gatol[2];
    for (int g = 0; g < (has_b ? 2 : 1); g++) {
        gatol[g] = ck_sum_bound(sum_depth(gs[g].n, ny), max_abs(gs[g].s, gs[g].n)) +
                   (dt == VKT_F16 ? CK_F16_STORE_ABS : 0);
        for (size_t i = 0; i < gs[g].n; i++) want[i] = gs[g].g[i] + gs[g].acc[i];
        if ((st = vkt_tensor_download_f32(ctx->dev, gs[g].t, got, err))) goto done;
        vkt_check_compare(ctx, "binary", var_b, gs[g].what_acc, desc, got, want, gs[g].n, gatol[g], rtol);
    }

    /* Overwrite mode on the same buffers. */
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_binary_bwd(ctx->step, c->op, c->alpha, c->beta, &ta, has_b ? &tb : NULL, &tdy, &tda,
                                has_b ? &tdb : NULL, VKT_GRAD_OVERWRITE, err)))
        goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    for (int g = 0; g < (has_b ? 2 : 1); g++) {
        if ((st = vkt_tensor_download_f32(ctx->dev, gs[g].t, got, err))) goto done;
        vkt_check_compare(ctx, "binary", var_b, gs[g].what, desc, got, gs[g].g, gs[g].n, gatol[g], rtol);
    }

    if (!ctx->no_fd && dt == VKT_F32) {
        /* Linear in each operand: central differences are exact up to double rounding
         * (~1e-16 * |L| / eps with |L| < 1e3, eps 1e-3). */
        fd_user u = {c, da, db, true};
        vkt_check_fd(ctx, "binary", "fd:da", desc, fd_fwd, &u, da, na, ny, ddy, ga, 1e-3, 1e-9, 1e-9, 64);
        if (has_b) {
            u.wrt_a = false;
            vkt_check_fd(ctx, "binary", "fd:db", desc, fd_fwd, &u, db, nb, ny, ddy, gb, 1e-3, 1e-9, 1e-9, 64);
        }
    }
done:
    vkt_tensor_free(ctx->dev, &ta);
    vkt_tensor_free(ctx->dev, &tb);
    vkt_tensor_free(ctx->dev, &ty);
    vkt_tensor_free(ctx->dev, &tdy);
    vkt_tensor_free(ctx->dev, &tda);
    vkt_tensor_free(ctx->dev, &tdb);
    free(ha); free(hb); free(hdy); free(hacc_a); free(hacc_b); free(got);
    free(da); free(db); free(ddy); free(want); free(ga); free(gb); free(sa); free(sb);
    return st;
}

/* y = alpha*x + beta*y in place. */
static vkt_status axpy_case(vkt_check_ctx *ctx, vkt_dtype dt, vkt_err *err)
{
    static const int64_t shape[] = {3, 37};
    const size_t n = 3 * 37;
    const float alpha = 0.5f, beta = -2.0f;
    vkt_status st = VKT_OK;
    float hx[3 * 37], hy[3 * 37], got[3 * 37];
    double want[3 * 37];
    vkt_tensor tx = {0}, ty = {0};
    char var[64];
    uint64_t rng = ctx->seed ^ 0xa5f7;
    vkt_rng_fill(&rng, hx, n, -1.0, 1.0);
    vkt_rng_fill(&rng, hy, n, -1.0, 1.0);
    if (dt == VKT_F16) { vkt_round_f16(hx, n); vkt_round_f16(hy, n); }
    if ((st = vkt_check_tensor(ctx, dt, 2, shape, hx, "x", &tx, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 2, shape, hy, "y", &ty, err))) goto done;
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_axpy(ctx->step, alpha, &tx, beta, &ty, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    if ((st = vkt_tensor_download_f32(ctx->dev, &ty, got, err))) goto done;
    for (size_t i = 0; i < n; i++) want[i] = (double)alpha * hx[i] + (double)beta * hy[i];
    /* Two products and a sum of magnitude <= 2.5: 3u*2.5 absolute; f16 adds the output store. */
    vkt_check_compare(ctx, "binary", vkt_variant_name(var, sizeof var, "binary", "fwd", dt), "axpy", "axpy [3,37]", got,
                      want, n, 3 * CK_EPS32 * 2.5 + (dt == VKT_F16 ? CK_F16_STORE_ABS : 0),
                      dt == VKT_F16 ? CK_F16_STORE_REL : 0);
done:
    vkt_tensor_free(ctx->dev, &tx);
    vkt_tensor_free(ctx->dev, &ty);
    return st;
}

vkt_status vkt_opcheck_binary(vkt_check_ctx *ctx, vkt_err *err)
{
    static const bcase cases[] = {
        /* ResBlock time embedding: [B,C,H,W] + [B,C,1,1] (r = 35: workgroup path) */
        {VKT_BINARY_ADD, 1.0f, 1.0f, {4, {2, 3, 5, 7}}, {4, {2, 3, 1, 1}}, {4, {2, 3, 5, 7}}},
        /* [B,T,C] * [C] (r = 15: thread path) */
        {VKT_BINARY_MUL, 0.75f, 0.0f, {3, {3, 5, 13}}, {1, {13}}, {3, {3, 5, 13}}},
        /* both broadcast, 5 dims, scalars alpha/beta */
        {VKT_BINARY_ADD, 1.5f, -0.5f, {5, {2, 1, 3, 1, 5}}, {4, {1, 3, 4, 1}}, {5, {2, 1, 3, 4, 5}}},
        {VKT_BINARY_MUL, 1.0f, 0.0f, {5, {2, 1, 3, 1, 5}}, {4, {1, 3, 4, 1}}, {5, {2, 1, 3, 4, 5}}},
        /* long reductions (r = 646) and a whole-tensor one (b is [1]) */
        {VKT_BINARY_MUL, 1.0f, 0.0f, {4, {2, 3, 17, 19}}, {4, {1, 3, 1, 1}}, {4, {2, 3, 17, 19}}},
        {VKT_BINARY_ADD, 1.0f, 2.0f, {3, {3, 7, 11}}, {1, {1}}, {3, {3, 7, 11}}},
        /* same shapes, scale */
        {VKT_BINARY_ADD, 1.0f, -1.0f, {2, {3, 37}}, {2, {3, 37}}, {2, {3, 37}}},
        {VKT_BINARY_SCALE, -2.0f, 0.25f, {2, {5, 27}}, {2, {5, 27}}, {2, {5, 27}}},
    };
    static const int quick[] = {0, 1, 2, 7};
    vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    for (int d = 0; d < 2; d++) {
        if (!vkt_step_dtype_ok(ctx->step, dts[d])) continue;
        int nc = ctx->quick ? (int)(sizeof quick / sizeof *quick) : (int)(sizeof cases / sizeof *cases);
        for (int i = 0; i < nc; i++) {
            vkt_status st = one_case(ctx, &cases[ctx->quick ? quick[i] : i], dts[d], err);
            if (st) return st;
        }
        vkt_status st = axpy_case(ctx, dts[d], err);
        if (st) return st;
    }
    return VKT_OK;
}
