/* Optimizer updates on the GPU (shaders/optim.comp): AdamW with torch semantics, and an EMA of
 * trained tensors. Hyper-parameters and the step count travel as push constants, so a step
 * with a new learning rate or step count is a new recording of these (cheap) dispatches.
 *
 *   vkt_adamw h = {.lr = 5e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f,
 *                  .step = 1};
 *   vkt_op_adamw_step(s, &h, &vec, &dvec, &m, &v, &clip_state, &err);   // clip_state may be NULL
 *   vkt_op_ema_update(s, 0.9999f, &ema, &vec, &err);
 */
#ifndef VKT_NN_OPS_OPTIM_H
#define VKT_NN_OPS_OPTIM_H

#include "nn/step.h"

/* torch.optim.AdamW(lr, betas=(beta1, beta2), eps, weight_decay); weight_decay = 0 is plain
 * Adam. step counts updates from 1 (torch increments its state's step before the update). */
typedef struct vkt_adamw {
    float lr, beta1, beta2, eps, weight_decay;
    int64_t step;
} vkt_adamw;

/* One AdamW update of p with gradient g and moments m, v (all f32 of one element count; m and v
 * start at 0):  p *= 1 - lr*wd;  m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g^2;
 *               p -= lr/(1-beta1^step) * m / (sqrt(v)/sqrt(1-beta2^step) + eps).
 * clip_state: NULL, or the state of vkt_op_clip_norm (src/nn/ops/clip.h): g is then multiplied
 * by its scale, and p, m and v stay unchanged when the gradients were not finite (like torch's
 * GradScaler skipping a step). */
vkt_status vkt_op_adamw_step(vkt_step *s, const vkt_adamw *h, vkt_tensor *p, const vkt_tensor *g, vkt_tensor *m,
                             vkt_tensor *v, const vkt_tensor *clip_state, vkt_err *err);

/* ema = ema - (1 - beta)*(ema - p) (f32, same element count); beta = 0 copies p. */
vkt_status vkt_op_ema_update(vkt_step *s, float beta, vkt_tensor *ema, const vkt_tensor *p, vkt_err *err);

#endif
