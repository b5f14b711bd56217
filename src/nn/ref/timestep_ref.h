/* CPU reference for the sinusoidal timestep embedding (spec sd1-architecture §3.1). */
#ifndef VKT_NN_REF_TIMESTEP_REF_H
#define VKT_NN_REF_TIMESTEP_REF_H

#include <stdbool.h>
#include <stdint.h>

/* freq_j as torch computes it in float32: exp(fl(fl(-ln(max_period)) * j) / half), with the exp
 * correctly rounded (libm in double, then rounded to float). */
double vkt_ref_timestep_freq(int64_t j, int64_t half, double max_period);
/* y[b, :] (B x C, double) from the float32 argument fl(t_b * freq_j), with cos/sin in double:
 * what torch's float32 computation gives up to the final rounding. */
void vkt_ref_timestep_fwd(const int32_t *t, int64_t B, int64_t C, double max_period, bool cos_first, double *y);
/* The same for float32 timesteps (fractional t of the k-diffusion samplers). */
void vkt_ref_timestep_fwd_f(const float *t, int64_t B, int64_t C, double max_period, bool cos_first, double *y);

#endif
