/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC11; Random123)
 * on the host, and the definition of vktrain's random streams, which the GPU ops of
 * src/nn/ops/rng.h reproduce bit for bit. A stream is (seed, offset); its element i depends only
 * on (seed, offset, i), never on how the work was dispatched:
 *
 *   block b = i / 4 (+ first_block),  word = (i % 4)-th output of
 *   philox4x32_10(counter = {lo32(b), hi32(b), lo32(offset), hi32(offset)},
 *                 key     = {lo32(seed), hi32(seed)})
 *   uniform  u = (word >> 8) * 2^-24                        in [0, 1), 24 bits
 *   normal   per block, words (w0, w1) -> (z0, z1) and (w2, w3) -> (z2, z3) by Box-Muller:
 *            r = sqrt(-2 ln u1), u1 = ((w_even >> 8) + 1) * 2^-24 in (0, 1],
 *            theta = 2 pi u2, u2 = (w_odd >> 8) * 2^-24;  z_even = r cos theta, z_odd = r sin theta
 *   dropout  element i is kept when (word >> 8) < vkt_philox_keep_threshold(p)
 *
 * Use a fresh offset (or seed) for every independent draw, e.g. offset = step * K + use.
 */
#ifndef VKT_NN_PHILOX_H
#define VKT_NN_PHILOX_H

#include <stdint.h>

/* The raw generator: out = philox4x32-10(ctr, key). */
void vkt_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Word i of the stream (first_block 0). */
uint32_t vkt_philox_bits(uint64_t seed, uint64_t offset, uint64_t i);
/* Element i as a uniform in [0, 1), and as a standard normal (Box-Muller evaluated in double). */
double vkt_philox_uniform(uint64_t seed, uint64_t offset, uint64_t i);
double vkt_philox_normal(uint64_t seed, uint64_t offset, uint64_t i);
/* Dropout keep threshold for drop probability p: round((1 - p) * 2^24), clamped to [0, 2^24]. */
uint32_t vkt_philox_keep_threshold(double p);

#endif
