/* Concatenation and slices in double, from torch.cat / narrow semantics. */
#include "nn/ref/concat_ref.h"

#include <string.h>

void vkt_ref_concat_fwd(int64_t outer, int64_t Ca, int64_t Cb, int64_t inner, const double *a,
                        const double *b, double *y)
{
    for (int64_t o = 0; o < outer; o++) {
        memcpy(y + o * (Ca + Cb) * inner, a + o * Ca * inner, (size_t)(Ca * inner) * sizeof *y);
        memcpy(y + (o * (Ca + Cb) + Ca) * inner, b + o * Cb * inner,
               (size_t)(Cb * inner) * sizeof *y);
    }
}

void vkt_ref_slice_fwd(int64_t outer, int64_t C, int64_t inner, int64_t c0, int64_t n,
                       const double *x, double *y)
{
    for (int64_t o = 0; o < outer; o++)
        memcpy(y + o * n * inner, x + (o * C + c0) * inner, (size_t)(n * inner) * sizeof *y);
}

void vkt_ref_slice_bwd(int64_t outer, int64_t C, int64_t inner, int64_t c0, int64_t n,
                       const double *dy, double *dx)
{
    memset(dx, 0, (size_t)(outer * C * inner) * sizeof *dx);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < n; c++)
            for (int64_t i = 0; i < inner; i++)
                dx[(o * C + c0 + c) * inner + i] = dy[(o * n + c) * inner + i];
}
