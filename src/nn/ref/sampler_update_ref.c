/* Sampler update in double (the formula of shaders/sampler_update.comp). */
#include "nn/ref/sampler_update_ref.h"

void vkt_ref_sampler_update_fwd(int64_t n, const double *eu, const double *ec, const double *noise,
                                const double coef[4], double cfg, int64_t copies, double *x, double *xin)
{
    for (int64_t i = 0; i < n; i++) {
        double e = eu[i] + cfg * (ec[i] - eu[i]);
        x[i] = coef[0] * x[i] + coef[1] * e + (noise ? coef[2] * noise[i] : 0.0);
        for (int64_t r = 0; r < copies; r++) xin[r * n + i] = coef[3] * x[i];
    }
}
