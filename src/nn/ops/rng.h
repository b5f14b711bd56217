/* Random tensors and dropout from counter-based Philox streams (shaders/rng.comp). A stream is
 * (seed, offset); element i depends only on (seed, offset, i), so results do not depend on
 * dispatch order or device, and src/nn/philox.h computes the same values on the host.
 *
 *   vkt_op_rng_normal(s, seed, step, 0.0f, 1.0f, &noise, &err);       // eps ~ N(0, 1)
 *   vkt_op_dropout_fwd(s, seed, off, 0.1f, &h, &h_drop, &err);         // saves nothing
 *   vkt_op_dropout_bwd(s, seed, off, 0.1f, &dh_drop, &dh, VKT_GRAD_ACCUMULATE, &err);
 */
#ifndef VKT_NN_OPS_RNG_H
#define VKT_NN_OPS_RNG_H

#include "nn/step.h"

/* y (i32, any shape) = raw 32-bit words of the stream starting at block first_block (the
 * counter's low 64 bits; 0 for the usual stream). For tests and for host-side reproduction. */
vkt_status vkt_op_rng_bits(vkt_step *s, uint64_t seed, uint64_t offset, uint64_t first_block, vkt_tensor *y,
                           vkt_err *err);
/* y (f32) = lo + (hi - lo) * u, u uniform in [0, 1) with 24 random bits. */
vkt_status vkt_op_rng_uniform(vkt_step *s, uint64_t seed, uint64_t offset, float lo, float hi, vkt_tensor *y,
                              vkt_err *err);
/* y (f32) = mean + std * z, z standard normal (Box-Muller on the stream's words). */
vkt_status vkt_op_rng_normal(vkt_step *s, uint64_t seed, uint64_t offset, float mean, float std, vkt_tensor *y,
                             vkt_err *err);

/* y = x * mask / (1 - p), mask_i = 1 with probability 1 - p from the stream (torch.nn.functional
 * .dropout in training mode; p = 1 gives zeros). f32; y may alias x. Saves nothing: the backward
 * recomputes the mask from the same (seed, offset, p). */
vkt_status vkt_op_dropout_fwd(vkt_step *s, uint64_t seed, uint64_t offset, float p, const vkt_tensor *x,
                              vkt_tensor *y, vkt_err *err);
/* dx (=|+=, by mode) dy * mask / (1 - p) with the forward's (seed, offset, p). */
vkt_status vkt_op_dropout_bwd(vkt_step *s, uint64_t seed, uint64_t offset, float p, const vkt_tensor *dy,
                              vkt_tensor *dx, vkt_grad_mode mode, vkt_err *err);

#endif
