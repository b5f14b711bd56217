/* The check of one GroupNorm or LayerNorm case, shared by groupnorm_check.c and
 * layernorm_check.c: both ops normalize x over "rows" (a group of channels of one sample, or the
 * last dim), keep f32 mean/rstd per row, apply a per-channel (per-column) affine gamma/beta, and
 * take the same backward arguments, so the checks differ only in shapes and in the four calls
 * below. GPU vs reference (forward with its saved statistics, backward in both grad modes and
 * with dgamma/dbeta requested separately) for f32 and f16 storage, and reference backward vs
 * central finite differences of the reference forward. Not an op family (no _check.c). */
#ifndef VKT_NN_CHECKS_NORM_CHECKUTIL_H
#define VKT_NN_CHECKS_NORM_CHECKUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fault.h"
#include "nn/check.h"

typedef struct ck_norm ck_norm;
struct ck_norm {
    const char *family;        /* "groupnorm": variant names and messages */
    const char *desc;          /* the case, for messages */
    const void *user;          /* the family's case, for the calls below */
    int nd_x, nd_s;            /* ranks of x and of mean/rstd */
    const int64_t *sx, *ss;    /* shapes of x and of mean/rstd */
    size_t n, nc, ns;          /* elements of x, of gamma (channels/columns), of mean (rows) */
    uint64_t seed_k;           /* a size that, with nc and n, picks the case's random inputs */
    double eps;
    bool gamma, beta;
    double offset, spread;     /* x = offset + U(-spread, spread) */
    /* Reference forward (mean/rstd may be NULL) and backward, on c->user's shapes. */
    void (*ref_fwd)(const ck_norm *c, const double *x, const double *gamma, const double *beta,
                    double *y, double *mean, double *rstd);
    void (*ref_bwd)(const ck_norm *c, const double *x, const double *gamma, const double *mean,
                    const double *rstd, const double *dy, double *dx, double *dgamma,
                    double *dbeta);
    /* The op's forward (with c->user's groups and eps) and its backward, which both ops declare
     * alike: vkt_op_groupnorm_bwd or vkt_op_layernorm_bwd. */
    vkt_status (*op_fwd)(const ck_norm *c, vkt_step *s, const vkt_tensor *x,
                         const vkt_tensor *gamma, const vkt_tensor *beta, vkt_tensor *y,
                         vkt_tensor *mean, vkt_tensor *rstd, vkt_err *err);
    vkt_status (*op_bwd)(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                         const vkt_tensor *mean, const vkt_tensor *rstd, const vkt_tensor *dy,
                         vkt_tensor *dx, vkt_grad_mode dx_mode, vkt_tensor *dgamma,
                         vkt_tensor *dbeta, vkt_grad_mode param_mode, vkt_err *err);
    /* Optional, for a fused variant whose backward also needs beta (GroupNorm+SiLU): when set,
     * these replace ref_bwd and op_bwd, and every variant name gets `suffix` ("_silu"). */
    const char *suffix;
    void (*ref_bwd_b)(const ck_norm *c, const double *x, const double *gamma, const double *beta,
                      const double *mean, const double *rstd, const double *dy, double *dx,
                      double *dgamma, double *dbeta);
    vkt_status (*op_bwd_b)(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                           const vkt_tensor *beta, const vkt_tensor *mean, const vkt_tensor *rstd,
                           const vkt_tensor *dy, vkt_tensor *dx, vkt_grad_mode dx_mode,
                           vkt_tensor *dgamma, vkt_tensor *dbeta, vkt_grad_mode param_mode,
                           vkt_err *err);
};

