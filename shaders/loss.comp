#version 450
#extension GL_GOOGLE_include_directive : require
// Mean-squared-error loss with an optional per-element weight (spec sd1-architecture §5,
// training.md §4.3): for pred, target, w of shape [B, N...] with N elements per sample,
//   fwd stage 0:  per_sample[b] = (1/N) * sum_i w[b,i] * (pred[b,i] - target[b,i])^2
//   fwd stage 1:  loss = (1/B) * sum_b per_sample[b]
//   bwd:          dpred (=|+=) pc.scale * w * (pred - target),   pc.scale = 2 * dloss / (N * B)
// Sums are shared-memory trees (one workgroup per sample, then one for the batch): fixed order,
// no atomics. The tree needs a power-of-two workgroup size.
#include "vkt.glsl"

layout(push_constant) uniform PC { // mirrors struct loss_pc in src/nn/ops/loss.c
    uint n;        // elements per sample (fwd) or in total (bwd)
    uint B, stage, has_weight, accumulate;
    float scale;   // bwd only
} pc;

layout(set = 0, binding = 0) readonly buffer Pred { float pred[]; };
layout(set = 0, binding = 1) readonly buffer Target { float target[]; };
layout(set = 0, binding = 2) readonly buffer W { float w[]; };

#ifdef VKT_FWD
layout(set = 0, binding = 3) buffer PerSample { float per_sample[]; };
layout(set = 0, binding = 4) writeonly buffer Loss { float loss[]; };

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

void main()
{
    uint lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    if (pc.stage == 0u) {
        uint b = vkt_group_id();
        if (b >= pc.B) return; // uniform over the workgroup
        uint base = b * pc.n;
        float s = 0.0;
        for (uint i = lid; i < pc.n; i += wg) {
            float e = pred[base + i] - target[base + i];
            s += pc.has_weight != 0u ? w[base + i] * e * e : e * e;
        }
        float t = tree_sum(s);
        if (lid == 0u) per_sample[b] = t / float(pc.n);
    } else {
        float s = 0.0;
        for (uint b = lid; b < pc.B; b += wg) s += per_sample[b];
        float t = tree_sum(s);
        if (lid == 0u) loss[0] = t / float(pc.B);
    }
}

#else
layout(set = 0, binding = 3) buffer DPred { float dpred[]; };

void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
    float g = pc.scale * (pred[i] - target[i]);
    if (pc.has_weight != 0u) g *= w[i];
    if (pc.accumulate != 0u) g += dpred[i];
    dpred[i] = g;
}
#endif
