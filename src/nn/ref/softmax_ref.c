/* Softmax in double, from the definition (torch.softmax(x, dim=-1)). */
#include "nn/ref/softmax_ref.h"

#include <math.h>

void vkt_ref_softmax_fwd(const double *x, double *y, int64_t rows, int64_t L)
{
    for (int64_t r = 0; r < rows; r++) {
        const double *xr = x + r * L;
        double *yr = y + r * L, m = xr[0], s = 0;
        for (int64_t i = 1; i < L; i++)
            m = fmax(m, xr[i]);
        for (int64_t i = 0; i < L; i++)
            s += exp(xr[i] - m);
        for (int64_t i = 0; i < L; i++)
            yr[i] = exp(xr[i] - m) / s;
    }
}

void vkt_ref_softmax_bwd(const double *y, const double *dy, double *dx, int64_t rows, int64_t L)
{
    for (int64_t r = 0; r < rows; r++) {
        const double *yr = y + r * L, *gr = dy + r * L;
        double d = 0;
        for (int64_t i = 0; i < L; i++)
            d += gr[i] * yr[i];
        for (int64_t i = 0; i < L; i++)
            dx[r * L + i] = yr[i] * (gr[i] - d);
    }
}
