/* C side of shaders/concat.comp: shape checks, the [outer, C, inner] view, dispatch. */
#include "nn/ops/concat.h"

#include <stdio.h>

#define WG 128

struct concat_pc { /* mirrors `PC` of VKT_FWD in shaders/concat.comp */
    uint32_t n, Ca, Cb, inner;
};
_Static_assert(sizeof(struct concat_pc) <= 128, "push constants must fit 128 bytes");

struct copy_pc { /* mirrors `PC` of VKT_BWD in shaders/concat.comp */
    uint32_t n, Cs, Cd, inner, s0, d0, nc, accumulate;
};
_Static_assert(sizeof(struct copy_pc) <= 128, "push constants must fit 128 bytes");

/* Checks that t and ref agree on every dimension but dim and that t's dtype is usable; gives
 * the [outer, C, inner] view of ref. */
static vkt_status view(vkt_step *s, const char *op, int dim, const vkt_tensor *ref, const char *rn,
                       const vkt_tensor *t, const char *tn, uint32_t *outer, uint32_t *inner,
                       vkt_err *err)
{
    char a[96], b[96];
    if (dim < 0 || dim >= ref->ndim)
        return vkt_fail(err, VKT_ERR_USAGE, "%s: dim %d out of range for %s %s", op, dim, rn,
                        vkt_shape_str(ref, a, sizeof a));
    bool ok = t->ndim == ref->ndim;
    for (int i = 0; ok && i < ref->ndim; i++)
        ok = i == dim || t->shape[i] == ref->shape[i];
    if (!ok)
        return vkt_fail(err, VKT_ERR_SHAPE, "%s: %s shape %s, expected %s but for dim %d", op, tn,
                        vkt_shape_str(t, a, sizeof a), vkt_shape_str(ref, b, sizeof b), dim);
    if (vkt_tensor_numel(t) > UINT32_MAX || vkt_tensor_numel(ref) > UINT32_MAX)
        return vkt_fail(err, VKT_ERR_SHAPE, "%s: tensor too large", op);
    const vkt_tensor *ts[] = {ref, t};
    vkt_status st = vkt_check_dtype(op, ref->dtype, ts, 2, err);
    if (st) return st;
    if (!vkt_step_dtype_ok(s, ref->dtype))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: dtype %s not supported on this device", op,
                        vkt_dtype_name(ref->dtype));
    if (t->buf == ref->buf && t->offset < ref->offset + vkt_tensor_bytes(ref) &&
        ref->offset < t->offset + vkt_tensor_bytes(t))
        return vkt_fail(err, VKT_ERR_USAGE, "%s: %s and %s overlap", op, tn, rn);
    int64_t o = 1, in = 1;
    for (int i = 0; i < dim; i++)
        o *= ref->shape[i];
    for (int i = dim + 1; i < ref->ndim; i++)
        in *= ref->shape[i];
    *outer = (uint32_t)o;
    *inner = (uint32_t)in;
    return VKT_OK;
}

static vkt_status pipeline(vkt_step *s, const char *dir, vkt_dtype dt, uint32_t n_bind,
                           uint32_t pc_bytes, vkt_pipeline **p, vkt_err *err)
{
    char v[64];
    uint32_t spec[1] = {WG};
    return vkt_step_pipeline(s, vkt_variant_name(v, sizeof v, "concat", dir, dt), n_bind, pc_bytes,
                             spec, 1, p, err);
}

/* dst[o, d0 + c, i] (=|+=) src[o, s0 + c, i] for c < nc; shapes already checked. */
static vkt_status copy(vkt_step *s, const vkt_tensor *src, uint32_t s0, vkt_tensor *dst,
                       uint32_t d0, uint32_t nc, int dim, uint32_t outer, uint32_t inner,
                       vkt_grad_mode mode, const char *label, vkt_err *err)
{
    vkt_pipeline *p;
    vkt_status st = pipeline(s, "bwd", dst->dtype, 2, sizeof(struct copy_pc), &p, err);
    if (st) return st;
    struct copy_pc pc = {outer * nc * inner,
                         (uint32_t)src->shape[dim],
                         (uint32_t)dst->shape[dim],
                         inner,
                         s0,
                         d0,
                         nc,
                         mode == VKT_GRAD_ACCUMULATE};
    if (pc.n == 0) return VKT_OK;
    vkt_bind b[2] = {vkt_tensor_bind_r(src), vkt_tensor_bind_w(dst)};
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, vkt_groups(pc.n, WG), label, err);
}

