/* C side of shaders/upsample.comp: shape checks, scale factors, dispatch. */
#include "nn/ops/upsample.h"

#include <stdio.h>

#define WG 128

struct upsample_pc { /* mirrors `PC` in shaders/upsample.comp */
    uint32_t n, H, W, OH, OW;
    float sh, sw;
    uint32_t accumulate;
};
_Static_assert(sizeof(struct upsample_pc) <= 128, "push constants must fit 128 bytes");

/* Checks small [B,C,H,W] against big [B,C,OH,OW] and fills the push constants (n = numel of
 * the tensor with one thread per element). */
static vkt_status prepare(vkt_step *s, const vkt_tensor *small, const vkt_tensor *big,
                          const char *sn, const char *bn, struct upsample_pc *pc, vkt_err *err)
{
    char a[96], b[96];
    if (small->ndim != 4 || big->ndim != 4 || small->shape[0] != big->shape[0] ||
        small->shape[1] != big->shape[1])
        return vkt_fail(err, VKT_ERR_SHAPE, "upsample: %s %s and %s %s must be [B,C,*,*] alike", sn,
                        vkt_shape_str(small, a, sizeof a), bn, vkt_shape_str(big, b, sizeof b));
    for (int i = 0; i < 4; i++)
        if (small->shape[i] < 1 || big->shape[i] < 1 ||
            (i >= 2 && (small->shape[i] > 65535 || big->shape[i] > 65535)))
            return vkt_fail(err, VKT_ERR_SHAPE, "upsample: %s %s / %s %s: sides must be 1..65535",
                            sn, vkt_shape_str(small, a, sizeof a), bn,
                            vkt_shape_str(big, b, sizeof b));
    if (vkt_tensor_numel(small) > UINT32_MAX || vkt_tensor_numel(big) > UINT32_MAX)
        return vkt_fail(err, VKT_ERR_SHAPE, "upsample: tensor too large");
    const vkt_tensor *ts[] = {small, big};
    vkt_status st = vkt_check_dtype("upsample", small->dtype, ts, 2, err);
    if (st) return st;
    if (!vkt_step_dtype_ok(s, small->dtype))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "upsample: dtype %s not supported on this device",
                        vkt_dtype_name(small->dtype));
    if (small->buf == big->buf && small->offset < big->offset + vkt_tensor_bytes(big) &&
        big->offset < small->offset + vkt_tensor_bytes(small))
        return vkt_fail(err, VKT_ERR_USAGE, "upsample: %s and %s overlap", sn, bn);
    uint32_t H = (uint32_t)small->shape[2], W = (uint32_t)small->shape[3];
    uint32_t OH = (uint32_t)big->shape[2], OW = (uint32_t)big->shape[3];
    /* torch: compute_scales_value() = (float)input_size / output_size */
    *pc = (struct upsample_pc){0, H, W, OH, OW, (float)H / (float)OH, (float)W / (float)OW, 0};
    return VKT_OK;
}

static vkt_status dispatch(vkt_step *s, const char *dir, vkt_dtype dt, const vkt_bind *b,
                           const struct upsample_pc *pc, const char *label, vkt_err *err)
{
    char v[64];
    uint32_t spec[1] = {WG};
    vkt_pipeline *p;
    vkt_status st = vkt_step_pipeline(s, vkt_variant_name(v, sizeof v, "upsample", dir, dt), 2,
                                      sizeof *pc, spec, 1, &p, err);
    if (st) return st;
    return vkt_cmd_dispatch_1d(s->cmd, p, b, pc, vkt_groups(pc->n, WG), label, err);
}

vkt_status vkt_op_upsample_fwd(vkt_step *s, const vkt_tensor *x, vkt_tensor *y, vkt_err *err)
{
    struct upsample_pc pc;
    vkt_status st = prepare(s, x, y, "x", "y", &pc, err);
    if (st) return st;
    pc.n = (uint32_t)vkt_tensor_numel(y);
    vkt_bind b[2] = {vkt_tensor_bind_r(x), vkt_tensor_bind_w(y)};
    return dispatch(s, "fwd", x->dtype, b, &pc, "upsample_fwd", err);
}

vkt_status vkt_op_upsample_bwd(vkt_step *s, const vkt_tensor *dy, vkt_tensor *dx,
                               vkt_grad_mode mode, vkt_err *err)
{
    struct upsample_pc pc;
    vkt_status st = prepare(s, dx, dy, "dx", "dy", &pc, err);
    if (st) return st;
    pc.n = (uint32_t)vkt_tensor_numel(dx);
    pc.accumulate = mode == VKT_GRAD_ACCUMULATE;
    vkt_bind b[2] = {vkt_tensor_bind_r(dy), vkt_tensor_bind_w(dx)};
    return dispatch(s, "bwd", dx->dtype, b, &pc, "upsample_bwd", err);
}
