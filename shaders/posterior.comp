#version 450
#extension GL_GOOGLE_include_directive : require
// The LDM AutoencoderKL posterior (ldm/modules/distributions: DiagonalGaussianDistribution),
// one thread per latent element i of [B, Z, S] (S = H*W):
//   VKT_SPLIT:  moments [B, 2Z, S] -> mean = moments[:, :Z], logvar = clamp(moments[:, Z:], -30, 20)
//   VKT_SAMPLE: z = scale * (mean + exp(0.5 * logvar) * noise)       (SD: scale = 0.18215)
#include "vkt.glsl"

layout(push_constant) uniform PC { // mirrors struct posterior_pc in src/nn/ops/posterior.c
    uint n;  // B*Z*S
    uint zs; // Z*S: one half of a sample's moments
    float scale;
} pc;

#if defined(VKT_SPLIT)
layout(set = 0, binding = 0) readonly buffer M { STORE_T moments[]; };
layout(set = 0, binding = 1) writeonly buffer Mean { STORE_T mean[]; };
layout(set = 0, binding = 2) writeonly buffer Logvar { STORE_T logvar[]; };
#elif defined(VKT_SAMPLE)
layout(set = 0, binding = 0) readonly buffer Mean { STORE_T mean[]; };
layout(set = 0, binding = 1) readonly buffer Logvar { STORE_T logvar[]; };
layout(set = 0, binding = 2) readonly buffer Noise { STORE_T noise[]; };
layout(set = 0, binding = 3) writeonly buffer Z { STORE_T z[]; };
#else
#error define VKT_SPLIT or VKT_SAMPLE
#endif

void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
#if defined(VKT_SPLIT)
    uint b = i / pc.zs, r = i % pc.zs;
    mean[i] = moments[2u * b * pc.zs + r];
    logvar[i] = STOREF(clamp(LOADF(moments[2u * b * pc.zs + pc.zs + r]), -30.0, 20.0));
#else
    float sd = exp(0.5 * LOADF(logvar[i]));
    z[i] = STOREF(pc.scale * (LOADF(mean[i]) + sd * LOADF(noise[i])));
#endif
}
