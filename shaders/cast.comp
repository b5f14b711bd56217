#version 450
#extension GL_GOOGLE_include_directive : require
// Storage-type conversion between f32 and f16 (its backward is the conversion the other way).
//   VKT_TO_F16: y(f16) = x(f32), round to nearest by the device's f16 conversion
//   otherwise:  y(f32) = x(f16), exact
#extension GL_EXT_shader_16bit_storage : require
#include "vkt.glsl"

layout(push_constant) uniform PC { // mirrors struct cast_pc in src/nn/ops/cast.c
    uint n;
} pc;

#ifdef VKT_TO_F16
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Y { float16_t y[]; };
#else
layout(set = 0, binding = 0) readonly buffer X { float16_t x[]; };
layout(set = 0, binding = 1) writeonly buffer Y { float y[]; };
#endif

void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
#ifdef VKT_TO_F16
    y[i] = float16_t(x[i]);
#else
    y[i] = float(x[i]);
#endif
}
