/* CPU reference for GroupNorm, in double. */
#ifndef VKT_NN_REF_GROUPNORM_REF_H
#define VKT_NN_REF_GROUPNORM_REF_H

#include <stdint.h>

/* x, y: [B, C, S]; gamma, beta: [C] or NULL (1, 0); mean, rstd: [B, G] (either may be NULL).
 * Biased variance; rstd = 1/sqrt(var + eps). */
void vkt_ref_groupnorm_fwd(const double *x, const double *gamma, const double *beta, int64_t B,
                           int64_t C, int64_t S, int64_t G, double eps, double *y, double *mean,
                           double *rstd);
/* From the forward's mean/rstd: dx [B, C, S], dgamma [C], dbeta [C] (each may be NULL),
 * all overwritten. */
void vkt_ref_groupnorm_bwd(const double *x, const double *gamma, const double *mean,
                           const double *rstd, const double *dy, int64_t B, int64_t C, int64_t S,
                           int64_t G, double *dx, double *dgamma, double *dbeta);

/* GroupNorm followed by SiLU: y = silu(groupnorm(x)) (the plain reference, then silu);
 * mean/rstd are the GroupNorm's. */
void vkt_ref_groupnorm_silu_fwd(const double *x, const double *gamma, const double *beta,
                                int64_t B, int64_t C, int64_t S, int64_t G, double eps, double *y,
                                double *mean, double *rstd);
/* Its gradients: the plain backward with dy*silu'(z) for dy, z the GroupNorm output recomputed
 * from x, gamma, beta (NULL: 0), mean and rstd. */
void vkt_ref_groupnorm_silu_bwd(const double *x, const double *gamma, const double *beta,
                                const double *mean, const double *rstd, const double *dy,
                                int64_t B, int64_t C, int64_t S, int64_t G, double *dx,
                                double *dgamma, double *dbeta);

#endif
