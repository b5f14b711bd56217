#version 450
#extension GL_GOOGLE_include_directive : require
// 2-D convolution, NCHW, weights [Cout, Cin, KH, KW] as in torch. The three big kernels are one
// implicit GEMM C[M,N] = A[M,K] * B[K,N]: no im2col buffer exists, each tile load gathers its
// operands straight from the tensors. Taps outside the input read zero, so the bottom/right
// padding shows only in OH/OW (pt/pl shift the window; asymmetric pads work unchanged).
//
//   VKT_FWD     y[b,co,oy,ox] = bias[co] + sum_{ci,ky,kx} w[co,ci,ky,kx] x[b,ci,oy*sh-pt+ky,ox*sw-pl+kx]
//               M = Cout, N = B*OH*OW, K = Cin*KH*KW; A = w viewed as [Cout, K]; B = x gathered
//   VKT_BWD_DX  dx[b,ci,iy,ix] (=|+=) sum_{co,ky,kx} w[co,ci,ky,kx] dy[b,co,oy,ox]
//               where oy = (iy+pt-ky)/sh divides exactly and 0 <= oy < OH (likewise ox): the
//               transposed convolution. M = Cin, N = B*H*W, K = Cout*KH*KW
//   VKT_BWD_DW  dw[co,ci,ky,kx] (=|+=) sum_{b,oy,ox} dy[b,co,oy,ox] x[b,ci,oy*sh-pt+ky,ox*sw-pl+kx]
//               M = Cout, N = Cin*KH*KW, K = B*OH*OW
//   VKT_BWD_DB  db[co] (=|+=) sum_{b,oy,ox} dy[b,co,oy,ox]   (a plain reduction, not a GEMM)
//
// Tiling: a workgroup owns a BM x BN tile of C and walks K in steps of BK. Each step stages an A
// tile [BK][BM] and a B tile [BK][BN] in shared memory (rows padded by one float against bank
// conflicts); each thread then accumulates a TM x TN register block at rows ty + i*BM/TM and
// columns tx + j*BN/TN, so neighbouring threads touch neighbouring addresses in both the shared
// reads and the global stores. Tile sizes are specialization constants 1..5 and WG = (BM/TM) *
// (BN/TN) is constant 0. The wrapper (src/nn/ops/conv2d.c) guarantees WG % BK == 0 and
// WG % BN == 0: then the k (or n) a thread loads is the same in every step, and the index
// arithmetic for it is hoisted out of the K loop. Accumulation is in float for every storage type.
#include "vkt.glsl"

#ifdef VKT_BWD_DB

layout(push_constant) uniform PC { // mirrors struct conv2d_db_pc in src/nn/ops/conv2d.c
    uint B, C, HW, accumulate;
} pc;

layout(set = 0, binding = 0) readonly buffer DY { STORE_T dy[]; };
layout(set = 0, binding = 1) buffer DB { STORE_T db[]; };

shared float red[gl_WorkGroupSize.x]; // the wrapper makes the workgroup size a power of two

// One workgroup per channel: strided partial sums, then a tree through shared memory.
void main()
{
    uint c = vkt_group_id(), tid = gl_LocalInvocationID.x;
    if (c >= pc.C) return; // uniform over the workgroup
    float s = 0.0;
    for (uint b = 0; b < pc.B; b++) {
        uint base = (b * pc.C + c) * pc.HW;
        for (uint p = tid; p < pc.HW; p += gl_WorkGroupSize.x) s += LOADF(dy[base + p]);
    }
    red[tid] = s;
    for (uint h = gl_WorkGroupSize.x / 2; h > 0; h /= 2) {
        barrier();
        if (tid < h) red[tid] += red[tid + h];
    }
    if (tid == 0) {
        float r = red[0];
        if (pc.accumulate != 0u) r += LOADF(db[c]);
        db[c] = STOREF(r);
    }
}

#else

layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
const uint WG = (BM / TM) * (BN / TN); // == gl_WorkGroupSize.x (set by the wrapper)
const uint A_IT = (BM * BK + WG - 1) / WG; // A-tile elements per thread and step
const uint B_IT = (BK * BN + WG - 1) / WG; // B-tile elements per thread and step

layout(push_constant) uniform PC { // mirrors struct conv2d_pc in src/nn/ops/conv2d.c
    uint B, Cin, H, W, Cout, OH, OW, KH, KW;
    uint sh, sw;
    int pt, pl;
    uint M, N, K;
    uint tiles_n; // ceil(N / BN): the linear group index is split into (m tile, n tile)
    uint flags;   // bit 0: accumulate into the output (dx, dw); bit 1: add bias (fwd)
} pc;

