/* Spatial attention in double: the scores row by row, softmax with the row maximum subtracted,
 * then the weighted sum of v. */
#include "nn/ref/spatial_attn_ref.h"

#include <math.h>
#include <stdlib.h>

void vkt_ref_spatial_attn_fwd(int64_t B, int64_t C, int64_t N, double scale, const double *q, const double *k,
                              const double *v, double *o, double *pmag, double *smax)
{
    double *p = malloc((size_t)N * sizeof *p);
    if (!p) return; /* checks allocate far more than this; a failure shows as a mismatch */
    for (int64_t b = 0; b < B; b++) {
        const double *qb = q + b * C * N, *kb = k + b * C * N, *vb = v + b * C * N;
        for (int64_t i = 0; i < N; i++) {
            double m = -INFINITY, amax = 0, sum = 0;
            for (int64_t j = 0; j < N; j++) {
                double d = 0, a = 0;
                for (int64_t c = 0; c < C; c++) {
                    d += qb[c * N + i] * kb[c * N + j];
                    a += fabs(qb[c * N + i] * kb[c * N + j]);
                }
                p[j] = d * scale;
                if (p[j] > m) m = p[j];
                if (a > amax) amax = a;
            }
            for (int64_t j = 0; j < N; j++) sum += p[j] = exp(p[j] - m);
            for (int64_t c = 0; c < C; c++) {
                double y = 0, ym = 0;
                for (int64_t j = 0; j < N; j++) {
                    y += p[j] * vb[c * N + j];
                    ym += p[j] * fabs(vb[c * N + j]);
                }
                o[(b * C + c) * N + i] = y / sum;
                if (pmag) pmag[(b * C + c) * N + i] = ym / sum;
            }
            if (smax) smax[b * N + i] = amax * fabs(scale);
        }
    }
    free(p);
}
