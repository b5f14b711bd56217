/* IEEE half / bfloat16 scalar conversions (round to nearest even; NaN stays NaN, inf stays inf).
 * Leaf module: libc only. One implementation for io/ and nn/. */
#ifndef VKT_BASE_HALF_H
#define VKT_BASE_HALF_H

#include <stdint.h>

uint16_t vkt_f32_to_f16(float f);
float vkt_f16_to_f32(uint16_t h);
uint16_t vkt_f32_to_bf16(float f);
float vkt_bf16_to_f32(uint16_t h);

#endif
