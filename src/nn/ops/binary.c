/* C side of shaders/binary.comp: broadcast planning (dim coalescing), variant choice, dispatch. */
#include "nn/ops/binary.h"

#include <stdio.h>

#define WG 128        /* power of two: the backward's shared-memory tree needs it */
#define WG_MODE_MIN 32 /* backward sums of at least this many terms use a whole workgroup each */

struct binary_pc { /* mirrors `PC` in shaders/binary.comp */
    uint32_t n, op, ndim, accumulate;
    uint32_t mode, r, kept;
    float alpha, beta;
    uint32_t ysz[5], sa[5], sb[5];
};
_Static_assert(sizeof(struct binary_pc) <= 128, "push constants must fit 128 bytes");

/* y's dims coalesced into runs with one broadcast pattern; strides in elements, 0 = broadcast. */
typedef struct plan {
    uint32_t nd;
    uint32_t ysz[5], sa[5], sb[5];
    bool bca[5], bcb[5]; /* a / b broadcast along this run */
} plan;

static const char *names[VKT_BINARY_COUNT] = {"add", "mul", "scale"};

const char *vkt_binary_name(vkt_binary op) { return (unsigned)op < VKT_BINARY_COUNT ? names[op] : "?"; }

static int64_t dim_of(const vkt_tensor *t, int ny, int d)
{
    int k = d - (ny - t->ndim);
    return k >= 0 ? t->shape[k] : 1;
}

static vkt_status shape_fail(vkt_binary op, const vkt_tensor *a, const vkt_tensor *b, const vkt_tensor *y,
                             vkt_err *err)
{
    char sa[96], sb[96], sy[96];
    return vkt_fail(err, VKT_ERR_SHAPE, "binary %s: a %s and b %s do not broadcast to y %s", vkt_binary_name(op),
                    vkt_shape_str(a, sa, sizeof sa), vkt_shape_str(b, sb, sizeof sb), vkt_shape_str(y, sy, sizeof sy));
}

/* b == NULL (scale): planned as if b had y's shape; the shader never reads it. */
static vkt_status make_plan(vkt_binary op, const vkt_tensor *a, const vkt_tensor *b, const vkt_tensor *y, plan *p,
                            vkt_err *err)
{
    const vkt_tensor *bb = b ? b : y;
    int ny = y->ndim;
    if (a->ndim > ny || bb->ndim > ny || (a->ndim != ny && bb->ndim != ny)) return shape_fail(op, a, bb, y, err);
    if (vkt_tensor_numel(y) > UINT32_MAX) return vkt_fail(err, VKT_ERR_SHAPE, "binary %s: y too large", names[op]);
    *p = (plan){0};
    for (int d = 0; d < ny; d++) {
        int64_t ad = dim_of(a, ny, d), bd = dim_of(bb, ny, d), yd = y->shape[d];
        if ((ad != 1 && ad != yd) || (bd != 1 && bd != yd) || (yd != 1 && ad != yd && bd != yd) ||
            (yd == 1 && (ad != 1 || bd != 1)))
            return shape_fail(op, a, bb, y, err);
        if (yd == 1) continue;
        bool pa = ad == 1, pb = bd == 1;
        if (p->nd > 0 && p->bca[p->nd - 1] == pa && p->bcb[p->nd - 1] == pb) {
            p->ysz[p->nd - 1] *= (uint32_t)yd;
        } else {
            p->ysz[p->nd] = (uint32_t)yd;
            p->bca[p->nd] = pa;
            p->bcb[p->nd] = pb;
            p->nd++;
        }
    }
    if (p->nd == 0) p->ysz[p->nd++] = 1;
    uint32_t acc_a = 1, acc_b = 1;
    for (int d = (int)p->nd - 1; d >= 0; d--) {
        p->sa[d] = p->bca[d] ? 0 : acc_a;
        p->sb[d] = p->bcb[d] ? 0 : acc_b;
        if (!p->bca[d]) acc_a *= p->ysz[d];
        if (!p->bcb[d]) acc_b *= p->ysz[d];
    }
    return VKT_OK;
}

