#version 450
#extension GL_GOOGLE_include_directive : require
// Token-embedding gather with learned-vector overrides (textual inversion), and its backward.
//   fwd:          y[p, :] = src[p] >= 0 ? vectors[src[p], :] : table[ids[p], :]     p = (b, t)
//   bwd vectors:  dvectors[j, :] (=|+=) sum_{p : src[p] == j} dy[p, :]
//   bwd table:    dtable[v, :] += sum_{p : ids[p] == v, no override at p} dy[p, :]
// ids/src are int32; invalid ids or vector indices give zero rows (fwd) and no gradient (bwd).
// The table may be bound as two ranges (rows [0, split) in Lo, [split, V) in Hi) so that it can
// exceed one binding's maxStorageBufferRange. Backward sums run in a fixed order (no atomics):
// dvectors by one thread per (j, d) scanning all positions; dtable by one thread per (p, d) where
// p is the first position holding its id, scanning the later ones (O(P^2) id compares).
#include "vkt.glsl"

layout(push_constant) uniform PC { // mirrors struct embed_pc in src/nn/ops/embed.c
    uint n;          // threads: fwd P*D, bwd vectors J*D, bwd table P*D
    uint D, P, V, J;
    uint split;      // table rows in the Lo binding
    uint has_src, accumulate;
} pc;

#if defined(VKT_FWD)
layout(set = 0, binding = 0) readonly buffer Ids { int ids[]; };
layout(set = 0, binding = 1) readonly buffer Src { int src[]; };
layout(set = 0, binding = 2) readonly buffer Lo { STORE_T lo[]; };
layout(set = 0, binding = 3) readonly buffer Hi { STORE_T hi[]; };
layout(set = 0, binding = 4) readonly buffer Vec { float vec[]; };
layout(set = 0, binding = 5) writeonly buffer Y { STORE_T y[]; };

void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
    uint p = i / pc.D, d = i % pc.D;
    int j = pc.has_src != 0u ? src[p] : -1;
    float v = 0.0;
    if (j >= 0) {
        if (uint(j) < pc.J) v = vec[uint(j) * pc.D + d];
    } else {
        int id = ids[p];
        if (id >= 0 && uint(id) < pc.V) {
            uint r = uint(id);
            v = r < pc.split ? LOADF(lo[r * pc.D + d]) : LOADF(hi[(r - pc.split) * pc.D + d]);
        }
    }
    y[i] = STOREF(v);
}

#elif defined(VKT_BWD_VECTORS)
layout(set = 0, binding = 0) readonly buffer Src { int src[]; };
layout(set = 0, binding = 1) readonly buffer DY { STORE_T dy[]; };
layout(set = 0, binding = 2) buffer DVec { float dvec[]; };

void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
    int j = int(i / pc.D);
    uint d = i % pc.D;
    float s = 0.0;
    for (uint p = 0u; p < pc.P; p++)
        if (src[p] == j) s += LOADF(dy[p * pc.D + d]);
    if (pc.accumulate != 0u) s += dvec[i];
    dvec[i] = s;
}

#else // VKT_BWD_TABLE
layout(set = 0, binding = 0) readonly buffer Ids { int ids[]; };
layout(set = 0, binding = 1) readonly buffer Src { int src[]; };
layout(set = 0, binding = 2) readonly buffer DY { STORE_T dy[]; };
layout(set = 0, binding = 3) buffer DLo { float dlo[]; };
layout(set = 0, binding = 4) buffer DHi { float dhi[]; };

// Position q takes its row from the table (not overridden) and holds id.
bool from_table(uint q, int id) { return ids[q] == id && (pc.has_src == 0u || src[q] < 0); }

void main()
{
    uint i = vkt_global_id();
    if (i >= pc.n) return;
    uint p = i / pc.D, d = i % pc.D;
    int id = ids[p];
    if (id < 0 || uint(id) >= pc.V || !from_table(p, id)) return;
    for (uint q = 0u; q < p; q++)
        if (from_table(q, id)) return; // an earlier position owns this row
    float s = 0.0;
    for (uint q = p; q < pc.P; q++)
        if (from_table(q, id)) s += LOADF(dy[q * pc.D + d]);
    uint r = uint(id);
    if (r < pc.split) dlo[r * pc.D + d] += s;
    else dhi[(r - pc.split) * pc.D + d] += s;
}
#endif
