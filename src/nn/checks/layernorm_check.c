/* Checks for LayerNorm: GPU vs reference (forward with its saved statistics, backward in both
 * grad modes and with dgamma/dbeta requested separately) for f32 and f16 storage, and reference
 * backward vs central finite differences of the reference forward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fault.h"
#include "nn/check.h"
#include "nn/ops/layernorm.h"
#include "nn/ref/layernorm_ref.h"

typedef struct ln_case {
    int ndim;
    int64_t shape[3]; /* the last dim is D */
    double eps;
    bool gamma, beta;
    double offset, spread; /* x = offset + U(-spread, spread) */
} ln_case;

static int64_t case_d(const ln_case *c)
{
    return c->shape[c->ndim - 1];
}
static int64_t case_n(const ln_case *c)
{
    int64_t n = 1;
    for (int i = 0; i < c->ndim - 1; i++)
        n *= c->shape[i];
    return n;
}

/* Finite differences: the reference forward as a function of x, gamma or beta. */
typedef struct fd_user {
    const ln_case *c;
    const double *x, *gamma, *beta;
    int wrt; /* 0: x, 1: gamma, 2: beta */
} fd_user;

static void fd_fwd(void *u, const double *v, double *y)
{
    fd_user *f = u;
    vkt_ref_layernorm_fwd(f->wrt == 0 ? v : f->x, f->wrt == 1 ? v : f->gamma,
                          f->wrt == 2 ? v : f->beta, case_n(f->c), case_d(f->c), f->c->eps, y, NULL,
                          NULL);
}

enum { T_X, T_GAMMA, T_BETA, T_Y, T_MEAN, T_RSTD, T_DY, T_DX, T_DGAMMA, T_DBETA, T_COUNT };

