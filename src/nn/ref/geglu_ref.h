/* CPU reference for GEGLU, in double. */
#ifndef VKT_NN_REF_GEGLU_REF_H
#define VKT_NN_REF_GEGLU_REF_H

#include <stddef.h>

/* p [rows, 2F] -> y [rows, F] = p[:, :F] * gelu(p[:, F:]). */
void vkt_ref_geglu_fwd(const double *p, size_t rows, size_t F, double *y);
/* dp [rows, 2F] = gradient of sum(dy * y) (overwritten). */
void vkt_ref_geglu_bwd(const double *p, const double *dy, size_t rows, size_t F, double *dp);

#endif
