#version 450
#extension GL_GOOGLE_include_directive : require
// Element-wise binary ops with numpy broadcasting, forward and backward.
//   fwd, by pc.op:  0 add    y = alpha*a + beta*b
//                   1 mul    y = alpha*a*b
//                   2 scale  y = alpha*a + beta          (b is bound but not read)
//   bwd: for one operand x (a or b) with `other` the remaining one,
//        dx[o] (=|+=) k * sum_{y positions p that o broadcasts to} dy[p] * (mul ? other[p] : 1)
//        with k = alpha (a of add, scale, mul; b of mul) or beta (b of add), set by the C side.
// The C side (src/nn/ops/binary.c) coalesces the dims of y into at most 5 runs with the same
// broadcast pattern; strides are in elements over those runs, 0 where an operand is broadcast.
// The backward writes each dx element from one thread (pc.mode 0: short sums) or one workgroup
// (pc.mode 1: a shared-memory tree over pc.r terms): deterministic, no atomics. The tree needs a
// power-of-two workgroup size.
#include "vkt.glsl"

layout(push_constant) uniform PC { // mirrors struct binary_pc in src/nn/ops/binary.c
    uint n;          // fwd: numel(y); bwd: numel(dx)
    uint op, ndim, accumulate;
    uint mode;       // bwd: 0 thread per dx element, 1 workgroup per dx element
    uint r;          // bwd: terms per dx element (product of the dims x is broadcast along)
    uint kept;       // bwd: bit d set when dim d is one of x's own dims (not reduced)
    float alpha, beta;
    uint ysz[5];     // coalesced shape of y, outermost first
    uint sa[5];      // fwd: a strides; bwd: unused
    uint sb[5];      // fwd: b strides; bwd: strides of the other operand
} pc;

#ifdef VKT_FWD
layout(set = 0, binding = 0) readonly buffer A { STORE_T a[]; };
layout(set = 0, binding = 1) readonly buffer B { STORE_T b[]; };
layout(set = 0, binding = 2) writeonly buffer Y { STORE_T y[]; };

void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
    uint rem = i, ia = 0u, ib = 0u;
    for (int d = int(pc.ndim) - 1; d >= 0; d--) {
        uint c = rem % pc.ysz[d];
        rem /= pc.ysz[d];
        ia += c * pc.sa[d];
        ib += c * pc.sb[d];
    }
    float va = LOADF(a[ia]), r;
    if (pc.op == 0u) r = pc.alpha * va + pc.beta * LOADF(b[ib]);
    else if (pc.op == 1u) r = pc.alpha * va * LOADF(b[ib]);
    else r = pc.alpha * va + pc.beta;
    y[i] = STOREF(r);
}

#else
layout(set = 0, binding = 0) readonly buffer DY { STORE_T dy[]; };
layout(set = 0, binding = 1) readonly buffer O { STORE_T other[]; };
layout(set = 0, binding = 2) buffer DX { STORE_T dx[]; };

shared float red[gl_WorkGroupSize.x];

// y and other offsets of dx element o (its coordinates over the kept dims).
void base_of(uint o, out uint yb, out uint ob)
{
    uint ys = 1u, rem = o;
    yb = 0u;
    ob = 0u;
    for (int d = int(pc.ndim) - 1; d >= 0; d--) {
        if ((pc.kept & (1u << d)) != 0u) {
            uint c = rem % pc.ysz[d];
            rem /= pc.ysz[d];
            yb += c * ys;
            ob += c * pc.sb[d];
        }
        ys *= pc.ysz[d];
    }
}

// y and other offsets of reduction term t (its coordinates over the reduced dims).
void term_of(uint t, out uint yo, out uint oo)
{
    uint ys = 1u, rem = t;
    yo = 0u;
    oo = 0u;
    for (int d = int(pc.ndim) - 1; d >= 0; d--) {
        if ((pc.kept & (1u << d)) == 0u) {
            uint c = rem % pc.ysz[d];
            rem /= pc.ysz[d];
            yo += c * ys;
            oo += c * pc.sb[d];
        }
        ys *= pc.ysz[d];
    }
}

float term(uint yb, uint ob, uint t)
{
    uint yo, oo;
    term_of(t, yo, oo);
    float g = LOADF(dy[yb + yo]);
    return pc.op == 1u ? g * LOADF(other[ob + oo]) : g;
}

void finish(uint o, float s)
{
    float g = pc.alpha * s;
    if (pc.accumulate != 0u) g += LOADF(dx[o]);
    dx[o] = STOREF(g);
}

void main()
{
    if (pc.mode == 0u) {
        uint o = vkt_global_id();
        if (o >= pc.n) return;
        uint yb, ob;
        base_of(o, yb, ob);
        float s = 0.0;
        for (uint t = 0u; t < pc.r; t++) s += term(yb, ob, t);
        finish(o, s);
        return;
    }
    uint o = vkt_group_id(), lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    if (o >= pc.n) return; // uniform over the workgroup
    uint yb, ob;
    base_of(o, yb, ob);
    float s = 0.0;
    for (uint t = lid; t < pc.r; t += wg) s += term(yb, ob, t);
    red[lid] = s;
    barrier();
    for (uint h = wg >> 1; h > 0u; h >>= 1) {
        if (lid < h) red[lid] += red[lid + h];
        barrier();
    }
    if (lid == 0u) finish(o, red[0]);
}
#endif
