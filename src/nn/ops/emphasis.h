/* The webui's "Original" emphasis applied to text-encoder output (shaders/emphasis.comp):
 * per chunk k, scale by the multipliers and restore the chunk's overall mean
 * (../shared/spec/tokenizer-and-prompts.md §7).
 *
 *   vkt_op_emphasis_fwd(s, &z, &m, &y, &err);         // z, y: [B, K, T, W]; m: f32 [B, K, T]
 *   vkt_op_emphasis_bwd(s, &z, &m, &dy, &dz, &err);   // dz overwritten
 */
#ifndef VKT_NN_OPS_EMPHASIS_H
#define VKT_NN_OPS_EMPHASIS_H

#include "nn/step.h"

/* y = z*m * mean_k(z)/mean_k(z*m), means over all (b, t, w) of chunk k. z and y share dtype
 * (f32 or f16); m is f32. y must not alias z. */
vkt_status vkt_op_emphasis_fwd(vkt_step *s, const vkt_tensor *z, const vkt_tensor *m, vkt_tensor *y, vkt_err *err);
/* dz = d(emphasis)/dz applied to dy (overwrites dz). Gradients flow through both means. */
vkt_status vkt_op_emphasis_bwd(vkt_step *s, const vkt_tensor *z, const vkt_tensor *m, const vkt_tensor *dy,
                               vkt_tensor *dz, vkt_err *err);

#endif
