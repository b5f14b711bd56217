/* C side of shaders/optim.comp: the step-dependent scalars are computed here in double, as torch
 * computes them in Python. */
#include "nn/ops/optim.h"

#include <math.h>

#include "nn/ops/clip.h"

#define WG 128

struct adamw_pc { /* mirrors `PC` of VKT_ADAMW in shaders/optim.comp */
    uint32_t n, has_clip;
    float decay, beta1, omb1, beta2, omb2;
    float step_size, bc2_sqrt, eps;
};
_Static_assert(sizeof(struct adamw_pc) <= 128, "push constants must fit 128 bytes");

struct ema_pc { /* mirrors `PC` of VKT_EMA in shaders/optim.comp */
    uint32_t n;
    float w;
};
_Static_assert(sizeof(struct ema_pc) <= 128, "push constants must fit 128 bytes");

static vkt_status same_count(const char *op, const char *what, const vkt_tensor *t, const vkt_tensor *ref,
                             vkt_err *err)
{
    if (t->dtype != VKT_F32) return vkt_fail(err, VKT_ERR_SHAPE, "%s: %s must be f32", op, what);
    if (vkt_tensor_numel(t) != vkt_tensor_numel(ref))
        return vkt_fail(err, VKT_ERR_SHAPE, "%s: %s has %lld elements, expected %lld", op, what,
                        (long long)vkt_tensor_numel(t), (long long)vkt_tensor_numel(ref));
    return VKT_OK;
}

vkt_status vkt_op_adamw_step(vkt_step *s, const vkt_adamw *h, vkt_tensor *p, const vkt_tensor *g, vkt_tensor *m,
                             vkt_tensor *v, const vkt_tensor *clip_state, vkt_err *err)
{
    const char *op = "adamw";
    vkt_status st = same_count(op, "p", p, p, err);
    if (!st) st = same_count(op, "g", g, p, err);
    if (!st) st = same_count(op, "m", m, p, err);
    if (!st) st = same_count(op, "v", v, p, err);
    if (st) return st;
    if (vkt_tensor_numel(p) > UINT32_MAX) return vkt_fail(err, VKT_ERR_SHAPE, "%s: tensor too large", op);
    if (h->step < 1) return vkt_fail(err, VKT_ERR_USAGE, "%s: step %lld, expected >= 1", op, (long long)h->step);
    if (!(h->beta1 >= 0 && h->beta1 < 1 && h->beta2 >= 0 && h->beta2 < 1 && h->eps >= 0 && h->lr >= 0))
        return vkt_fail(err, VKT_ERR_USAGE, "%s: invalid hyper-parameters", op);
    if (clip_state && (clip_state->dtype != VKT_F32 || vkt_tensor_numel(clip_state) < VKT_CLIP_HEADER))
        return vkt_fail(err, VKT_ERR_SHAPE, "%s: clip_state is not a clip norm state", op);
    vkt_pipeline *pl;
    uint32_t spec[1] = {WG};
    if ((st = vkt_step_pipeline(s, "optim_adamw_f32", 5, sizeof(struct adamw_pc), spec, 1, &pl, err))) return st;
    /* torch/optim/adamw.py: 1 - lr*wd, lr / (1 - beta1**step), sqrt(1 - beta2**step) in Python
     * doubles, converted to float32 where they meet the tensors. */
    double lr = h->lr, b1 = h->beta1, b2 = h->beta2, t = (double)h->step;
    struct adamw_pc pc = {(uint32_t)vkt_tensor_numel(p), clip_state != NULL, (float)(1.0 - lr * h->weight_decay),
                          h->beta1, (float)(1.0 - b1), h->beta2, (float)(1.0 - b2),
                          (float)(lr / (1.0 - pow(b1, t))), (float)sqrt(1.0 - pow(b2, t)), h->eps};
    vkt_bind b[5] = {vkt_tensor_bind_r(g),
                     clip_state ? VKT_BIND_R(clip_state->buf, clip_state->offset, VKT_CLIP_HEADER * 4)
                                : vkt_tensor_bind_r(g),
                     vkt_tensor_bind_w(p), vkt_tensor_bind_w(m), vkt_tensor_bind_w(v)};
    return vkt_cmd_dispatch_1d(s->cmd, pl, b, &pc, vkt_groups(pc.n, WG), "adamw", err);
}

vkt_status vkt_op_ema_update(vkt_step *s, float beta, vkt_tensor *ema, const vkt_tensor *p, vkt_err *err)
{
    vkt_status st = same_count("ema", "ema", ema, p, err);
    if (!st) st = same_count("ema", "p", p, p, err);
    if (st) return st;
    if (!(beta >= 0 && beta <= 1)) return vkt_fail(err, VKT_ERR_USAGE, "ema: beta %g outside [0, 1]", (double)beta);
    if (vkt_tensor_numel(p) > UINT32_MAX) return vkt_fail(err, VKT_ERR_SHAPE, "ema: tensor too large");
    vkt_pipeline *pl;
    uint32_t spec[1] = {WG};
    if ((st = vkt_step_pipeline(s, "optim_ema_f32", 2, sizeof(struct ema_pc), spec, 1, &pl, err))) return st;
    struct ema_pc pc = {(uint32_t)vkt_tensor_numel(p), (float)(1.0 - (double)beta)};
    vkt_bind b[2] = {vkt_tensor_bind_r(p), vkt_tensor_bind_w(ema)};
    return vkt_cmd_dispatch_1d(s->cmd, pl, b, &pc, vkt_groups(pc.n, WG), "ema", err);
}
