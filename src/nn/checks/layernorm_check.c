/* Checks for LayerNorm: GPU vs reference (forward with its saved statistics, backward in both
 * grad modes and with dgamma/dbeta requested separately) for f32 and f16 storage, and reference
 * backward vs central finite differences of the reference forward. The steps are those of
 * GroupNorm's check, shared in norm_checkutil.h; this file gives the shapes and the calls. */
#include <stdio.h>

#include "nn/checks/norm_checkutil.h"
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

static void ref_fwd(const ck_norm *k, const double *x, const double *gamma, const double *beta,
                    double *y, double *mean, double *rstd)
{
    const ln_case *c = k->user;
    vkt_ref_layernorm_fwd(x, gamma, beta, case_n(c), case_d(c), c->eps, y, mean, rstd);
}

static void ref_bwd(const ck_norm *k, const double *x, const double *gamma, const double *mean,
                    const double *rstd, const double *dy, double *dx, double *dgamma,
                    double *dbeta)
{
    const ln_case *c = k->user;
    vkt_ref_layernorm_bwd(x, gamma, mean, rstd, dy, case_n(c), case_d(c), dx, dgamma, dbeta);
}

static vkt_status op_fwd(const ck_norm *k, vkt_step *s, const vkt_tensor *x,
                         const vkt_tensor *gamma, const vkt_tensor *beta, vkt_tensor *y,
                         vkt_tensor *mean, vkt_tensor *rstd, vkt_err *err)
{
    const ln_case *c = k->user;
    return vkt_op_layernorm_fwd(s, x, gamma, beta, (float)c->eps, y, mean, rstd, err);
}

static vkt_status one_case(vkt_check_ctx *ctx, const ln_case *c, vkt_dtype dt, vkt_err *err)
{
    const int64_t N = case_n(c), D = case_d(c);
    char desc[96];
    int k0 = snprintf(desc, sizeof desc, "[");
    for (int i = 0; i < c->ndim; i++)
        k0 += snprintf(desc + k0, sizeof desc - (size_t)k0, "%s%lld", i ? "," : "",
                       (long long)c->shape[i]);
    snprintf(desc + k0, sizeof desc - (size_t)k0, "]%s%s x~%g+-%g eps=%g", c->gamma ? " gamma" : "",
             c->beta ? " beta" : "", c->offset, c->spread, c->eps);
    const int64_t ss[1] = {N};
    const ck_norm k = {
        .family = "layernorm", .desc = desc, .user = c,
        .nd_x = c->ndim, .nd_s = 1, .sx = c->shape, .ss = ss,
        .n = (size_t)(N * D), .nc = (size_t)D, .ns = (size_t)N, .seed_k = (uint64_t)N,
        .eps = c->eps, .gamma = c->gamma, .beta = c->beta, .offset = c->offset, .spread = c->spread,
        .ref_fwd = ref_fwd, .ref_bwd = ref_bwd, .op_fwd = op_fwd, .op_bwd = vkt_op_layernorm_bwd,
    };
    return ck_norm_case(ctx, &k, dt, err);
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
