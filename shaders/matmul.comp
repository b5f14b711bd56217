#version 450
#extension GL_GOOGLE_include_directive : require
// Batched matrix product (VKT_FWD) and the bias gradient of a linear layer (VKT_BWD).
//
// fwd: for every batch b < pc.batch, m < M, n < N
//        C[b,m,n] = alpha * sum_k A[b,m,k] * B[b,k,n] + bias[n]   (+ C[b,m,n] when accumulate)
//      with every operand addressed by element strides, so transposes, broadcast over the batch
//      (batch stride 0) and sub-views are all the same kernel:
//        A[b,m,k] = a[a_off + b*a_sb + m*a_sm + k*a_sk]   (as used, i.e. after any transpose)
//        B[b,k,n] = bm[b_off + b*b_sb + k*b_sk + n*b_sn]
//        C[b,m,n] = c[c_off + b*c_sb + m*c_sm + n*c_sn],  bias[n] = bias[bias_off + n]
//      Tiling: a workgroup computes a BM x BN tile of C, stepping over K in BK slices staged in
//      shared memory (zero-padded past M, N, K, so any size works); each invocation owns a
//      TM x TN register block at rows ty + i*(BM/TM), columns tx + j*(BN/TN) (strided, so
//      neighbouring invocations read neighbouring shared words and write neighbouring columns).
//      With flag 16 (c_sb is 0) the batch is a sum: each workgroup loops over every b and
//      C[m,n] = alpha * sum_b sum_k A[b,m,k] B[b,k,n] + bias[n] is rounded to storage once.
//      Grid: x = M tiles, y = N tiles, z = batch (1 for a sum). Tile shape comes from specialization constants
//      1..5 and the workgroup size (constant 0) must be (BM/TM)*(BN/TN).
//
// bwd: db[n] = sum_r dY[dy_off + r*ld + n] for r < rows   (+ db[n] when accumulate)
//      A workgroup of WG invocations owns 32 columns; WG/32 lanes stride over the rows and a
//      shared-memory sum combines them.
#include "vkt.glsl"

#ifdef VKT_FWD
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;

layout(push_constant) uniform PC { // mirrors struct matmul_pc in src/nn/ops/matmul.c
    uint M, N, K, batch;
    uint a_off, a_sb, a_sm, a_sk;
    uint b_off, b_sb, b_sk, b_sn;
    uint c_off, c_sb, c_sm, c_sn;
    uint bias_off, flags; // 1 has bias, 2 accumulate, 4 A is k-contiguous, 8 B is n-contiguous, 16 sum batch
    float alpha;
} pc;

layout(set = 0, binding = 0) readonly buffer A { STORE_T a[]; };
layout(set = 0, binding = 1) readonly buffer Bm { STORE_T bm[]; };
layout(set = 0, binding = 2) readonly buffer Bias { STORE_T bias[]; };
layout(set = 0, binding = 3) buffer C { STORE_T c[]; };

shared float sA[BK * BM]; // sA[kk*BM + mm]
shared float sB[BK * BN]; // sB[kk*BN + nn]

void main()
{
    const uint WG = gl_WorkGroupSize.x;
    const uint RM = BM / TM, RN = BN / TN; // invocation grid inside the tile
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % RN, ty = tid / RN;
    uint m0 = gl_WorkGroupID.x * BM, n0 = gl_WorkGroupID.y * BN, b = gl_WorkGroupID.z;
    if (b >= pc.batch) return;
    bool a_kfast = (pc.flags & 4u) != 0u, b_nfast = (pc.flags & 8u) != 0u;
    uint b_end = (pc.flags & 16u) != 0u ? pc.batch : b + 1u;

    float acc[TM * TN];
    for (uint i = 0; i < TM * TN; i++) acc[i] = 0.0;

    for (uint bb = b; bb < b_end; bb++) {
        uint abase = pc.a_off + bb * pc.a_sb, bbase = pc.b_off + bb * pc.b_sb;
        for (uint k0 = 0; k0 < pc.K; k0 += BK) {
            // Stage A[m0.., k0..] and B[k0.., n0..]; consecutive invocations walk the operand's
            // contiguous dimension so that global reads coalesce.
            for (uint e = tid; e < BM * BK; e += WG) {
                uint mm = a_kfast ? e / BK : e % BM;
                uint kk = a_kfast ? e % BK : e / BM;
                uint m = m0 + mm, k = k0 + kk;
                sA[kk * BM + mm] = (m < pc.M && k < pc.K) ? LOADF(a[abase + m * pc.a_sm + k * pc.a_sk]) : 0.0;
            }
            for (uint e = tid; e < BN * BK; e += WG) {
                uint nn = b_nfast ? e % BN : e / BK;
                uint kk = b_nfast ? e / BN : e % BK;
                uint n = n0 + nn, k = k0 + kk;
                sB[kk * BN + nn] = (n < pc.N && k < pc.K) ? LOADF(bm[bbase + k * pc.b_sk + n * pc.b_sn]) : 0.0;
            }
            barrier();
            for (uint kk = 0; kk < BK; kk++) {
                float ra[TM], rb[TN];
                for (uint i = 0; i < TM; i++) ra[i] = sA[kk * BM + ty + i * RM];
                for (uint j = 0; j < TN; j++) rb[j] = sB[kk * BN + tx + j * RN];
                for (uint i = 0; i < TM; i++)
                    for (uint j = 0; j < TN; j++) acc[i * TN + j] = fma(ra[i], rb[j], acc[i * TN + j]);
            }
            barrier();
        }
    }

    bool has_bias = (pc.flags & 1u) != 0u, accumulate = (pc.flags & 2u) != 0u;
    uint cbase = pc.c_off + b * pc.c_sb;
    for (uint i = 0; i < TM; i++) {
        uint m = m0 + ty + i * RM;
        if (m >= pc.M) continue;
        for (uint j = 0; j < TN; j++) {
            uint n = n0 + tx + j * RN;
            if (n >= pc.N) continue;
            uint idx = cbase + m * pc.c_sm + n * pc.c_sn;
            float v = pc.alpha * acc[i * TN + j];
            if (has_bias) v += LOADF(bias[pc.bias_off + n]);
            if (accumulate) v += LOADF(c[idx]);
            c[idx] = STOREF(v);
        }
    }
}
#endif

#ifdef VKT_BWD
layout(push_constant) uniform PC { // mirrors struct colsum_pc in src/nn/ops/matmul.c
    uint rows, N, ld, dy_off, db_off, accumulate;
} pc;

layout(set = 0, binding = 0) readonly buffer DY { STORE_T dy[]; };
layout(set = 0, binding = 1) buffer DB { STORE_T db[]; };

shared float part[gl_WorkGroupSize.x];

void main()
{
    const uint WG = gl_WorkGroupSize.x, LANES = WG / 32u;
    uint tid = gl_LocalInvocationID.x;
    uint col = vkt_group_id() * 32u + tid % 32u, lane = tid / 32u;
    float s = 0.0;
    if (col < pc.N)
        for (uint r = lane; r < pc.rows; r += LANES) s += LOADF(dy[pc.dy_off + r * pc.ld + col]);
    part[tid] = s;
    barrier();
    if (lane == 0u && col < pc.N) {
        float t = 0.0;
        for (uint l = 0; l < LANES; l++) t += part[l * 32u + tid];
        if (pc.accumulate != 0u) t += LOADF(db[pc.db_off + col]);
        db[pc.db_off + col] = STOREF(t);
    }
}
#endif
