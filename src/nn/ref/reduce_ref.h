/* CPU reference for sum / mean over the last dim of x viewed as [rows, L], in double. */
#ifndef VKT_NN_REF_REDUCE_REF_H
#define VKT_NN_REF_REDUCE_REF_H

#include <stdbool.h>
#include <stddef.h>

void vkt_ref_reduce_fwd(bool mean, const double *x, size_t rows, size_t L, double *y);
/* dx[r, i] = dy[r] (mean: / L), overwritten. */
void vkt_ref_reduce_bwd(bool mean, const double *dy, size_t rows, size_t L, double *dx);

#endif