vkt_status vkt_op_concat_fwd(vkt_step *s, int dim, const vkt_tensor *a, const vkt_tensor *b,
                             vkt_tensor *y, vkt_err *err)
{
    uint32_t outer, inner;
    vkt_status st = view(s, "concat", dim, y, "y", a, "a", &outer, &inner, err);
    if (!st) st = view(s, "concat", dim, y, "y", b, "b", &outer, &inner, err);
    if (st) return st;
    if (a->shape[dim] + b->shape[dim] != y->shape[dim]) {
        char sa[96], sb[96], sy[96];
        return vkt_fail(err, VKT_ERR_SHAPE, "concat: y %s is not a %s and b %s joined along dim %d",
                        vkt_shape_str(y, sy, sizeof sy), vkt_shape_str(a, sa, sizeof sa),
                        vkt_shape_str(b, sb, sizeof sb), dim);
    }
    vkt_pipeline *p;
    if ((st = pipeline(s, "fwd", y->dtype, 3, sizeof(struct concat_pc), &p, err))) return st;
    struct concat_pc pc = {(uint32_t)vkt_tensor_numel(y), (uint32_t)a->shape[dim],
                           (uint32_t)b->shape[dim], inner};
    if (pc.n == 0) return VKT_OK;
    vkt_bind bd[3] = {vkt_tensor_bind_r(a), vkt_tensor_bind_r(b), vkt_tensor_bind_w(y)};
    return vkt_cmd_dispatch_1d(s->cmd, p, bd, &pc, vkt_groups(pc.n, WG), "concat_fwd", err);
}

vkt_status vkt_op_concat_bwd(vkt_step *s, int dim, const vkt_tensor *dy, vkt_tensor *da,
                             vkt_grad_mode da_mode, vkt_tensor *db, vkt_grad_mode db_mode,
                             vkt_err *err)
{
    if (!da && !db) return vkt_fail(err, VKT_ERR_USAGE, "concat: backward with neither da nor db");
    uint32_t outer, inner;
    vkt_status st = VKT_OK;
    if (da) st = view(s, "concat", dim, dy, "dy", da, "da", &outer, &inner, err);
    if (!st && db) st = view(s, "concat", dim, dy, "dy", db, "db", &outer, &inner, err);
    if (st) return st;
    int64_t na = da ? da->shape[dim] : 0, nb = db ? db->shape[dim] : 0, ny = dy->shape[dim];
    if (da && db ? na + nb != ny : na > ny || nb > ny) {
        char s1[96];
        return vkt_fail(err, VKT_ERR_SHAPE,
                        "concat: dy %s along dim %d does not split into %lld + %lld",
                        vkt_shape_str(dy, s1, sizeof s1), dim, (long long)na, (long long)nb);
    }
    if (da &&
        (st = copy(s, dy, 0, da, 0, (uint32_t)na, dim, outer, inner, da_mode, "concat_bwd_a", err)))
        return st;
    if (db)
        st = copy(s, dy, (uint32_t)(ny - nb), db, 0, (uint32_t)nb, dim, outer, inner, db_mode,
                  "concat_bwd_b", err);
    return st;
}

/* Checks c0 + n <= C for a slice of n along dim from a tensor of C. */
static vkt_status range_ok(int64_t c0, int64_t n, int64_t C, int dim, vkt_err *err)
{
    if (c0 < 0 || c0 > C - n)
        return vkt_fail(err, VKT_ERR_SHAPE, "slice: [%lld, %lld) outside dim %d of size %lld",
                        (long long)c0, (long long)(c0 + n), dim, (long long)C);
    return VKT_OK;
}

vkt_status vkt_op_slice_fwd(vkt_step *s, int dim, int64_t c0, const vkt_tensor *x, vkt_tensor *y,
                            vkt_err *err)
{
    uint32_t outer, inner;
    vkt_status st = view(s, "slice", dim, x, "x", y, "y", &outer, &inner, err);
    if (!st) st = range_ok(c0, y->shape[dim], x->shape[dim], dim, err);
    if (st) return st;
    return copy(s, x, (uint32_t)c0, y, 0, (uint32_t)y->shape[dim], dim, outer, inner,
                VKT_GRAD_OVERWRITE, "slice_fwd", err);
}

vkt_status vkt_op_slice_bwd(vkt_step *s, int dim, int64_t c0, const vkt_tensor *dy, vkt_tensor *dx,
                            vkt_grad_mode mode, vkt_err *err)
{
    uint32_t outer, inner;
    vkt_status st = view(s, "slice", dim, dx, "dx", dy, "dy", &outer, &inner, err);
    if (!st) st = range_ok(c0, dy->shape[dim], dx->shape[dim], dim, err);
    if (st) return st;
    return copy(s, dy, 0, dx, (uint32_t)c0, (uint32_t)dy->shape[dim], dim, outer, inner, mode,
                "slice_bwd", err);
}
