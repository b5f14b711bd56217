/* C side of shaders/layernorm.comp: shape checks, variant choice, dispatch. */
#include "nn/ops/layernorm.h"

#include <math.h>
#include <stdio.h>

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
    if (!vkt_step_dtype_ok(s, x->dtype))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED,
                        "layernorm: dtype %s not supported on this device",
                        vkt_dtype_name(x->dtype));
    /* Shader indices are uint32 and loops step past the end: stay well below 2^32. */
    int64_t n = vkt_tensor_numel(x);
    if (n <= 0 || n > INT32_MAX)
        return vkt_fail(err, VKT_ERR_SHAPE, "layernorm: x has %lld elements", (long long)n);
    pc->D = (uint32_t)x->shape[x->ndim - 1];
    pc->N = (uint32_t)(n / pc->D);
    return VKT_OK;
}

/* t must be [D] in dtype dt (NULL passes). */
static vkt_status check_vec(const char *what, const vkt_tensor *t, uint32_t D, vkt_dtype dt,
                            vkt_err *err)
{
    if (!t) return VKT_OK;
    if (t->ndim != 1 || t->shape[0] != D) {
        char sh[96];
        return vkt_fail(err, VKT_ERR_SHAPE, "layernorm: %s shape %s, expected [%u]", what,
                        vkt_shape_str(t, sh, sizeof sh), D);
    }
    if (t->dtype != dt)
        return vkt_fail(err, VKT_ERR_SHAPE, "layernorm: %s is %s, expected %s", what,
                        vkt_dtype_name(t->dtype), vkt_dtype_name(dt));
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
    char v[64], name[80];
    vkt_variant_name(v, sizeof v, "layernorm", dir, dt);
    snprintf(name, sizeof name, "%s%s", v, path);
    uint32_t spec[1] = {wg};
    return vkt_step_pipeline(s, name, 6, sizeof(struct layernorm_pc), spec, 1, p, err);
}

vkt_status vkt_op_layernorm_fwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                                const vkt_tensor *beta, float eps, vkt_tensor *y, vkt_tensor *mean,
                                vkt_tensor *rstd, vkt_err *err)
{
    struct layernorm_pc pc = {0};
    vkt_status st = check_x(s, x, &pc, err);
    if (!st) st = vkt_check_same_shape("layernorm", "y", y, x, err);
    const vkt_tensor *ts[] = {x, y};
    if (!st) st = vkt_check_dtype("layernorm", x->dtype, ts, 2, err);
    if (!st) st = check_vec("gamma", gamma, pc.D, x->dtype, err);
    if (!st) st = check_vec("beta", beta, pc.D, x->dtype, err);
    if (!st) st = check_stats("mean", mean, pc.N, err);
    if (!st) st = check_stats("rstd", rstd, pc.N, err);
    if (!st && !(eps >= 0 && isfinite(eps)))
        st = vkt_fail(err, VKT_ERR_USAGE, "layernorm: eps %g", eps);
    vkt_pipeline *p;
    if (!st) st = pipeline(s, "fwd", "", x->dtype, WG_ROW, &p, err);
    if (st) return st;
    pc.has_gamma = gamma != NULL;
    pc.has_beta = beta != NULL;
    pc.eps = eps;
    /* Absent affine tensors: x stands in for the binding; the shader does not read it. */
    vkt_bind b[6] = {vkt_tensor_bind_r(x),
                     vkt_tensor_bind_r(gamma ? gamma : x),
                     vkt_tensor_bind_r(beta ? beta : x),
                     vkt_tensor_bind_w(y),
                     vkt_tensor_bind_w(mean),
                     vkt_tensor_bind_w(rstd)};
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
    if (!st) st = vkt_check_same_shape("layernorm", "dy", dy, x, err);
    if (!st && dx) st = vkt_check_same_shape("layernorm", "dx", dx, x, err);
    const vkt_tensor *ts[] = {x, dy, dx ? dx : x};
    if (!st) st = vkt_check_dtype("layernorm", x->dtype, ts, 3, err);
    if (!st) st = check_vec("gamma", gamma, pc.D, x->dtype, err);
    if (!st) st = check_vec("dgamma", dgamma, pc.D, x->dtype, err);
    if (!st) st = check_vec("dbeta", dbeta, pc.D, x->dtype, err);
    if (!st && !dx && !dgamma && !dbeta)
        st = vkt_fail(err, VKT_ERR_USAGE, "layernorm: backward with no outputs");
    if (st) return st;
    vkt_pipeline *p;
    if (dx) {
        if ((st = pipeline(s, "bwd", "", x->dtype, WG_ROW, &p, err))) return st;
        pc.has_gamma = gamma != NULL;
        pc.accumulate = dx_mode == VKT_GRAD_ACCUMULATE;
        vkt_bind b[6] = {vkt_tensor_bind_r(x),    vkt_tensor_bind_r(gamma ? gamma : x),
                         vkt_tensor_bind_r(mean), vkt_tensor_bind_r(rstd),
                         vkt_tensor_bind_r(dy),   vkt_tensor_bind_w(dx)};
        if ((st = vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, pc.N, "layernorm_bwd", err))) return st;
    }
    if (dgamma || dbeta) {
        if ((st = pipeline(s, "bwd", "_affine", x->dtype, WG_AFFINE, &p, err))) return st;
        pc.want_dgamma = dgamma != NULL;
        pc.want_dbeta = dbeta != NULL;
        pc.accumulate = param_mode == VKT_GRAD_ACCUMULATE;
        /* With one of the two, its buffer fills both bindings; the shader writes only the wanted.
         */
        vkt_bind b[6] = {vkt_tensor_bind_r(x),
                         vkt_tensor_bind_r(mean),
                         vkt_tensor_bind_r(rstd),
                         vkt_tensor_bind_r(dy),
                         vkt_tensor_bind_w(dgamma ? dgamma : dbeta),
                         vkt_tensor_bind_w(dbeta ? dbeta : dgamma)};
        if ((st = vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, vkt_groups(pc.D, TC),
                                      "layernorm_bwd_affine", err)))
            return st;
    }
    return VKT_OK;
}
