#version 450
#extension GL_GOOGLE_include_directive : require
// The webui's "Original" emphasis on the text-encoder output, per chunk k
// (tokenizer-and-prompts.md §7). z: [B, K, T, W], m: [B, K, T]; N = B*T*W.
//   A = mean_k(z), Bm = mean_k(z*m), out = z*m * A/Bm
// Backward, with g = d out and S = sum_k(g * z * m):
//   dz = m * (g*A/Bm - S*A/(Bm^2 N)) + S/(Bm N)
// One workgroup per chunk k; sums through shared memory (no atomics, deterministic).
#include "vkt.glsl"

layout(push_constant) uniform PC { // mirrors struct emphasis_pc in src/nn/ops/emphasis.c
    uint B, K, T, W;
} pc;

layout(set = 0, binding = 0) readonly buffer Z { STORE_T z[]; };
layout(set = 0, binding = 1) readonly buffer M { float m[]; };
#ifdef VKT_FWD
layout(set = 0, binding = 2) writeonly buffer Y { STORE_T y[]; };
#else
layout(set = 0, binding = 2) readonly buffer G { STORE_T g[]; };
layout(set = 0, binding = 3) writeonly buffer DZ { STORE_T dz[]; };
#endif

shared float red[3][gl_WorkGroupSize.x];

void reduce3(inout float a, inout float b, inout float c)
{
    uint l = gl_LocalInvocationID.x;
    red[0][l] = a; red[1][l] = b; red[2][l] = c;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (l < s) {
            red[0][l] += red[0][l + s];
            red[1][l] += red[1][l + s];
            red[2][l] += red[2][l + s];
        }
        barrier();
    }
    a = red[0][0]; b = red[1][0]; c = red[2][0];
}

void main()
{
    uint k = gl_WorkGroupID.x;
    if (k >= pc.K) return; // uniform per workgroup
    uint per_row = pc.T * pc.W, n = pc.B * per_row;
    float sz = 0.0, szm = 0.0, sg = 0.0;
    for (uint i = gl_LocalInvocationID.x; i < n; i += gl_WorkGroupSize.x) {
        uint b = i / per_row, r = i % per_row, t = r / pc.W;
        uint idx = (b * pc.K + k) * per_row + r;
        float zv = LOADF(z[idx]), mv = m[(b * pc.K + k) * pc.T + t];
        sz += zv;
        szm += zv * mv;
#ifdef VKT_BWD
        sg += LOADF(g[idx]) * zv * mv;
#endif
    }
    reduce3(sz, szm, sg);
    float N = float(n), A = sz / N, Bm = szm / N, ratio = A / Bm;
    for (uint i = gl_LocalInvocationID.x; i < n; i += gl_WorkGroupSize.x) {
        uint b = i / per_row, r = i % per_row, t = r / pc.W;
        uint idx = (b * pc.K + k) * per_row + r;
        float zv = LOADF(z[idx]), mv = m[(b * pc.K + k) * pc.T + t];
#ifdef VKT_FWD
        y[idx] = STOREF(zv * mv * ratio);
#else
        float gv = LOADF(g[idx]);
        dz[idx] = STOREF(mv * (gv * ratio - sg * A / (Bm * Bm * N)) + sg / (Bm * N));
#endif
    }
}
