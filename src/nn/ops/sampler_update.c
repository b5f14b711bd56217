/* C side of shaders/sampler_update.comp: shape checks, dispatch. */
#include "nn/ops/sampler_update.h"

#include <stdio.h>

#define WG 128

struct sampler_update_pc { /* mirrors `PC` in shaders/sampler_update.comp */
    uint32_t n, off_u, off_c, copies, has_noise;
    float cfg;
};
_Static_assert(sizeof(struct sampler_update_pc) <= 128, "push constants must fit 128 bytes");

static bool overlap(const vkt_tensor *a, const vkt_tensor *b)
{
    return a->buf == b->buf && a->offset < b->offset + vkt_tensor_bytes(b) &&
           b->offset < a->offset + vkt_tensor_bytes(a);
}

vkt_status vkt_op_sampler_update_fwd(vkt_step *s, const vkt_tensor *eps_u, int64_t off_u, const vkt_tensor *eps_c,
                                     int64_t off_c, const vkt_tensor *noise, const vkt_tensor *coef, float cfg,
                                     vkt_tensor *x, vkt_tensor *xin, vkt_err *err)
{
    char a[96], b[96];
    const vkt_dtype dt = xin->dtype;
    const int64_t n = vkt_tensor_numel(x);
    if (x->dtype != VKT_F32 || coef->dtype != VKT_F32 || (noise && noise->dtype != VKT_F32))
        return vkt_fail(err, VKT_ERR_SHAPE, "sampler_update: x, noise and coef must be f32");
    if (eps_u->dtype != dt || eps_c->dtype != dt || (dt != VKT_F32 && dt != VKT_F16))
        return vkt_fail(err, VKT_ERR_SHAPE, "sampler_update: eps %s/%s and xin %s must share f32 or f16",
                        vkt_dtype_name(eps_u->dtype), vkt_dtype_name(eps_c->dtype), vkt_dtype_name(dt));
    if (!vkt_step_dtype_ok(s, dt))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "sampler_update: dtype %s not supported on this device",
                        vkt_dtype_name(dt));
    vkt_status st = noise ? vkt_check_same_shape("sampler_update", "noise", noise, x, err) : VKT_OK;
    if (st) return st;
    if (vkt_tensor_numel(coef) < 4) return vkt_fail(err, VKT_ERR_SHAPE, "sampler_update: coef needs 4 elements");
    if (n == 0) return VKT_OK;
    const int64_t n_in = vkt_tensor_numel(xin);
    if (off_u < 0 || off_c < 0 || off_u + n > vkt_tensor_numel(eps_u) || off_c + n > vkt_tensor_numel(eps_c))
        return vkt_fail(err, VKT_ERR_SHAPE, "sampler_update: eps %s at %lld / %s at %lld has no %lld elements",
                        vkt_shape_str(eps_u, a, sizeof a), (long long)off_u, vkt_shape_str(eps_c, b, sizeof b),
                        (long long)off_c, (long long)n);
    if (n_in % n || n_in == 0)
        return vkt_fail(err, VKT_ERR_SHAPE, "sampler_update: xin %s is not a whole number of x %s",
                        vkt_shape_str(xin, a, sizeof a), vkt_shape_str(x, b, sizeof b));
    if (n_in > UINT32_MAX || vkt_tensor_numel(eps_u) > UINT32_MAX || vkt_tensor_numel(eps_c) > UINT32_MAX)
        return vkt_fail(err, VKT_ERR_SHAPE, "sampler_update: tensors too large");
    if (overlap(xin, x) || overlap(xin, eps_u) || overlap(xin, eps_c) || overlap(xin, coef) ||
        (noise && (overlap(xin, noise) || overlap(x, noise))) || overlap(x, eps_u) || overlap(x, eps_c) ||
        overlap(x, coef))
        return vkt_fail(err, VKT_ERR_USAGE, "sampler_update: x or xin overlaps an input");
    char name[64];
    snprintf(name, sizeof name, "sampler_update_fwd_%s", vkt_dtype_name(dt));
    uint32_t spec[1] = {WG};
    vkt_pipeline *p;
    if ((st = vkt_step_pipeline(s, name, 6, sizeof(struct sampler_update_pc), spec, 1, &p, err))) return st;
    struct sampler_update_pc pc = {(uint32_t)n, (uint32_t)off_u, (uint32_t)off_c, (uint32_t)(n_in / n),
                                   noise != NULL, cfg};
    vkt_bind bd[6] = {vkt_tensor_bind_r(eps_u), vkt_tensor_bind_r(eps_c), vkt_tensor_bind_r(noise ? noise : coef),
                      vkt_tensor_bind_r(coef),  vkt_tensor_bind_w(x),     vkt_tensor_bind_w(xin)};
    return vkt_cmd_dispatch_1d(s->cmd, p, bd, &pc, vkt_groups((uint64_t)n, WG), "sampler_update_fwd", err);
}
