/* LayerNorm in double, written from the definition (torch.nn.LayerNorm) and its derivative. */
#include "nn/ref/layernorm_ref.h"

#include <math.h>

void vkt_ref_layernorm_fwd(const double *x, const double *gamma, const double *beta, int64_t N,
                           int64_t D, double eps, double *y, double *mean, double *rstd)
{
    for (int64_t r = 0; r < N; r++) {
        const double *xr = x + r * D;
        double m = 0, v = 0;
        for (int64_t d = 0; d < D; d++)
            m += xr[d];
        m /= (double)D;
        for (int64_t d = 0; d < D; d++)
            v += (xr[d] - m) * (xr[d] - m);
        double rs = 1.0 / sqrt(v / (double)D + eps);
        if (mean) mean[r] = m;
        if (rstd) rstd[r] = rs;
        for (int64_t d = 0; d < D; d++)
            y[r * D + d] = (xr[d] - m) * rs * (gamma ? gamma[d] : 1.0) + (beta ? beta[d] : 0.0);
    }
}

/* xhat = (x - mean)*rstd, g = dy*gamma:  dx = rstd*(g - mean(g) - xhat*mean(g*xhat)) per row,
 * dgamma[d] = sum_r dy*xhat, dbeta[d] = sum_r dy. */
void vkt_ref_layernorm_bwd(const double *x, const double *gamma, const double *mean,
                           const double *rstd, const double *dy, int64_t N, int64_t D, double *dx,
                           double *dgamma, double *dbeta)
{
    for (int64_t d = 0; d < D; d++) {
        if (dgamma) dgamma[d] = 0;
        if (dbeta) dbeta[d] = 0;
    }
    for (int64_t r = 0; r < N; r++) {
        const double *xr = x + r * D, *dyr = dy + r * D;
        double m = mean[r], rs = rstd[r], s1 = 0, s2 = 0;
        for (int64_t d = 0; d < D; d++) {
            double xh = (xr[d] - m) * rs, g = dyr[d] * (gamma ? gamma[d] : 1.0);
            s1 += g;
            s2 += g * xh;
            if (dgamma) dgamma[d] += dyr[d] * xh;
            if (dbeta) dbeta[d] += dyr[d];
        }
        if (!dx) continue;
        for (int64_t d = 0; d < D; d++) {
            double xh = (xr[d] - m) * rs, g = dyr[d] * (gamma ? gamma[d] : 1.0);
            dx[r * D + d] = rs * (g - s1 / (double)D - xh * s2 / (double)D);
        }
    }
}
