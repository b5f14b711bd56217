/* C side of shaders/groupnorm.comp: shape checks, variant choice, dispatch. */
#include "nn/ops/groupnorm.h"

#include <math.h>
#include <stdio.h>

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
    if (!vkt_step_dtype_ok(s, x->dtype))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED,
                        "groupnorm: dtype %s not supported on this device",
                        vkt_dtype_name(x->dtype));
    /* Shader indices are uint32 and loops step by WG past the end: stay well below 2^32. */
    int64_t n = vkt_tensor_numel(x);
    if (n <= 0 || n > INT32_MAX)
        return vkt_fail(err, VKT_ERR_SHAPE, "groupnorm: x has %lld elements", (long long)n);
    pc->B = (uint32_t)x->shape[0];
    pc->C = (uint32_t)x->shape[1];
    pc->S = (uint32_t)(n / (x->shape[0] * x->shape[1]));
    return VKT_OK;
}

/* t must be [C] in dtype dt (NULL passes). */
static vkt_status check_vec(const char *what, const vkt_tensor *t, int64_t C, vkt_dtype dt,
                            vkt_err *err)
{
    if (!t) return VKT_OK;
    if (t->ndim != 1 || t->shape[0] != C) {
        char sh[96];
        return vkt_fail(err, VKT_ERR_SHAPE, "groupnorm: %s shape %s, expected [%lld]", what,
                        vkt_shape_str(t, sh, sizeof sh), (long long)C);
    }
    if (t->dtype != dt)
        return vkt_fail(err, VKT_ERR_SHAPE, "groupnorm: %s is %s, expected %s", what,
                        vkt_dtype_name(t->dtype), vkt_dtype_name(dt));
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

static vkt_status pipeline(vkt_step *s, const char *dir, const char *path, vkt_dtype dt,
                           uint32_t n_bind, vkt_pipeline **p, vkt_err *err)
{
    char v[64], name[80];
    vkt_variant_name(v, sizeof v, "groupnorm", dir, dt);
    snprintf(name, sizeof name, "%s%s", v, path);
    uint32_t spec[1] = {WG};
    return vkt_step_pipeline(s, name, n_bind, sizeof(struct groupnorm_pc), spec, 1, p, err);
}

vkt_status vkt_op_groupnorm_fwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                                const vkt_tensor *beta, int G, float eps, vkt_tensor *y,
                                vkt_tensor *mean, vkt_tensor *rstd, vkt_err *err)
{
    struct groupnorm_pc pc = {0};
    vkt_status st = check_x(s, x, &pc, err);
    if (!st) st = check_groups(pc.C, G, err);
    if (!st) st = vkt_check_same_shape("groupnorm", "y", y, x, err);
    const vkt_tensor *ts[] = {x, y};
    if (!st) st = vkt_check_dtype("groupnorm", x->dtype, ts, 2, err);
    if (!st) st = check_vec("gamma", gamma, pc.C, x->dtype, err);
    if (!st) st = check_vec("beta", beta, pc.C, x->dtype, err);
    if (!st) st = check_stats("mean", mean, pc.B, (uint32_t)G, err);
    if (!st) st = check_stats("rstd", rstd, pc.B, (uint32_t)G, err);
    if (!st && !(eps >= 0 && isfinite(eps)))
        st = vkt_fail(err, VKT_ERR_USAGE, "groupnorm: eps %g", eps);
    vkt_pipeline *p;
    if (!st) st = pipeline(s, "fwd", "", x->dtype, 6, &p, err);
    if (st) return st;
    pc.G = (uint32_t)G;
    pc.cg = pc.C / pc.G;
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
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, (uint64_t)pc.B * pc.G, "groupnorm_fwd", err);
}

vkt_status vkt_op_groupnorm_bwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                                const vkt_tensor *mean, const vkt_tensor *rstd,
                                const vkt_tensor *dy, vkt_tensor *dx, vkt_grad_mode dx_mode,
                                vkt_tensor *dgamma, vkt_tensor *dbeta, vkt_grad_mode param_mode,
                                vkt_err *err)
{
    struct groupnorm_pc pc = {0};
    vkt_status st = check_x(s, x, &pc, err);
    int64_t G = mean->ndim == 2 ? mean->shape[1] : 0; /* checked below */
    if (!st && G) st = check_groups(pc.C, G, err);
    if (!st) st = check_stats("mean", mean, pc.B, (uint32_t)G, err);
    if (!st) st = check_stats("rstd", rstd, pc.B, (uint32_t)G, err);
    if (!st) st = vkt_check_same_shape("groupnorm", "dy", dy, x, err);
    if (!st && dx) st = vkt_check_same_shape("groupnorm", "dx", dx, x, err);
    const vkt_tensor *ts[] = {x, dy, dx ? dx : x};
    if (!st) st = vkt_check_dtype("groupnorm", x->dtype, ts, 3, err);
    if (!st) st = check_vec("gamma", gamma, pc.C, x->dtype, err);
    if (!st) st = check_vec("dgamma", dgamma, pc.C, x->dtype, err);
    if (!st) st = check_vec("dbeta", dbeta, pc.C, x->dtype, err);
    if (!st && !dx && !dgamma && !dbeta)
        st = vkt_fail(err, VKT_ERR_USAGE, "groupnorm: backward with no outputs");
    if (st) return st;
    pc.G = (uint32_t)G;
    pc.cg = pc.C / pc.G;
    vkt_pipeline *p;
    if (dx) {
        if ((st = pipeline(s, "bwd", "", x->dtype, 6, &p, err))) return st;
        pc.has_gamma = gamma != NULL;
        pc.accumulate = dx_mode == VKT_GRAD_ACCUMULATE;
        vkt_bind b[6] = {vkt_tensor_bind_r(x),    vkt_tensor_bind_r(gamma ? gamma : x),
                         vkt_tensor_bind_r(mean), vkt_tensor_bind_r(rstd),
                         vkt_tensor_bind_r(dy),   vkt_tensor_bind_w(dx)};
        if ((st = vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, (uint64_t)pc.B * pc.G, "groupnorm_bwd",
                                      err)))
            return st;
    }
    if (dgamma || dbeta) {
        if ((st = pipeline(s, "bwd", "_affine", x->dtype, 6, &p, err))) return st;
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
        if ((st = vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, pc.C, "groupnorm_bwd_affine", err)))
            return st;
    }
    return VKT_OK;
}
