/* Activations in double, written from the definitions (torch.nn.functional). */
#include "nn/ref/act_ref.h"

#include <math.h>

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }
static double softplus(double x) { return x > 20 ? x : log1p(exp(x)); } /* torch: beta 1, threshold 20 */
static const double SELU_SCALE = 1.0507009873554804934193349852946;
static const double SELU_ALPHA = 1.6732632423543772848170429916717;

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
    case VKT_ACT_MISH: return x * tanh(softplus(x));
    case VKT_ACT_SOFTPLUS: return softplus(x);
    case VKT_ACT_CELU: return fmax(x, 0.0) + fmin(0.0, p * expm1(x / p));
    case VKT_ACT_SELU: return SELU_SCALE * (x > 0 ? x : SELU_ALPHA * expm1(x));
    case VKT_ACT_RELU6: return fmin(fmax(x, 0.0), 6.0);
    case VKT_ACT_HARDTANH: return fmin(fmax(x, -1.0), 1.0);
    case VKT_ACT_HARDSIGMOID: return fmin(fmax(x + 3.0, 0.0), 6.0) / 6.0;
    case VKT_ACT_SOFTSIGN: return x / (1.0 + fabs(x));
    case VKT_ACT_TANHSHRINK: return x - tanh(x);
    case VKT_ACT_LOGSIGMOID: return fmin(x, 0.0) - log1p(exp(-fabs(x)));
    case VKT_ACT_HARDSHRINK: return (x >= -p && x <= p) ? 0 : x;
    case VKT_ACT_SOFTSHRINK: return x > p ? x - p : x < -p ? x + p : 0;
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
    case VKT_ACT_MISH: { double t = tanh(softplus(x)); return t + x * sigm(x) * (1.0 - t * t); }
    case VKT_ACT_SOFTPLUS: return x > 20 ? 1 : sigm(x);
    case VKT_ACT_CELU: return x > 0 ? 1 : exp(x / p);
    case VKT_ACT_SELU: return x > 0 ? SELU_SCALE : SELU_SCALE * SELU_ALPHA * exp(x);
    case VKT_ACT_RELU6: return x > 0 && x < 6 ? 1 : 0;
    case VKT_ACT_HARDTANH: return x > -1 && x < 1 ? 1 : 0;
    case VKT_ACT_HARDSIGMOID: return x > -3 && x < 3 ? 1.0 / 6.0 : 0;
    case VKT_ACT_SOFTSIGN: return 1.0 / ((1.0 + fabs(x)) * (1.0 + fabs(x)));
    case VKT_ACT_TANHSHRINK: return tanh(x) * tanh(x);
    case VKT_ACT_LOGSIGMOID: return sigm(-x);
    case VKT_ACT_HARDSHRINK:
    case VKT_ACT_SOFTSHRINK: return (x >= -p && x <= p) ? 0 : 1;
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
