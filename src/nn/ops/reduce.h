/* Sum and mean reductions, over the whole tensor or over the last dim (shaders/reduce.comp).
 * Deterministic: fixed-order tree sums, no float atomics.
 *
 *   vkt_op_reduce_fwd(s, VKT_REDUCE_MEAN, &x, &y, &err);   // x [B, T, C] -> y [B, T] or y [1]
 *   vkt_op_reduce_bwd(s, VKT_REDUCE_MEAN, &dy, &dx, VKT_GRAD_ACCUMULATE, &err);
 */
#ifndef VKT_NN_OPS_REDUCE_H
#define VKT_NN_OPS_REDUCE_H

#include "nn/step.h"

typedef enum vkt_reduce { VKT_REDUCE_SUM = 0, VKT_REDUCE_MEAN = 1 } vkt_reduce;

/* f32 only. y decides the reduction: y with one element reduces the whole of x; otherwise y
 * has x's shape without its last dim (or with it as 1, keepdim) and each y element reduces one
 * last-dim row. Each row runs on one workgroup (so a whole-tensor reduction of many millions of
 * elements is slow on a big GPU; the losses and statistics it is meant for are small). */
vkt_status vkt_op_reduce_fwd(vkt_step *s, vkt_reduce op, const vkt_tensor *x, const vkt_tensor *y, vkt_err *err);
/* dx (=|+=, by mode) dy broadcast over the reduced elements (mean: divided by their count).
 * Shapes as in the forward with dy in y's place and dx in x's. */
vkt_status vkt_op_reduce_bwd(vkt_step *s, vkt_reduce op, const vkt_tensor *dy, vkt_tensor *dx, vkt_grad_mode mode,
                             vkt_err *err);

#endif
