#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
// Single-head attention over the N = H*W positions of NCHW feature maps, the channels being the
// head dimension (the LDM VAE's mid-block AttnBlock; C = 512 in SD). q, k, v, o: [B, C, N].
//   s[i, j] = scale * sum_c q[b, c, i] * k[b, c, j]
//   o[b, c, i] = sum_j softmax_j(s[i, :]) * v[b, c, j]
// Flash-style: no N x N matrix exists anywhere. A workgroup owns BQ queries and CB output
// channels of one sample and walks the keys in blocks of BK with an online softmax:
//   m' = max(m, max_j s_ij),  a = exp(m - m'),  p_ij = exp(s_ij - m'),
//   l' = a*l + sum_j p_ij,    acc[c, i] = a*acc[c, i] + sum_j p_ij * v[c, j]
// and writes o = acc / l at the end. The scores always use all C channels, so C > CB costs one
// recomputation of the scores per extra channel block (SD's VAE: C = 512, two blocks).
// The workgroup is WG = 128 threads (every Vulkan device allows 128); all math is float32.
#include "vkt.glsl"

#define WG 128u
#define BQ 16u  // queries per workgroup
#define BK 32u  // keys per block
#define DC 32u  // channels per staged chunk (scores and v)
#define CB 256u // output channels per workgroup
#define NJ (CB / DC)        // v chunks per channel block: 8
#define QPT (BQ * DC / WG)  // queries each thread accumulates per v chunk: 4

layout(push_constant) uniform PC { // mirrors struct spatial_attn_pc in src/nn/ops/spatial_attn.c
    uint B, C, N;
    uint n_qb, n_cb; // query blocks ceil(N/BQ), channel blocks ceil(C/CB)
    float scale;
} pc;

layout(set = 0, binding = 0) readonly buffer Q { STORE_T q[]; };
layout(set = 0, binding = 1) readonly buffer K { STORE_T k[]; };
layout(set = 0, binding = 2) readonly buffer V { STORE_T v[]; };
layout(set = 0, binding = 3) writeonly buffer O { STORE_T o[]; };

shared float sh_q[DC][BQ];
shared float sh_kv[DC][BK + 1]; // k chunk for the scores, then v chunk; +1: no bank conflicts
shared float sh_p[BQ][BK + 1];  // scores, then probabilities
shared float sh_alpha[BQ];
shared float sh_l[BQ];

void main()
{
    uint t = gl_LocalInvocationID.x;
    uint g = vkt_group_id();
    uint cb = g % pc.n_cb, r = g / pc.n_cb;
    uint qb = r % pc.n_qb, b = r / pc.n_qb; // uniform per workgroup: early return is safe
    if (b >= pc.B) return;
    uint i0 = qb * BQ, c0 = cb * CB;
    uint base = b * pc.C * pc.N; // element offset of sample b in every tensor

    // scores: thread t owns query sq = t / 8 and keys sk + 8*u, u < 4
    uint sq = t / 8u, sk = t % 8u;
    // v accumulation: channel c0 + j*DC + vc, queries vq0 .. vq0+QPT-1 for each chunk j
    uint vc = t % DC, vq0 = (t / DC) * QPT;
    float acc[NJ * QPT];
    [[unroll]] for (uint a = 0u; a < NJ * QPT; a++) acc[a] = 0.0;
    float m_run = -3.0e38, l_run = 0.0; // meaningful in threads t < BQ (row t)

    for (uint j0 = 0u; j0 < pc.N; j0 += BK) {
        // s[sq, sk + 8u] over all channels, DC at a time
        float s[4] = float[4](0.0, 0.0, 0.0, 0.0);
        for (uint cc = 0u; cc < pc.C; cc += DC) {
            for (uint e = t; e < DC * BQ; e += WG) {
                uint c = e / BQ, i = e % BQ;
                sh_q[c][i] = (cc + c < pc.C && i0 + i < pc.N) ? LOADF(q[base + (cc + c) * pc.N + i0 + i]) : 0.0;
            }
            for (uint e = t; e < DC * BK; e += WG) {
                uint c = e / BK, jj = e % BK;
                sh_kv[c][jj] = (cc + c < pc.C && j0 + jj < pc.N) ? LOADF(k[base + (cc + c) * pc.N + j0 + jj]) : 0.0;
            }
            barrier();
            for (uint c = 0u; c < DC; c++) {
                float qv = sh_q[c][sq];
                [[unroll]] for (uint u = 0u; u < 4u; u++) s[u] += qv * sh_kv[c][sk + 8u * u];
            }
            barrier();
        }
        [[unroll]] for (uint u = 0u; u < 4u; u++) sh_p[sq][sk + 8u * u] = s[u] * pc.scale;
        barrier();
        // online softmax, one thread per query row
        if (t < BQ) {
            uint nk = min(BK, pc.N - j0);
            float mx = m_run;
            for (uint jj = 0u; jj < nk; jj++) mx = max(mx, sh_p[t][jj]);
            float alpha = exp(m_run - mx), sum = 0.0;
            for (uint jj = 0u; jj < BK; jj++) {
                float p = jj < nk ? exp(sh_p[t][jj] - mx) : 0.0;
                sh_p[t][jj] = p;
                sum += p;
            }
            l_run = l_run * alpha + sum;
            m_run = mx;
            sh_alpha[t] = alpha;
        }
        barrier();
        // acc = alpha*acc + p . v, DC channels at a time
        [[unroll]] for (uint jc = 0u; jc < NJ; jc++) {
            uint cbase = c0 + jc * DC;
            if (cbase >= pc.C) break; // uniform
            for (uint e = t; e < DC * BK; e += WG) {
                uint c = e / BK, jj = e % BK;
                sh_kv[c][jj] = (cbase + c < pc.C && j0 + jj < pc.N) ? LOADF(v[base + (cbase + c) * pc.N + j0 + jj]) : 0.0;
            }
            barrier();
            [[unroll]] for (uint u = 0u; u < QPT; u++) {
                uint qi = vq0 + u;
                float sum = 0.0;
                for (uint jj = 0u; jj < BK; jj++) sum += sh_p[qi][jj] * sh_kv[vc][jj];
                acc[jc * QPT + u] = acc[jc * QPT + u] * sh_alpha[qi] + sum;
            }
            barrier();
        }
    }
    if (t < BQ) sh_l[t] = l_run;
    barrier();
    [[unroll]] for (uint jc = 0u; jc < NJ; jc++) {
        uint c = c0 + jc * DC + vc;
        [[unroll]] for (uint u = 0u; u < QPT; u++) {
            uint qi = vq0 + u;
            if (c < pc.C && i0 + qi < pc.N) o[base + c * pc.N + i0 + qi] = STOREF(acc[jc * QPT + u] / sh_l[qi]);
        }
    }
}
