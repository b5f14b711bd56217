#version 450
#extension GL_GOOGLE_include_directive : require
// Element-wise activations, forward and backward.
//   fwd: y = f(x)
//   bwd: dx = dy * f'(x)        (ACCUM: dx += dy * f'(x))
// f by pc.kind (src/nn/ops/act.h, vkt_act): identity, silu, gelu (exact erf), quick_gelu
// x*sigmoid(1.702x), relu, leaky_relu (slope p0), elu (alpha p0), hardswish, tanh, sigmoid.
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
    default: return v;
    }
}

// f'(x); at the kinks (relu 0, leaky 0, hardswish +-3) the same one-sided choice as torch.
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
