/* CPU reference for the emphasis op, in double. z, y, dy, dz: [B, K, T, W]; m: [B, K, T]. */
#ifndef VKT_NN_REF_EMPHASIS_REF_H
#define VKT_NN_REF_EMPHASIS_REF_H

#include <stddef.h>

void vkt_ref_emphasis_fwd(const double *z, const double *m, double *y, size_t B, size_t K, size_t T, size_t W);
void vkt_ref_emphasis_bwd(const double *z, const double *m, const double *dy, double *dz, size_t B, size_t K, size_t T,
                          size_t W);

#endif
