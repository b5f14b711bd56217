#version 450
#extension GL_GOOGLE_include_directive : require
// Sum / mean over the last dim of x viewed as [rows, L] (rows = 1: the whole tensor).
//   fwd: y[r] = sum_i x[r, i]            (mean: divided by L)
//   bwd: dx[r, i] (=|+=) dy[r]           (mean: dy[r] / L)
// One workgroup per row: threads sum strided elements, then a shared-memory tree (fixed order,
// no atomics). The tree needs a power-of-two workgroup size. A single huge row runs on one
// workgroup: fine for losses and statistics, not meant for multi-million-element hot paths.
#include "vkt.glsl"

layout(push_constant) uniform PC { // mirrors struct reduce_pc in src/nn/ops/reduce.c
    uint rows, L, mean, accumulate;
} pc;

#ifdef VKT_FWD
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Y { float y[]; };

shared float red[gl_WorkGroupSize.x];

void main()
{
    uint r = vkt_group_id(), lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    if (r >= pc.rows) return; // uniform over the workgroup
    uint base = r * pc.L;
    float s = 0.0;
    for (uint i = lid; i < pc.L; i += wg) s += x[base + i];
    red[lid] = s;
    barrier();
    for (uint h = wg >> 1; h > 0u; h >>= 1) {
        if (lid < h) red[lid] += red[lid + h];
        barrier();
    }
    if (lid == 0u) y[r] = pc.mean != 0u ? red[0] / float(pc.L) : red[0];
}

#else
layout(set = 0, binding = 0) readonly buffer DY { float dy[]; };
layout(set = 0, binding = 1) buffer DX { float dx[]; };

void main()
{
    uint i = vkt_global_id();
    if (i >= pc.rows * pc.L) return;
    float g = dy[i / pc.L];
    if (pc.mean != 0u) g /= float(pc.L);
    if (pc.accumulate != 0u) g += dx[i];
    dx[i] = g;
}
#endif
