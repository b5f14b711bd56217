/* CPU reference for single-head attention over NCHW positions (nn/ops/spatial_attn.h), in
 * double. */
#ifndef VKT_NN_REF_SPATIAL_ATTN_REF_H
#define VKT_NN_REF_SPATIAL_ATTN_REF_H

#include <stdint.h>

/* q, k, v, o: [B, C, N]. o[b, c, i] = sum_j softmax_j(scale * q[b, :, i] . k[b, :, j]) v[b, c, j].
 * Optional outputs (NULL: not wanted), for error bounds:
 *   pmag[b, c, i] = sum_j p[b, i, j] * |v[b, c, j]|
 *   smax[b, i]    = scale * max_j sum_c |q[b, c, i] * k[b, c, j]| (a bound on |s| and the scale
 *                   of the rounding error of the dot products). */
void vkt_ref_spatial_attn_fwd(int64_t B, int64_t C, int64_t N, double scale, const double *q, const double *k,
                              const double *v, double *o, double *pmag, double *smax);

#endif
