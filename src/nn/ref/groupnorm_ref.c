/* GroupNorm in double, written from the definition (torch.nn.GroupNorm) and its derivative. */
#include "nn/ref/groupnorm_ref.h"

#include <math.h>

void vkt_ref_groupnorm_fwd(const double *x, const double *gamma, const double *beta, int64_t B,
                           int64_t C, int64_t S, int64_t G, double eps, double *y, double *mean,
                           double *rstd)
{
    int64_t cg = C / G, n = cg * S;
    for (int64_t b = 0; b < B; b++)
        for (int64_t g = 0; g < G; g++) {
            const double *xg = x + (b * C + g * cg) * S; /* the group: n contiguous elements */
            double m = 0, v = 0;
            for (int64_t i = 0; i < n; i++)
                m += xg[i];
            m /= (double)n;
            for (int64_t i = 0; i < n; i++)
                v += (xg[i] - m) * (xg[i] - m);
            double r = 1.0 / sqrt(v / (double)n + eps);
            if (mean) mean[b * G + g] = m;
            if (rstd) rstd[b * G + g] = r;
            for (int64_t i = 0; i < n; i++) {
                int64_t c = g * cg + i / S;
                y[(b * C + g * cg) * S + i] =
                    (xg[i] - m) * r * (gamma ? gamma[c] : 1.0) + (beta ? beta[c] : 0.0);
            }
        }
}

/* xhat = (x - mean)*rstd, g = dy*gamma:  dx = rstd*(g - mean(g) - xhat*mean(g*xhat)) per group,
 * dgamma[c] = sum_{b,s} dy*xhat, dbeta[c] = sum_{b,s} dy. */
void vkt_ref_groupnorm_bwd(const double *x, const double *gamma, const double *mean,
                           const double *rstd, const double *dy, int64_t B, int64_t C, int64_t S,
                           int64_t G, double *dx, double *dgamma, double *dbeta)
{
    int64_t cg = C / G, n = cg * S;
    for (int64_t c = 0; c < C; c++) {
        if (dgamma) dgamma[c] = 0;
        if (dbeta) dbeta[c] = 0;
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t g = 0; g < G; g++) {
            int64_t base = (b * C + g * cg) * S;
            double m = mean[b * G + g], r = rstd[b * G + g], s1 = 0, s2 = 0;
            for (int64_t i = 0; i < n; i++) {
                int64_t c = g * cg + i / S;
                double xh = (x[base + i] - m) * r, gv = dy[base + i] * (gamma ? gamma[c] : 1.0);
                s1 += gv;
                s2 += gv * xh;
                if (dgamma) dgamma[c] += dy[base + i] * xh;
                if (dbeta) dbeta[c] += dy[base + i];
            }
            if (!dx) continue;
            for (int64_t i = 0; i < n; i++) {
                int64_t c = g * cg + i / S;
                double xh = (x[base + i] - m) * r, gv = dy[base + i] * (gamma ? gamma[c] : 1.0);
                dx[base + i] = r * (gv - s1 / (double)n - xh * s2 / (double)n);
            }
        }
}
