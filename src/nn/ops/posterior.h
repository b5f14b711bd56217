/* The VAE's diagonal Gaussian posterior (shaders/posterior.comp), as LDM's
 * DiagonalGaussianDistribution: split the encoder's moments into mean and clamped logvar, and
 * draw scaled latents from them. Forward only.
 *
 *   vkt_op_posterior_fwd(s, &moments, &mean, &logvar, &err);           // [B,8,h,w] -> 2x [B,4,h,w]
 *   vkt_op_posterior_sample(s, &mean, &logvar, &noise, 0.18215f, &z, &err);
 *   vkt_op_posterior_sample(s, &mean, &logvar, NULL, 0.18215f, &z, &err);   // std forced to 0
 */
#ifndef VKT_NN_OPS_POSTERIOR_H
#define VKT_NN_OPS_POSTERIOR_H

#include "nn/step.h"

/* mean = moments[:, :Z], logvar = clamp(moments[:, Z:], -30, 20).
 *   moments: [B, 2Z, ...]; mean, logvar: [B, Z, ...] (same trailing dims). One dtype for all (f32,
 *   or f16 where the device can store it); outputs must not overlap moments. One dispatch. */
vkt_status vkt_op_posterior_fwd(vkt_step *s, const vkt_tensor *moments, vkt_tensor *mean, vkt_tensor *logvar,
                                vkt_err *err);
/* z = scale * (mean + exp(logvar / 2) * noise), or z = scale * mean when noise is NULL (the
 * webui's "deterministic" latent sampling). mean, logvar, noise, z: one shape and dtype; z may
 * alias mean (then it overwrites it) but not logvar or noise. One dispatch. */
vkt_status vkt_op_posterior_sample(vkt_step *s, const vkt_tensor *mean, const vkt_tensor *logvar,
                                   const vkt_tensor *noise, float scale, vkt_tensor *z, vkt_err *err);

#endif
