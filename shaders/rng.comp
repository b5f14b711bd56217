#version 450
#extension GL_GOOGLE_include_directive : require
// Counter-based random numbers (Philox4x32-10) and dropout; the stream definition is in
// src/nn/philox.h. One thread per block of 4 consecutive elements, so element i depends only on
// (seed, offset, i).
//   VKT_FILL, by pc.mode:  0 bits     y[i] = word (raw uint32; y is an i32 tensor)
//                          1 uniform  y[i] = a + (b - a) * u
//                          2 normal   y[i] = a + b * z       (Box-Muller, vkt_log / vkt_sincos)
//   VKT_DROPOUT:           y[i] (=|+= by pc.accumulate) keep_i ? x[i] * scale : 0,
//                          keep_i = (word >> 8) < pc.thr; the same op is dropout's forward
//                          (x, y) and backward (dy, dx): the mask is recomputed, never stored.
#include "vkt.glsl"
#include "vkt_math.glsl"
#include "vkt_philox.glsl"

layout(push_constant) uniform PC { // mirrors struct rng_pc in src/nn/ops/rng.c
    uint n;
    uint seed_lo, seed_hi, off_lo, off_hi, blk_lo, blk_hi;
    uint mode, thr, accumulate;
    float a, b;  // fill: (lo, hi) or (mean, std); dropout: a = scale
} pc;

const float TWO_PI = 6.28318530717958648;
const float INV_2_24 = 5.9604644775390625e-8;

#ifdef VKT_FILL
layout(set = 0, binding = 0) writeonly buffer Y { uint y[]; };

void main()
{
    uint t = vkt_global_id(), i0 = 4u * t;
    if (i0 >= pc.n) return;
    uvec4 w = vkt_philox_block(uvec2(pc.seed_lo, pc.seed_hi), uvec2(pc.off_lo, pc.off_hi),
                               uvec2(pc.blk_lo, pc.blk_hi), t);
    vec4 v = vec4(0.0);
    if (pc.mode == 1u) {
        v = pc.a + (pc.b - pc.a) * (vec4(w >> 8u) * INV_2_24);
    } else if (pc.mode == 2u) {
        for (int k = 0; k < 4; k += 2) {
            float u1 = float((w[k] >> 8u) + 1u) * INV_2_24, u2 = float(w[k + 1] >> 8u) * INV_2_24;
            float r = sqrt(-2.0 * vkt_log(u1)), s, c;
            vkt_sincos(TWO_PI * (u2 < 0.5 ? u2 : u2 - 1.0), s, c); // |angle| <= pi, same sin/cos
            v[k] = pc.a + pc.b * (r * c);
            v[k + 1] = pc.a + pc.b * (r * s);
        }
    }
    for (uint k = 0u; k < 4u && i0 + k < pc.n; k++) y[i0 + k] = pc.mode == 0u ? w[k] : floatBitsToUint(v[k]);
}

#else // VKT_DROPOUT
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) buffer Y { float y[]; };

void main()
{
    uint t = vkt_global_id(), i0 = 4u * t;
    if (i0 >= pc.n) return;
    uvec4 w = vkt_philox_block(uvec2(pc.seed_lo, pc.seed_hi), uvec2(pc.off_lo, pc.off_hi),
                               uvec2(pc.blk_lo, pc.blk_hi), t);
    for (uint k = 0u; k < 4u && i0 + k < pc.n; k++) {
        float v = (w[k] >> 8u) < pc.thr ? x[i0 + k] * pc.a : 0.0;
        if (pc.accumulate != 0u) v += y[i0 + k];
        y[i0 + k] = v;
    }
}
#endif