static vkt_status one_case(vkt_check_ctx *ctx, const ln_case *c, vkt_dtype dt, vkt_err *err)
{
    vkt_status st = VKT_OK;
    const int64_t N = case_n(c), D = case_d(c);
    const size_t n = (size_t)(N * D), nc = (size_t)D, ns = (size_t)N;
    char desc[96], vf[64], vb[64], va[80];
    int k0 = snprintf(desc, sizeof desc, "[");
    for (int i = 0; i < c->ndim; i++)
        k0 += snprintf(desc + k0, sizeof desc - (size_t)k0, "%s%lld", i ? "," : "",
                       (long long)c->shape[i]);
    snprintf(desc + k0, sizeof desc - (size_t)k0, "]%s%s x~%g+-%g eps=%g", c->gamma ? " gamma" : "",
             c->beta ? " beta" : "", c->offset, c->spread, c->eps);
    vkt_variant_name(vf, sizeof vf, "layernorm", "fwd", dt);
    vkt_variant_name(vb, sizeof vb, "layernorm", "bwd", dt);
    snprintf(va, sizeof va, "%s_affine", vb);

    /* host: x, dy, dx0 (accumulate start) [n]; gamma, beta, dgamma0, dbeta0 [D] */
    float *hx = vkt_malloc(n * 4), *hdy = vkt_malloc(n * 4), *hdx0 = vkt_malloc(n * 4),
          *got = vkt_malloc(n * 4);
    float *hg = vkt_malloc(nc * 4), *hb = vkt_malloc(nc * 4), *hdg0 = vkt_malloc(nc * 4),
          *hdb0 = vkt_malloc(nc * 4);
    double *want = vkt_malloc(n * 8), *rdx = vkt_malloc(n * 8), *ry = vkt_malloc(n * 8);
    double *rdg = vkt_malloc(nc * 8), *rdb = vkt_malloc(nc * 8), *rm = vkt_malloc(ns * 8),
           *rr = vkt_malloc(ns * 8);
    double *dx = NULL, *ddy = NULL, *dg = NULL, *db = NULL;
    vkt_tensor t[T_COUNT] = {{0}};
    if (!hx || !hdy || !hdx0 || !got || !hg || !hb || !hdg0 || !hdb0 || !want || !rdx || !ry ||
        !rdg || !rdb || !rm || !rr) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "layernorm check");
        goto done;
    }
    uint64_t rng = ctx->seed ^ ((uint64_t)D << 40) ^ ((uint64_t)N << 20) ^ n;
    vkt_rng_fill(&rng, hx, n, c->offset - c->spread, c->offset + c->spread);
    vkt_rng_fill(&rng, hdy, n, -1.0, 1.0);
    vkt_rng_fill(&rng, hdx0, n, -1.0, 1.0);
    vkt_rng_fill(&rng, hg, nc, -1.5, 1.5);
    vkt_rng_fill(&rng, hb, nc, -1.0, 1.0);
    vkt_rng_fill(&rng, hdg0, nc, -1.0, 1.0);
    vkt_rng_fill(&rng, hdb0, nc, -1.0, 1.0);
    if (dt == VKT_F16) {
        vkt_round_f16(hx, n);
        vkt_round_f16(hdy, n);
        vkt_round_f16(hdx0, n);
        vkt_round_f16(hg, nc);
        vkt_round_f16(hb, nc);
        vkt_round_f16(hdg0, nc);
        vkt_round_f16(hdb0, nc);
    }
    dx = vkt_to_double(hx, n);
    ddy = vkt_to_double(hdy, n);
    dg = vkt_to_double(hg, nc);
    db = vkt_to_double(hb, nc);
    if (!dx || !ddy || !dg || !db) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "layernorm check");
        goto done;
    }

    const int64_t sc[1] = {D}, ss[1] = {N};
    if ((st = vkt_check_tensor(ctx, dt, c->ndim, c->shape, hx, "x", &t[T_X], err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 1, sc, hg, "gamma", &t[T_GAMMA], err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 1, sc, hb, "beta", &t[T_BETA], err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, c->ndim, c->shape, NULL, "y", &t[T_Y], err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 1, ss, NULL, "mean", &t[T_MEAN], err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 1, ss, NULL, "rstd", &t[T_RSTD], err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, c->ndim, c->shape, hdy, "dy", &t[T_DY], err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, c->ndim, c->shape, hdx0, "dx", &t[T_DX], err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 1, sc, hdg0, "dgamma", &t[T_DGAMMA], err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 1, sc, hdb0, "dbeta", &t[T_DBETA], err))) goto done;
    const vkt_tensor *gam = c->gamma ? &t[T_GAMMA] : NULL, *bet = c->beta ? &t[T_BETA] : NULL;
    const double *rg = c->gamma ? dg : NULL, *rb = c->beta ? db : NULL;

    vkt_ref_layernorm_fwd(dx, rg, rb, N, D, c->eps, ry, rm, rr);
    vkt_ref_layernorm_bwd(dx, rg, rm, rr, ddy, N, D, rdx, rdg, rdb);

    /* Tolerances, in units of u = 2^-24 (f32 rounding). The GPU holds mean in f32, so x - mean
     * is off by ~u*|mean| and xhat by ~u*|mean|*rstd: k = 1 + max|mean|*rstd scales the
     * absolute tolerances (k ~ 170 in the offset case). Otherwise the f32 row sums lose about
     * u*sqrt(terms) relative, which for |xhat*gamma| <= ~3 stays below the 16u*k (y, mean, rstd)
     * and 16u*k*rstd (dx, whose scale is rstd*|dy*gamma|) absolute floors. dgamma/dbeta sum
     * N terms of size ~1 per column: 8u*k*sqrt(N). Relative part: 1e-5 (~170u) for f32
     * results; f16 results add their own rounding, at most half an f16 ulp = 2^-11 relative
     * (4.9e-4), so rtol 1e-3 there. Every f16 case reuses the f32 floors: its inputs are exact
     * f16 values that the reference sees too. */
    const double u = 1.0 / 16777216.0;
    double k = 1, r_max = 0;
    for (size_t i = 0; i < ns; i++) {
        k = fmax(k, 1 + fabs(rm[i]) * rr[i]);
        r_max = fmax(r_max, rr[i]);
    }
    const double rtol = dt == VKT_F16 ? 1e-3 : 1e-5;
    const double y_atol = 16 * u * k, dx_atol = 16 * u * k * fmax(r_max, 1),
                 p_atol = 8 * u * k * sqrt((double)N);

    /* 1: forward, then backward accumulating into dx, dgamma and dbeta. */
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_layernorm_fwd(ctx->step, &t[T_X], gam, bet, (float)c->eps, &t[T_Y], &t[T_MEAN],
                                   &t[T_RSTD], err)))
        goto done;
    if ((st = vkt_op_layernorm_bwd(ctx->step, &t[T_X], gam, &t[T_MEAN], &t[T_RSTD], &t[T_DY],
                                   &t[T_DX], VKT_GRAD_ACCUMULATE, &t[T_DGAMMA], &t[T_DBETA],
                                   VKT_GRAD_ACCUMULATE, err)))
        goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;

    if ((st = vkt_tensor_download_f32(ctx->dev, &t[T_Y], got, err))) goto done;
    vkt_check_compare(ctx, "layernorm", vf, "fwd:y", desc, got, ry, n, y_atol, rtol);
    if ((st = vkt_tensor_download_f32(ctx->dev, &t[T_MEAN], got, err))) goto done;
    vkt_check_compare(ctx, "layernorm", vf, "fwd:mean", desc, got, rm, ns, y_atol, 1e-5);
    if ((st = vkt_tensor_download_f32(ctx->dev, &t[T_RSTD], got, err))) goto done;
    vkt_check_compare(ctx, "layernorm", vf, "fwd:rstd", desc, got, rr, ns, y_atol, 1e-5);

    for (size_t i = 0; i < n; i++)
        want[i] = rdx[i] + hdx0[i];
    if ((st = vkt_tensor_download_f32(ctx->dev, &t[T_DX], got, err))) goto done;
    vkt_check_compare(ctx, "layernorm", vb, "bwd:dx+=", desc, got, want, n, dx_atol, rtol);
    for (size_t i = 0; i < nc; i++)
        want[i] = rdg[i] + hdg0[i];
    if ((st = vkt_tensor_download_f32(ctx->dev, &t[T_DGAMMA], got, err))) goto done;
    vkt_check_compare(ctx, "layernorm", va, "bwd:dgamma+=", desc, got, want, nc, p_atol, rtol);
    for (size_t i = 0; i < nc; i++)
        want[i] = rdb[i] + hdb0[i];
    if ((st = vkt_tensor_download_f32(ctx->dev, &t[T_DBETA], got, err))) goto done;
    vkt_check_compare(ctx, "layernorm", va, "bwd:dbeta+=", desc, got, want, nc, p_atol, rtol);

    /* 2: overwrite dx and dgamma alone; 3: dbeta alone, no dx. The buffers still hold step 1's
     * results, so a write that does not happen shows up. */
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_layernorm_bwd(ctx->step, &t[T_X], gam, &t[T_MEAN], &t[T_RSTD], &t[T_DY],
                                   &t[T_DX], VKT_GRAD_OVERWRITE, &t[T_DGAMMA], NULL,
                                   VKT_GRAD_OVERWRITE, err)))
        goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_layernorm_bwd(ctx->step, &t[T_X], gam, &t[T_MEAN], &t[T_RSTD], &t[T_DY], NULL,
                                   VKT_GRAD_OVERWRITE, NULL, &t[T_DBETA], VKT_GRAD_OVERWRITE, err)))
        goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    if ((st = vkt_tensor_download_f32(ctx->dev, &t[T_DX], got, err))) goto done;
    vkt_check_compare(ctx, "layernorm", vb, "bwd:dx", desc, got, rdx, n, dx_atol, rtol);
    if ((st = vkt_tensor_download_f32(ctx->dev, &t[T_DGAMMA], got, err))) goto done;
    vkt_check_compare(ctx, "layernorm", va, "bwd:dgamma", desc, got, rdg, nc, p_atol, rtol);
    if ((st = vkt_tensor_download_f32(ctx->dev, &t[T_DBETA], got, err))) goto done;
    vkt_check_compare(ctx, "layernorm", va, "bwd:dbeta", desc, got, rdb, nc, p_atol, rtol);

    if (!ctx->no_fd && dt == VKT_F32) {
        /* Central differences in double. For gamma and beta (size ~1, L linear in beta and in
         * gamma) eps 1e-4 leaves only rounding, ~1e-16*|L|/eps ~ 1e-10. For x the step scales
         * with the spread: truncation ~eps^2*|f'''| with f''' ~ rstd^3, so eps = 1e-4*spread/2
         * keeps it ~1e-8 relative; rounding stays ~1e-16*|L|/eps < 1e-7 relative to dx. */
        fd_user fu = {c, dx, rg, rb, 0};
        double fd_eps = 1e-4 * fmin(1.0, c->spread / 2);
        vkt_check_fd(ctx, "layernorm", "fd:dx", desc, fd_fwd, &fu, dx, n, n, ddy, rdx, fd_eps,
                     1e-6 * r_max, 1e-6, 64);
        if (c->gamma) {
            fu.wrt = 1;
            vkt_check_fd(ctx, "layernorm", "fd:dgamma", desc, fd_fwd, &fu, dg, nc, n, ddy, rdg,
                         1e-4, 1e-6, 1e-6, 64);
        }
        if (c->beta) {
            fu.wrt = 2;
            vkt_check_fd(ctx, "layernorm", "fd:dbeta", desc, fd_fwd, &fu, db, nc, n, ddy, rdb, 1e-4,
                         1e-6, 1e-6, 64);
        }
    }
