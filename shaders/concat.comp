#version 450
#extension GL_GOOGLE_include_directive : require
// Concatenation along one dimension and channel-range copies. Tensors are viewed as
// [outer, C, inner] around the concatenated dimension (NCHW channels: outer = B, inner = H*W).
//   VKT_FWD  y[o, c, i] = c < Ca ? a[o, c, i] : b[o, c - Ca, i]          y: [outer, Ca+Cb, inner]
//   VKT_BWD  dst[o, d0 + c, i] (=|+=) src[o, s0 + c, i]   for c < nc; dst channels outside
//            [d0, d0+nc) are untouched. This one kernel is concat's backward (src = dy, a part
//            as dst), slice's forward (s0 = first channel, d0 = 0) and slice's backward
//            (d0 = first channel); channel offsets are push constants, not binding offsets.
#include "vkt.glsl"

#ifdef VKT_FWD
layout(push_constant) uniform PC { // mirrors struct concat_pc in src/nn/ops/concat.c
    uint n, Ca, Cb, inner;
} pc;
layout(set = 0, binding = 0) readonly buffer A { STORE_T a[]; };
layout(set = 0, binding = 1) readonly buffer Bt { STORE_T b[]; };
layout(set = 0, binding = 2) writeonly buffer Y { STORE_T y[]; };

void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
    uint C = pc.Ca + pc.Cb;
    uint p = i % pc.inner, t = i / pc.inner, c = t % C, o = t / C;
    y[i] = c < pc.Ca ? a[(o * pc.Ca + c) * pc.inner + p] : b[(o * pc.Cb + (c - pc.Ca)) * pc.inner + p];
}
#else
layout(push_constant) uniform PC { // mirrors struct copy_pc in src/nn/ops/concat.c
    uint n;      // outer * nc * inner
    uint Cs, Cd; // channels of src and dst
    uint inner, s0, d0, nc, accumulate;
} pc;
layout(set = 0, binding = 0) readonly buffer Src { STORE_T src[]; };
layout(set = 0, binding = 1) buffer Dst { STORE_T dst[]; };

void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
    uint p = i % pc.inner, t = i / pc.inner, c = t % pc.nc, o = t / pc.nc;
    uint di = (o * pc.Cd + pc.d0 + c) * pc.inner + p;
    uint si = (o * pc.Cs + pc.s0 + c) * pc.inner + p;
    // 16-bit storage allows no f16 temporaries: copy storage to storage, or add in float.
    if (pc.accumulate != 0u) dst[di] = STOREF(LOADF(dst[di]) + LOADF(src[si]));
    else dst[di] = src[si];
}
#endif
