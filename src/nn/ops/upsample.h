/* Nearest-neighbour upsampling / resize of NCHW tensors (shaders/upsample.comp), as torch
 * F.interpolate(mode="nearest"): SD's Upsample doubles H and W before its conv, and the webui
 * resizes the UNet's features to an odd skip size before concatenating.
 *
 *   vkt_op_upsample_fwd(s, &x, &y, &err);                       // x [B,C,H,W] -> y [B,C,2H,2W]
 *   vkt_op_upsample_bwd(s, &dy, &dx, VKT_GRAD_OVERWRITE, &err); // dx = sum of each 2x2 block
 */
#ifndef VKT_NN_OPS_UPSAMPLE_H
#define VKT_NN_OPS_UPSAMPLE_H

#include "nn/step.h"

/* y [B, C, OH, OW] = nearest resize of x [B, C, H, W]; the sizes come from the two shapes (any
 * OH, OW >= 1, 2H x 2W for SD's Upsample). Source index along an axis: d when out == in, d/2
 * when out == 2*in, else min(floor(d * (float)in/out), in-1) in float arithmetic exactly like
 * torch, so that odd sizes pick the same pixels. x and y have one dtype (f32, or f16 where the
 * device can store it; the copy is exact) and must not overlap. Sides up to 65535. */
vkt_status vkt_op_upsample_fwd(vkt_step *s, const vkt_tensor *x, vkt_tensor *y, vkt_err *err);

/* dx [B, C, H, W] (=|+=, by mode) the sum of dy [B, C, OH, OW] over the outputs that copied each
 * input pixel (the 2x2 block for 2x). Summed in float; one thread per dx element (no atomics). */
vkt_status vkt_op_upsample_bwd(vkt_step *s, const vkt_tensor *dy, vkt_tensor *dx,
                               vkt_grad_mode mode, vkt_err *err);

#endif
