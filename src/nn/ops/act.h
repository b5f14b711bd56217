/* Element-wise activations (shaders/act.comp).
 *
 *   vkt_op_act_fwd(s, VKT_ACT_SILU, 0, &x, &y, &err);                       // y = silu(x)
 *   vkt_op_act_bwd(s, VKT_ACT_SILU, 0, &x, &dy, &dx, VKT_GRAD_ACCUMULATE, &err);
 */
#ifndef VKT_NN_OPS_ACT_H
#define VKT_NN_OPS_ACT_H

#include "nn/step.h"

/* Values are shared with shaders/act.comp. */
typedef enum vkt_act {
    VKT_ACT_IDENTITY = 0,
    VKT_ACT_SILU = 1,
    VKT_ACT_GELU = 2,       /* exact, with erf */
    VKT_ACT_QUICK_GELU = 3, /* x * sigmoid(1.702 x), CLIP */
    VKT_ACT_RELU = 4,
    VKT_ACT_LEAKY_RELU = 5, /* param = negative slope (torch default 0.01) */
    VKT_ACT_ELU = 6,        /* param = alpha (torch default 1.0) */
    VKT_ACT_HARDSWISH = 7,  /* x * relu6(x + 3) / 6; the webui's "swish" */
    VKT_ACT_TANH = 8,
    VKT_ACT_SIGMOID = 9,
    VKT_ACT_MISH = 10,        /* x * tanh(softplus(x)) */
    VKT_ACT_SOFTPLUS = 11,    /* log(1 + e^x), beta 1, x > 20 passed through (torch threshold) */
    VKT_ACT_CELU = 12,        /* param = alpha (torch default 1.0) */
    VKT_ACT_SELU = 13,
    VKT_ACT_RELU6 = 14,       /* clamp(x, 0, 6) */
    VKT_ACT_HARDTANH = 15,    /* clamp(x, -1, 1) */
    VKT_ACT_HARDSIGMOID = 16, /* relu6(x + 3) / 6 */
    VKT_ACT_SOFTSIGN = 17,    /* x / (1 + |x|) */
    VKT_ACT_TANHSHRINK = 18,  /* x - tanh(x) */
    VKT_ACT_LOGSIGMOID = 19,  /* log(sigmoid(x)) */
    VKT_ACT_HARDSHRINK = 20,  /* param = lambda (torch default 0.5): |x| <= lambda -> 0, else x */
    VKT_ACT_SOFTSHRINK = 21,  /* param = lambda (0.5): x - lambda*sign(x) outside [-lambda, lambda], else 0 */
    VKT_ACT_COUNT
} vkt_act;

const char *vkt_act_name(vkt_act a);
/* torch's default parameter for a (0 when it has none). */
float vkt_act_default_param(vkt_act a);

/* y = f(x). x and y have the same shape and dtype (f32, or f16 where the device has 16-bit
 * storage); y may alias x. */
vkt_status vkt_op_act_fwd(vkt_step *s, vkt_act a, float param, const vkt_tensor *x, vkt_tensor *y, vkt_err *err);
/* dx (=|+=) dy * f'(x), by mode. */
vkt_status vkt_op_act_bwd(vkt_step *s, vkt_act a, float param, const vkt_tensor *x, const vkt_tensor *dy,
                          vkt_tensor *dx, vkt_grad_mode mode, vkt_err *err);

#endif
