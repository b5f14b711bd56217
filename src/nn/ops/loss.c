/* C side of shaders/loss.comp. */
#include "nn/ops/loss.h"

#define WG 256 /* power of two: the shared-memory tree needs it */

struct loss_pc { /* mirrors `PC` in shaders/loss.comp */
    uint32_t n, B, stage, has_weight, accumulate;
    float scale;
};
_Static_assert(sizeof(struct loss_pc) <= 128, "push constants must fit 128 bytes");

static vkt_status check_inputs(const vkt_tensor *pred, const vkt_tensor *target, const vkt_tensor *w, vkt_err *err)
{
    const vkt_tensor *ts[3] = {pred, target, w};
    vkt_status st = vkt_check_dtype("mse", VKT_F32, ts, w ? 3 : 2, err);
    if (!st) st = vkt_check_same_shape("mse", "target", target, pred, err);
    if (!st && w) st = vkt_check_same_shape("mse", "w", w, pred, err);
    if (!st && vkt_tensor_numel(pred) > UINT32_MAX) st = vkt_fail(err, VKT_ERR_SHAPE, "mse: pred too large");
    if (!st && vkt_tensor_numel(pred) == 0) st = vkt_fail(err, VKT_ERR_SHAPE, "mse: empty pred");
    return st;
}

vkt_status vkt_op_mse_fwd(vkt_step *s, const vkt_tensor *pred, const vkt_tensor *target, const vkt_tensor *w,
                          vkt_tensor *per_sample, vkt_tensor *loss, vkt_err *err)
{
    vkt_status st = check_inputs(pred, target, w, err);
    if (st) return st;
    int64_t B = pred->shape[0];
    if (per_sample->dtype != VKT_F32 || per_sample->ndim != 1 || per_sample->shape[0] != B)
        return vkt_fail(err, VKT_ERR_SHAPE, "mse: per_sample must be f32 [%lld]", (long long)B);
    if (loss->dtype != VKT_F32 || vkt_tensor_numel(loss) != 1)
        return vkt_fail(err, VKT_ERR_SHAPE, "mse: loss must be f32 with one element");
    vkt_pipeline *p;
    uint32_t spec[1] = {WG};
    if ((st = vkt_step_pipeline(s, "loss_fwd_f32", 5, sizeof(struct loss_pc), spec, 1, &p, err))) return st;
    struct loss_pc pc = {(uint32_t)(vkt_tensor_numel(pred) / B), (uint32_t)B, 0, w != NULL, 0, 0.0f};
    vkt_bind b[5] = {vkt_tensor_bind_r(pred), vkt_tensor_bind_r(target), vkt_tensor_bind_r(w ? w : pred),
                     vkt_tensor_bind_w(per_sample), vkt_tensor_bind_w(loss)};
    if ((st = vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, (uint64_t)B, "mse_fwd", err))) return st;
    pc.stage = 1;
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, 1, "mse_mean", err);
}

vkt_status vkt_op_mse_bwd(vkt_step *s, const vkt_tensor *pred, const vkt_tensor *target, const vkt_tensor *w,
                          float dloss, vkt_tensor *dpred, vkt_grad_mode mode, vkt_err *err)
{
    vkt_status st = check_inputs(pred, target, w, err);
    if (!st && dpred->dtype != VKT_F32) st = vkt_fail(err, VKT_ERR_SHAPE, "mse: dpred must be f32");
    if (!st) st = vkt_check_same_shape("mse", "dpred", dpred, pred, err);
    if (st) return st;
    vkt_pipeline *p;
    uint32_t spec[1] = {WG};
    if ((st = vkt_step_pipeline(s, "loss_bwd_f32", 4, sizeof(struct loss_pc), spec, 1, &p, err))) return st;
    uint64_t n = (uint64_t)vkt_tensor_numel(pred);
    /* 2 * dloss / numel in double, rounded once. */
    struct loss_pc pc = {(uint32_t)n, (uint32_t)pred->shape[0], 0, w != NULL, mode == VKT_GRAD_ACCUMULATE,
                         (float)(2.0 * (double)dloss / (double)n)};
    vkt_bind b[4] = {vkt_tensor_bind_r(pred), vkt_tensor_bind_r(target), vkt_tensor_bind_r(w ? w : pred),
                     vkt_tensor_bind_w(dpred)};
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, vkt_groups(n, WG), "mse_bwd", err);
}
