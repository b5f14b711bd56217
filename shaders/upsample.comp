#version 450
#extension GL_GOOGLE_include_directive : require
// Nearest-neighbour resize of NCHW planes to OH x OW, as torch F.interpolate(x, size=(OH, OW),
// mode="nearest") (ATen UpSample.h nearest_idx): along each axis the source of output index d is
//   src(d) = d                               when out == in
//          = d >> 1                          when out == 2*in (SD's Upsample: scale_factor 2)
//          = min(floor(float(d) * s), in-1)  otherwise, s = float(in)/float(out) from the host
// (float multiply, as torch does, so that odd sizes map the same way).
//   fwd: y[p, oy, ox] = x[p, src_h(oy), src_w(ox)]               p = plane index b*C + c
//   bwd: dx[p, iy, ix] (=|+=) sum of dy[p, oy, ox] over src_h(oy) = iy, src_w(ox) = ix
//        (for 2x: the 2x2 block above (iy, ix)); one thread per dx element, no atomics.
#include "vkt.glsl"

layout(push_constant) uniform PC { // mirrors struct upsample_pc in src/nn/ops/upsample.c
    uint n;      // fwd: number of y elements; bwd: number of dx elements
    uint H, W, OH, OW;
    float sh, sw; // float(H)/float(OH), float(W)/float(OW)
    uint accumulate;
} pc;

#ifdef VKT_FWD
layout(set = 0, binding = 0) readonly buffer X { STORE_T x[]; };
layout(set = 0, binding = 1) writeonly buffer Y { STORE_T y[]; };
#else
layout(set = 0, binding = 0) readonly buffer DY { STORE_T dy[]; };
layout(set = 0, binding = 1) buffer DX { STORE_T dx[]; };
#endif

uint src_index(uint d, uint in_, uint out_, float s)
{
    if (out_ == in_) return d;
    if (out_ == 2u * in_) return d >> 1;
    return min(uint(floor(float(d) * s)), in_ - 1u);
}

void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
#ifdef VKT_FWD
    uint ox = i % pc.OW, t = i / pc.OW, oy = t % pc.OH, p = t / pc.OH;
    uint iy = src_index(oy, pc.H, pc.OH, pc.sh), ix = src_index(ox, pc.W, pc.OW, pc.sw);
    y[i] = x[(p * pc.H + iy) * pc.W + ix];
#else
    uint ix = i % pc.W, t = i / pc.W, iy = t % pc.H, p = t / pc.H;
    // src() is non-decreasing, so the outputs that read iy form one run; it lies inside
    // [iy*OH/H - 1, (iy+1)*OH/H + 1] (the float rounding of s moves an edge by at most one).
    uint y0 = max(int(iy * pc.OH / pc.H) - 1, 0), y1 = min((iy + 1u) * pc.OH / pc.H + 2u, pc.OH);
    uint x0 = max(int(ix * pc.OW / pc.W) - 1, 0), x1 = min((ix + 1u) * pc.OW / pc.W + 2u, pc.OW);
    float s = 0.0;
    for (uint oy = y0; oy < y1; oy++) {
        if (src_index(oy, pc.H, pc.OH, pc.sh) != iy) continue;
        uint row = (p * pc.OH + oy) * pc.OW;
        for (uint ox = x0; ox < x1; ox++)
            if (src_index(ox, pc.W, pc.OW, pc.sw) == ix) s += LOADF(dy[row + ox]);
    }
    if (pc.accumulate != 0u) s += LOADF(dx[i]);
    dx[i] = STOREF(s);
#endif
}
