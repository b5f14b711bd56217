#version 450
#extension GL_GOOGLE_include_directive : require
// Gradient clipping.
//   VKT_VALUE:   g = clamp(g, -v, v)                                   (in place)
//   VKT_PARTIAL: part[k] = sum of g^2 over chunk k of one tensor (one workgroup per chunk of
//                pc.chunk elements); workgroup 0 also zeroes the tensor's padding slots
//                [n_groups, region) so that VKT_FINAL can sum the whole partial area.
//   VKT_FINAL:   one workgroup: total = sqrt(sum of every partial); state[0] = total,
//                state[1] = scale = min(max_norm / (total + 1e-6), 1) (1 when max_norm <= 0),
//                state[2] = 1 when total is finite; a non-finite total gives scale NaN and
//                state[2] = 0 (torch.nn.utils.clip_grad_norm_ would multiply by NaN too).
//   VKT_APPLY:   g *= state[1]                                         (in place)
// All sums are shared-memory trees in a fixed order; no atomics, no host round trip. The tree
// needs a power-of-two workgroup size.
#include "vkt.glsl"

layout(push_constant) uniform PC { // mirrors struct clip_pc in src/nn/ops/clip.c
    uint n;         // VALUE/PARTIAL/APPLY: elements of the tensor; FINAL: partial slots
    uint n_groups;  // PARTIAL: chunks (workgroups) of this tensor
    uint chunk;     // PARTIAL: elements per chunk
    uint region;    // PARTIAL: slots of this tensor's partial region (n_groups rounded up)
    uint header;    // FINAL: slots before the partial area
    float v;        // VALUE: clip value; FINAL: max_norm
} pc;

#if defined(VKT_VALUE)
layout(set = 0, binding = 0) buffer G { float g[]; };
void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
    g[i] = clamp(g[i], -pc.v, pc.v);
}

#elif defined(VKT_APPLY)
layout(set = 0, binding = 0) readonly buffer State { float state[]; };
layout(set = 0, binding = 1) buffer G { float g[]; };
void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
    g[i] *= state[1];
}

#else
shared float red[gl_WorkGroupSize.x];

float tree_sum(float s)
{
    uint lid = gl_LocalInvocationID.x;
    red[lid] = s;
    barrier();
    for (uint h = gl_WorkGroupSize.x >> 1; h > 0u; h >>= 1) {
        if (lid < h) red[lid] += red[lid + h];
        barrier();
    }
    return red[0];
}

#if defined(VKT_PARTIAL)
layout(set = 0, binding = 0) readonly buffer G { float g[]; };
layout(set = 0, binding = 1) writeonly buffer Part { float part[]; };
void main()
{
    uint k = vkt_group_id(), lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    if (k >= pc.n_groups) return; // uniform over the workgroup
    uint lo = k * pc.chunk, hi = min(lo + pc.chunk, pc.n);
    float s = 0.0;
    for (uint i = lo + lid; i < hi; i += wg) s += g[i] * g[i];
    float t = tree_sum(s);
    if (lid == 0u) part[k] = t;
    if (k == 0u)
        for (uint j = pc.n_groups + lid; j < pc.region; j += wg) part[j] = 0.0;
}

#else // VKT_FINAL
layout(set = 0, binding = 0) buffer State { float state[]; };
void main()
{
    uint lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    float s = 0.0;
    for (uint j = lid; j < pc.n; j += wg) s += state[pc.header + j];
    float total = sqrt(tree_sum(s));
    if (lid == 0u) {
        bool finite = !isnan(total) && !isinf(total);
        float scale = pc.v > 0.0 ? min(pc.v / (total + 1e-6), 1.0) : 1.0;
        state[0] = total;
        state[1] = finite ? scale : uintBitsToFloat(0x7fc00000u);
        state[2] = finite ? 1.0 : 0.0;
    }
}
#endif
#endif
