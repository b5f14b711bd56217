/* CPU reference for the (weighted) mean-squared-error loss, in double. */
#ifndef VKT_NN_REF_LOSS_REF_H
#define VKT_NN_REF_LOSS_REF_H

#include <stddef.h>

/* pred, target, w (NULL: 1): [B, N]. per_sample[b] = mean_i w*(pred-target)^2 (may be NULL);
 * returns mean_b per_sample[b]. */
double vkt_ref_mse_fwd(const double *pred, const double *target, const double *w, size_t B, size_t N,
                       double *per_sample);
/* dpred = dloss * 2 * w * (pred - target) / (B*N) (overwritten). */
void vkt_ref_mse_bwd(const double *pred, const double *target, const double *w, size_t B, size_t N, double dloss,
                     double *dpred);

#endif
