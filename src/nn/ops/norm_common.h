/* Argument checks and bindings shared by the C sides of groupnorm and layernorm, which follow
 * the same rules for x, y, the affine vectors and the gradients, and bind their buffers in the
 * same order. Each op keeps its own shape rules (groups, statistics layout), push constants and
 * grid sizes. Not an op family: included by nn/ops/groupnorm.c and nn/ops/layernorm.c only. */
#ifndef VKT_NN_OPS_NORM_COMMON_H
#define VKT_NN_OPS_NORM_COMMON_H

#include <math.h>
#include <stdio.h>

#include "nn/step.h"

/* x: a dtype the device supports, indexable with 32-bit unsigned math. *n = its element count.
 * The caller checks the rank first. */
static inline vkt_status norm_check_x(vkt_step *s, const char *op, const vkt_tensor *x, int64_t *n,
                                      vkt_err *err)
{
    if (!vkt_step_dtype_ok(s, x->dtype))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: dtype %s not supported on this device", op,
                        vkt_dtype_name(x->dtype));
    /* Shader indices are uint32 and loops step past the end: stay well below 2^32. */
    *n = vkt_tensor_numel(x);
    if (*n <= 0 || *n > INT32_MAX)
        return vkt_fail(err, VKT_ERR_SHAPE, "%s: x has %lld elements", op, (long long)*n);
    return VKT_OK;
}

/* t must be [len] in dtype dt (NULL passes). */
static inline vkt_status norm_check_vec(const char *op, const char *what, const vkt_tensor *t,
                                        int64_t len, vkt_dtype dt, vkt_err *err)
{
    if (!t) return VKT_OK;
    if (t->ndim != 1 || t->shape[0] != len) {
        char sh[96];
        return vkt_fail(err, VKT_ERR_SHAPE, "%s: %s shape %s, expected [%lld]", op, what,
                        vkt_shape_str(t, sh, sizeof sh), (long long)len);
    }
    if (t->dtype != dt)
        return vkt_fail(err, VKT_ERR_SHAPE, "%s: %s is %s, expected %s", op, what,
                        vkt_dtype_name(t->dtype), vkt_dtype_name(dt));
    return VKT_OK;
}

/* Forward: y has x's shape and dtype; gamma and beta (or NULL) are [len] in x's dtype. */
static inline vkt_status norm_check_fwd(const char *op, const vkt_tensor *x,
                                        const vkt_tensor *gamma, const vkt_tensor *beta,
                                        const vkt_tensor *y, int64_t len, vkt_err *err)
{
    vkt_status st = vkt_check_same_shape(op, "y", y, x, err);
    const vkt_tensor *ts[] = {x, y};
    if (!st) st = vkt_check_dtype(op, x->dtype, ts, 2, err);
    if (!st) st = norm_check_vec(op, "gamma", gamma, len, x->dtype, err);
    if (!st) st = norm_check_vec(op, "beta", beta, len, x->dtype, err);
    return st;
}

static inline vkt_status norm_check_eps(const char *op, float eps, vkt_err *err)
{
    if (!(eps >= 0 && isfinite(eps))) return vkt_fail(err, VKT_ERR_USAGE, "%s: eps %g", op, eps);
    return VKT_OK;
}

/* Backward: dy (and dx, if wanted) have x's shape and dtype; gamma, dgamma, dbeta (or NULL) are
 * [len] in x's dtype; at least one output is wanted. */
static inline vkt_status norm_check_bwd(const char *op, const vkt_tensor *x,
                                        const vkt_tensor *gamma, const vkt_tensor *dy,
                                        const vkt_tensor *dx, const vkt_tensor *dgamma,
                                        const vkt_tensor *dbeta, int64_t len, vkt_err *err)
{
    vkt_status st = vkt_check_same_shape(op, "dy", dy, x, err);
    if (!st && dx) st = vkt_check_same_shape(op, "dx", dx, x, err);
    const vkt_tensor *ts[] = {x, dy, dx ? dx : x};
    if (!st) st = vkt_check_dtype(op, x->dtype, ts, 3, err);
    if (!st) st = norm_check_vec(op, "gamma", gamma, len, x->dtype, err);
    if (!st) st = norm_check_vec(op, "dgamma", dgamma, len, x->dtype, err);
    if (!st) st = norm_check_vec(op, "dbeta", dbeta, len, x->dtype, err);
    if (!st && !dx && !dgamma && !dbeta)
        st = vkt_fail(err, VKT_ERR_USAGE, "%s: backward with no outputs", op);
    return st;
}

/* Pipeline of variant <op>_<dir>_<dtype><path> with 6 bindings and workgroup size wg. */
static inline vkt_status norm_pipeline(vkt_step *s, const char *op, const char *dir,
                                       const char *path, vkt_dtype dt, uint32_t wg,
                                       uint32_t pc_size, vkt_pipeline **p, vkt_err *err)
{
    char v[64], name[80];
    vkt_variant_name(v, sizeof v, op, dir, dt);
    snprintf(name, sizeof name, "%s%s", v, path);
    uint32_t spec[1] = {wg};
    return vkt_step_pipeline(s, name, 6, pc_size, spec, 1, p, err);
}

/* The bindings of the three shaders, in the order both .comp files declare them. Absent affine
 * tensors: x stands in for the binding; the shader does not read it. With one of dgamma and
 * dbeta, its buffer fills both bindings; the shader writes only the wanted. */
static inline void norm_bind_fwd(vkt_bind b[6], const vkt_tensor *x, const vkt_tensor *gamma,
                                 const vkt_tensor *beta, const vkt_tensor *y,
                                 const vkt_tensor *mean, const vkt_tensor *rstd)
{
    b[0] = vkt_tensor_bind_r(x);
    b[1] = vkt_tensor_bind_r(gamma ? gamma : x);
    b[2] = vkt_tensor_bind_r(beta ? beta : x);
    b[3] = vkt_tensor_bind_w(y);
    b[4] = vkt_tensor_bind_w(mean);
    b[5] = vkt_tensor_bind_w(rstd);
}

static inline void norm_bind_bwd_dx(vkt_bind b[6], const vkt_tensor *x, const vkt_tensor *gamma,
                                    const vkt_tensor *mean, const vkt_tensor *rstd,
                                    const vkt_tensor *dy, const vkt_tensor *dx)
{
    b[0] = vkt_tensor_bind_r(x);
    b[1] = vkt_tensor_bind_r(gamma ? gamma : x);
    b[2] = vkt_tensor_bind_r(mean);
    b[3] = vkt_tensor_bind_r(rstd);
    b[4] = vkt_tensor_bind_r(dy);
    b[5] = vkt_tensor_bind_w(dx);
}

static inline void norm_bind_bwd_affine(vkt_bind b[6], const vkt_tensor *x,
                                        const vkt_tensor *mean, const vkt_tensor *rstd,
                                        const vkt_tensor *dy, const vkt_tensor *dgamma,
                                        const vkt_tensor *dbeta)
{
    b[0] = vkt_tensor_bind_r(x);
    b[1] = vkt_tensor_bind_r(mean);
    b[2] = vkt_tensor_bind_r(rstd);
    b[3] = vkt_tensor_bind_r(dy);
    b[4] = vkt_tensor_bind_w(dgamma ? dgamma : dbeta);
    b[5] = vkt_tensor_bind_w(dbeta ? dbeta : dgamma);
}

#endif
