/* CPU reference for softmax over the last dim, in double. */
#ifndef VKT_NN_REF_SOFTMAX_REF_H
#define VKT_NN_REF_SOFTMAX_REF_H

#include <stdint.h>

/* y[r, :] = softmax(x[r, :]) for rows [rows, L]. */
void vkt_ref_softmax_fwd(const double *x, double *y, int64_t rows, int64_t L);
/* dx[r, i] = y[r, i] * (dy[r, i] - sum_j dy[r, j] y[r, j]) */
void vkt_ref_softmax_bwd(const double *y, const double *dy, double *dx, int64_t rows, int64_t L);

#endif
