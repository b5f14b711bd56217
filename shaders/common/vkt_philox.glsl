// Philox4x32-10 (Salmon et al., SC11; Random123), bit-identical to vkt_philox4x32_10 in
// src/nn/philox.c, and the block counter of vktrain's random streams (src/nn/philox.h).
#ifndef VKT_PHILOX_GLSL
#define VKT_PHILOX_GLSL

uvec4 vkt_philox4x32_10(uvec4 c, uvec2 k)
{
    for (int r = 0; r < 10; r++) {
        if (r > 0) k += uvec2(0x9E3779B9u, 0xBB67AE85u);
        uint hi0, lo0, hi1, lo1;
        umulExtended(0xD2511F53u, c.x, hi0, lo0);
        umulExtended(0xCD9E8D57u, c.z, hi1, lo1);
        c = uvec4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

// The four words of stream block (first_block + b) for (seed, offset), 64-bit values as
// (lo, hi) pairs.
uvec4 vkt_philox_block(uvec2 seed, uvec2 offset, uvec2 first_block, uint b)
{
    uint carry;
    uint lo = uaddCarry(first_block.x, b, carry);
    return vkt_philox4x32_10(uvec4(lo, first_block.y + carry, offset.x, offset.y), seed);
}

#endif
