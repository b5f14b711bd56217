#version 450
#extension GL_GOOGLE_include_directive : require
// Softmax over the last dim of rows [R, L], one workgroup per row (any L: invocations stride
// over the row and combine through shared memory; the workgroup size is a power of two).
//   fwd: m = max_j x_j,  s = sum_j exp(x_j - m),  y_i = exp(x_i - m) / s
//   bwd: dx_i = y_i * (dy_i - sum_j dy_j y_j)        (ACCUM: dx_i += ...)
// Each invocation reads and writes only its own elements after the reductions, so y may alias
// x and dx may alias dy.
#include "vkt.glsl"

layout(push_constant) uniform PC { // mirrors struct softmax_pc in src/nn/ops/softmax.c
    uint rows, L, accumulate;
} pc;

#ifdef VKT_FWD
layout(set = 0, binding = 0) readonly buffer X { STORE_T x[]; };
layout(set = 0, binding = 1) writeonly buffer Y { STORE_T y[]; };
#else
layout(set = 0, binding = 0) readonly buffer Yb { STORE_T y[]; };
layout(set = 0, binding = 1) readonly buffer DY { STORE_T dy[]; };
layout(set = 0, binding = 2) buffer DX { STORE_T dx[]; };
#endif

shared float red[gl_WorkGroupSize.x];

// Tree reduction over the workgroup (op 0: sum, 1: max); every invocation gets the result.
// Reached by all invocations (uniform control flow).
float wg_reduce(float v, uint op)
{
    uint t = gl_LocalInvocationID.x;
    red[t] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1) {
        if (t < s) red[t] = op == 0u ? red[t] + red[t + s] : max(red[t], red[t + s]);
        barrier();
    }
    float r = red[0];
    barrier(); // everyone has read red[0] before the next reduction overwrites it
    return r;
}

void main()
{
    uint row = vkt_group_id();
    if (row >= pc.rows) return; // uniform per workgroup
    uint t = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x, base = row * pc.L;
#ifdef VKT_FWD
    float m = -3.402823466e38;
    for (uint i = t; i < pc.L; i += wg) m = max(m, LOADF(x[base + i]));
    m = wg_reduce(m, 1u);
    float s = 0.0;
    for (uint i = t; i < pc.L; i += wg) s += exp(LOADF(x[base + i]) - m);
    float inv = 1.0 / wg_reduce(s, 0u); // s >= 1: the max element contributes exp(0)
    for (uint i = t; i < pc.L; i += wg) y[base + i] = STOREF(exp(LOADF(x[base + i]) - m) * inv);
#else
    float d = 0.0;
    for (uint i = t; i < pc.L; i += wg) d += LOADF(dy[base + i]) * LOADF(y[base + i]);
    d = wg_reduce(d, 0u);
    for (uint i = t; i < pc.L; i += wg) {
        float g = LOADF(y[base + i]) * (LOADF(dy[base + i]) - d);
        if (pc.accumulate != 0u) g += LOADF(dx[base + i]);
        dx[base + i] = STOREF(g);
    }
#endif
}
