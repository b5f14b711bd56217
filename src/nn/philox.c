/* Philox4x32-10 and the stream mapping of philox.h; plain C, no Vulkan. */
#include "nn/philox.h"

#include <math.h>

void vkt_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r) { /* key schedule: Weyl sequence */
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0, hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

static void block(uint64_t seed, uint64_t offset, uint64_t b, uint32_t out[4])
{
    uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), (uint32_t)offset, (uint32_t)(offset >> 32)};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    vkt_philox4x32_10(ctr, key, out);
}

uint32_t vkt_philox_bits(uint64_t seed, uint64_t offset, uint64_t i)
{
    uint32_t w[4];
    block(seed, offset, i / 4, w);
    return w[i % 4];
}

double vkt_philox_uniform(uint64_t seed, uint64_t offset, uint64_t i)
{
    return (double)(vkt_philox_bits(seed, offset, i) >> 8) * (1.0 / 16777216.0);
}

double vkt_philox_normal(uint64_t seed, uint64_t offset, uint64_t i)
{
    uint32_t w[4];
    block(seed, offset, i / 4, w);
    unsigned k = (unsigned)(i % 4) & ~1u;
    double u1 = ((double)(w[k] >> 8) + 1.0) * (1.0 / 16777216.0), u2 = (double)(w[k + 1] >> 8) * (1.0 / 16777216.0);
    double r = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
    return i % 2 ? r * sin(th) : r * cos(th);
}

uint32_t vkt_philox_keep_threshold(double p)
{
    double t = floor((1.0 - p) * 16777216.0 + 0.5);
    return t <= 0 ? 0u : t >= 16777216.0 ? 16777216u : (uint32_t)t;
}
