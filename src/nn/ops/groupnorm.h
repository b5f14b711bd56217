/* GroupNorm (shaders/groupnorm.comp), as torch.nn.GroupNorm: statistics per (sample, group),
 * per-channel affine.
 *
 *   vkt_op_groupnorm_fwd(s, &x, &gamma, &beta, 32, 1e-5f, &y, &mean, &rstd, &err);
 *   vkt_op_groupnorm_bwd(s, &x, &gamma, &mean, &rstd, &dy, &dx, VKT_GRAD_OVERWRITE,
 *                        NULL, NULL, VKT_GRAD_OVERWRITE, &err);           // dx only (TI)
 *
 * Fused with the SiLU that follows it (UNet/VAE ResBlocks and heads): y = silu(groupnorm(x)):
 *   vkt_op_groupnorm_silu_fwd(s, &x, &gamma, &beta, 32, 1e-5f, &y, &mean, &rstd, &err);
 *   vkt_op_groupnorm_silu_bwd(s, &x, &gamma, &beta, &mean, &rstd, &dy, &dx, VKT_GRAD_OVERWRITE,
 *                             NULL, NULL, VKT_GRAD_OVERWRITE, &err);
 */
#ifndef VKT_NN_OPS_GROUPNORM_H
#define VKT_NN_OPS_GROUPNORM_H

#include "nn/step.h"

/* y = (x - mean)*rstd*gamma[c] + beta[c] with mean and rstd = 1/sqrt(var + eps) (biased
 * variance) over each group of C/G channels of each sample.
 *   x, y: [B, C, ...] (ndim >= 2; the trailing dims are flattened), same shape and dtype (f32,
 *         or f16 where the device has 16-bit storage); y must not alias x.
 *   gamma, beta: [C] in x's dtype, each may be NULL (gamma = 1, beta = 0).
 *   mean, rstd: [B, G] float32 whatever x's dtype; written for the backward.
 * G must divide C; eps >= 0 (SD: 1e-5 in UNet ResBlocks, 1e-6 in the VAE and transformers).
 * Statistics are computed in float32 with a corrected two-pass variance. Fails with
 * VKT_ERR_SHAPE on mismatched shapes or dtypes, VKT_ERR_UNSUPPORTED when the device cannot store
 * x's dtype. */
vkt_status vkt_op_groupnorm_fwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                                const vkt_tensor *beta, int G, float eps, vkt_tensor *y,
                                vkt_tensor *mean, vkt_tensor *rstd, vkt_err *err);

/* Gradients of the forward above, from the saved mean/rstd (G is taken from their shape).
 *   dx:     [B, C, ...] like x, dx_mode: OVERWRITE (dx = grad) or ACCUMULATE (dx += grad).
 *   dgamma: [C], dbeta: [C], each optional (NULL: not computed), written by param_mode
 *           (OVERWRITE or ACCUMULATE, e.g. across micro-batches). Summed over B and space in
 *           float32 by one workgroup per channel (no atomics: deterministic).
 * gamma (NULL: 1) is the forward's; beta is not needed. dx may be NULL when dgamma or dbeta is
 * given. All tensors share x's dtype except mean/rstd (float32). At most two dispatches
 * (dx, then dgamma/dbeta). */
vkt_status vkt_op_groupnorm_bwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                                const vkt_tensor *mean, const vkt_tensor *rstd,
                                const vkt_tensor *dy, vkt_tensor *dx, vkt_grad_mode dx_mode,
                                vkt_tensor *dgamma, vkt_tensor *dbeta, vkt_grad_mode param_mode,
                                vkt_err *err);

/* y = silu(z), z = groupnorm_fwd's y, silu(z) = z*sigmoid(z): the same single dispatch as
 * vkt_op_groupnorm_fwd (SiLU applied before the store; z is never stored), same arguments and
 * rules. mean/rstd are those of the GroupNorm. */
vkt_status vkt_op_groupnorm_silu_fwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                                     const vkt_tensor *beta, int G, float eps, vkt_tensor *y,
                                     vkt_tensor *mean, vkt_tensor *rstd, vkt_err *err);

/* Gradients of vkt_op_groupnorm_silu_fwd, as vkt_op_groupnorm_bwd (same modes, optional
 * outputs and dispatches) with dy replaced by dz = dy*silu'(z), z recomputed in the same passes
 * from x, gamma, beta and the saved mean/rstd: nothing but x and the statistics needs keeping.
 * beta (NULL: 0) is the forward's. */
vkt_status vkt_op_groupnorm_silu_bwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                                     const vkt_tensor *beta, const vkt_tensor *mean,
                                     const vkt_tensor *rstd, const vkt_tensor *dy, vkt_tensor *dx,
                                     vkt_grad_mode dx_mode, vkt_tensor *dgamma,
                                     vkt_tensor *dbeta, vkt_grad_mode param_mode, vkt_err *err);

#endif
