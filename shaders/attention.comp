#version 450
#extension GL_GOOGLE_include_directive : require
// Scaled-dot-product attention, flash style: no Tq x Tk matrix is ever stored; the forward keeps
// an online softmax over blocks of keys and the backward recomputes probabilities blockwise
// from q, k and the saved log-sum-exp (FlashAttention-2, Dao 2023, algorithms 1 and 2).
//
// Layout (the models' linear layers give it directly): q, o, dq, do [B, Tq, H*D] and
// k, v, dk, dv [B, Tk, H*D], head h in columns h*D .. h*D+D-1; lse [B, H, Tq] (f32).
//   s_ij = scale * q_i·k_j, masked when causal and j > i (torch's top-left is_causal)
//   p_ij = exp(s_ij - lse_i),  lse_i = log sum_j exp(s_ij),  o_i = sum_j p_ij v_j
// VKT_FWD (a workgroup per (b, h, block of BQ queries)), over key blocks:
//   m' = max(m, max_j s_ij);  l' = l e^(m-m') + sum_j e^(s_ij-m');  acc' = acc e^(m-m') + sum_j e^(s_ij-m') v_j
//   then o_i = acc / l, lse_i = m + log l
// Backward with delta_i = do_i·o_i (= sum_j p_ij do_i·v_j), dp_ij = do_i·v_j, ds_ij = p_ij (dp_ij - delta_i):
// VKT_BWD_KV (a workgroup per (b, h, block of BK keys)), over query blocks:
//   dv_j = sum_i p_ij do_i,  dk_j = scale sum_i ds_ij q_i
// VKT_BWD_Q (a workgroup per (b, h, block of BQ queries)), over key blocks:
//   dq_i = scale sum_j ds_ij k_j
// Two passes instead of float atomics. Each invocation owns one row of its block (TPR
// invocations per row) and the head-dim elements c, c+TPR, .. (DPT of them) of it; the score
// tiles are spread over the whole workgroup. Blocks are staged in shared memory, rows padded
// to D+1 words so that invocations reading different rows hit different banks.
#include "vkt.glsl"
#include "vkt_math.glsl"

layout(constant_id = 1) const uint BQ = 16; // query rows per block
layout(constant_id = 2) const uint BK = 16; // key rows per block
layout(constant_id = 3) const uint TPR = 4; // invocations per row of the workgroup's own block
layout(constant_id = 4) const uint DPT = 4; // head-dim elements per invocation: ceil(D / TPR)
layout(constant_id = 5) const uint D = 16;  // head dim
const uint DS = D + 1u;                     // shared row stride of q/k/v/do blocks
const uint SS = BK + 1u;                    // shared row stride of score tiles
const float NEG = -1.0e30;                  // masked score; exp(NEG - finite) = 0

layout(push_constant) uniform PC { // mirrors struct attn_pc in src/nn/ops/attention.c
    uint B, H, Tq, Tk;
    float scale;
    uint causal, accumulate, flags; // flags: fwd 1 = write lse; bwd_kv 1 = write dk, 2 = write dv
} pc;

layout(set = 0, binding = 0) readonly buffer Q { STORE_T q[]; };
layout(set = 0, binding = 1) readonly buffer K { STORE_T k[]; };
layout(set = 0, binding = 2) readonly buffer V { STORE_T v[]; };
#ifdef VKT_FWD
layout(set = 0, binding = 3) writeonly buffer O { STORE_T o[]; };
layout(set = 0, binding = 4) writeonly buffer LSE { float lse[]; };
#else
layout(set = 0, binding = 3) readonly buffer O { STORE_T o[]; };
layout(set = 0, binding = 4) readonly buffer DO { STORE_T dout[]; };
layout(set = 0, binding = 5) readonly buffer LSE { float lse[]; };
#endif
#ifdef VKT_BWD_Q
layout(set = 0, binding = 6) buffer DQ { STORE_T dq[]; };
#endif
#ifdef VKT_BWD_KV
layout(set = 0, binding = 6) buffer DK { STORE_T dk[]; };
layout(set = 0, binding = 7) buffer DV { STORE_T dv[]; };
#endif

shared float sK[BK * DS], sV[BK * DS];
#ifdef VKT_FWD
shared float sQ[BQ * DS];
shared float sS[BQ * SS];
#else
shared float sQ[BQ * DS], sdO[BQ * DS];
shared float sdS[BQ * SS];
shared float sL[BQ];                      // lse of the staged queries
shared float sPart[gl_WorkGroupSize.x];   // partial sums of delta_i = do_i·o_i
#endif
#ifdef VKT_BWD_Q
shared float sDelta[BQ];
#endif
#ifdef VKT_BWD_KV
shared float sP[BQ * SS];
#endif

