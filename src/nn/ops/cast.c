/* C side of shaders/cast.comp. */
#include "nn/ops/cast.h"

#define WG 128

struct cast_pc { /* mirrors `PC` in shaders/cast.comp */
    uint32_t n;
};
_Static_assert(sizeof(struct cast_pc) <= 128, "push constants must fit 128 bytes");

vkt_status vkt_op_cast(vkt_step *s, const vkt_tensor *x, vkt_tensor *y, vkt_err *err)
{
    vkt_status st = vkt_check_same_shape("cast", "y", y, x, err);
    if (st) return st;
    if (x->dtype == y->dtype)
        return vkt_cmd_copy(s->cmd, x->buf, x->offset, y->buf, y->offset, (vkt_tensor_bytes(x) + 3) & ~(size_t)3, err);
    const char *variant = x->dtype == VKT_F32 && y->dtype == VKT_F16   ? "cast_fwd_f16"
                          : x->dtype == VKT_F16 && y->dtype == VKT_F32 ? "cast_bwd_f16"
                                                                       : NULL;
    if (!variant)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "cast: %s -> %s", vkt_dtype_name(x->dtype), vkt_dtype_name(y->dtype));
    if (!vkt_step_dtype_ok(s, VKT_F16)) return vkt_fail(err, VKT_ERR_UNSUPPORTED, "cast: no 16-bit storage here");
    if (vkt_tensor_numel(x) > UINT32_MAX) return vkt_fail(err, VKT_ERR_SHAPE, "cast: tensor too large");
    vkt_pipeline *p;
    uint32_t spec[1] = {WG};
    if ((st = vkt_step_pipeline(s, variant, 2, sizeof(struct cast_pc), spec, 1, &p, err))) return st;
    struct cast_pc pc = {(uint32_t)vkt_tensor_numel(x)};
    vkt_bind b[2] = {vkt_tensor_bind_r(x), vkt_tensor_bind_w(y)};
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, vkt_groups(pc.n, WG), "cast", err);
}