/* c's reference backward and op backward (the beta-taking ones when given). */
static inline void ck_norm_ref_bwd(const ck_norm *c, const double *x, const double *gamma,
                                   const double *beta, const double *mean, const double *rstd,
                                   const double *dy, double *dx, double *dgamma, double *dbeta)
{
    if (c->ref_bwd_b) c->ref_bwd_b(c, x, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta);
    else c->ref_bwd(c, x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
}

static inline vkt_status ck_norm_op_bwd(const ck_norm *c, vkt_step *s, const vkt_tensor *x,
                                        const vkt_tensor *gamma, const vkt_tensor *beta,
                                        const vkt_tensor *mean, const vkt_tensor *rstd,
                                        const vkt_tensor *dy, vkt_tensor *dx, vkt_grad_mode dx_mode,
                                        vkt_tensor *dgamma, vkt_tensor *dbeta,
                                        vkt_grad_mode param_mode, vkt_err *err)
{
    if (c->op_bwd_b)
        return c->op_bwd_b(s, x, gamma, beta, mean, rstd, dy, dx, dx_mode, dgamma, dbeta,
                           param_mode, err);
    return c->op_bwd(s, x, gamma, mean, rstd, dy, dx, dx_mode, dgamma, dbeta, param_mode, err);
}

/* Finite differences: the reference forward as a function of x, gamma or beta. */
typedef struct ck_norm_fd {
    const ck_norm *c;
    const double *x, *gamma, *beta;
    int wrt; /* 0: x, 1: gamma, 2: beta */
} ck_norm_fd;

static inline void ck_norm_fd_fwd(void *u, const double *v, double *y)
{
    ck_norm_fd *f = u;
    f->c->ref_fwd(f->c, f->wrt == 0 ? v : f->x, f->wrt == 1 ? v : f->gamma,
                  f->wrt == 2 ? v : f->beta, y, NULL, NULL);
}

enum { CK_NORM_X, CK_NORM_GAMMA, CK_NORM_BETA, CK_NORM_Y, CK_NORM_MEAN, CK_NORM_RSTD, CK_NORM_DY,
       CK_NORM_DX, CK_NORM_DGAMMA, CK_NORM_DBETA, CK_NORM_COUNT };

static inline vkt_status ck_norm_case(vkt_check_ctx *ctx, const ck_norm *c, vkt_dtype dt,
                                      vkt_err *err)
{
    vkt_status st = VKT_OK;
    const char *fam = c->family, *desc = c->desc;
    const size_t n = c->n, nc = c->nc, ns = c->ns;
    char vf[64], vb[64], va[80], v[64];
    const char *sfx = c->suffix ? c->suffix : "";
    vkt_variant_name(v, sizeof v, fam, "fwd", dt);
    snprintf(vf, sizeof vf, "%s%s", v, sfx);
    vkt_variant_name(v, sizeof v, fam, "bwd", dt);
    snprintf(vb, sizeof vb, "%s%s", v, sfx);
    snprintf(va, sizeof va, "%s_affine%s", v, sfx);

    /* host: x, dy, dx0 (accumulate start) [n]; gamma, beta, dgamma0, dbeta0 [nc] */
    float *hx = vkt_malloc(n * 4), *hdy = vkt_malloc(n * 4), *hdx0 = vkt_malloc(n * 4),
          *got = vkt_malloc(n * 4);
    float *hg = vkt_malloc(nc * 4), *hb = vkt_malloc(nc * 4), *hdg0 = vkt_malloc(nc * 4),
          *hdb0 = vkt_malloc(nc * 4);
    double *want = vkt_malloc(n * 8), *rdx = vkt_malloc(n * 8), *ry = vkt_malloc(n * 8);
    double *rdg = vkt_malloc(nc * 8), *rdb = vkt_malloc(nc * 8), *rm = vkt_malloc(ns * 8),
           *rr = vkt_malloc(ns * 8);
    double *dx = NULL, *ddy = NULL, *dg = NULL, *db = NULL;
    vkt_tensor t[CK_NORM_COUNT] = {{0}};
    if (!hx || !hdy || !hdx0 || !got || !hg || !hb || !hdg0 || !hdb0 || !want || !rdx || !ry ||
        !rdg || !rdb || !rm || !rr) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "%s check", fam);
        goto done;
    }
    uint64_t rng = ctx->seed ^ ((uint64_t)nc << 40) ^ (c->seed_k << 20) ^ n;
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
        st = vkt_fail(err, VKT_ERR_NOMEM, "%s check", fam);
        goto done;
    }

    const int64_t sc[1] = {(int64_t)nc};
    const int nx = c->nd_x, nss = c->nd_s;
    if ((st = vkt_check_tensor(ctx, dt, nx, c->sx, hx, "x", &t[CK_NORM_X], err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 1, sc, hg, "gamma", &t[CK_NORM_GAMMA], err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 1, sc, hb, "beta", &t[CK_NORM_BETA], err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, nx, c->sx, NULL, "y", &t[CK_NORM_Y], err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, nss, c->ss, NULL, "mean", &t[CK_NORM_MEAN], err)))
        goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, nss, c->ss, NULL, "rstd", &t[CK_NORM_RSTD], err)))
        goto done;
    if ((st = vkt_check_tensor(ctx, dt, nx, c->sx, hdy, "dy", &t[CK_NORM_DY], err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, nx, c->sx, hdx0, "dx", &t[CK_NORM_DX], err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 1, sc, hdg0, "dgamma", &t[CK_NORM_DGAMMA], err)))
        goto done;
    if ((st = vkt_check_tensor(ctx, dt, 1, sc, hdb0, "dbeta", &t[CK_NORM_DBETA], err))) goto done;
    const vkt_tensor *gam = c->gamma ? &t[CK_NORM_GAMMA] : NULL;
    const vkt_tensor *bet = c->beta ? &t[CK_NORM_BETA] : NULL;
    vkt_tensor *tx = &t[CK_NORM_X], *tm = &t[CK_NORM_MEAN], *tr = &t[CK_NORM_RSTD],
               *tdy = &t[CK_NORM_DY], *tdx = &t[CK_NORM_DX], *tdg = &t[CK_NORM_DGAMMA],
               *tdb = &t[CK_NORM_DBETA];
    const double *rg = c->gamma ? dg : NULL, *rb = c->beta ? db : NULL;

    c->ref_fwd(c, dx, rg, rb, ry, rm, rr);
    ck_norm_ref_bwd(c, dx, rg, rb, rm, rr, ddy, rdx, rdg, rdb);

    /* Tolerances, in units of u = 2^-24 (f32 rounding). The GPU holds mean in f32, so x - mean
     * is off by ~u*|mean| and xhat by ~u*|mean|*rstd: k = 1 + max|mean|*rstd scales the
     * absolute tolerances (k ~ 170 in the offset case). Otherwise the f32 row (group) sums lose
     * about u*sqrt(terms) relative, which for |xhat*gamma| <= ~3 stays below the 16u*k (y, mean,
     * rstd) and 16u*k*rstd (dx, whose scale is rstd*|dy*gamma|) absolute floors. dgamma/dbeta
     * sum n/nc terms of size ~1 per channel (column): 8u*k*sqrt(n/nc). Relative part: 1e-5
     * (~170u) for f32 results; f16 results add their own rounding, at most half an f16 ulp =
     * 2^-11 relative (4.9e-4), so rtol 1e-3 there. Every f16 case reuses the f32 floors: its
     * inputs are exact f16 values that the reference sees too. */
    const double u = 1.0 / 16777216.0;
    double k = 1, r_max = 0;
    for (size_t i = 0; i < ns; i++) {
        k = fmax(k, 1 + fabs(rm[i]) * rr[i]);
        r_max = fmax(r_max, rr[i]);
    }
    const double rtol = dt == VKT_F16 ? 1e-3 : 1e-5;
    const double y_atol = 16 * u * k, dx_atol = 16 * u * k * fmax(r_max, 1),
                 p_atol = 8 * u * k * sqrt((double)(n / nc));

    /* 1: forward, then backward accumulating into dx, dgamma and dbeta. */
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = c->op_fwd(c, ctx->step, tx, gam, bet, &t[CK_NORM_Y], tm, tr, err))) goto done;
    if ((st = ck_norm_op_bwd(c, ctx->step, tx, gam, bet, tm, tr, tdy, tdx, VKT_GRAD_ACCUMULATE,
                             tdg, tdb, VKT_GRAD_ACCUMULATE, err)))
        goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;

    if ((st = vkt_tensor_download_f32(ctx->dev, &t[CK_NORM_Y], got, err))) goto done;
    vkt_check_compare(ctx, fam, vf, "fwd:y", desc, got, ry, n, y_atol, rtol);
    if ((st = vkt_tensor_download_f32(ctx->dev, tm, got, err))) goto done;
    vkt_check_compare(ctx, fam, vf, "fwd:mean", desc, got, rm, ns, y_atol, 1e-5);
    if ((st = vkt_tensor_download_f32(ctx->dev, tr, got, err))) goto done;
    vkt_check_compare(ctx, fam, vf, "fwd:rstd", desc, got, rr, ns, y_atol, 1e-5);

    for (size_t i = 0; i < n; i++)
        want[i] = rdx[i] + hdx0[i];
    if ((st = vkt_tensor_download_f32(ctx->dev, tdx, got, err))) goto done;
    vkt_check_compare(ctx, fam, vb, "bwd:dx+=", desc, got, want, n, dx_atol, rtol);
    for (size_t i = 0; i < nc; i++)
        want[i] = rdg[i] + hdg0[i];
    if ((st = vkt_tensor_download_f32(ctx->dev, tdg, got, err))) goto done;
    vkt_check_compare(ctx, fam, va, "bwd:dgamma+=", desc, got, want, nc, p_atol, rtol);
    for (size_t i = 0; i < nc; i++)
        want[i] = rdb[i] + hdb0[i];
    if ((st = vkt_tensor_download_f32(ctx->dev, tdb, got, err))) goto done;
    vkt_check_compare(ctx, fam, va, "bwd:dbeta+=", desc, got, want, nc, p_atol, rtol);

    /* 2: overwrite dx and dgamma alone; 3: dbeta alone, no dx. The buffers still hold step 1's
     * results, so a write that does not happen shows up. */
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = ck_norm_op_bwd(c, ctx->step, tx, gam, bet, tm, tr, tdy, tdx, VKT_GRAD_OVERWRITE,
                             tdg, NULL, VKT_GRAD_OVERWRITE, err)))
        goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = ck_norm_op_bwd(c, ctx->step, tx, gam, bet, tm, tr, tdy, NULL, VKT_GRAD_OVERWRITE,
                             NULL, tdb, VKT_GRAD_OVERWRITE, err)))
        goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    if ((st = vkt_tensor_download_f32(ctx->dev, tdx, got, err))) goto done;
    vkt_check_compare(ctx, fam, vb, "bwd:dx", desc, got, rdx, n, dx_atol, rtol);
    if ((st = vkt_tensor_download_f32(ctx->dev, tdg, got, err))) goto done;
    vkt_check_compare(ctx, fam, va, "bwd:dgamma", desc, got, rdg, nc, p_atol, rtol);
    if ((st = vkt_tensor_download_f32(ctx->dev, tdb, got, err))) goto done;
    vkt_check_compare(ctx, fam, va, "bwd:dbeta", desc, got, rdb, nc, p_atol, rtol);

    if (!ctx->no_fd && dt == VKT_F32) {
        /* Central differences in double. For gamma and beta (size ~1, L linear in beta and in
         * gamma) eps 1e-4 leaves only rounding, ~1e-16*|L|/eps ~ 1e-10. For x the step scales
         * with the spread: truncation ~eps^2*|f'''| with f''' ~ rstd^3, so eps = 1e-4*spread/2
         * keeps it ~1e-8 relative; rounding stays ~1e-16*|L|/eps < 1e-7 relative to dx. */
        ck_norm_fd fu = {c, dx, rg, rb, 0};
        double fd_eps = 1e-4 * fmin(1.0, c->spread / 2);
        vkt_check_fd(ctx, fam, "fd:dx", desc, ck_norm_fd_fwd, &fu, dx, n, n, ddy, rdx, fd_eps,
                     1e-6 * r_max, 1e-6, 64);
        if (c->gamma) {
            fu.wrt = 1;
            vkt_check_fd(ctx, fam, "fd:dgamma", desc, ck_norm_fd_fwd, &fu, dg, nc, n, ddy, rdg,
                         1e-4, 1e-6, 1e-6, 64);
        }
        if (c->beta) {
            fu.wrt = 2;
            vkt_check_fd(ctx, fam, "fd:dbeta", desc, ck_norm_fd_fwd, &fu, db, nc, n, ddy, rdb,
                         1e-4, 1e-6, 1e-6, 64);
        }
    }
done:
    for (int i = 0; i < CK_NORM_COUNT; i++)
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

#endif
