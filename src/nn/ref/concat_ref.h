/* CPU reference for concatenation and slicing along one dimension, in double. Tensors are
 * viewed as [outer, C, inner] around that dimension. */
#ifndef VKT_NN_REF_CONCAT_REF_H
#define VKT_NN_REF_CONCAT_REF_H

#include <stdint.h>

/* y[outer, Ca+Cb, inner] = cat(a[outer, Ca, inner], b[outer, Cb, inner]). */
void vkt_ref_concat_fwd(int64_t outer, int64_t Ca, int64_t Cb, int64_t inner, const double *a,
                        const double *b, double *y);
/* y[outer, n, inner] = x[outer, c0 : c0+n, inner] with x [outer, C, inner]. */
void vkt_ref_slice_fwd(int64_t outer, int64_t C, int64_t inner, int64_t c0, int64_t n,
                       const double *x, double *y);
/* dx[outer, C, inner] = d sum(slice(x) * dy) / dx: dy in channels [c0, c0+n), zero elsewhere
 * (overwritten). concat's backward is two slices of dy. */
void vkt_ref_slice_bwd(int64_t outer, int64_t C, int64_t inner, int64_t c0, int64_t n,
                       const double *dy, double *dx);

#endif
