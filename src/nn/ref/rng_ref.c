/* Random streams and dropout in double, from the host Philox of src/nn/philox.c. */
#include "nn/ref/rng_ref.h"

#include "nn/philox.h"

void vkt_ref_rng_uniform(uint64_t seed, uint64_t offset, double lo, double hi, double *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = lo + (hi - lo) * vkt_philox_uniform(seed, offset, i);
}

void vkt_ref_rng_normal(uint64_t seed, uint64_t offset, double mean, double std, double *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = mean + std * vkt_philox_normal(seed, offset, i);
}

void vkt_ref_dropout(uint64_t seed, uint64_t offset, double p, const double *x, double *y, size_t n)
{
    uint32_t thr = vkt_philox_keep_threshold(p);
    double scale = p < 1 ? 1.0 / (1.0 - p) : 0.0;
    for (size_t i = 0; i < n; i++) y[i] = (vkt_philox_bits(seed, offset, i) >> 8) < thr ? x[i] * scale : 0.0;
}
