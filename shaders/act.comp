#version 450
#extension GL_GOOGLE_include_directive : require
// Element-wise activations, forward and backward.
//   fwd: y = f(x)
//   bwd: dx = dy * f'(x)        (ACCUM: dx += dy * f'(x))
// f by pc.kind (src/nn/ops/act.h, vkt_act): identity, silu, gelu (exact erf), quick_gelu
// x*sigmoid(1.702x), relu, leaky_relu (slope p0), elu (alpha p0), hardswish, tanh, sigmoid,
// and the rest of torch.nn's element-wise activations that a webui hypernetwork may name: mish,
// softplus (beta 1, threshold 20), celu (alpha p0), selu, relu6, hardtanh (-1..1), hardsigmoid,
// softsign, tanhshrink, logsigmoid, hardshrink and softshrink (lambda p0).
#include "vkt.glsl"

layout(push_constant) uniform PC { // mirrors struct act_pc in src/nn/ops/act.c
    uint n, kind, accumulate;
    float p0;
} pc;

layout(set = 0, binding = 0) readonly buffer X { STORE_T x[]; };
#ifdef VKT_FWD
layout(set = 0, binding = 1) writeonly buffer Y { STORE_T y[]; };
#else
layout(set = 0, binding = 1) readonly buffer DY { STORE_T dy[]; };
layout(set = 0, binding = 2) buffer DX { STORE_T dx[]; };
#endif

const float SQRT1_2 = 0.70710678118654752;
const float INV_SQRT_2PI = 0.39894228040143268;
const float SELU_SCALE = 1.0507009873554804934;
const float SELU_ALPHA = 1.6732632423543772848;

// tanh that stays finite for any input (|v| >= 15 rounds to +-1 in f32 anyway).
float tanh_s(float v) { return tanh(clamp(v, -15.0, 15.0)); }
// softplus with torch's threshold 20 (beta 1): log(1 + e^v), v above 20 returned as is.
float softplus(float v) { return v > 20.0 ? v : max(v, 0.0) + log(1.0 + exp(-abs(v))); }

float act(float v)
{
    switch (pc.kind) {
    case 1: return v * vkt_sigmoid(v);
    case 2: return 0.5 * v * (1.0 + vkt_erf(v * SQRT1_2));
    case 3: return v * vkt_sigmoid(1.702 * v);
    case 4: return max(v, 0.0);
    case 5: return v >= 0.0 ? v : pc.p0 * v;
    case 6: return v > 0.0 ? v : pc.p0 * (exp(v) - 1.0);
    case 7: return v * clamp(v + 3.0, 0.0, 6.0) / 6.0;
    case 8: return tanh(v);
    case 9: return vkt_sigmoid(v);
    case 10: return v * tanh_s(softplus(v));
    case 11: return softplus(v);
    case 12: return max(v, 0.0) + min(0.0, pc.p0 * (exp(v / pc.p0) - 1.0));
    case 13: return SELU_SCALE * (v > 0.0 ? v : SELU_ALPHA * (exp(v) - 1.0));
    case 14: return clamp(v, 0.0, 6.0);
    case 15: return clamp(v, -1.0, 1.0);
    case 16: return clamp(v + 3.0, 0.0, 6.0) / 6.0;
    case 17: return v / (1.0 + abs(v));
    case 18: return v - tanh_s(v);
    case 19: return min(v, 0.0) - log(1.0 + exp(-abs(v)));
    case 20: return (v >= -pc.p0 && v <= pc.p0) ? 0.0 : v;
    case 21: return v > pc.p0 ? v - pc.p0 : (v < -pc.p0 ? v + pc.p0 : 0.0);
    default: return v;
    }
}

// f'(x); at the kinks (relu 0, leaky 0, hardswish +-3, relu6/hardtanh/hardsigmoid ends: 0,
// hardshrink/softshrink +-lambda: 0) the same one-sided choice as torch.
float dact(float v)
{
    switch (pc.kind) {
    case 1: { float s = vkt_sigmoid(v); return s * (1.0 + v * (1.0 - s)); }
    case 2: return 0.5 * (1.0 + vkt_erf(v * SQRT1_2)) + v * INV_SQRT_2PI * exp(-0.5 * v * v);
    case 3: { float s = vkt_sigmoid(1.702 * v); return s + 1.702 * v * s * (1.0 - s); }
    case 4: return v > 0.0 ? 1.0 : 0.0;
    case 5: return v > 0.0 ? 1.0 : pc.p0;
    case 6: return v > 0.0 ? 1.0 : pc.p0 * exp(v);
    case 7: return v < -3.0 ? 0.0 : (v <= 3.0 ? (2.0 * v + 3.0) / 6.0 : 1.0);
    case 8: { float t = tanh(v); return 1.0 - t * t; }
    case 9: { float s = vkt_sigmoid(v); return s * (1.0 - s); }
    case 10: { float t = tanh_s(softplus(v)); return t + v * vkt_sigmoid(v) * (1.0 - t * t); }
    case 11: return v > 20.0 ? 1.0 : vkt_sigmoid(v);
    case 12: return v > 0.0 ? 1.0 : exp(v / pc.p0);
    case 13: return v > 0.0 ? SELU_SCALE : SELU_SCALE * SELU_ALPHA * exp(v);
    case 14: return (v > 0.0 && v < 6.0) ? 1.0 : 0.0;
    case 15: return (v > -1.0 && v < 1.0) ? 1.0 : 0.0;
    case 16: return (v > -3.0 && v < 3.0) ? 1.0 / 6.0 : 0.0;
    case 17: { float d = 1.0 + abs(v); return 1.0 / (d * d); }
    case 18: { float t = tanh_s(v); return t * t; }
    case 19: return vkt_sigmoid(-v);
    case 20: case 21: return (v >= -pc.p0 && v <= pc.p0) ? 0.0 : 1.0;
    default: return 1.0;
    }
}

void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
    float v = LOADF(x[i]);
#ifdef VKT_FWD
    y[i] = STOREF(act(v));
#else
    float g = LOADF(dy[i]) * dact(v);
    if (pc.accumulate != 0u) g += LOADF(dx[i]);
    dx[i] = STOREF(g);
#endif
}
