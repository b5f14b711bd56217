/* splitmix64 streams; see rng.h for the exact definitions. Depends on libc only. */
#include "base/rng.h"

static uint64_t mix(uint64_t x)
{
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

vkt_rng vkt_rng_seeded(uint64_t seed)
{
    return (vkt_rng){seed};
}

vkt_rng vkt_rng_keyed(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    return (vkt_rng){mix(mix(mix(mix(seed) ^ a) ^ b) ^ c)};
}

uint64_t vkt_rng_u64(vkt_rng *r)
{
    uint64_t z = mix(r->state);
    r->state += 0x9E3779B97F4A7C15ull;
    return z;
}

double vkt_rng_f64(vkt_rng *r)
{
    return (double)(vkt_rng_u64(r) >> 11) * 0x1p-53;
}

uint64_t vkt_rng_below(vkt_rng *r, uint64_t n)
{
    if (n == 0) return 0;
    /* Lemire 2019: the high word of x*n is uniform once the low word clears the threshold. */
    unsigned __int128 m = (unsigned __int128)vkt_rng_u64(r) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t t = (0 - n) % n;
        while (lo < t) {
            m = (unsigned __int128)vkt_rng_u64(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}
