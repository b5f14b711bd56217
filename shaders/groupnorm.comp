#version 450
#extension GL_GOOGLE_include_directive : require
// GroupNorm over x: [B, C, S] (S = H*W), G groups of cg = C/G channels. Group (b, g) is the
// contiguous slice of n = cg*S elements starting at (b*C + g*cg)*S; c = g*cg + i/S for its
// i-th element. gamma/beta: [C] (absent: gamma = 1, beta = 0). mean/rstd: [B, G], float32.
//   VKT_FWD  (one workgroup per (b, g)):
//       mean, rstd = 1/sqrt(var + eps) of the group (norm_stats, biased variance)
//       y = (x - mean)*rstd*gamma[c] + beta[c]
//   VKT_BWD  (dx; one workgroup per (b, g)): with xhat = (x - mean)*rstd and g = dy*gamma[c],
//       dx = rstd*(g - mean(g) - xhat*mean(g*xhat))       (means over the group; ACCUM: dx +=)
//   VKT_BWD_AFFINE  (one workgroup per channel c, summing over b and s):
//       dgamma[c] = sum dy*xhat,  dbeta[c] = sum dy           (ACCUM: +=)
//   VKT_SILU (with any of the three: GroupNorm fused with the SiLU that follows it, y = silu(z),
//   z = xhat*gamma[c] + beta[c], silu(z) = z*sigmoid(z)). The forward applies silu before its one
//   store; z is never stored. The backwards recompute z from x and the saved mean/rstd and use
//   dz = dy*silu'(z), silu'(z) = s*(1 + z*(1 - s)) with s = sigmoid(z), in place of dy in the
//   formulas above, in the same loops (no extra dispatch, no extra tensor). They bind beta (z
//   needs it), and the affine backward binds gamma as well.
// Statistics and sums are float32 in every variant; VKT_F16 only changes storage.
#include "vkt.glsl"

layout(push_constant) uniform PC { // mirrors struct groupnorm_pc in src/nn/ops/groupnorm.c
    uint B, C, S, G, cg;
    uint has_gamma, has_beta;  // which affine tensors are bound (plain bwd: has_gamma only)
    uint want_dgamma, want_dbeta; // bwd affine
    uint accumulate;           // bwd: add into dx / dgamma / dbeta instead of overwriting
    float eps;
} pc;

layout(set = 0, binding = 0) readonly buffer X { STORE_T x[]; };
#if defined(VKT_FWD)
layout(set = 0, binding = 1) readonly buffer Gamma { STORE_T gamma[]; };
layout(set = 0, binding = 2) readonly buffer Beta { STORE_T beta[]; };
layout(set = 0, binding = 3) writeonly buffer Y { STORE_T y[]; };
layout(set = 0, binding = 4) writeonly buffer Mean { float mean_out[]; };
layout(set = 0, binding = 5) writeonly buffer Rstd { float rstd_out[]; };
#elif defined(VKT_BWD) && !defined(VKT_SILU)
layout(set = 0, binding = 1) readonly buffer Gamma { STORE_T gamma[]; };
layout(set = 0, binding = 2) readonly buffer Mean { float mean_in[]; };
layout(set = 0, binding = 3) readonly buffer Rstd { float rstd_in[]; };
layout(set = 0, binding = 4) readonly buffer DY { STORE_T dy[]; };
layout(set = 0, binding = 5) buffer DX { STORE_T dx[]; };
#elif defined(VKT_BWD)
layout(set = 0, binding = 1) readonly buffer Gamma { STORE_T gamma[]; };
layout(set = 0, binding = 2) readonly buffer Beta { STORE_T beta[]; };
layout(set = 0, binding = 3) readonly buffer Mean { float mean_in[]; };
layout(set = 0, binding = 4) readonly buffer Rstd { float rstd_in[]; };
layout(set = 0, binding = 5) readonly buffer DY { STORE_T dy[]; };
layout(set = 0, binding = 6) buffer DX { STORE_T dx[]; };
#elif defined(VKT_BWD_AFFINE) && !defined(VKT_SILU)
layout(set = 0, binding = 1) readonly buffer Mean { float mean_in[]; };
layout(set = 0, binding = 2) readonly buffer Rstd { float rstd_in[]; };
layout(set = 0, binding = 3) readonly buffer DY { STORE_T dy[]; };
// dgamma and dbeta may be bound to the same buffer when only one is wanted (the other flag is 0).
layout(set = 0, binding = 4) buffer DGamma { STORE_T dgamma[]; };
layout(set = 0, binding = 5) buffer DBeta { STORE_T dbeta[]; };
#elif defined(VKT_BWD_AFFINE)
layout(set = 0, binding = 1) readonly buffer Gamma { STORE_T gamma[]; };
layout(set = 0, binding = 2) readonly buffer Beta { STORE_T beta[]; };
layout(set = 0, binding = 3) readonly buffer Mean { float mean_in[]; };
layout(set = 0, binding = 4) readonly buffer Rstd { float rstd_in[]; };
layout(set = 0, binding = 5) readonly buffer DY { STORE_T dy[]; };
layout(set = 0, binding = 6) buffer DGamma { STORE_T dgamma[]; };
layout(set = 0, binding = 7) buffer DBeta { STORE_T dbeta[]; };
#else
#error define VKT_FWD, VKT_BWD or VKT_BWD_AFFINE
#endif