// dst[rr][d] = src[base + (r0+rr)*C + d] for rr < NROWS (zero past T), by the whole workgroup.
#define STAGE_ROWS(dst, src, NROWS, r0, T, base, C)                                                \
    for (uint e_ = gl_LocalInvocationID.x; e_ < (NROWS) * D; e_ += gl_WorkGroupSize.x) {           \
        uint rr_ = e_ / D, d_ = e_ % D, t_ = (r0) + rr_;                                            \
        dst[rr_ * DS + d_] = t_ < (T) ? LOADF(src[(base) + t_ * (C) + d_]) : 0.0;                   \
    }

// Scores of the staged query row rr against the staged key row jj.
float qk(uint rr, uint jj)
{
    float s = 0.0;
    for (uint d = 0u; d < D; d++) s = fma(sQ[rr * DS + d], sK[jj * DS + d], s);
    return s * pc.scale;
}

bool visible(uint i, uint j) { return j < pc.Tk && (pc.causal == 0u || j <= i); }

#ifndef VKT_FWD
// Stages the query block i0.. (q, do, the lse and the partial sums of delta) with NPR
// invocations per row; row qr = tid / NPR takes elements qc, qc+NPR, .. of its row.
void stage_queries(uint i0, uint qbase, uint bh, uint C, uint NPR)
{
    uint tid = gl_LocalInvocationID.x, qr = tid / NPR, qc = tid % NPR, i = i0 + qr;
    float part = 0.0;
    for (uint d = qc; d < D; d += NPR) {
        float qv = 0.0, g = 0.0;
        if (i < pc.Tq) {
            uint idx = qbase + i * C + d;
            qv = LOADF(q[idx]);
            g = LOADF(dout[idx]);
            part = fma(g, LOADF(o[idx]), part);
        }
        sQ[qr * DS + d] = qv;
        sdO[qr * DS + d] = g;
    }
    sPart[tid] = part;
    if (qc == 0u) sL[qr] = i < pc.Tq ? lse[bh * pc.Tq + i] : 0.0;
}

float delta_of(uint rr, uint NPR)
{
    float s = 0.0;
    for (uint u = 0u; u < NPR; u++) s += sPart[rr * NPR + u];
    return s;
}
#endif

