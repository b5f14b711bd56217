/* C side of shaders/emphasis.comp. */
#include "nn/ops/emphasis.h"

#define WG 256

struct emphasis_pc { /* mirrors `PC` in shaders/emphasis.comp */
    uint32_t B, K, T, W;
};
_Static_assert(sizeof(struct emphasis_pc) <= 128, "push constants must fit 128 bytes");

static vkt_status check(vkt_step *s, const vkt_tensor *z, const vkt_tensor *m, struct emphasis_pc *pc, vkt_err *err)
{
    if (z->ndim != 4 || m->ndim != 3 || m->shape[0] != z->shape[0] || m->shape[1] != z->shape[1] ||
        m->shape[2] != z->shape[2]) {
        char a[96], b[96];
        return vkt_fail(err, VKT_ERR_SHAPE, "emphasis: z %s and m %s, expected [B,K,T,W] and [B,K,T]",
                        vkt_shape_str(z, a, sizeof a), vkt_shape_str(m, b, sizeof b));
    }
    if (m->dtype != VKT_F32) return vkt_fail(err, VKT_ERR_SHAPE, "emphasis: multipliers must be f32");
    if (!vkt_step_dtype_ok(s, z->dtype))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "emphasis: dtype %s not supported here", vkt_dtype_name(z->dtype));
    if (vkt_tensor_numel(z) > UINT32_MAX / 2) return vkt_fail(err, VKT_ERR_SHAPE, "emphasis: tensor too large");
    *pc = (struct emphasis_pc){(uint32_t)z->shape[0], (uint32_t)z->shape[1], (uint32_t)z->shape[2],
                               (uint32_t)z->shape[3]};
    return VKT_OK;
}

vkt_status vkt_op_emphasis_fwd(vkt_step *s, const vkt_tensor *z, const vkt_tensor *m, vkt_tensor *y, vkt_err *err)
{
    struct emphasis_pc pc;
    vkt_status st = check(s, z, m, &pc, err);
    if (!st) st = vkt_check_same_shape("emphasis", "y", y, z, err);
    if (!st && y->dtype != z->dtype) st = vkt_fail(err, VKT_ERR_SHAPE, "emphasis: y dtype differs from z");
    vkt_pipeline *p;
    char v[64];
    uint32_t spec[1] = {WG};
    if (!st) st = vkt_step_pipeline(s, vkt_variant_name(v, sizeof v, "emphasis", "fwd", z->dtype), 3, sizeof pc, spec, 1, &p, err);
    if (st) return st;
    vkt_bind b[3] = {vkt_tensor_bind_r(z), vkt_tensor_bind_r(m), vkt_tensor_bind_w(y)};
    return vkt_cmd_dispatch(s->cmd, p, b, &pc, pc.K, 1, 1, "emphasis_fwd", err);
}

vkt_status vkt_op_emphasis_bwd(vkt_step *s, const vkt_tensor *z, const vkt_tensor *m, const vkt_tensor *dy,
                               vkt_tensor *dz, vkt_err *err)
{
    struct emphasis_pc pc;
    vkt_status st = check(s, z, m, &pc, err);
    if (!st) st = vkt_check_same_shape("emphasis", "dy", dy, z, err);
    if (!st) st = vkt_check_same_shape("emphasis", "dz", dz, z, err);
    if (!st && (dy->dtype != z->dtype || dz->dtype != z->dtype))
        st = vkt_fail(err, VKT_ERR_SHAPE, "emphasis: dy/dz dtype differs from z");
    vkt_pipeline *p;
    char v[64];
    uint32_t spec[1] = {WG};
    if (!st) st = vkt_step_pipeline(s, vkt_variant_name(v, sizeof v, "emphasis", "bwd", z->dtype), 4, sizeof pc, spec, 1, &p, err);
    if (st) return st;
    vkt_bind b[4] = {vkt_tensor_bind_r(z), vkt_tensor_bind_r(m), vkt_tensor_bind_r(dy), vkt_tensor_bind_w(dz)};
    return vkt_cmd_dispatch(s->cmd, p, b, &pc, pc.K, 1, 1, "emphasis_bwd", err);
}