done:
    for (int i = 0; i < T_COUNT; i++)
        vkt_tensor_free(ctx->dev, &t[i]);
    free(hx);
    free(hdy);
    free(hdx0);
    free(got);
    free(hg);
    free(hb);
    free(hdg0);
    free(hdb0);
    free(want);
    free(rdx);
    free(ry);
    free(rdg);
    free(rdb);
    free(rm);
    free(rr);
    free(dx);
    free(ddy);
    free(dg);
    free(db);
    return st;
}

vkt_status vkt_opcheck_layernorm(vkt_check_ctx *ctx, vkt_err *err)
{
    static const ln_case cases[] = {
        /* 6 rows of 13 (fewer than the workgroup's 128 invocations) */
        {3, {2, 3, 13}, 1e-5, true, true, 0, 2},
        /* 77 rows of 37: two column tiles in the affine backward, 77 rows over 8 lanes */
        {2, {77, 37}, 1e-5, true, true, 0, 2},
        /* D = 1030 > 128 invocations (strided loop along the row); mean 100 = 170 std, where
         * E[x^2] - E[x]^2 in f32 fails the checks */
        {2, {3, 1030}, 1e-5, true, true, 100, 1},
        /* gamma only; var 3e-6 is close to eps, so eps matters */
        {2, {5, 40}, 1e-5, true, false, 0, 3e-3},
        /* no affine, one row */
        {1, {333}, 1e-5, false, false, 0, 2},
        /* many rows for the affine backward's lane loop: 1030 rows of 45 */
        {3, {2, 515, 45}, 1e-5, true, true, 0, 2},
    };
    int n_cases = ctx->quick ? 3 : (int)(sizeof cases / sizeof cases[0]);
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
