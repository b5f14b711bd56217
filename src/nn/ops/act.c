/* C side of shaders/act.comp: shape checks, variant choice, dispatch. */
#include "nn/ops/act.h"

#include <stdio.h>

#define WG 128

struct act_pc { /* mirrors `PC` in shaders/act.comp */
    uint32_t n, kind, accumulate;
    float p0;
};
_Static_assert(sizeof(struct act_pc) <= 128, "push constants must fit 128 bytes");

static const char *names[VKT_ACT_COUNT] = {
    "identity",   "silu",     "gelu",     "quick_gelu", "relu",     "leaky_relu", "elu",     "hardswish",
    "tanh",       "sigmoid",  "mish",     "softplus",   "celu",     "selu",       "relu6",   "hardtanh",
    "hardsigmoid", "softsign", "tanhshrink", "logsigmoid", "hardshrink", "softshrink"};
_Static_assert(sizeof names / sizeof names[0] == VKT_ACT_COUNT, "one name per activation");

const char *vkt_act_name(vkt_act a) { return a < VKT_ACT_COUNT ? names[a] : "?"; }

float vkt_act_default_param(vkt_act a)
{
    switch (a) {
    case VKT_ACT_LEAKY_RELU: return 0.01f;
    case VKT_ACT_ELU:
    case VKT_ACT_CELU: return 1.0f;
    case VKT_ACT_HARDSHRINK:
    case VKT_ACT_SOFTSHRINK: return 0.5f;
    default: return 0.0f;
    }
}

static vkt_status common(vkt_step *s, const char *dir, vkt_act a, const vkt_tensor *x, vkt_pipeline **p,
                         uint32_t n_bind, vkt_err *err)
{
    if ((unsigned)a >= VKT_ACT_COUNT) return vkt_fail(err, VKT_ERR_USAGE, "act: unknown activation %d", (int)a);
    if (!vkt_step_dtype_ok(s, x->dtype))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "act: dtype %s not supported on this device", vkt_dtype_name(x->dtype));
    if (vkt_tensor_numel(x) > UINT32_MAX) return vkt_fail(err, VKT_ERR_SHAPE, "act: tensor too large");
    char v[64];
    uint32_t spec[1] = {WG};
    return vkt_step_pipeline(s, vkt_variant_name(v, sizeof v, "act", dir, x->dtype), n_bind, sizeof(struct act_pc),
                             spec, 1, p, err);
}

vkt_status vkt_op_act_fwd(vkt_step *s, vkt_act a, float param, const vkt_tensor *x, vkt_tensor *y, vkt_err *err)
{
    vkt_status st = vkt_check_same_shape("act", "y", y, x, err);
    const vkt_tensor *ts[] = {x, y};
    if (!st) st = vkt_check_dtype("act", x->dtype, ts, 2, err);
    vkt_pipeline *p;
    if (!st) st = common(s, "fwd", a, x, &p, 2, err);
    if (st) return st;
    struct act_pc pc = {(uint32_t)vkt_tensor_numel(x), (uint32_t)a, 0, param};
    vkt_bind b[2] = {vkt_tensor_bind_r(x), vkt_tensor_bind_w(y)};
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, vkt_groups(pc.n, WG), "act_fwd", err);
}

vkt_status vkt_op_act_bwd(vkt_step *s, vkt_act a, float param, const vkt_tensor *x, const vkt_tensor *dy,
                          vkt_tensor *dx, vkt_grad_mode mode, vkt_err *err)
{
    vkt_status st = vkt_check_same_shape("act", "dy", dy, x, err);
    if (!st) st = vkt_check_same_shape("act", "dx", dx, x, err);
    const vkt_tensor *ts[] = {x, dy, dx};
    if (!st) st = vkt_check_dtype("act", x->dtype, ts, 3, err);
    vkt_pipeline *p;
    if (!st) st = common(s, "bwd", a, x, &p, 3, err);
    if (st) return st;
    struct act_pc pc = {(uint32_t)vkt_tensor_numel(x), (uint32_t)a, mode == VKT_GRAD_ACCUMULATE, param};
    vkt_bind b[3] = {vkt_tensor_bind_r(x), vkt_tensor_bind_r(dy), vkt_tensor_bind_w(dx)};
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, vkt_groups(pc.n, WG), "act_bwd", err);
}
