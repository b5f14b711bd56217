/* DDPM schedule tables (LDM DDPM.register_schedule, the "linear" = scaled-linear betas). */
#include "models/schedule.h"

#include <math.h>
#include <string.h>

void vkt_schedule_init(vkt_schedule *s, double start, double end)
{
    double a = sqrt(start), b = sqrt(end), prod = 1.0;
    for (int t = 0; t < VKT_SCHED_T; t++) {
        double r = a + (double)t * (b - a) / (VKT_SCHED_T - 1);
        s->betas[t] = r * r;
        prod *= 1.0 - s->betas[t];
        s->alphas_cumprod[t] = prod;
    }
}

const char *const vkt_schedule_buffer_names[12] = {
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
    "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2"};

int vkt_schedule_buffer(const vkt_schedule *s, const char *name, double *out)
{
    int k = -1;
    for (int i = 0; i < 12; i++)
        if (strcmp(name, vkt_schedule_buffer_names[i]) == 0) k = i;
    if (k < 0) return -1;
    for (int t = 0; t < VKT_SCHED_T; t++) {
        double beta = s->betas[t], ab = s->alphas_cumprod[t], abp = t ? s->alphas_cumprod[t - 1] : 1.0;
        double pv = beta * (1.0 - abp) / (1.0 - ab);
        switch (k) {
        case 0: out[t] = beta; break;
        case 1: out[t] = ab; break;
        case 2: out[t] = abp; break;
        case 3: out[t] = sqrt(ab); break;
        case 4: out[t] = sqrt(1.0 - ab); break;
        case 5: out[t] = log(1.0 - ab); break;
        case 6: out[t] = sqrt(1.0 / ab); break;
        case 7: out[t] = sqrt(1.0 / ab - 1.0); break;
        case 8: out[t] = pv; break;
        case 9: out[t] = log(fmax(pv, 1e-20)); break;
        case 10: out[t] = beta * sqrt(abp) / (1.0 - ab); break;
        case 11: out[t] = (1.0 - abp) * sqrt(1.0 - beta) / (1.0 - ab); break;
        }
    }
    return 0;
}