static bool overlap(const vkt_tensor *x, const vkt_tensor *y)
{
    return x && y && x->buf == y->buf && x->offset < y->offset + vkt_tensor_bytes(y) &&
           y->offset < x->offset + vkt_tensor_bytes(x);
}

static vkt_status check_dtypes(vkt_step *s, vkt_binary op, const vkt_tensor *const *ts, int n, vkt_err *err)
{
    vkt_dtype dt = ts[0]->dtype;
    char what[32];
    snprintf(what, sizeof what, "binary %s", vkt_binary_name(op));
    if ((dt != VKT_F32 && dt != VKT_F16) || !vkt_step_dtype_ok(s, dt))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: dtype %s not supported on this device", what,
                        vkt_dtype_name(dt));
    return vkt_check_dtype(what, dt, ts, n, err);
}

static vkt_status pipeline(vkt_step *s, const char *dir, vkt_dtype dt, vkt_pipeline **p, vkt_err *err)
{
    char v[64];
    uint32_t spec[1] = {WG};
    return vkt_step_pipeline(s, vkt_variant_name(v, sizeof v, "binary", dir, dt), 3, sizeof(struct binary_pc), spec,
                             1, p, err);
}

vkt_status vkt_op_binary_fwd(vkt_step *s, vkt_binary op, float alpha, float beta, const vkt_tensor *a,
                             const vkt_tensor *b, vkt_tensor *y, vkt_err *err)
{
    if ((unsigned)op >= VKT_BINARY_COUNT) return vkt_fail(err, VKT_ERR_USAGE, "binary: unknown op %d", (int)op);
    if (op == VKT_BINARY_SCALE) b = NULL;
    else if (!b) return vkt_fail(err, VKT_ERR_USAGE, "binary %s: b is NULL", names[op]);
    const vkt_tensor *ts[] = {y, a, b};
    vkt_status st = check_dtypes(s, op, ts, b ? 3 : 2, err);
    plan pl;
    if (!st) st = make_plan(op, a, b, y, &pl, err);
    if (st) return st;
    if ((overlap(y, a) && (!vkt_shape_eq(a, y) || a->offset != y->offset)) ||
        (overlap(y, b) && (!vkt_shape_eq(b, y) || b->offset != y->offset)))
        return vkt_fail(err, VKT_ERR_USAGE, "binary %s: y overlaps a broadcast or shifted operand", names[op]);
    vkt_pipeline *p;
    if ((st = pipeline(s, "fwd", y->dtype, &p, err))) return st;
    struct binary_pc pc = {.n = (uint32_t)vkt_tensor_numel(y), .op = (uint32_t)op, .ndim = pl.nd, .alpha = alpha,
                           .beta = beta};
    for (uint32_t d = 0; d < pl.nd; d++) {
        pc.ysz[d] = pl.ysz[d];
        pc.sa[d] = pl.sa[d];
        pc.sb[d] = pl.sb[d];
    }
    vkt_bind bd[3] = {vkt_tensor_bind_r(a), vkt_tensor_bind_r(b ? b : a), vkt_tensor_bind_w(y)};
    return vkt_cmd_dispatch_1d(s->cmd, p, bd, &pc, vkt_groups(pc.n, WG), "binary_fwd", err);
}

/* One operand's gradient: x_is_a selects a (reduce along bca) or b (along bcb). */
static vkt_status bwd_one(vkt_step *s, vkt_pipeline *p, const plan *pl, vkt_binary op, float k, bool x_is_a,
                          const vkt_tensor *other, const vkt_tensor *dy, vkt_tensor *dx, vkt_grad_mode mode,
                          vkt_err *err)
{
    struct binary_pc pc = {.n = (uint32_t)vkt_tensor_numel(dx), .op = (uint32_t)op, .ndim = pl->nd,
                           .accumulate = mode == VKT_GRAD_ACCUMULATE, .r = 1, .alpha = k};
    for (uint32_t d = 0; d < pl->nd; d++) {
        bool bc = x_is_a ? pl->bca[d] : pl->bcb[d];
        pc.ysz[d] = pl->ysz[d];
        pc.sb[d] = x_is_a ? pl->sb[d] : pl->sa[d];
        if (bc) pc.r *= pl->ysz[d];
        else pc.kept |= 1u << d;
    }
    pc.mode = pc.r >= WG_MODE_MIN;
    vkt_bind bd[3] = {vkt_tensor_bind_r(dy), vkt_tensor_bind_r(op == VKT_BINARY_MUL ? other : dy),
                      vkt_tensor_bind_w(dx)};
    uint64_t groups = pc.mode ? pc.n : vkt_groups(pc.n, WG);
    return vkt_cmd_dispatch_1d(s->cmd, p, bd, &pc, groups, "binary_bwd", err);
}

