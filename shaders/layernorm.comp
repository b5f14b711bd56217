#version 450
#extension GL_GOOGLE_include_directive : require
// LayerNorm over the last dim: x: [N, D] (N = all leading dims), row r is x[r*D .. r*D+D).
// gamma/beta: [D] (absent: gamma = 1, beta = 0). mean/rstd: [N], float32.
//   VKT_FWD  (one workgroup per row):
//       mean, rstd = 1/sqrt(var + eps) of the row (norm_stats, biased variance)
//       y = (x - mean)*rstd*gamma[d] + beta[d]
//   VKT_BWD  (dx; one workgroup per row): with xhat = (x - mean)*rstd and g = dy*gamma[d],
//       dx = rstd*(g - mean(g) - xhat*mean(g*xhat))       (means over the row; ACCUM: dx +=)
//   VKT_BWD_AFFINE  (one workgroup per TC columns, summing over all rows, no atomics):
//       dgamma[d] = sum_r dy*xhat,  dbeta[d] = sum_r dy       (ACCUM: +=)
//     The workgroup is TC columns x (WG/TC) row lanes: lane l sums rows l, l + WG/TC, ... (the
//     TC neighbouring columns of a row are adjacent in memory), then the lanes are added in
//     shared memory.
// Statistics and sums are float32 in every variant; VKT_F16 only changes storage.
#include "vkt.glsl"

layout(push_constant) uniform PC { // mirrors struct layernorm_pc in src/nn/ops/layernorm.c
    uint N, D;
    uint has_gamma, has_beta;     // fwd: which affine tensors are bound; bwd: has_gamma
    uint want_dgamma, want_dbeta; // bwd affine
    uint accumulate;              // bwd: add into dx / dgamma / dbeta instead of overwriting
    float eps;
} pc;

layout(set = 0, binding = 0) readonly buffer X { STORE_T x[]; };
#if defined(VKT_FWD)
layout(set = 0, binding = 1) readonly buffer Gamma { STORE_T gamma[]; };
layout(set = 0, binding = 2) readonly buffer Beta { STORE_T beta[]; };
layout(set = 0, binding = 3) writeonly buffer Y { STORE_T y[]; };
layout(set = 0, binding = 4) writeonly buffer Mean { float mean_out[]; };
layout(set = 0, binding = 5) writeonly buffer Rstd { float rstd_out[]; };
#elif defined(VKT_BWD)
layout(set = 0, binding = 1) readonly buffer Gamma { STORE_T gamma[]; };
layout(set = 0, binding = 2) readonly buffer Mean { float mean_in[]; };
layout(set = 0, binding = 3) readonly buffer Rstd { float rstd_in[]; };
layout(set = 0, binding = 4) readonly buffer DY { STORE_T dy[]; };
layout(set = 0, binding = 5) buffer DX { STORE_T dx[]; };
#elif defined(VKT_BWD_AFFINE)
layout(set = 0, binding = 1) readonly buffer Mean { float mean_in[]; };
layout(set = 0, binding = 2) readonly buffer Rstd { float rstd_in[]; };
layout(set = 0, binding = 3) readonly buffer DY { STORE_T dy[]; };
// dgamma and dbeta may be bound to the same buffer when only one is wanted (the other flag is 0).
layout(set = 0, binding = 4) buffer DGamma { STORE_T dgamma[]; };
layout(set = 0, binding = 5) buffer DBeta { STORE_T dbeta[]; };
#else
#error define VKT_FWD, VKT_BWD or VKT_BWD_AFFINE
#endif

#include "norm.glsl"

// Columns per workgroup in the affine backward; the C side passes a power-of-two WG >= 2*TC.
const uint TC = 32u;

void main()
{
    uint wgid = vkt_group_id(), t = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
#if defined(VKT_BWD_AFFINE)
    if (wgid * TC >= pc.D) return; // uniform per workgroup
    uint d = wgid * TC + t % TC, lane = t / TC, lanes = wg / TC;
    float sg = 0.0, sb = 0.0;
    if (d < pc.D) {
        for (uint r = lane; r < pc.N; r += lanes) {
            uint i = r * pc.D + d;
            float g = LOADF(dy[i]);
            sg += g * (LOADF(x[i]) - mean_in[r]) * rstd_in[r];
            sb += g;
        }
    }
    norm_red0[t] = sg;
    norm_red1[t] = sb;
    barrier();
    for (uint s = lanes / 2u; s > 0u; s >>= 1) { // add lane l + s into lane l, same column
        if (lane < s) {
            norm_red0[t] += norm_red0[t + s * TC];
            norm_red1[t] += norm_red1[t + s * TC];
        }
        barrier();
    }
    if (lane == 0u && d < pc.D) {
        if (pc.want_dgamma != 0u)
            dgamma[d] = STOREF(pc.accumulate != 0u ? LOADF(dgamma[d]) + norm_red0[t] : norm_red0[t]);
        if (pc.want_dbeta != 0u)
            dbeta[d] = STOREF(pc.accumulate != 0u ? LOADF(dbeta[d]) + norm_red1[t] : norm_red1[t]);
    }
#else
    if (wgid >= pc.N) return; // uniform per workgroup
    uint base = wgid * pc.D;
#if defined(VKT_FWD)
    float mean, rstd;
    norm_stats(base, pc.D, pc.eps, mean, rstd);
    for (uint d = t; d < pc.D; d += wg) {
        float v = (LOADF(x[base + d]) - mean) * rstd;
        if (pc.has_gamma != 0u) v *= LOADF(gamma[d]);
        if (pc.has_beta != 0u) v += LOADF(beta[d]);
        y[base + d] = STOREF(v);
    }
    if (t == 0u) {
        mean_out[wgid] = mean;
        rstd_out[wgid] = rstd;
    }
#else
    float mean = mean_in[wgid], rstd = rstd_in[wgid];
    float s1 = 0.0, s2 = 0.0;
    for (uint d = t; d < pc.D; d += wg) {
        float g = LOADF(dy[base + d]);
        if (pc.has_gamma != 0u) g *= LOADF(gamma[d]);
        s1 += g;
        s2 += g * (LOADF(x[base + d]) - mean) * rstd;
    }
    vec2 tot = norm_wg_sum2(s1, s2);
    float mg = tot.x / float(pc.D), mgx = tot.y / float(pc.D);
    for (uint d = t; d < pc.D; d += wg) {
        float g = LOADF(dy[base + d]);
        if (pc.has_gamma != 0u) g *= LOADF(gamma[d]);
        float v = rstd * (g - mg - (LOADF(x[base + d]) - mean) * rstd * mgx);
        if (pc.accumulate != 0u) v += LOADF(dx[base + d]);
        dx[base + d] = STOREF(v);
    }
#endif
#endif
}
