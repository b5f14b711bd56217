/* Deterministic random numbers for everything that must repeat from a seed (data order, prompt
 * draws, tag dropout): splitmix64 (Steele, Lea & Flood 2014). A stream can also be derived from
 * (seed, a, b, c) without touching any other stream, so epoch e of a resumed run draws exactly what
 * an uninterrupted run drew. Not cryptographic. Leaf module: libc only.
 *
 *   vkt_rng r = vkt_rng_keyed(seed, VKT_RNG_TAG('o','r','d','r'), epoch, 0);
 *   uint64_t k = vkt_rng_below(&r, n);          // uniform in [0, n)
 *   double u = vkt_rng_f64(&r);                 // uniform in [0, 1), 53 bits
 *
 * Definitions (fixed: tests and saved runs depend on them):
 *   next():   state += 0x9E3779B97F4A7C15; z = state;
 *             z = (z ^ z>>30) * 0xBF58476D1CE4E5B9; z = (z ^ z>>27) * 0x94D049BB133111EB;
 *             return z ^ z>>31
 *   seeded(s):          state = s
 *   keyed(s, a, b, c):  state = mix(mix(mix(mix(s) ^ a) ^ b) ^ c), mix(x) = next() of state x
 *   f64():    (next() >> 11) * 2^-53
 *   below(n): Lemire's multiply-shift with rejection (unbiased), n > 0
 */
#ifndef VKT_BASE_RNG_H
#define VKT_BASE_RNG_H

#include <stdint.h>

typedef struct vkt_rng {
    uint64_t state;
} vkt_rng;

/* Four ASCII characters as a stream tag for vkt_rng_keyed. */
#define VKT_RNG_TAG(a, b, c, d)                                                                    \
    (((uint64_t)(a) << 24) | ((uint64_t)(b) << 16) | ((uint64_t)(c) << 8) | (uint64_t)(d))

vkt_rng vkt_rng_seeded(uint64_t seed);
vkt_rng vkt_rng_keyed(uint64_t seed, uint64_t a, uint64_t b, uint64_t c);
uint64_t vkt_rng_u64(vkt_rng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double vkt_rng_f64(vkt_rng *r);
/* Uniform integer in [0, n); n == 0 returns 0. */
uint64_t vkt_rng_below(vkt_rng *r, uint64_t n);

#endif