vkt_status vkt_op_binary_bwd(vkt_step *s, vkt_binary op, float alpha, float beta, const vkt_tensor *a,
                             const vkt_tensor *b, const vkt_tensor *dy, vkt_tensor *da, vkt_tensor *db,
                             vkt_grad_mode mode, vkt_err *err)
{
    if ((unsigned)op >= VKT_BINARY_COUNT) return vkt_fail(err, VKT_ERR_USAGE, "binary: unknown op %d", (int)op);
    if (op == VKT_BINARY_SCALE) b = NULL, db = NULL;
    else if (!b) return vkt_fail(err, VKT_ERR_USAGE, "binary %s: b is NULL", names[op]);
    if (!da && !db) return VKT_OK;
    const vkt_tensor *ts[5] = {dy, a};
    int nt = 2;
    if (b && op == VKT_BINARY_MUL) ts[nt++] = b;
    if (da) ts[nt++] = da;
    if (db) ts[nt++] = db;
    vkt_status st = check_dtypes(s, op, ts, nt, err);
    plan pl;
    if (!st) st = make_plan(op, a, b, dy, &pl, err);
    if (!st && da) st = vkt_check_same_shape("binary bwd", "da", da, a, err);
    if (!st && db) st = vkt_check_same_shape("binary bwd", "db", db, b, err);
    if (st) return st;
    if (overlap(dy, da) || overlap(dy, db) || overlap(da, db))
        return vkt_fail(err, VKT_ERR_USAGE, "binary %s bwd: dy, da and db must not overlap", names[op]);
    vkt_pipeline *p;
    if ((st = pipeline(s, "bwd", dy->dtype, &p, err))) return st;
    if (da && (st = bwd_one(s, p, &pl, op, alpha, true, b, dy, da, mode, err))) return st;
    if (db && (st = bwd_one(s, p, &pl, op, op == VKT_BINARY_ADD ? beta : alpha, false, a, dy, db, mode, err)))
        return st;
    return VKT_OK;
}

vkt_status vkt_op_add_fwd(vkt_step *s, const vkt_tensor *a, const vkt_tensor *b, vkt_tensor *y, vkt_err *err)
{
    return vkt_op_binary_fwd(s, VKT_BINARY_ADD, 1.0f, 1.0f, a, b, y, err);
}

vkt_status vkt_op_mul_fwd(vkt_step *s, const vkt_tensor *a, const vkt_tensor *b, vkt_tensor *y, vkt_err *err)
{
    return vkt_op_binary_fwd(s, VKT_BINARY_MUL, 1.0f, 0.0f, a, b, y, err);
}

vkt_status vkt_op_scale_fwd(vkt_step *s, const vkt_tensor *x, float alpha, float beta, vkt_tensor *y,
                            vkt_err *err)
{
    vkt_status st = vkt_check_same_shape("scale", "y", y, x, err);
    return st ? st : vkt_op_binary_fwd(s, VKT_BINARY_SCALE, alpha, beta, x, NULL, y, err);
}

vkt_status vkt_op_axpy(vkt_step *s, float alpha, const vkt_tensor *x, float beta, vkt_tensor *y, vkt_err *err)
{
    vkt_status st = vkt_check_same_shape("axpy", "y", y, x, err);
    if (!st && overlap(x, y)) st = vkt_fail(err, VKT_ERR_USAGE, "axpy: x overlaps y");
    return st ? st : vkt_op_binary_fwd(s, VKT_BINARY_ADD, alpha, beta, x, y, y, err);
}
