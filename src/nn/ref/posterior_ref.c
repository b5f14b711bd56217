/* VAE posterior in double (ldm/modules/distributions/distributions.py). */
#include "nn/ref/posterior_ref.h"

#include <math.h>

void vkt_ref_posterior_fwd(int64_t B, int64_t ZS, const double *moments, double *mean, double *logvar)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t r = 0; r < ZS; r++) {
            double lv = moments[(2 * b + 1) * ZS + r];
            mean[b * ZS + r] = moments[2 * b * ZS + r];
            logvar[b * ZS + r] = lv < -30.0 ? -30.0 : lv > 20.0 ? 20.0 : lv;
        }
}

void vkt_ref_posterior_sample(int64_t n, const double *mean, const double *logvar, const double *noise,
                              double scale, double *z)
{
    for (int64_t i = 0; i < n; i++)
        z[i] = scale * (mean[i] + (noise ? exp(0.5 * logvar[i]) * noise[i] : 0.0));
}
