/* C side of shaders/reduce.comp. */
#include "nn/ops/reduce.h"

#define WG 256 /* power of two: the shared-memory tree needs it */

struct reduce_pc { /* mirrors `PC` in shaders/reduce.comp */
    uint32_t rows, L, mean, accumulate;
};
_Static_assert(sizeof(struct reduce_pc) <= 128, "push constants must fit 128 bytes");

/* rows x L view of x for the reduction into y. */
static vkt_status plan(vkt_reduce op, const vkt_tensor *x, const vkt_tensor *y, struct reduce_pc *pc, vkt_err *err)
{
    if ((unsigned)op > VKT_REDUCE_MEAN) return vkt_fail(err, VKT_ERR_USAGE, "reduce: unknown op %d", (int)op);
    if (x->dtype != VKT_F32 || y->dtype != VKT_F32) return vkt_fail(err, VKT_ERR_SHAPE, "reduce: tensors must be f32");
    int64_t n = vkt_tensor_numel(x), L = x->shape[x->ndim - 1];
    if (n > UINT32_MAX || n == 0) return vkt_fail(err, VKT_ERR_SHAPE, "reduce: x must have 1 to 2^32-1 elements");
    if (vkt_tensor_numel(y) == 1) {
        L = n;
    } else {
        bool ok = (y->ndim == x->ndim - 1) || (y->ndim == x->ndim && y->shape[y->ndim - 1] == 1);
        for (int i = 0; ok && i < x->ndim - 1; i++) ok = y->shape[i] == x->shape[i];
        if (!ok) {
            char sx[96], sy[96];
            return vkt_fail(err, VKT_ERR_SHAPE, "reduce: y %s is neither one element nor x %s without its last dim",
                            vkt_shape_str(y, sy, sizeof sy), vkt_shape_str(x, sx, sizeof sx));
        }
    }
    *pc = (struct reduce_pc){(uint32_t)(n / L), (uint32_t)L, op == VKT_REDUCE_MEAN, 0};
    return VKT_OK;
}

vkt_status vkt_op_reduce_fwd(vkt_step *s, vkt_reduce op, const vkt_tensor *x, const vkt_tensor *y, vkt_err *err)
{
    struct reduce_pc pc;
    vkt_status st = plan(op, x, y, &pc, err);
    vkt_pipeline *p;
    uint32_t spec[1] = {WG};
    if (!st) st = vkt_step_pipeline(s, "reduce_fwd_f32", 2, sizeof pc, spec, 1, &p, err);
    if (st) return st;
    vkt_bind b[2] = {vkt_tensor_bind_r(x), vkt_tensor_bind_w(y)};
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, pc.rows, "reduce_fwd", err);
}

vkt_status vkt_op_reduce_bwd(vkt_step *s, vkt_reduce op, const vkt_tensor *dy, vkt_tensor *dx, vkt_grad_mode mode,
                             vkt_err *err)
{
    struct reduce_pc pc;
    vkt_status st = plan(op, dx, dy, &pc, err);
    vkt_pipeline *p;
    uint32_t spec[1] = {WG};
    if (!st) st = vkt_step_pipeline(s, "reduce_bwd_f32", 2, sizeof pc, spec, 1, &p, err);
    if (st) return st;
    pc.accumulate = mode == VKT_GRAD_ACCUMULATE;
    vkt_bind b[2] = {vkt_tensor_bind_r(dy), vkt_tensor_bind_w(dx)};
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, vkt_groups((uint64_t)pc.rows * pc.L, WG), "reduce_bwd", err);
}
