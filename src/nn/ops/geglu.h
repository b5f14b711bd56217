/* GEGLU of SD's transformer FeedForward (shaders/geglu.comp): y = value * gelu(gate) with
 * [value, gate] = p split in halves along the last dim, exact-erf GELU.
 *
 *   vkt_op_geglu_fwd(s, &p, &y, &err);                          // p [B, T, 2F] -> y [B, T, F]
 *   vkt_op_geglu_bwd(s, &p, &dy, &dp, VKT_GRAD_OVERWRITE, &err);
 */
#ifndef VKT_NN_OPS_GEGLU_H
#define VKT_NN_OPS_GEGLU_H

#include "nn/step.h"

/* p: [..., 2F]; y: [..., F]; one dtype, f32 or f16 (16-bit storage), math in f32. */
vkt_status vkt_op_geglu_fwd(vkt_step *s, const vkt_tensor *p, vkt_tensor *y, vkt_err *err);
/* dp (=|+=, by mode) [dy * gelu(gate), dy * value * gelu'(gate)]; dp has p's shape and must
 * not overlap p or dy. */
vkt_status vkt_op_geglu_bwd(vkt_step *s, const vkt_tensor *p, const vkt_tensor *dy, vkt_tensor *dp,
                            vkt_grad_mode mode, vkt_err *err);

#endif
