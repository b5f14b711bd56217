// Shared by every shader: storage-type macros for the f32/f16 variants, the folded 1-D
// workgroup index, and math helpers.
//
// Variants define VKT_F16 to store tensors as float16_t (16-bit storage only; arithmetic and
// accumulation stay in float) or nothing for float32 storage.
#ifndef VKT_GLSL
#define VKT_GLSL

#ifdef VKT_F16
#extension GL_EXT_shader_16bit_storage : require
#define STORE_T float16_t
#define LOADF(x) float(x)
#define STOREF(x) float16_t(x)
#else
#define STORE_T float
#define LOADF(x) (x)
#define STOREF(x) (x)
#endif

// Workgroup size comes from specialization constant 0 (see src/vk/pipeline.h).
layout(local_size_x_id = 0) in;

// Linear workgroup index of a 1-D grid that vkt_cmd_dispatch_1d folded into x and y.
uint vkt_group_id() { return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x; }
uint vkt_global_id() { return vkt_group_id() * gl_WorkGroupSize.x + gl_LocalInvocationID.x; }

// erf(x) with |error| < 1.2e-7 everywhere (Numerical Recipes erfcc, Chebyshev fit), enough for
// float32; GLSL has no built-in erf.
float vkt_erf(float x)
{
    float z = abs(x);
    float t = 1.0 / (1.0 + 0.5 * z);
    float r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
              t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
              t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0.0 ? 1.0 - r : r - 1.0;
}

float vkt_sigmoid(float x) { return 1.0 / (1.0 + exp(-x)); }

#endif
