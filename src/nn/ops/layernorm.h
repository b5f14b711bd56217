/* LayerNorm over the last dimension (shaders/layernorm.comp), as torch.nn.LayerNorm with one
 * normalized dim (CLIP, the UNet transformers, the hypernetwork option).
 *
 *   vkt_op_layernorm_fwd(s, &x, &gamma, &beta, 1e-5f, &y, &mean, &rstd, &err);
 *   vkt_op_layernorm_bwd(s, &x, &gamma, &mean, &rstd, &dy, &dx, VKT_GRAD_OVERWRITE,
 *                        &dgamma, &dbeta, VKT_GRAD_ACCUMULATE, &err);
 */
#ifndef VKT_NN_OPS_LAYERNORM_H
#define VKT_NN_OPS_LAYERNORM_H

#include "nn/step.h"

/* y = (x - mean)*rstd*gamma[d] + beta[d] with mean and rstd = 1/sqrt(var + eps) (biased
 * variance) over each row of D = x's last dim.
 *   x, y: [..., D] (N rows = all leading dims), same shape and dtype (f32, or f16 where the
 *         device has 16-bit storage); y must not alias x.
 *   gamma, beta: [D] in x's dtype, each may be NULL (gamma = 1, beta = 0).
 *   mean, rstd: float32 with N elements (e.g. [N] or x's leading dims), whatever x's dtype;
 *         written for the backward.
 * eps >= 0 (SD: 1e-5). Statistics are float32 with a corrected two-pass variance. Fails with
 * VKT_ERR_SHAPE on mismatched shapes or dtypes, VKT_ERR_UNSUPPORTED when the device cannot
 * store x's dtype. */
vkt_status vkt_op_layernorm_fwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                                const vkt_tensor *beta, float eps, vkt_tensor *y, vkt_tensor *mean,
                                vkt_tensor *rstd, vkt_err *err);

/* Gradients of the forward above, from its saved mean/rstd.
 *   dx:     [..., D] like x, dx_mode: OVERWRITE (dx = grad) or ACCUMULATE (dx += grad).
 *   dgamma: [D], dbeta: [D], each optional (NULL: not computed), written by param_mode
 *           (OVERWRITE or ACCUMULATE). Summed over all rows in float32 by one workgroup per 32
 *           columns (no atomics: deterministic).
 * gamma (NULL: 1) is the forward's; beta is not needed. dx may be NULL when dgamma or dbeta is
 * given. All tensors share x's dtype except mean/rstd (float32). At most two dispatches
 * (dx, then dgamma/dbeta). */
vkt_status vkt_op_layernorm_bwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *gamma,
                                const vkt_tensor *mean, const vkt_tensor *rstd,
                                const vkt_tensor *dy, vkt_tensor *dx, vkt_grad_mode dx_mode,
                                vkt_tensor *dgamma, vkt_tensor *dbeta, vkt_grad_mode param_mode,
                                vkt_err *err);

#endif
