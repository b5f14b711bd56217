/* Concatenation of two tensors along one dimension, and slices of a dimension
 * (shaders/concat.comp). For NCHW feature maps dim is 1 (channels): the UNet's output blocks
 * concatenate [h, skip] along channels, current features first.
 *
 *   vkt_op_concat_fwd(s, 1, &h, &skip, &y, &err);                    // y = cat([h, skip], 1)
 *   vkt_op_concat_bwd(s, 1, &dy, &dh, VKT_GRAD_OVERWRITE, &dskip, VKT_GRAD_ACCUMULATE, &err);
 *   vkt_op_slice_fwd(s, 1, 4, &x, &y, &err);                         // y = x[:, 4:4+y.C]
 *   vkt_op_slice_bwd(s, 1, 4, &dy, &dx, VKT_GRAD_ACCUMULATE, &err);  // dx[:, 4:4+dy.C] += dy
 *
 * All tensors of a call have one dtype (f32, or f16 where the device can store it; copies are
 * exact, accumulation adds in float) and shapes that agree on every dimension but dim. Channel
 * offsets travel in push constants, so no binding ever starts at an unaligned offset. Outputs
 * must not overlap inputs. Fails with VKT_ERR_SHAPE on mismatched shapes or dtypes.
 */
#ifndef VKT_NN_OPS_CONCAT_H
#define VKT_NN_OPS_CONCAT_H

#include "nn/step.h"

/* y = cat([a, b], dim): y.shape[dim] = a.shape[dim] + b.shape[dim]. One dispatch. */
vkt_status vkt_op_concat_fwd(vkt_step *s, int dim, const vkt_tensor *a, const vkt_tensor *b,
                             vkt_tensor *y, vkt_err *err);

/* da (=|+=, by da_mode) dy's first a.shape[dim] entries along dim, db (by db_mode) the rest.
 * Either may be NULL (no gradient wanted), not both. One dispatch per part. */
vkt_status vkt_op_concat_bwd(vkt_step *s, int dim, const vkt_tensor *dy, vkt_tensor *da,
                             vkt_grad_mode da_mode, vkt_tensor *db, vkt_grad_mode db_mode,
                             vkt_err *err);

/* y = x[..., c0 : c0 + y.shape[dim], ...] along dim (y overwritten). */
vkt_status vkt_op_slice_fwd(vkt_step *s, int dim, int64_t c0, const vkt_tensor *x, vkt_tensor *y,
                            vkt_err *err);

/* dx[..., c0 : c0 + dy.shape[dim], ...] (=|+=, by mode) dy. Entries of dx outside that range
 * are not touched in either mode (zero them first where nothing else writes them). */
vkt_status vkt_op_slice_bwd(vkt_step *s, int dim, int64_t c0, const vkt_tensor *dy, vkt_tensor *dx,
                            vkt_grad_mode mode, vkt_err *err);

#endif
