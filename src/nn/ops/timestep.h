/* Sinusoidal timestep embedding of the SD UNet (shaders/timestep.comp; spec sd1-architecture
 * §3.1): y[b, :] = concat(cos(t_b * freq), sin(t_b * freq)), freq_j = max_period^(-j/half).
 *
 *   float f[160]; vkt_timestep_freqs(160, 10000.0, f);            // once, into an f32 [160] tensor
 *   vkt_op_timestep_fwd(s, &t, &freqs, 10000.0f, true, &temb0, &err);   // t: i32 [B], temb0: f32 [B, 320]
 *
 * There is no backward: nothing upstream of t is trained.
 */
#ifndef VKT_NN_OPS_TIMESTEP_H
#define VKT_NN_OPS_TIMESTEP_H

#include "nn/step.h"

/* out[j] = freq_j for j < half, in float32 exactly as torch computes it:
 * exp(fl(fl(-ln(max_period)) * j) / half), exp correctly rounded. */
void vkt_timestep_freqs(int64_t half, double max_period, float *out);

/* t: i32 [B] (0 <= t < 2^24, exact in float), or f32 [B] (the fractional timesteps of the
 * k-diffusion samplers: fl(t * freq) as torch computes it from a float32 t); y: f32 [B, C]. cos_first: LDM / SD order
 * (diffusers' flip_sin_to_cos=True); false puts sin first. An odd C gets a zero last column.
 * freqs: f32 [C/2] from vkt_timestep_freqs(), so that every argument t*freq is torch's float32
 * value and y matches torch within ~3e-7; or NULL to compute freq with the GPU's exp from
 * max_period (then an ulp or two of exp error moves arguments near t = 999 by ~1e-4). */
vkt_status vkt_op_timestep_fwd(vkt_step *s, const vkt_tensor *t, const vkt_tensor *freqs, float max_period,
                               bool cos_first, vkt_tensor *y, vkt_err *err);

#endif
