/* C side of shaders/posterior.comp: shape checks, dispatch. */
#include "nn/ops/posterior.h"

#include <stdio.h>

#include "nn/ops/binary.h"

#define WG 128

struct posterior_pc { /* mirrors `PC` in shaders/posterior.comp */
    uint32_t n, zs;
    float scale;
};
_Static_assert(sizeof(struct posterior_pc) <= 128, "push constants must fit 128 bytes");

static bool overlap(const vkt_tensor *a, const vkt_tensor *b)
{
    return a->buf == b->buf && a->offset < b->offset + vkt_tensor_bytes(b) &&
           b->offset < a->offset + vkt_tensor_bytes(a);
}

static vkt_status run(vkt_step *s, const char *path, const vkt_bind *b, uint32_t n_bind,
                      const struct posterior_pc *pc, vkt_dtype dt, const char *label, vkt_err *err)
{
    if (!vkt_step_dtype_ok(s, dt))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "posterior: dtype %s not supported on this device",
                        vkt_dtype_name(dt));
    char name[64];
    snprintf(name, sizeof name, "posterior_fwd_%s%s", vkt_dtype_name(dt), path);
    uint32_t spec[1] = {WG};
    vkt_pipeline *p;
    vkt_status st = vkt_step_pipeline(s, name, n_bind, sizeof *pc, spec, 1, &p, err);
    if (st) return st;
    return vkt_cmd_dispatch_1d(s->cmd, p, b, pc, vkt_groups(pc->n, WG), label, err);
}

vkt_status vkt_op_posterior_fwd(vkt_step *s, const vkt_tensor *moments, vkt_tensor *mean, vkt_tensor *logvar,
                                vkt_err *err)
{
    char a[96], b[96];
    vkt_status st = vkt_check_same_shape("posterior", "logvar", logvar, mean, err);
    if (st) return st;
    bool ok = moments->ndim == mean->ndim && moments->ndim >= 2 && moments->shape[0] == mean->shape[0] &&
              moments->shape[1] == 2 * mean->shape[1];
    for (int i = 2; ok && i < moments->ndim; i++) ok = moments->shape[i] == mean->shape[i];
    if (!ok)
        return vkt_fail(err, VKT_ERR_SHAPE, "posterior: moments %s and mean %s, expected [B,2Z,...] and [B,Z,...]",
                        vkt_shape_str(moments, a, sizeof a), vkt_shape_str(mean, b, sizeof b));
    const vkt_tensor *ts[] = {moments, mean, logvar};
    if ((st = vkt_check_dtype("posterior", moments->dtype, ts, 3, err))) return st;
    if (overlap(mean, moments) || overlap(logvar, moments) || overlap(mean, logvar))
        return vkt_fail(err, VKT_ERR_USAGE, "posterior: mean, logvar and moments overlap");
    int64_t n = vkt_tensor_numel(mean);
    if (n > INT32_MAX) return vkt_fail(err, VKT_ERR_SHAPE, "posterior: tensor too large");
    struct posterior_pc pc = {(uint32_t)n, (uint32_t)(n / (mean->shape[0] ? mean->shape[0] : 1)), 0.0f};
    vkt_bind bd[3] = {vkt_tensor_bind_r(moments), vkt_tensor_bind_w(mean), vkt_tensor_bind_w(logvar)};
    return run(s, "", bd, 3, &pc, moments->dtype, "posterior_fwd", err);
}

vkt_status vkt_op_posterior_sample(vkt_step *s, const vkt_tensor *mean, const vkt_tensor *logvar,
                                   const vkt_tensor *noise, float scale, vkt_tensor *z, vkt_err *err)
{
    vkt_status st = vkt_check_same_shape("posterior", "logvar", logvar, mean, err);
    if (!st) st = vkt_check_same_shape("posterior", "z", z, mean, err);
    if (!st && noise) st = vkt_check_same_shape("posterior", "noise", noise, mean, err);
    const vkt_tensor *ts[] = {mean, logvar, z, noise};
    if (!st) st = vkt_check_dtype("posterior", mean->dtype, ts, noise ? 4 : 3, err);
    if (st) return st;
    if (!noise) return vkt_op_scale_fwd(s, mean, scale, 0.0f, z, err);
    if (overlap(z, logvar) || overlap(z, noise))
        return vkt_fail(err, VKT_ERR_USAGE, "posterior: z overlaps logvar or noise");
    if (overlap(z, mean) && (z->buf != mean->buf || z->offset != mean->offset))
        return vkt_fail(err, VKT_ERR_USAGE, "posterior: z partly overlaps mean");
    int64_t n = vkt_tensor_numel(mean);
    if (n > INT32_MAX) return vkt_fail(err, VKT_ERR_SHAPE, "posterior: tensor too large");
    struct posterior_pc pc = {(uint32_t)n, 0, scale};
    vkt_bind bd[4] = {vkt_tensor_bind_r(mean), vkt_tensor_bind_r(logvar), vkt_tensor_bind_r(noise),
                      vkt_tensor_bind_w(z)};
    return run(s, "_sample", bd, 4, &pc, mean->dtype, "posterior_sample", err);
}
