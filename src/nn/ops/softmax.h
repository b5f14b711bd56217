/* Softmax over the last dim (shaders/softmax.comp), forward and backward.
 *
 *   vkt_op_softmax_fwd(s, &scores, &probs, &err);                      // probs = softmax(scores)
 *   vkt_op_softmax_bwd(s, &probs, &dprobs, &dscores, VKT_GRAD_OVERWRITE, &err);
 *
 * Tensors have one shape [..., L] (any L >= 1) and one dtype: f32, or f16 storage (f32 math)
 * where the device has 16-bit storage.
 */
#ifndef VKT_NN_OPS_SOFTMAX_H
#define VKT_NN_OPS_SOFTMAX_H

#include "nn/step.h"

/* y = softmax(x) over the last dim, with the row max subtracted first (no overflow for any
 * finite x). y may alias x. */
vkt_status vkt_op_softmax_fwd(vkt_step *s, const vkt_tensor *x, vkt_tensor *y, vkt_err *err);

/* dx (=|+=) y * (dy - sum_last(dy * y)), by mode, from the forward's output y. dx may alias dy
 * in OVERWRITE mode. */
vkt_status vkt_op_softmax_bwd(vkt_step *s, const vkt_tensor *y, const vkt_tensor *dy,
                              vkt_tensor *dx, vkt_grad_mode mode, vkt_err *err);

#endif
