/* One diffusion-sampler update with classifier-free guidance (shaders/sampler_update.comp): the
 * fused tail of every Euler / Euler a / DDIM step of src/models/sampler.h. The step's scalars come
 * from a small device buffer, so a recorded step can be resubmitted with new coefficients.
 *
 *   // eps: [2B, 4, h, w] from one UNet call on [uncond; cond]; coef = {a, b, s, c_in}
 *   vkt_op_sampler_update_fwd(s, &eps, 0, &eps, B * N, &noise, &coef, 7.0f, &x, &xin, &err);
 */
#ifndef VKT_NN_OPS_SAMPLER_UPDATE_H
#define VKT_NN_OPS_SAMPLER_UPDATE_H

#include "nn/step.h"

/* With n = numel(x) and element i of x:
 *   e = eu + cfg * (ec - eu),  eu = eps_u[off_u + i], ec = eps_c[off_c + i]   (flat indices)
 *   x[i] = a * x[i] + b * e + s * noise[i]        (coef = {a, b, s, c_in}; no noise term if NULL)
 *   xin[r * n + i] = c_in * x[i]                  for every r < numel(xin) / n
 * x: f32 (updated in place); noise: f32 of x's shape, or NULL; coef: f32 with >= 4 elements;
 * eps_u, eps_c (may be one tensor) and xin share one dtype, f32 or f16 (where the device stores
 * it; math in f32). off + n must fit in eps_*; numel(xin) must be a multiple of n. xin must not
 * overlap anything else. One dispatch. */
vkt_status vkt_op_sampler_update_fwd(vkt_step *s, const vkt_tensor *eps_u, int64_t off_u, const vkt_tensor *eps_c,
                                     int64_t off_c, const vkt_tensor *noise, const vkt_tensor *coef, float cfg,
                                     vkt_tensor *x, vkt_tensor *xin, vkt_err *err);

#endif
