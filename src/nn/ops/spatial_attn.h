/* Single-head attention over the positions of NCHW feature maps (shaders/spatial_attn.comp):
 * the LDM VAE's mid-block AttnBlock, whose head dimension is the channel count (512 in SD),
 * beyond what a tiled attention over [B, T, heads*D] tokens is built for. Flash-style: memory
 * is O(B*C*N); no N x N score matrix is ever stored (N = 4096 at 512 px, 9216 at 768 px).
 * Forward only (the VAE is never differentiated in textual-inversion or hypernetwork training).
 *
 *   // q, k, v = 1x1 convs of GroupNorm(x): [B, C, H, W]
 *   vkt_op_spatial_attn_fwd(s, &q, &k, &v, 1.0f / sqrtf((float)C), &o, &err);
 */
#ifndef VKT_NN_OPS_SPATIAL_ATTN_H
#define VKT_NN_OPS_SPATIAL_ATTN_H

#include "nn/step.h"

/* o[b, c, i] = sum_j p[b, i, j] * v[b, c, j], p[b, i, :] = softmax_j(scale * sum_c q[b, c, i] *
 * k[b, c, j]), over the N = H*W positions (torch: q, k, v reshaped to [B, C, N] and permuted to
 * [B, N, C], then softmax(q kᵀ * scale) v, permuted back).
 *   q, k, v, o: [B, C, H, W] or [B, C, N], one shape and one dtype (f32, or f16 where the device
 *   can store it; the math is float32 either way). o must not overlap q, k or v.
 * One dispatch of B * ceil(N/16) * ceil(C/256) workgroups of 128 threads. Fails with
 * VKT_ERR_SHAPE on mismatched shapes or dtypes or more than 2^31 elements, VKT_ERR_USAGE when o
 * overlaps an input, VKT_ERR_UNSUPPORTED when the device cannot store the dtype. */
vkt_status vkt_op_spatial_attn_fwd(vkt_step *s, const vkt_tensor *q, const vkt_tensor *k,
                                   const vkt_tensor *v, float scale, vkt_tensor *o, vkt_err *err);

#endif
