#version 450
#extension GL_GOOGLE_include_directive : require
// GEGLU (SD FeedForward, spec sd1-architecture §3.2): p = [..., 2F] splits into value = p[..., :F]
// and gate = p[..., F:];
//   fwd: y = value * gelu(gate),  gelu(x) = 0.5 x (1 + erf(x / sqrt 2))  (exact erf)
//   bwd: dvalue = dy * gelu(gate),  dgate = dy * value * gelu'(gate),
//        gelu'(x) = 0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi)
//        written into dp = [dvalue, dgate] (=|+= by pc.accumulate).
// One thread per (row, f) output; math in f32.
#include "vkt.glsl"

layout(push_constant) uniform PC { // mirrors struct geglu_pc in src/nn/ops/geglu.c
    uint n;  // rows * F
    uint F, accumulate;
} pc;

const float SQRT1_2 = 0.70710678118654752;
const float INV_SQRT_2PI = 0.39894228040143268;

layout(set = 0, binding = 0) readonly buffer P { STORE_T p[]; };
#ifdef VKT_FWD
layout(set = 0, binding = 1) writeonly buffer Y { STORE_T y[]; };
#else
layout(set = 0, binding = 1) readonly buffer DY { STORE_T dy[]; };
layout(set = 0, binding = 2) buffer DP { STORE_T dp[]; };
#endif

void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
    uint r = i / pc.F, f = i % pc.F;
    uint iv = r * 2u * pc.F + f, ig = iv + pc.F;
    float v = LOADF(p[iv]), g = LOADF(p[ig]);
    float cdf = 0.5 * (1.0 + vkt_erf(g * SQRT1_2)); // Phi(g)
#ifdef VKT_FWD
    y[i] = STOREF(v * (g * cdf));
#else
    float d = LOADF(dy[i]);
    float dv = d * (g * cdf);
    float dg = d * v * (cdf + g * INV_SQRT_2PI * exp(-0.5 * g * g));
    if (pc.accumulate != 0u) {
        dv += LOADF(dp[iv]);
        dg += LOADF(dp[ig]);
    }
    dp[iv] = STOREF(dv);
    dp[ig] = STOREF(dg);
#endif
}
