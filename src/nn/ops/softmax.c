/* C side of shaders/softmax.comp: shape checks, workgroup size by row length, dispatch. */
#include "nn/ops/softmax.h"

#include <stdio.h>

struct softmax_pc { /* mirrors `PC` in shaders/softmax.comp */
    uint32_t rows, L, accumulate;
};
_Static_assert(sizeof(struct softmax_pc) <= 128, "push constants must fit 128 bytes");

/* One workgroup per row: the smallest power of two >= L between 32 and 256, so short rows
 * (77 keys) do not idle most of a large workgroup and long rows loop. */
static uint32_t wg_for(int64_t L)
{
    uint32_t wg = 32;
    while (wg < 256 && wg < L)
        wg *= 2;
    return wg;
}

static vkt_status common(vkt_step *s, const char *dir, const vkt_tensor *x, uint32_t n_bind,
                         struct softmax_pc *pc, vkt_pipeline **p, vkt_err *err)
{
    if (x->ndim < 1 || x->shape[x->ndim - 1] < 1)
        return vkt_fail(err, VKT_ERR_SHAPE, "softmax: needs a non-empty last dim");
    if (!vkt_step_dtype_ok(s, x->dtype))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "softmax: dtype %s not supported on this device",
                        vkt_dtype_name(x->dtype));
    int64_t n = vkt_tensor_numel(x), L = x->shape[x->ndim - 1];
    if (n > UINT32_MAX) return vkt_fail(err, VKT_ERR_SHAPE, "softmax: tensor too large");
    pc->rows = (uint32_t)(n / L);
    pc->L = (uint32_t)L;
    char v[64];
    uint32_t spec[1] = {wg_for(L)};
    return vkt_step_pipeline(s, vkt_variant_name(v, sizeof v, "softmax", dir, x->dtype), n_bind,
                             sizeof(struct softmax_pc), spec, 1, p, err);
}

vkt_status vkt_op_softmax_fwd(vkt_step *s, const vkt_tensor *x, vkt_tensor *y, vkt_err *err)
{
    vkt_status st = vkt_check_same_shape("softmax", "y", y, x, err);
    const vkt_tensor *ts[] = {x, y};
    if (!st) st = vkt_check_dtype("softmax", x->dtype, ts, 2, err);
    struct softmax_pc pc = {0};
    vkt_pipeline *p;
    if (!st) st = common(s, "fwd", x, 2, &pc, &p, err);
    if (st) return st;
    vkt_bind b[2] = {vkt_tensor_bind_r(x), vkt_tensor_bind_w(y)};
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, pc.rows, "softmax_fwd", err);
}

vkt_status vkt_op_softmax_bwd(vkt_step *s, const vkt_tensor *y, const vkt_tensor *dy,
                              vkt_tensor *dx, vkt_grad_mode mode, vkt_err *err)
{
    vkt_status st = vkt_check_same_shape("softmax", "dy", dy, y, err);
    if (!st) st = vkt_check_same_shape("softmax", "dx", dx, y, err);
    const vkt_tensor *ts[] = {y, dy, dx};
    if (!st) st = vkt_check_dtype("softmax", y->dtype, ts, 3, err);
    struct softmax_pc pc = {0};
    vkt_pipeline *p;
    if (!st) st = common(s, "bwd", y, 3, &pc, &p, err);
    if (st) return st;
    pc.accumulate = mode == VKT_GRAD_ACCUMULATE;
    vkt_bind b[3] = {vkt_tensor_bind_r(y), vkt_tensor_bind_r(dy), vkt_tensor_bind_w(dx)};
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, pc.rows, "softmax_bwd", err);
}
