/* Emphasis in double: forward as the webui writes it, backward by the chain rule through both
 * means (derivation in shaders/emphasis.comp). */
#include "nn/ref/emphasis_ref.h"

static void sums(const double *z, const double *m, const double *g, size_t B, size_t K, size_t T, size_t W, size_t k,
                 double *sz, double *szm, double *sg)
{
    *sz = *szm = *sg = 0;
    for (size_t b = 0; b < B; b++)
        for (size_t t = 0; t < T; t++)
            for (size_t w = 0; w < W; w++) {
                size_t i = ((b * K + k) * T + t) * W + w;
                double mv = m[(b * K + k) * T + t];
                *sz += z[i];
                *szm += z[i] * mv;
                if (g) *sg += g[i] * z[i] * mv;
            }
}

void vkt_ref_emphasis_fwd(const double *z, const double *m, double *y, size_t B, size_t K, size_t T, size_t W)
{
    for (size_t k = 0; k < K; k++) {
        double sz, szm, sg;
        sums(z, m, NULL, B, K, T, W, k, &sz, &szm, &sg);
        double ratio = sz / szm; /* mean0 / mean(z*m) */
        for (size_t b = 0; b < B; b++)
            for (size_t t = 0; t < T; t++)
                for (size_t w = 0; w < W; w++) {
                    size_t i = ((b * K + k) * T + t) * W + w;
                    y[i] = z[i] * m[(b * K + k) * T + t] * ratio;
                }
    }
}

void vkt_ref_emphasis_bwd(const double *z, const double *m, const double *dy, double *dz, size_t B, size_t K, size_t T,
                          size_t W)
{
    double N = (double)(B * T * W);
    for (size_t k = 0; k < K; k++) {
        double sz, szm, S;
        sums(z, m, dy, B, K, T, W, k, &sz, &szm, &S);
        double A = sz / N, Bm = szm / N;
        for (size_t b = 0; b < B; b++)
            for (size_t t = 0; t < T; t++)
                for (size_t w = 0; w < W; w++) {
                    size_t i = ((b * K + k) * T + t) * W + w;
                    double mv = m[(b * K + k) * T + t];
                    dz[i] = mv * (dy[i] * A / Bm - S * A / (Bm * Bm * N)) + S / (Bm * N);
                }
    }
}
