/* CPU reference for the random ops: the stream of src/nn/philox.h evaluated in double. */
#ifndef VKT_NN_REF_RNG_REF_H
#define VKT_NN_REF_RNG_REF_H

#include <stddef.h>
#include <stdint.h>

/* y[i] = lo + (hi - lo) * u_i;  y[i] = mean + std * z_i. */
void vkt_ref_rng_uniform(uint64_t seed, uint64_t offset, double lo, double hi, double *y, size_t n);
void vkt_ref_rng_normal(uint64_t seed, uint64_t offset, double mean, double std, double *y, size_t n);
/* y[i] = keep_i ? x[i] * scale : 0 with scale = 1/(1-p) (0 for p = 1); also the backward (dy in
 * x's place). */
void vkt_ref_dropout(uint64_t seed, uint64_t offset, double p, const double *x, double *y, size_t n);

#endif