#if defined(VKT_FWD)
layout(set = 0, binding = 0) readonly buffer X { STORE_T x[]; };
layout(set = 0, binding = 1) readonly buffer Wt { STORE_T w[]; };
layout(set = 0, binding = 2) readonly buffer Bias { STORE_T bias[]; };
layout(set = 0, binding = 3) writeonly buffer Y { STORE_T out_[]; };
#elif defined(VKT_BWD_DX)
layout(set = 0, binding = 0) readonly buffer DY { STORE_T dy[]; };
layout(set = 0, binding = 1) readonly buffer Wt { STORE_T w[]; };
layout(set = 0, binding = 2) buffer DX { STORE_T out_[]; };
#elif defined(VKT_BWD_DW)
layout(set = 0, binding = 0) readonly buffer X { STORE_T x[]; };
layout(set = 0, binding = 1) readonly buffer DY { STORE_T dy[]; };
layout(set = 0, binding = 2) buffer DW { STORE_T out_[]; };
#else
#error "define VKT_FWD, VKT_BWD_DX, VKT_BWD_DW or VKT_BWD_DB"
#endif

const uint AS = BM + 1, BS = BN + 1; // padded row strides of the shared tiles
shared float As[BK * AS];            // As[kk * AS + mm] = A[m0 + mm, k0 + kk]
shared float Bs[BK * BS];            // Bs[kk * BS + nn] = B[k0 + kk, n0 + nn]

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint tile = vkt_group_id();
    const uint m0 = (tile / pc.tiles_n) * BM, n0 = (tile % pc.tiles_n) * BN;
    if (m0 >= pc.M) return; // uniform over the workgroup: no barrier is skipped by part of it
    const uint tx = tid % (BN / TN), ty = tid / (BN / TN);
    const uint KHW = pc.KH * pc.KW, HW = pc.H * pc.W, OHW = pc.OH * pc.OW;

    // A tile loads, k fastest: this thread's k is k0 + a_kk, its rows a_mm + it * (WG / BK).
    const uint a_kk = tid % BK, a_mm = tid / BK;
    // Per-row part of A's address (row valid <=> m < M, checked again in the loop).
    uint a_row[A_IT];
    for (uint it = 0; it < A_IT; it++) {
        uint m = m0 + a_mm + it * (WG / BK);
#if defined(VKT_FWD)
        a_row[it] = m * pc.K;     // w[m, k]
#elif defined(VKT_BWD_DX)
        a_row[it] = m * KHW;      // w[co, m, r] = w[(co*Cin + m)*KHW + r]
#else
        a_row[it] = m * OHW;      // dy[b, m, p] = dy[(b*Cout + m)*OHW + p]
#endif
    }

#if defined(VKT_FWD) || defined(VKT_BWD_DX)
    // B tile loads, n fastest: this thread's n is n0 + b_nn in every step, its k rows are
    // b_kk + it * (WG / BN). Everything that depends on n alone is computed once here.
    const uint b_nn = tid % BN, b_kk = tid / BN;
    const uint n = n0 + b_nn;
    const bool n_ok = n < pc.N;
#if defined(VKT_FWD)
    const uint nb = n_ok ? n / OHW : 0, np = n - nb * OHW; // batch, output pixel
    const uint oy = np / pc.OW, ox = np - oy * pc.OW;
    const int iy0 = int(oy * pc.sh) - pc.pt, ix0 = int(ox * pc.sw) - pc.pl;
    const uint b_base = nb * pc.Cin * HW;
#else
    const uint nb = n_ok ? n / HW : 0, np = n - nb * HW; // batch, input pixel
    const uint iy = np / pc.W, ix = np - iy * pc.W;
    const int ty0 = int(iy) + pc.pt, tx0 = int(ix) + pc.pl; // oy*sh = iy + pt - ky
    const uint b_base = nb * pc.Cout * OHW;
#endif
#else
    // dw: B = x gathered, k fastest like A. The n (= ci, ky, kx) parts are fixed per thread.
    const uint b_kk = tid % BK, b_nn = tid / BK;
    uint b_off[B_IT]; // ci * H*W
    int b_ky[B_IT], b_kx[B_IT];
    for (uint it = 0; it < B_IT; it++) {
        uint n = n0 + b_nn + it * (WG / BK);
        uint ci = n / KHW, r = n - ci * KHW, ky = r / pc.KW;
        b_off[it] = ci * HW;
        b_ky[it] = int(ky);
        b_kx[it] = int(r - ky * pc.KW);
    }
