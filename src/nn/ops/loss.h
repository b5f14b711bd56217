/* Mean-squared-error loss, optionally weighted per element (shaders/loss.comp): SD's epsilon
 * loss mean_b(mean_{c,h,w} w * (eps - eps_hat)^2) (spec sd1-architecture §5; the weight map of
 * training.md §4.3).
 *
 *   vkt_op_mse_fwd(s, &eps_hat, &eps, NULL, &per_sample, &loss, &err);  // per_sample [B], loss [1]
 *   vkt_op_mse_bwd(s, &eps_hat, &eps, NULL, 1.0f / G, &deps_hat, VKT_GRAD_OVERWRITE, &err);
 */
#ifndef VKT_NN_OPS_LOSS_H
#define VKT_NN_OPS_LOSS_H

#include "nn/step.h"

/* per_sample[b] = mean over sample b of w * (pred - target)^2; loss[0] = mean_b per_sample[b].
 * pred, target, w: f32 [B, ...] of one shape; w may be NULL (weight 1). per_sample: f32 [B];
 * loss: f32 with one element. Deterministic (fixed-order tree sums). */
vkt_status vkt_op_mse_fwd(vkt_step *s, const vkt_tensor *pred, const vkt_tensor *target, const vkt_tensor *w,
                          vkt_tensor *per_sample, vkt_tensor *loss, vkt_err *err);

/* dpred (=|+=) dloss * d loss / d pred = dloss * 2 * w * (pred - target) / numel(pred), where
 * dloss is the gradient of the objective with respect to `loss` (e.g. 1/G for G accumulated
 * mini-batches). No gradient for target (the noise) or w. */
vkt_status vkt_op_mse_bwd(vkt_step *s, const vkt_tensor *pred, const vkt_tensor *target, const vkt_tensor *w,
                          float dloss, vkt_tensor *dpred, vkt_grad_mode mode, vkt_err *err);

#endif
