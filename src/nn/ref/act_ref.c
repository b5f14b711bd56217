/* Activations in double, written from the definitions (torch.nn.functional). */
#include "nn/ref/act_ref.h"

#include <math.h>

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

double vkt_ref_act(vkt_act a, double p, double x)
{
    switch (a) {
    case VKT_ACT_SILU: return x * sigm(x);
    case VKT_ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case VKT_ACT_QUICK_GELU: return x * sigm(1.702 * x);
    case VKT_ACT_RELU: return x > 0 ? x : 0;
    case VKT_ACT_LEAKY_RELU: return x >= 0 ? x : p * x;
    case VKT_ACT_ELU: return x > 0 ? x : p * (exp(x) - 1.0);
    case VKT_ACT_HARDSWISH: return x * fmin(fmax(x + 3.0, 0.0), 6.0) / 6.0;
    case VKT_ACT_TANH: return tanh(x);
    case VKT_ACT_SIGMOID: return sigm(x);
    default: return x;
    }
}

double vkt_ref_act_grad(vkt_act a, double p, double x)
{
    switch (a) {
    case VKT_ACT_SILU: return sigm(x) * (1.0 + x * (1.0 - sigm(x)));
    case VKT_ACT_GELU: return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
    case VKT_ACT_QUICK_GELU: { double s = sigm(1.702 * x); return s + 1.702 * x * s * (1.0 - s); }
    case VKT_ACT_RELU: return x > 0 ? 1 : 0;
    case VKT_ACT_LEAKY_RELU: return x > 0 ? 1 : p;
    case VKT_ACT_ELU: return x > 0 ? 1 : p * exp(x);
    case VKT_ACT_HARDSWISH: return x < -3 ? 0 : x <= 3 ? (2 * x + 3) / 6 : 1;
    case VKT_ACT_TANH: return 1.0 - tanh(x) * tanh(x);
    case VKT_ACT_SIGMOID: return sigm(x) * (1.0 - sigm(x));
    default: return 1;
    }
}

void vkt_ref_act_fwd(vkt_act a, double p, const double *x, double *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = vkt_ref_act(a, p, x[i]);
}

void vkt_ref_act_bwd(vkt_act a, double p, const double *x, const double *dy, double *dx, size_t n)
{
    for (size_t i = 0; i < n; i++) dx[i] = dy[i] * vkt_ref_act_grad(a, p, x[i]);
}
