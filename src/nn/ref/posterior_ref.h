/* CPU reference for the VAE posterior (nn/ops/posterior.h), in double. */
#ifndef VKT_NN_REF_POSTERIOR_REF_H
#define VKT_NN_REF_POSTERIOR_REF_H

#include <stdint.h>

/* moments [B, 2Z, S] -> mean, logvar [B, Z, S] (logvar clamped to [-30, 20]). */
void vkt_ref_posterior_fwd(int64_t B, int64_t ZS, const double *moments, double *mean, double *logvar);
/* z = scale * (mean + exp(logvar/2) * noise) (noise NULL: scale * mean), n elements. */
void vkt_ref_posterior_sample(int64_t n, const double *mean, const double *logvar, const double *noise,
                              double scale, double *z);

#endif
