/* Row sums and means in double. */
#include "nn/ref/reduce_ref.h"

void vkt_ref_reduce_fwd(bool mean, const double *x, size_t rows, size_t L, double *y)
{
    for (size_t r = 0; r < rows; r++) {
        double s = 0;
        for (size_t i = 0; i < L; i++) s += x[r * L + i];
        y[r] = mean ? s / (double)L : s;
    }
}

void vkt_ref_reduce_bwd(bool mean, const double *dy, size_t rows, size_t L, double *dx)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < L; i++) dx[r * L + i] = mean ? dy[r] / (double)L : dy[r];
}
