#version 450
#extension GL_GOOGLE_include_directive : require
// One diffusion-sampler update with classifier-free guidance (src/models/sampler.h), one thread
// per latent element i of x [B, N]:
//   e       = eu + cfg * (ec - eu)          eu = EpsU[off_u + i], ec = EpsC[off_c + i]
//   x'      = a * x + b * e + s * noise     (a, b, s = Coef[0..2]; noise read only when has_noise)
//   X[i]    = x'                            (the float32 sampler state, updated in place)
//   Xin[r * n + i] = c_in * x'  for r < copies   (c_in = Coef[3]: the next UNet input, STORE_T)
// Euler:  a = 1, b = sigma_next - sigma, s = 0;  Euler a: b = sigma_down - sigma, s = sigma_up;
// DDIM:   a = sqrt(abar_prev / abar_t), b = sqrt(1 - abar_prev) - a * sqrt(1 - abar_t).
// The coefficients sit in a buffer the host rewrites between submits, so one recorded command
// buffer serves every step. No backward (sampling is inference only).
#include "vkt.glsl"

layout(push_constant) uniform PC { // mirrors struct sampler_update_pc in src/nn/ops/sampler_update.c
    uint n;      // B*N
    uint off_u;  // element offset of the uncond eps in EpsU
    uint off_c;  // element offset of the cond eps in EpsC
    uint copies; // rows-blocks of Xin to write (1, or 2 for a batched [uncond; cond] UNet input)
    uint has_noise;
    float cfg;
} pc;

layout(set = 0, binding = 0) readonly buffer EpsU { STORE_T eps_u[]; };
layout(set = 0, binding = 1) readonly buffer EpsC { STORE_T eps_c[]; };
layout(set = 0, binding = 2) readonly buffer Noise { float noise[]; };
layout(set = 0, binding = 3) readonly buffer Coef { float coef[]; };
layout(set = 0, binding = 4) buffer X { float x[]; };
layout(set = 0, binding = 5) writeonly buffer Xin { STORE_T xin[]; };

void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
    float eu = LOADF(eps_u[pc.off_u + i]), ec = LOADF(eps_c[pc.off_c + i]);
    float e = eu + pc.cfg * (ec - eu);
    float xn = coef[0] * x[i] + coef[1] * e;
    if (pc.has_noise != 0u) xn += coef[2] * noise[i];
    x[i] = xn;
    float v = coef[3] * xn;
    for (uint r = 0u; r < pc.copies; r++) xin[r * pc.n + i] = STOREF(v);
}
