#version 450
#extension GL_GOOGLE_include_directive : require
// Optimizer updates, element-wise, f32.
//   VKT_ADAMW (torch.optim.AdamW, _single_tensor_adamw of torch 1.13; g = grad * clip scale):
//     p = p * (1 - lr*wd)                                   decay = 1 - lr*wd (host, double)
//     m = m*beta1 + (1 - beta1)*g                           (torch 2.x: lerp, equal up to an ulp)
//     v = v*beta2 + (1 - beta2)*g*g                         addcmul
//     p = p - (step_size*m) / (sqrt(v)/bc2_sqrt + eps)      step_size = lr / (1 - beta1^t),
//                                                           bc2_sqrt = sqrt(1 - beta2^t) (host)
//     With a clip state (src/nn/ops/clip.h): g = grad * state[1], and the whole update is skipped
//     (p, m, v unchanged) when state[2] == 0, i.e. the gradients were not finite.
//   VKT_EMA: ema = ema - (1 - beta)*(ema - p)   (training.md §11, ema_pytorch)
#include "vkt.glsl"

#if defined(VKT_ADAMW)
layout(push_constant) uniform PC { // mirrors struct adamw_pc in src/nn/ops/optim.c
    uint n, has_clip;
    float decay, beta1, omb1, beta2, omb2; // omb = 1 - beta
    float step_size, bc2_sqrt, eps;
} pc;

layout(set = 0, binding = 0) readonly buffer G { float grad[]; };
layout(set = 0, binding = 1) readonly buffer State { float state[]; };
layout(set = 0, binding = 2) buffer P { float p[]; };
layout(set = 0, binding = 3) buffer M { float m[]; };
layout(set = 0, binding = 4) buffer V { float v[]; };

void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
    float g = grad[i];
    if (pc.has_clip != 0u) {
        if (state[2] == 0.0) return;
        g *= state[1];
    }
    float pv = p[i] * pc.decay;
    float mv = m[i];
    mv = mv * pc.beta1 + pc.omb1 * g;
    float vv = v[i] * pc.beta2 + pc.omb2 * g * g;
    float denom = sqrt(vv) / pc.bc2_sqrt + pc.eps;
    p[i] = pv - (pc.step_size * mv) / denom;
    m[i] = mv;
    v[i] = vv;
}

#else // VKT_EMA
layout(push_constant) uniform PC { // mirrors struct ema_pc in src/nn/ops/optim.c
    uint n;
    float w; // 1 - beta
} pc;

layout(set = 0, binding = 0) readonly buffer P { float p[]; };
layout(set = 0, binding = 1) buffer E { float e[]; };

void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
    float ev = e[i];
    e[i] = ev - pc.w * (ev - p[i]);
}
#endif
