/* AdamW and EMA in double, written from torch/optim/adamw.py (_single_tensor_adamw). */
#include "nn/ref/optim_ref.h"

#include <math.h>

void vkt_ref_adamw_step(double *p, const double *g, double gscale, double *m, double *v, size_t n, double lr,
                        double beta1, double beta2, double eps, double wd, int64_t step, double *upd)
{
    double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    for (size_t i = 0; i < n; i++) {
        double gi = g[i] * gscale;
        p[i] *= 1.0 - lr * wd;
        m[i] = beta1 * m[i] + (1.0 - beta1) * gi;
        v[i] = beta2 * v[i] + (1.0 - beta2) * gi * gi;
        double u = (lr / bc1) * m[i] / (sqrt(v[i]) / sqrt(bc2) + eps);
        p[i] -= u;
        if (upd) upd[i] = fabs(u);
    }
}

void vkt_ref_ema_update(double beta, double *ema, const double *p, size_t n)
{
    for (size_t i = 0; i < n; i++) ema[i] -= (1.0 - beta) * (ema[i] - p[i]);
}
