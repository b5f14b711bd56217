/* Weighted MSE in double: torch ((pred - target)**2 * w).mean(dims).mean(). */
#include "nn/ref/loss_ref.h"

double vkt_ref_mse_fwd(const double *pred, const double *target, const double *w, size_t B, size_t N,
                       double *per_sample)
{
    double total = 0;
    for (size_t b = 0; b < B; b++) {
        double s = 0;
        for (size_t i = b * N; i < (b + 1) * N; i++) {
            double e = pred[i] - target[i];
            s += (w ? w[i] : 1.0) * e * e;
        }
        if (per_sample) per_sample[b] = s / (double)N;
        total += s / (double)N;
    }
    return total / (double)B;
}

void vkt_ref_mse_bwd(const double *pred, const double *target, const double *w, size_t B, size_t N, double dloss,
                     double *dpred)
{
    double k = 2.0 * dloss / ((double)B * (double)N);
    for (size_t i = 0; i < B * N; i++) dpred[i] = k * (w ? w[i] : 1.0) * (pred[i] - target[i]);
}
