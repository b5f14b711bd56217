/* GroupNorm in double, written from the definition (torch.nn.GroupNorm) and its derivative. */
#include "nn/ref/groupnorm_ref.h"

#include <math.h>
#include <stddef.h>

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

void vkt_ref_groupnorm_silu_fwd(const double *x, const double *gamma, const double *beta,
                                int64_t B, int64_t C, int64_t S, int64_t G, double eps, double *y,
                                double *mean, double *rstd)
{
    vkt_ref_groupnorm_fwd(x, gamma, beta, B, C, S, G, eps, y, mean, rstd);
    for (int64_t i = 0; i < B * C * S; i++)
        y[i] = y[i] / (1.0 + exp(-y[i])); /* silu(z) = z*sigmoid(z) */
}

/* The gradient reaching the GroupNorm output z = xh*gamma + beta: dy, or with silu
 * dy*silu'(z) = dy*s*(1 + z*(1 - s)), s = sigmoid(z). */
static double dz_at(double dy, double xh, int64_t c, const double *gamma, const double *beta,
                    int silu)
{
    if (!silu) return dy;
    double z = xh * (gamma ? gamma[c] : 1.0) + (beta ? beta[c] : 0.0), sg = 1.0 / (1.0 + exp(-z));
    return dy * sg * (1.0 + z * (1.0 - sg));
}

/* xhat = (x - mean)*rstd, g = dz*gamma:  dx = rstd*(g - mean(g) - xhat*mean(g*xhat)) per group,
 * dgamma[c] = sum_{b,s} dz*xhat, dbeta[c] = sum_{b,s} dz, with dz = dz_at(dy). */
static void bwd(const double *x, const double *gamma, const double *beta, const double *mean,
                const double *rstd, const double *dy, int64_t B, int64_t C, int64_t S, int64_t G,
                double *dx, double *dgamma, double *dbeta, int silu)
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
                double xh = (x[base + i] - m) * r;
                double dz = dz_at(dy[base + i], xh, c, gamma, beta, silu);
                double gv = dz * (gamma ? gamma[c] : 1.0);
                s1 += gv;
                s2 += gv * xh;
                if (dgamma) dgamma[c] += dz * xh;
                if (dbeta) dbeta[c] += dz;
            }
            if (!dx) continue;
            for (int64_t i = 0; i < n; i++) {
                int64_t c = g * cg + i / S;
                double xh = (x[base + i] - m) * r;
                double gv = dz_at(dy[base + i], xh, c, gamma, beta, silu) * (gamma ? gamma[c] : 1.0);
                dx[base + i] = r * (gv - s1 / (double)n - xh * s2 / (double)n);
            }
        }
}

void vkt_ref_groupnorm_bwd(const double *x, const double *gamma, const double *mean,
                           const double *rstd, const double *dy, int64_t B, int64_t C, int64_t S,
                           int64_t G, double *dx, double *dgamma, double *dbeta)
{
    bwd(x, gamma, NULL, mean, rstd, dy, B, C, S, G, dx, dgamma, dbeta, 0);
}

void vkt_ref_groupnorm_silu_bwd(const double *x, const double *gamma, const double *beta,
                                const double *mean, const double *rstd, const double *dy,
                                int64_t B, int64_t C, int64_t S, int64_t G, double *dx,
                                double *dgamma, double *dbeta)
{
    bwd(x, gamma, beta, mean, rstd, dy, B, C, S, G, dx, dgamma, dbeta, 1);
}