#include "norm.glsl"

#if !defined(VKT_FWD)
// The gradient reaching the normalised value xh = (x[i] - mean)*rstd of channel c: dy[i], or for
// the fused variants dy[i]*silu'(z) with z = xh*gamma[c] + beta[c] recomputed.
float gn_dz(uint i, uint c, float xh)
{
    float d = LOADF(dy[i]);
#if defined(VKT_SILU)
    float z = xh;
    if (pc.has_gamma != 0u) z *= LOADF(gamma[c]);
    if (pc.has_beta != 0u) z += LOADF(beta[c]);
    float sg = vkt_sigmoid(z);
    d *= sg * (1.0 + z * (1.0 - sg));
#endif
    return d;
}
#endif

void main()
{
    uint wgid = vkt_group_id(), t = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
#if defined(VKT_BWD_AFFINE)
    uint c = wgid; // uniform per workgroup: the early return keeps barriers in uniform flow
    if (c >= pc.C) return;
    uint g = c / pc.cg;
    float sg = 0.0, sb = 0.0;
    for (uint b = 0u; b < pc.B; b++) {
        float m = mean_in[b * pc.G + g], r = rstd_in[b * pc.G + g];
        uint base = (b * pc.C + c) * pc.S;
        for (uint s = t; s < pc.S; s += wg) {
            float xh = (LOADF(x[base + s]) - m) * r;
            float d = gn_dz(base + s, c, xh);
            sg += d * xh;
            sb += d;
        }
    }
    vec2 tot = norm_wg_sum2(sg, sb);
    if (t == 0u) {
        if (pc.want_dgamma != 0u)
            dgamma[c] = STOREF(pc.accumulate != 0u ? LOADF(dgamma[c]) + tot.x : tot.x);
        if (pc.want_dbeta != 0u)
            dbeta[c] = STOREF(pc.accumulate != 0u ? LOADF(dbeta[c]) + tot.y : tot.y);
    }
#else
    if (wgid >= pc.B * pc.G) return;
    uint b = wgid / pc.G, g = wgid - b * pc.G;
    uint n = pc.cg * pc.S, base = (b * pc.C + g * pc.cg) * pc.S, c0 = g * pc.cg;
#if defined(VKT_FWD)
    float mean, rstd;
    norm_stats(base, n, pc.eps, mean, rstd);
    for (uint i = t; i < n; i += wg) {
        uint c = c0 + i / pc.S;
        float v = (LOADF(x[base + i]) - mean) * rstd;
        if (pc.has_gamma != 0u) v *= LOADF(gamma[c]);
        if (pc.has_beta != 0u) v += LOADF(beta[c]);
#if defined(VKT_SILU)
        v *= vkt_sigmoid(v);
#endif
        y[base + i] = STOREF(v);
    }
    if (t == 0u) {
        mean_out[wgid] = mean;
        rstd_out[wgid] = rstd;
    }
#else
    float mean = mean_in[wgid], rstd = rstd_in[wgid];
    float s1 = 0.0, s2 = 0.0;
    for (uint i = t; i < n; i += wg) {
        uint c = c0 + i / pc.S;
        float xh = (LOADF(x[base + i]) - mean) * rstd;
        float gv = gn_dz(base + i, c, xh);
        if (pc.has_gamma != 0u) gv *= LOADF(gamma[c]);
        s1 += gv;
        s2 += gv * xh;
    }
    vec2 tot = norm_wg_sum2(s1, s2);
    float mg = tot.x / float(n), mgx = tot.y / float(n);
    for (uint i = t; i < n; i += wg) {
        uint c = c0 + i / pc.S;
        float xh = (LOADF(x[base + i]) - mean) * rstd;
        float gv = gn_dz(base + i, c, xh);
        if (pc.has_gamma != 0u) gv *= LOADF(gamma[c]);
        float v = rstd * (gv - mg - xh * mgx);
        if (pc.accumulate != 0u) v += LOADF(dx[base + i]);
        dx[base + i] = STOREF(v);
    }
#endif
#endif
}
