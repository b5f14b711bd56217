/* C side of shaders/groupnorm.comp: shape checks, variant choice, dispatch. */
#include "nn/ops/groupnorm.h"

#include "nn/ops/norm_common.h"

#include <stdbool.h>

/* Power of two (the shader's tree reduction needs it). 256 invocations share one group's loop,
 * so a large group (the VAE's 4*512*512 elements) is 4096 elements per invocation. */
#define WG 256

struct groupnorm_pc { /* mirrors `PC` in shaders/groupnorm.comp */
    uint32_t B, C, S, G, cg;
    uint32_t has_gamma, has_beta;
    uint32_t want_dgamma, want_dbeta;
    uint32_t accumulate;
    float eps;
};
_Static_assert(sizeof(struct groupnorm_pc) <= 128, "push constants must fit 128 bytes");

/* Checks x ([B, C, ...], supported dtype, indexable with 32-bit unsigned math) and fills the
 * sizes of pc. */
static vkt_status check_x(vkt_step *s, const vkt_tensor *x, struct groupnorm_pc *pc, vkt_err *err)
{
    if (x->ndim < 2)
        return vkt_fail(err, VKT_ERR_SHAPE, "groupnorm: x has %d dims, expected [B, C, ...]",
                        x->ndim);
    int64_t n = 0;
    vkt_status st = norm_check_x(s, "groupnorm", x, &n, err);
    if (st) return st;
    pc->B = (uint32_t)x->shape[0];
    pc->C = (uint32_t)x->shape[1];
    pc->S = (uint32_t)(n / (x->shape[0] * x->shape[1]));
    return VKT_OK;
}

/* mean/rstd must be float32 [B, G]. */
static vkt_status check_stats(const char *what, const vkt_tensor *t, uint32_t B, uint32_t G,
                              vkt_err *err)
{
    if (t->ndim != 2 || t->shape[0] != B || t->shape[1] != G || t->dtype != VKT_F32) {
        char sh[96];
        return vkt_fail(err, VKT_ERR_SHAPE, "groupnorm: %s %s %s, expected f32 [%u,%u]", what,
                        vkt_dtype_name(t->dtype), vkt_shape_str(t, sh, sizeof sh), B, G);
    }
    return VKT_OK;
}

static vkt_status check_groups(uint32_t C, int64_t G, vkt_err *err)
{
    if (G <= 0 || C % (uint64_t)G)
        return vkt_fail(err, VKT_ERR_SHAPE, "groupnorm: %lld groups do not divide %u channels",
                        (long long)G, C);
    return VKT_OK;
}

/* Variant groupnorm_<dir>_<dtype><path>[_silu] with n_bindings bindings. */
static vkt_status pipeline(vkt_step *s, const char *dir, const char *path, bool silu, vkt_dtype dt,
                           uint32_t n_bindings, vkt_pipeline **p, vkt_err *err)
{
    char v[64], name[96];
    vkt_variant_name(v, sizeof v, "groupnorm", dir, dt);
    snprintf(name, sizeof name, "%s%s%s", v, path, silu ? "_silu" : "");
    uint32_t spec[1] = {WG};
    return vkt_step_pipeline(s, name, n_bindings, sizeof(struct groupnorm_pc), spec, 1, p, err);
}

static vkt_status fwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                      const vkt_tensor *beta, int G, float eps, vkt_tensor *y, vkt_tensor *mean,
                      vkt_tensor *rstd, bool silu, vkt_err *err)
{
    struct groupnorm_pc pc = {0};
    vkt_status st = check_x(s, x, &pc, err);
    if (!st) st = check_groups(pc.C, G, err);
    if (!st) st = norm_check_fwd("groupnorm", x, gamma, beta, y, pc.C, err);
    if (!st) st = check_stats("mean", mean, pc.B, (uint32_t)G, err);
    if (!st) st = check_stats("rstd", rstd, pc.B, (uint32_t)G, err);
    if (!st) st = norm_check_eps("groupnorm", eps, err);
    vkt_pipeline *p;
    if (!st) st = pipeline(s, "fwd", "", silu, x->dtype, 6, &p, err);
    if (st) return st;
    pc.G = (uint32_t)G;
    pc.cg = pc.C / pc.G;
    pc.has_gamma = gamma != NULL;
    pc.has_beta = beta != NULL;
    pc.eps = eps;
    vkt_bind b[6];
    norm_bind_fwd(b, x, gamma, beta, y, mean, rstd);
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, (uint64_t)pc.B * pc.G,
                               silu ? "groupnorm_silu_fwd" : "groupnorm_fwd", err);
}

vkt_status vkt_op_groupnorm_fwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                                const vkt_tensor *beta, int G, float eps, vkt_tensor *y,
                                vkt_tensor *mean, vkt_tensor *rstd, vkt_err *err)
{
    return fwd(s, x, gamma, beta, G, eps, y, mean, rstd, false, err);
}

vkt_status vkt_op_groupnorm_silu_fwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                                     const vkt_tensor *beta, int G, float eps, vkt_tensor *y,
                                     vkt_tensor *mean, vkt_tensor *rstd, vkt_err *err)
{
    return fwd(s, x, gamma, beta, G, eps, y, mean, rstd, true, err);
}

