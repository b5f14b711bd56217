/* CPU reference for LayerNorm over the last dim, in double. */
#ifndef VKT_NN_REF_LAYERNORM_REF_H
#define VKT_NN_REF_LAYERNORM_REF_H

#include <stdint.h>

/* x, y: [N, D]; gamma, beta: [D] or NULL (1, 0); mean, rstd: [N] (either may be NULL).
 * Biased variance; rstd = 1/sqrt(var + eps). */
void vkt_ref_layernorm_fwd(const double *x, const double *gamma, const double *beta, int64_t N,
                           int64_t D, double eps, double *y, double *mean, double *rstd);
/* From the forward's mean/rstd: dx [N, D], dgamma [D], dbeta [D] (each may be NULL), all
 * overwritten. */
void vkt_ref_layernorm_bwd(const double *x, const double *gamma, const double *mean,
                           const double *rstd, const double *dy, int64_t N, int64_t D, double *dx,
                           double *dgamma, double *dbeta);

#endif
