/* Timestep embedding in double, mirroring torch's float32 rounding of freq and argument:
 * openaimodel.timestep_embedding(). */
#include "nn/ref/timestep_ref.h"

#include <math.h>

double vkt_ref_timestep_freq(int64_t j, int64_t half, double max_period)
{
    float nl = (float)-log(max_period);
    float e = (nl * (float)j) / (float)half;
    return (float)exp((double)e);
}

void vkt_ref_timestep_fwd_f(const float *t, int64_t B, int64_t C, double max_period, bool cos_first, double *y)
{
    int64_t half = C / 2;
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < C; k++) {
            double *o = &y[b * C + k];
            if (k >= 2 * half) { *o = 0.0; continue; }
            bool first = k < half;
            float arg = t[b] * (float)vkt_ref_timestep_freq(first ? k : k - half, half, max_period);
            *o = first == cos_first ? cos((double)arg) : sin((double)arg);
        }
}

void vkt_ref_timestep_fwd(const int32_t *t, int64_t B, int64_t C, double max_period, bool cos_first, double *y)
{
    float tf[64];
    for (int64_t b0 = 0; b0 < B; b0 += 64) { /* int32 t < 2^24 converts to float exactly */
        int64_t n = B - b0 < 64 ? B - b0 : 64;
        for (int64_t b = 0; b < n; b++) tf[b] = (float)t[b0 + b];
        vkt_ref_timestep_fwd_f(tf, n, C, max_period, cos_first, y + b0 * C);
    }
}
