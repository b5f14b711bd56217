#version 450
#extension GL_GOOGLE_include_directive : require
// Sinusoidal timestep embedding (LDM openaimodel.timestep_embedding; spec sd1-architecture §3.1):
//   half = C/2, freq_j = exp(-ln(max_period) * j / half), arg_j = t * freq_j,
//   y[b, :] = concat(cos(arg_0..arg_{half-1}), sin(arg_0..arg_{half-1}))   (cos first)
//   or sin first when pc.cos_first == 0 (diffusers flip_sin_to_cos=False); an odd C gets a zero
//   last column. freq comes from the Freq table (float32 values computed on the host exactly as
//   torch does) when pc.has_freq, else from exp() here, which may differ from torch's by an ulp
//   or two (Vulkan allows more). arg = t*freq is one correctly rounded float32 product, as in
//   torch; sin/cos use vkt_sincos because the arguments reach 999 rad.
// t is an int32 timestep, or with VKT_T_F32 a float32 one (the k-diffusion samplers evaluate the
// UNet at fractional t; torch multiplies the float32 t by freq just the same).
// No backward: nothing upstream of t is trained.
#include "vkt.glsl"
#include "vkt_math.glsl"

layout(push_constant) uniform PC { // mirrors struct timestep_pc in src/nn/ops/timestep.c
    uint n, C, nhalf, cos_first, has_freq;
    float neg_log_period; // -ln(max_period), rounded to float32 as torch does
} pc;

#ifdef VKT_T_F32
layout(set = 0, binding = 0) readonly buffer T { float t[]; };
#define T_AT(b) t[b]
#else
layout(set = 0, binding = 0) readonly buffer T { int t[]; };
#define T_AT(b) float(t[b])
#endif
layout(set = 0, binding = 1) readonly buffer Freq { float freq[]; };
layout(set = 0, binding = 2) writeonly buffer Y { float y[]; };

void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
    uint b = i / pc.C, k = i % pc.C;
    if (k >= 2u * pc.nhalf) {
        y[i] = 0.0;
        return;
    }
    bool first = k < pc.nhalf;
    uint j = first ? k : k - pc.nhalf;
    float f = pc.has_freq != 0u ? freq[j] : exp((pc.neg_log_period * float(j)) / float(pc.nhalf));
    float arg = T_AT(b) * f;
    float s, c;
    vkt_sincos(arg, s, c);
    y[i] = first == (pc.cos_first != 0u) ? c : s;
}
