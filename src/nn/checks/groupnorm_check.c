/* Checks for GroupNorm: GPU vs reference (forward with its saved statistics, backward in both
 * grad modes and with dgamma/dbeta requested separately) for f32 and f16 storage, and reference
 * backward vs central finite differences of the reference forward. The steps are those of
 * LayerNorm's check, shared in norm_checkutil.h; this file gives the shapes and the calls.
 *
 * Every case runs twice: the plain op, and GroupNorm fused with SiLU (variants *_silu) against
 * the plain reference followed by silu, with the same tolerances. Why they still hold: silu' is
 * in [-0.1, 1.1] and silu'' in [-0.1, 0.5], so an error e in z (what the plain op's floors
 * bound) becomes at most 1.1e in y and 0.5e*|dy| in dz = dy*silu'(z); the sigmoid adds a few
 * f32 ulps relative (exp and the division), inside rtol 1e-5. For finite differences the fused
 * forward is no longer linear in gamma and beta, but it is smooth (|silu'''| <= 0.5): central
 * differences with eps 1e-4 truncate at ~eps^2/6*0.5*|dy|*terms ~ 1e-9*terms relative to
 * dgamma/dbeta's own size of ~terms, far inside 1e-6. */
#include <stdio.h>

#include "nn/checks/norm_checkutil.h"
#include "nn/ops/groupnorm.h"
#include "nn/ref/groupnorm_ref.h"

typedef struct gn_case {
    int64_t B, C, H, W, G;
    double eps;
    bool gamma, beta;
    double offset, spread; /* x = offset + U(-spread, spread) */
} gn_case;

/* A case as run: plain, or the fused GroupNorm + SiLU. */
typedef struct gn_run {
    gn_case c;
    bool silu;
} gn_run;

static void ref_fwd(const ck_norm *k, const double *x, const double *gamma, const double *beta,
                    double *y, double *mean, double *rstd)
{
    const gn_run *r = k->user;
    const gn_case *c = &r->c;
    if (r->silu)
        vkt_ref_groupnorm_silu_fwd(x, gamma, beta, c->B, c->C, c->H * c->W, c->G, c->eps, y, mean,
                                   rstd);
    else
        vkt_ref_groupnorm_fwd(x, gamma, beta, c->B, c->C, c->H * c->W, c->G, c->eps, y, mean,
                              rstd);
}

static void ref_bwd(const ck_norm *k, const double *x, const double *gamma, const double *mean,
                    const double *rstd, const double *dy, double *dx, double *dgamma,
                    double *dbeta)
{
    const gn_run *r = k->user;
    const gn_case *c = &r->c;
    vkt_ref_groupnorm_bwd(x, gamma, mean, rstd, dy, c->B, c->C, c->H * c->W, c->G, dx, dgamma,
                          dbeta);
}

static void ref_bwd_silu(const ck_norm *k, const double *x, const double *gamma,
                         const double *beta, const double *mean, const double *rstd,
                         const double *dy, double *dx, double *dgamma, double *dbeta)
{
    const gn_run *r = k->user;
    const gn_case *c = &r->c;
    vkt_ref_groupnorm_silu_bwd(x, gamma, beta, mean, rstd, dy, c->B, c->C, c->H * c->W, c->G, dx,
                               dgamma, dbeta);
}

static vkt_status op_fwd(const ck_norm *k, vkt_step *s, const vkt_tensor *x,
                         const vkt_tensor *gamma, const vkt_tensor *beta, vkt_tensor *y,
                         vkt_tensor *mean, vkt_tensor *rstd, vkt_err *err)
{
    const gn_run *r = k->user;
    const gn_case *c = &r->c;
    if (r->silu)
        return vkt_op_groupnorm_silu_fwd(s, x, gamma, beta, (int)c->G, (float)c->eps, y, mean,
                                         rstd, err);
    return vkt_op_groupnorm_fwd(s, x, gamma, beta, (int)c->G, (float)c->eps, y, mean, rstd, err);
}

static vkt_status one_case(vkt_check_ctx *ctx, const gn_run *r, vkt_dtype dt, vkt_err *err)
{
    const gn_case *c = &r->c;
    const int64_t B = c->B, C = c->C, S = c->H * c->W, G = c->G;
    char desc[128];
    snprintf(desc, sizeof desc, "[%lld,%lld,%lld,%lld] G=%lld%s%s x~%g+-%g eps=%g%s", (long long)B,
             (long long)C, (long long)c->H, (long long)c->W, (long long)G, c->gamma ? " gamma" : "",
             c->beta ? " beta" : "", c->offset, c->spread, c->eps, r->silu ? " +silu" : "");
    const int64_t sx[4] = {B, C, c->H, c->W}, ss[2] = {B, G};
    ck_norm k = {
        .family = "groupnorm", .desc = desc, .user = r,
        .nd_x = 4, .nd_s = 2, .sx = sx, .ss = ss,
        .n = (size_t)(B * C * S), .nc = (size_t)C, .ns = (size_t)(B * G), .seed_k = (uint64_t)G,
        .eps = c->eps, .gamma = c->gamma, .beta = c->beta, .offset = c->offset, .spread = c->spread,
        .ref_fwd = ref_fwd, .ref_bwd = ref_bwd, .op_fwd = op_fwd, .op_bwd = vkt_op_groupnorm_bwd,
    };
    if (r->silu) {
        k.suffix = "_silu";
        k.ref_bwd_b = ref_bwd_silu;
        k.op_bwd_b = vkt_op_groupnorm_silu_bwd;
    }
    return ck_norm_case(ctx, &k, dt, err);
}

vkt_status vkt_opcheck_groupnorm(vkt_check_ctx *ctx, vkt_err *err)
{
    static const gn_case cases[] = {
        /* odd sizes, 2 channels per group */
        {2, 6, 5, 7, 3, 1e-5, true, true, 0, 2},
        /* one channel per group (C = G) */
        {2, 32, 5, 7, 32, 1e-5, true, true, 0, 2},
        /* one group of 6435 (> WG: strided loop); mean 100 = 170 std, where E[x^2] - E[x]^2 in
         * f32 fails the checks */
        {1, 3, 33, 65, 1, 1e-6, true, true, 100, 1},
        /* 3 channels per group, gamma only; var 3e-6 is close to eps, so eps matters */
        {2, 6, 5, 7, 2, 1e-6, true, false, 0, 3e-3},
        /* no affine */
        {2, 6, 5, 7, 3, 1e-5, false, false, 0, 2},
    };
    int n_cases = ctx->quick ? 3 : (int)(sizeof cases / sizeof cases[0]);
    vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    for (int d = 0; d < 2; d++) {
        if (!vkt_step_dtype_ok(ctx->step, dts[d])) continue;
        for (int i = 0; i < n_cases; i++)
            for (int f = 0; f < 2; f++) {
                const gn_run r = {cases[i], f == 1};
                vkt_status st = one_case(ctx, &r, dts[d], err);
                if (st) return st;
            }
    }
    return VKT_OK;
}
