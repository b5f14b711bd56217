/* C side of shaders/spatial_attn.comp: shape checks, grid, dispatch. */
#include "nn/ops/spatial_attn.h"

#include <stdio.h>

/* Mirrors the shader's constants. */
#define WG 128
#define BQ 16
#define CB 256

struct spatial_attn_pc { /* mirrors `PC` in shaders/spatial_attn.comp */
    uint32_t B, C, N;
    uint32_t n_qb, n_cb;
    float scale;
};
_Static_assert(sizeof(struct spatial_attn_pc) <= 128, "push constants must fit 128 bytes");

static bool overlap(const vkt_tensor *a, const vkt_tensor *b)
{
    return a->buf == b->buf && a->offset < b->offset + vkt_tensor_bytes(b) &&
           b->offset < a->offset + vkt_tensor_bytes(a);
}

vkt_status vkt_op_spatial_attn_fwd(vkt_step *s, const vkt_tensor *q, const vkt_tensor *k,
                                   const vkt_tensor *v, float scale, vkt_tensor *o, vkt_err *err)
{
    char a[96];
    if (q->ndim != 3 && q->ndim != 4)
        return vkt_fail(err, VKT_ERR_SHAPE, "spatial_attn: q shape %s, expected [B,C,H,W] or [B,C,N]",
                        vkt_shape_str(q, a, sizeof a));
    vkt_status st;
    if ((st = vkt_check_same_shape("spatial_attn", "k", k, q, err)) ||
        (st = vkt_check_same_shape("spatial_attn", "v", v, q, err)) ||
        (st = vkt_check_same_shape("spatial_attn", "o", o, q, err)))
        return st;
    const vkt_tensor *ts[] = {q, k, v, o};
    if ((st = vkt_check_dtype("spatial_attn", q->dtype, ts, 4, err))) return st;
    if (!vkt_step_dtype_ok(s, q->dtype))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "spatial_attn: dtype %s not supported on this device",
                        vkt_dtype_name(q->dtype));
    int64_t B = q->shape[0], C = q->shape[1], N = q->shape[2] * (q->ndim == 4 ? q->shape[3] : 1);
    if (B < 1 || C < 1 || N < 1)
        return vkt_fail(err, VKT_ERR_SHAPE, "spatial_attn: empty q %s", vkt_shape_str(q, a, sizeof a));
    if (vkt_tensor_numel(q) > INT32_MAX)
        return vkt_fail(err, VKT_ERR_SHAPE, "spatial_attn: q %s has more than 2^31 elements",
                        vkt_shape_str(q, a, sizeof a));
    if (overlap(o, q) || overlap(o, k) || overlap(o, v))
        return vkt_fail(err, VKT_ERR_USAGE, "spatial_attn: o overlaps an input");
    struct spatial_attn_pc pc = {(uint32_t)B, (uint32_t)C, (uint32_t)N, (uint32_t)vkt_groups((uint64_t)N, BQ),
                                 (uint32_t)vkt_groups((uint64_t)C, CB), scale};
    char name[64];
    uint32_t spec[1] = {WG};
    vkt_pipeline *p;
    st = vkt_step_pipeline(s, vkt_variant_name(name, sizeof name, "spatial_attn", "fwd", q->dtype), 4, sizeof pc,
                           spec, 1, &p, err);
    if (st) return st;
    vkt_bind bd[4] = {vkt_tensor_bind_r(q), vkt_tensor_bind_r(k), vkt_tensor_bind_r(v), vkt_tensor_bind_w(o)};
    return vkt_cmd_dispatch_1d(s->cmd, p, bd, &pc, (uint64_t)B * pc.n_qb * pc.n_cb, "spatial_attn_fwd", err);
}
