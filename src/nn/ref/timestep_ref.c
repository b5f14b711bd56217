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

void vkt_ref_timestep_fwd(const int32_t *t, int64_t B, int64_t C, double max_period, bool cos_first, double *y)
{
    int64_t half = C / 2;
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < C; k++) {
            double *o = &y[b * C + k];
            if (k >= 2 * half) { *o = 0.0; continue; }
            bool first = k < half;
            float arg = (float)t[b] * (float)vkt_ref_timestep_freq(first ? k : k - half, half, max_period);
            *o = first == cos_first ? cos((double)arg) : sin((double)arg);
        }
}