#endif

    float acc[TM * TN];
    for (uint i = 0; i < TM * TN; i++) acc[i] = 0.0;

    for (uint k0 = 0; k0 < pc.K; k0 += BK) {
        // ---- stage A[m0.., k0..] ----
        {
            const uint k = k0 + a_kk;
            const bool k_ok = k < pc.K;
#if defined(VKT_FWD)
            const uint a_col = k;
#elif defined(VKT_BWD_DX)
            const uint co = k / KHW;
            const uint a_col = co * pc.Cin * KHW + (k - co * KHW);
#else
            const uint kb = k / OHW;
            const uint a_col = kb * pc.Cout * OHW + (k - kb * OHW);
#endif
            for (uint it = 0; it < A_IT; it++) {
                uint mm = a_mm + it * (WG / BK);
                if (mm >= BM) break;
                uint m = m0 + mm;
                float v = 0.0;
#if defined(VKT_FWD) || defined(VKT_BWD_DX)
                if (k_ok && m < pc.M) v = LOADF(w[a_row[it] + a_col]);
#else
                if (k_ok && m < pc.M) v = LOADF(dy[a_row[it] + a_col]);
#endif
                As[a_kk * AS + mm] = v;
            }
        }
        // ---- stage B[k0.., n0..] ----
#if defined(VKT_FWD) || defined(VKT_BWD_DX)
        for (uint it = 0; it < B_IT; it++) {
            uint kk = b_kk + it * (WG / BN);
            if (kk >= BK) break;
            uint k = k0 + kk;
            float v = 0.0;
            if (n_ok && k < pc.K) {
                uint c = k / KHW, r = k - c * KHW, ky = r / pc.KW, kx = r - ky * pc.KW;
#if defined(VKT_FWD)
                int yy = iy0 + int(ky), xx = ix0 + int(kx);
                if (yy >= 0 && yy < int(pc.H) && xx >= 0 && xx < int(pc.W))
                    v = LOADF(x[b_base + c * HW + uint(yy) * pc.W + uint(xx)]);
#else
                int ty = ty0 - int(ky), tx_ = tx0 - int(kx);
                if (ty >= 0 && tx_ >= 0) {
                    uint oy = uint(ty) / pc.sh, ox = uint(tx_) / pc.sw;
                    if (oy * pc.sh == uint(ty) && ox * pc.sw == uint(tx_) && oy < pc.OH && ox < pc.OW)
                        v = LOADF(dy[b_base + c * OHW + oy * pc.OW + ox]);
                }
#endif
            }
            Bs[kk * BS + b_nn] = v;
        }
#else
        {
            const uint k = k0 + b_kk;
            const bool k_ok = k < pc.K;
            const uint kb = k_ok ? k / OHW : 0, kp = k - kb * OHW;
            const uint oy = kp / pc.OW, ox = kp - oy * pc.OW;
            const int iy0 = int(oy * pc.sh) - pc.pt, ix0 = int(ox * pc.sw) - pc.pl;
            const uint xb = kb * pc.Cin * HW;
            for (uint it = 0; it < B_IT; it++) {
                uint nn = b_nn + it * (WG / BK);
                if (nn >= BN) break;
                float v = 0.0;
                int yy = iy0 + b_ky[it], xx = ix0 + b_kx[it];
                if (k_ok && n0 + nn < pc.N && yy >= 0 && yy < int(pc.H) && xx >= 0 && xx < int(pc.W))
                    v = LOADF(x[xb + b_off[it] + uint(yy) * pc.W + uint(xx)]);
                Bs[b_kk * BS + nn] = v;
            }
        }
#endif
        barrier();
        // ---- C[ty + i*BM/TM, tx + j*BN/TN] += sum_kk A * B ----
        for (uint kk = 0; kk < BK; kk++) {
            float a[TM], bv[TN];
            for (uint i = 0; i < TM; i++) a[i] = As[kk * AS + ty + i * (BM / TM)];
            for (uint j = 0; j < TN; j++) bv[j] = Bs[kk * BS + tx + j * (BN / TN)];
            for (uint i = 0; i < TM; i++)
                for (uint j = 0; j < TN; j++) acc[i * TN + j] = fma(a[i], bv[j], acc[i * TN + j]);
        }
        barrier();
    }

    // ---- store ----
    const bool accumulate = (pc.flags & 1u) != 0u;
    for (uint j = 0; j < TN; j++) {
        uint n = n0 + tx + j * (BN / TN);
        if (n >= pc.N) break;
#if defined(VKT_FWD)
        uint ob = n / OHW, op = n - ob * OHW;
        uint base = ob * pc.Cout * OHW + op; // y[b, m, p] = base + m*OHW
        uint mstride = OHW;
#elif defined(VKT_BWD_DX)
        uint ob = n / HW, op = n - ob * HW;
        uint base = ob * pc.Cin * HW + op;   // dx[b, m, p]
        uint mstride = HW;
#else
        uint base = n;                       // dw[m, n]
        uint mstride = pc.N;
#endif
        for (uint i = 0; i < TM; i++) {
            uint m = m0 + ty + i * (BM / TM);
            if (m >= pc.M) break;
            float v = acc[i * TN + j];
            uint o = base + m * mstride;
#if defined(VKT_FWD)
            if ((pc.flags & 2u) != 0u) v += LOADF(bias[m]);
#else
            if (accumulate) v += LOADF(out_[o]);
#endif
            out_[o] = STOREF(v);
        }
    }
}

#endif