void main()
{
    const uint WG = gl_WorkGroupSize.x;
    uint tid = gl_LocalInvocationID.x, r = tid / TPR, c = tid % TPR;
    uint C = pc.H * D;
#ifdef VKT_BWD_KV
    uint nblk = (pc.Tk + BK - 1u) / BK;
#else
    uint nblk = (pc.Tq + BQ - 1u) / BQ;
#endif
    uint g = vkt_group_id();
    if (g >= pc.B * pc.H * nblk) return; // uniform per workgroup
    uint blk = g % nblk, bh = g / nblk, b = bh / pc.H, h = bh % pc.H;
    uint qbase = b * pc.Tq * C + h * D, kbase = b * pc.Tk * C + h * D;

#ifdef VKT_FWD
    uint i0 = blk * BQ, i = i0 + r;
    STAGE_ROWS(sQ, q, BQ, i0, pc.Tq, qbase, C)
    float m = NEG, l = 0.0, acc[DPT];
    for (uint e = 0u; e < DPT; e++) acc[e] = 0.0;
    uint kend = pc.causal != 0u ? min(pc.Tk, i0 + BQ) : pc.Tk;
    for (uint j0 = 0u; j0 < kend; j0 += BK) {
        barrier(); // the previous block's readers are done (and sQ is staged)
        STAGE_ROWS(sK, k, BK, j0, pc.Tk, kbase, C)
        STAGE_ROWS(sV, v, BK, j0, pc.Tk, kbase, C)
        barrier();
        for (uint e = tid; e < BQ * BK; e += WG) {
            uint rr = e / BK, jj = e % BK;
            sS[rr * SS + jj] = visible(i0 + rr, j0 + jj) ? qk(rr, jj) : NEG;
        }
        barrier();
        // Every invocation of row r repeats the row's statistics (same reads, same results).
        // Key 0 is visible to every row and sits in the first block, so m is finite after it.
        float mb = m;
        for (uint jj = 0u; jj < BK; jj++) mb = max(mb, sS[r * SS + jj]);
        float corr = exp(m - mb);
        l *= corr;
        for (uint e = 0u; e < DPT; e++) acc[e] *= corr;
        for (uint jj = 0u; jj < BK; jj++) {
            float s = sS[r * SS + jj];
            float p = s > 0.5 * NEG ? exp(s - mb) : 0.0;
            l += p;
            for (uint e = 0u; e < DPT; e++) {
                uint d = c + e * TPR;
                if (d < D) acc[e] = fma(p, sV[jj * DS + d], acc[e]);
            }
        }
        m = mb;
    }
    if (i < pc.Tq) {
        float inv = 1.0 / l; // l >= 1: the row max contributes exp(0)
        for (uint e = 0u; e < DPT; e++) {
            uint d = c + e * TPR;
            if (d < D) o[qbase + i * C + d] = STOREF(acc[e] * inv);
        }
        if (c == 0u && (pc.flags & 1u) != 0u) lse[bh * pc.Tq + i] = m + vkt_log(l);
    }
#endif

#ifdef VKT_BWD_KV
    const uint NPR = WG / BQ; // invocations per staged query row; the C side keeps WG % BQ == 0
    uint j0 = blk * BK, j = j0 + r;
    STAGE_ROWS(sK, k, BK, j0, pc.Tk, kbase, C)
    STAGE_ROWS(sV, v, BK, j0, pc.Tk, kbase, C)
    float gk[DPT], gv[DPT];
    for (uint e = 0u; e < DPT; e++) gk[e] = gv[e] = 0.0;
    // Causal: queries i < j0 see none of these keys.
    uint istart = pc.causal != 0u ? (j0 / BQ) * BQ : 0u;
    for (uint i0 = istart; i0 < pc.Tq; i0 += BQ) {
        barrier();
        stage_queries(i0, qbase, bh, C, NPR);
        barrier();
        for (uint e = tid; e < BQ * BK; e += WG) {
            uint rr = e / BK, jj = e % BK, ii = i0 + rr;
            float p = 0.0, ds = 0.0;
            if (ii < pc.Tq && visible(ii, j0 + jj)) {
                float dp = 0.0;
                for (uint d = 0u; d < D; d++) dp = fma(sdO[rr * DS + d], sV[jj * DS + d], dp);
                p = exp(qk(rr, jj) - sL[rr]);
                ds = p * (dp - delta_of(rr, NPR));
            }
            sP[rr * SS + jj] = p;
            sdS[rr * SS + jj] = ds;
        }
        barrier();
        for (uint rr = 0u; rr < BQ; rr++) {
            float p = sP[rr * SS + r], ds = sdS[rr * SS + r];
            for (uint e = 0u; e < DPT; e++) {
                uint d = c + e * TPR;
                if (d < D) {
                    gv[e] = fma(p, sdO[rr * DS + d], gv[e]);
                    gk[e] = fma(ds, sQ[rr * DS + d], gk[e]);
                }
            }
        }
    }
    if (j < pc.Tk) {
        bool acc = pc.accumulate != 0u;
        for (uint e = 0u; e < DPT; e++) {
            uint d = c + e * TPR, idx = kbase + j * C + d;
            if (d >= D) continue;
            if ((pc.flags & 1u) != 0u) dk[idx] = STOREF(pc.scale * gk[e] + (acc ? LOADF(dk[idx]) : 0.0));
            if ((pc.flags & 2u) != 0u) dv[idx] = STOREF(gv[e] + (acc ? LOADF(dv[idx]) : 0.0));
        }
    }
#endif

#ifdef VKT_BWD_Q
    uint i0 = blk * BQ, i = i0 + r;
    stage_queries(i0, qbase, bh, C, TPR);
    barrier();
    if (c == 0u) sDelta[r] = delta_of(r, TPR);
    float gq[DPT];
    for (uint e = 0u; e < DPT; e++) gq[e] = 0.0;
    uint kend = pc.causal != 0u ? min(pc.Tk, i0 + BQ) : pc.Tk;
    for (uint j0 = 0u; j0 < kend; j0 += BK) {
        barrier(); // sDelta written; the previous block's readers are done
        STAGE_ROWS(sK, k, BK, j0, pc.Tk, kbase, C)
        STAGE_ROWS(sV, v, BK, j0, pc.Tk, kbase, C)
        barrier();
        for (uint e = tid; e < BQ * BK; e += WG) {
            uint rr = e / BK, jj = e % BK, ii = i0 + rr;
            float ds = 0.0;
            if (ii < pc.Tq && visible(ii, j0 + jj)) {
                float dp = 0.0;
                for (uint d = 0u; d < D; d++) dp = fma(sdO[rr * DS + d], sV[jj * DS + d], dp);
                ds = exp(qk(rr, jj) - sL[rr]) * (dp - sDelta[rr]);
            }
            sdS[rr * SS + jj] = ds;
        }
        barrier();
        for (uint jj = 0u; jj < BK; jj++) {
            float ds = sdS[r * SS + jj];
            for (uint e = 0u; e < DPT; e++) {
                uint d = c + e * TPR;
                if (d < D) gq[e] = fma(ds, sK[jj * DS + d], gq[e]);
            }
        }
    }
    if (i < pc.Tq) {
        for (uint e = 0u; e < DPT; e++) {
            uint d = c + e * TPR, idx = qbase + i * C + d;
            if (d >= D) continue;
            dq[idx] = STOREF(pc.scale * gq[e] + (pc.accumulate != 0u ? LOADF(dq[idx]) : 0.0));
        }
    }
#endif
}
