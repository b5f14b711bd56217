/* GEGLU in double (diffusers GEGLU: hidden, gate = proj(x).chunk(2, -1); hidden * gelu(gate)). */
#include "nn/ref/geglu_ref.h"

#include <math.h>

static double gelu(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static double dgelu(double x) { return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI); }

void vkt_ref_geglu_fwd(const double *p, size_t rows, size_t F, double *y)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t f = 0; f < F; f++) y[r * F + f] = p[r * 2 * F + f] * gelu(p[r * 2 * F + F + f]);
}

void vkt_ref_geglu_bwd(const double *p, const double *dy, size_t rows, size_t F, double *dp)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t f = 0; f < F; f++) {
            double v = p[r * 2 * F + f], g = p[r * 2 * F + F + f], d = dy[r * F + f];
            dp[r * 2 * F + f] = d * gelu(g);
            dp[r * 2 * F + F + f] = d * v * dgelu(g);
        }
}
