/* C side of shaders/layernorm.comp: shape checks, variant choice, dispatch. */
#include "nn/ops/layernorm.h"

#include "nn/ops/norm_common.h"

/* Powers of two (tree reductions). Rows: 128 invocations per row (D = 320..1280 in SD: 3 to 10
 * elements each). Affine backward: 256 = TC (32, in the shader) columns x 8 row lanes. */
#define WG_ROW 128
#define WG_AFFINE 256
#define TC 32

struct layernorm_pc { /* mirrors `PC` in shaders/layernorm.comp */
    uint32_t N, D;
    uint32_t has_gamma, has_beta;
    uint32_t want_dgamma, want_dbeta;
    uint32_t accumulate;
    float eps;
};
_Static_assert(sizeof(struct layernorm_pc) <= 128, "push constants must fit 128 bytes");

/* Checks x ([..., D], supported dtype, indexable with 32-bit unsigned math) and fills N, D. */
static vkt_status check_x(vkt_step *s, const vkt_tensor *x, struct layernorm_pc *pc, vkt_err *err)
{
    if (x->ndim < 1) return vkt_fail(err, VKT_ERR_SHAPE, "layernorm: x has no dims");
    int64_t n = 0;
    vkt_status st = norm_check_x(s, "layernorm", x, &n, err);
    if (st) return st;
    pc->D = (uint32_t)x->shape[x->ndim - 1];
    pc->N = (uint32_t)(n / pc->D);
    return VKT_OK;
}

/* mean/rstd must be float32 with N elements. */
static vkt_status check_stats(const char *what, const vkt_tensor *t, uint32_t N, vkt_err *err)
{
    if (vkt_tensor_numel(t) != N || t->dtype != VKT_F32) {
        char sh[96];
        return vkt_fail(err, VKT_ERR_SHAPE, "layernorm: %s %s %s, expected f32 with %u elements",
                        what, vkt_dtype_name(t->dtype), vkt_shape_str(t, sh, sizeof sh), N);
    }
    return VKT_OK;
}

static vkt_status pipeline(vkt_step *s, const char *dir, const char *path, vkt_dtype dt,
                           uint32_t wg, vkt_pipeline **p, vkt_err *err)
{
    return norm_pipeline(s, "layernorm", dir, path, dt, wg, sizeof(struct layernorm_pc), p, err);
}

vkt_status vkt_op_layernorm_fwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                                const vkt_tensor *beta, float eps, vkt_tensor *y, vkt_tensor *mean,
                                vkt_tensor *rstd, vkt_err *err)
{
    struct layernorm_pc pc = {0};
    vkt_status st = check_x(s, x, &pc, err);
    if (!st) st = norm_check_fwd("layernorm", x, gamma, beta, y, pc.D, err);
    if (!st) st = check_stats("mean", mean, pc.N, err);
    if (!st) st = check_stats("rstd", rstd, pc.N, err);
    if (!st) st = norm_check_eps("layernorm", eps, err);
    vkt_pipeline *p;
    if (!st) st = pipeline(s, "fwd", "", x->dtype, WG_ROW, &p, err);
    if (st) return st;
    pc.has_gamma = gamma != NULL;
    pc.has_beta = beta != NULL;
    pc.eps = eps;
    vkt_bind b[6];
    norm_bind_fwd(b, x, gamma, beta, y, mean, rstd);
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, pc.N, "layernorm_fwd", err);
}

vkt_status vkt_op_layernorm_bwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                                const vkt_tensor *mean, const vkt_tensor *rstd,
                                const vkt_tensor *dy, vkt_tensor *dx, vkt_grad_mode dx_mode,
                                vkt_tensor *dgamma, vkt_tensor *dbeta, vkt_grad_mode param_mode,
                                vkt_err *err)
{
    struct layernorm_pc pc = {0};
    vkt_status st = check_x(s, x, &pc, err);
    if (!st) st = check_stats("mean", mean, pc.N, err);
    if (!st) st = check_stats("rstd", rstd, pc.N, err);
    if (!st) st = norm_check_bwd("layernorm", x, gamma, dy, dx, dgamma, dbeta, pc.D, err);
    if (st) return st;
    vkt_pipeline *p;
    if (dx) {
        if ((st = pipeline(s, "bwd", "", x->dtype, WG_ROW, &p, err))) return st;
        pc.has_gamma = gamma != NULL;
        pc.accumulate = dx_mode == VKT_GRAD_ACCUMULATE;
        vkt_bind b[6];
        norm_bind_bwd_dx(b, x, gamma, mean, rstd, dy, dx);
        if ((st = vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, pc.N, "layernorm_bwd", err))) return st;
    }
    if (dgamma || dbeta) {
        if ((st = pipeline(s, "bwd", "_affine", x->dtype, WG_AFFINE, &p, err))) return st;
        pc.want_dgamma = dgamma != NULL;
        pc.want_dbeta = dbeta != NULL;
        pc.accumulate = param_mode == VKT_GRAD_ACCUMULATE;
        vkt_bind b[6];
        norm_bind_bwd_affine(b, x, mean, rstd, dy, dgamma, dbeta);
        if ((st = vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, vkt_groups(pc.D, TC),
                                      "layernorm_bwd_affine", err)))
            return st;
    }
    return VKT_OK;
}