/* silu: the fused backward, which also binds beta (after gamma) in both dispatches, and gamma in
 * the affine one (see shaders/groupnorm.comp). */
/* Bindings 0..5 of both fused backward passes: x, gamma, beta, mean, rstd, dy. */
static void silu_bwd_inputs(vkt_bind *b, const vkt_tensor *x, const vkt_tensor *gamma, const vkt_tensor *beta,
                            const vkt_tensor *mean, const vkt_tensor *rstd, const vkt_tensor *dy)
{
    const vkt_tensor *in[6] = {x, gamma, beta, mean, rstd, dy};
    for (int i = 0; i < 6; i++) b[i] = vkt_tensor_bind_r(in[i]);
}

static vkt_status bwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                      const vkt_tensor *beta, const vkt_tensor *mean, const vkt_tensor *rstd,
                      const vkt_tensor *dy, vkt_tensor *dx, vkt_grad_mode dx_mode,
                      vkt_tensor *dgamma, vkt_tensor *dbeta, vkt_grad_mode param_mode, bool silu,
                      vkt_err *err)
{
    struct groupnorm_pc pc = {0};
    vkt_status st = check_x(s, x, &pc, err);
    int64_t G = mean->ndim == 2 ? mean->shape[1] : 0; /* checked below */
    if (!st && G) st = check_groups(pc.C, G, err);
    if (!st) st = check_stats("mean", mean, pc.B, (uint32_t)G, err);
    if (!st) st = check_stats("rstd", rstd, pc.B, (uint32_t)G, err);
    if (!st) st = norm_check_bwd("groupnorm", x, gamma, dy, dx, dgamma, dbeta, pc.C, err);
    if (!st && silu) st = norm_check_vec("groupnorm", "beta", beta, pc.C, x->dtype, err);
    if (st) return st;
    pc.G = (uint32_t)G;
    pc.cg = pc.C / pc.G;
    pc.has_gamma = gamma != NULL;
    pc.has_beta = silu && beta != NULL;
    const vkt_tensor *gb = gamma ? gamma : x, *bb = beta ? beta : x; /* absent: x stands in */
    vkt_pipeline *p;
    if (dx) {
        if ((st = pipeline(s, "bwd", "", silu, x->dtype, silu ? 7 : 6, &p, err))) return st;
        pc.accumulate = dx_mode == VKT_GRAD_ACCUMULATE;
        vkt_bind b[7];
        if (silu) {
            silu_bwd_inputs(b, x, gb, bb, mean, rstd, dy);
            b[6] = vkt_tensor_bind_w(dx);
        } else {
            norm_bind_bwd_dx(b, x, gamma, mean, rstd, dy, dx);
        }
        if ((st = vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, (uint64_t)pc.B * pc.G,
                                      silu ? "groupnorm_silu_bwd" : "groupnorm_bwd", err)))
            return st;
    }
    if (dgamma || dbeta) {
        if ((st = pipeline(s, "bwd", "_affine", silu, x->dtype, silu ? 8 : 6, &p, err))) return st;
        pc.want_dgamma = dgamma != NULL;
        pc.want_dbeta = dbeta != NULL;
        pc.accumulate = param_mode == VKT_GRAD_ACCUMULATE;
        vkt_bind b[8];
        if (silu) {
            silu_bwd_inputs(b, x, gb, bb, mean, rstd, dy);
            b[6] = vkt_tensor_bind_w(dgamma ? dgamma : dbeta);
            b[7] = vkt_tensor_bind_w(dbeta ? dbeta : dgamma);
        } else {
            norm_bind_bwd_affine(b, x, mean, rstd, dy, dgamma, dbeta);
        }
        if ((st = vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, pc.C,
                                      silu ? "groupnorm_silu_bwd_affine" : "groupnorm_bwd_affine",
                                      err)))
            return st;
    }
    return VKT_OK;
}

vkt_status vkt_op_groupnorm_bwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                                const vkt_tensor *mean, const vkt_tensor *rstd,
                                const vkt_tensor *dy, vkt_tensor *dx, vkt_grad_mode dx_mode,
                                vkt_tensor *dgamma, vkt_tensor *dbeta, vkt_grad_mode param_mode,
                                vkt_err *err)
{
    return bwd(s, x, gamma, NULL, mean, rstd, dy, dx, dx_mode, dgamma, dbeta, param_mode, false,
               err);
}

vkt_status vkt_op_groupnorm_silu_bwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                                     const vkt_tensor *beta, const vkt_tensor *mean,
                                     const vkt_tensor *rstd, const vkt_tensor *dy, vkt_tensor *dx,
                                     vkt_grad_mode dx_mode, vkt_tensor *dgamma,
                                     vkt_tensor *dbeta, vkt_grad_mode param_mode, vkt_err *err)
{
    return bwd(s, x, gamma, beta, mean, rstd, dy, dx, dx_mode, dgamma, dbeta, param_mode, true,
               err);
}
