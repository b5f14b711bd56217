/* C side of shaders/matmul.comp: operand checks, kernel choice, batch folding, dispatch; the
 * tensor-level matmul and linear ops are strides over one general product. */
#include "nn/ops/matmul.h"

#include <stdio.h>
#include <string.h>

#define COLSUM_WG 256 /* 32 columns x 8 row lanes */

struct matmul_pc { /* mirrors `PC` (VKT_FWD) in shaders/matmul.comp */
    uint32_t M, N, K, batch;
    uint32_t a_off, a_sb, a_sm, a_sk;
    uint32_t b_off, b_sb, b_sk, b_sn;
    uint32_t c_off, c_sb, c_sm, c_sn;
    uint32_t bias_off, flags;
    float alpha;
};
_Static_assert(sizeof(struct matmul_pc) <= 128, "push constants must fit 128 bytes");

struct colsum_pc { /* mirrors `PC` (VKT_BWD) in shaders/matmul.comp */
    uint32_t rows, N, ld, dy_off, db_off, accumulate;
};
_Static_assert(sizeof(struct colsum_pc) <= 128, "push constants must fit 128 bytes");

enum { F_BIAS = 1, F_ACCUM = 2, F_A_KFAST = 4, F_B_NFAST = 8, F_SUM = 16 };

/* GEMM kernels: shader variant suffix and tile shape (specialization constants 1..5). The
 * cooperative-matrix kernels of TODO(#9) join this table with their own variant suffix and a
 * device test in pick_kernel(). */
typedef struct mm_kernel {
    const char *name, *suffix;
    uint32_t bm, bn, bk, tm, tn;
} mm_kernel;
static const mm_kernel kernels[] = {
    {"tile64", "", 64, 64, 16, 4, 4}, /* 256 invocations, 16 outputs each */
    {"tile32", "", 32, 32, 16, 4, 4}, /* 64 invocations: more workgroups for small products */
};
#define N_KERNELS ((int)(sizeof kernels / sizeof kernels[0]))

const char *vkt_matmul_kernel_name(int i)
{
    return i >= 0 && i < N_KERNELS ? kernels[i].name : NULL;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* Bigger tiles reuse each staged element more; smaller ones keep the device busy when the
 * product has few tiles. The threshold is a guess until TODO(#9) measures it. */
static const mm_kernel *pick_kernel(const vkt_matmul_desc *d, bool sum)
{
    int64_t tiles64 = ceil_div(d->M, 64) * ceil_div(d->N, 64) * (sum ? 1 : d->batch);
    return tiles64 >= 64 ? &kernels[0] : &kernels[1];
}

/* Fails unless every element the product touches lies inside the operand's tensor and every
 * index fits the shader's 32-bit arithmetic. */
static vkt_status check_operand(const char *what, const vkt_matmul_operand *o, int64_t batch,
                                int64_t rows, int64_t cols, vkt_dtype dt, vkt_err *err)
{
    if (!o->t) return vkt_fail(err, VKT_ERR_USAGE, "matmul: %s has no tensor", what);
    if (o->t->dtype != dt)
        return vkt_fail(err, VKT_ERR_SHAPE, "matmul: %s is %s, expected %s", what,
                        vkt_dtype_name(o->t->dtype), vkt_dtype_name(dt));
    if (o->offset < 0 || o->batch_stride < 0 || o->row_stride < 0 || o->col_stride < 0)
        return vkt_fail(err, VKT_ERR_USAGE, "matmul: %s has a negative offset or stride", what);
    int64_t numel = vkt_tensor_numel(o->t), last = o->offset, term;
    const int64_t n[3] = {batch - 1, rows - 1, cols - 1},
                  st[3] = {o->batch_stride, o->row_stride, o->col_stride};
    for (int i = 0; i < 3; i++) {
        if (__builtin_mul_overflow(n[i], st[i], &term) || __builtin_add_overflow(last, term, &last))
            return vkt_fail(err, VKT_ERR_SHAPE, "matmul: %s strides overflow", what);
    }
    if (last >= numel)
        return vkt_fail(err, VKT_ERR_SHAPE,
                        "matmul: %s reaches element %lld of a %lld-element tensor", what,
                        (long long)last, (long long)numel);
    if (numel > (int64_t)UINT32_MAX)
        return vkt_fail(err, VKT_ERR_SHAPE, "matmul: %s has %lld elements, above 32-bit indexing",
                        what, (long long)numel);
    return VKT_OK;
}

/* The GEMM dispatches for d; sum: C is one matrix that sums the batch's products. */
static vkt_status gemm(vkt_step *s, const vkt_matmul_desc *d, bool sum, const mm_kernel *k,
                       vkt_err *err)
{
    vkt_dtype dt = d->c.t->dtype;
    char v[64];
    snprintf(v, sizeof v, "matmul_fwd_%s%s", vkt_dtype_name(dt), k->suffix);
    uint32_t spec[6] = {(k->bm / k->tm) * (k->bn / k->tn), k->bm, k->bn, k->bk, k->tm, k->tn};
    vkt_pipeline *p;
    vkt_status st = vkt_step_pipeline(s, v, 4, sizeof(struct matmul_pc), spec, 6, &p, err);
    if (st) return st;

    const uint32_t *mx = s->info->max_wg_count;
    int64_t m_chunk = (int64_t)mx[0] * k->bm, b_chunk = sum ? d->batch : mx[2];
    if (ceil_div(d->N, k->bn) > mx[1])
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "matmul: N=%lld needs more than %u workgroups",
                        (long long)d->N, mx[1]);
    /* Grids beyond the device limits run as several dispatches over slices of M and the batch. */
    for (int64_t b0 = 0; b0 < d->batch; b0 += b_chunk)
        for (int64_t m0 = 0; m0 < d->M; m0 += m_chunk) {
            int64_t nb = d->batch - b0 < b_chunk ? d->batch - b0 : b_chunk;
            int64_t nm = d->M - m0 < m_chunk ? d->M - m0 : m_chunk;
            struct matmul_pc pc = {
                .M = (uint32_t)nm,
                .N = (uint32_t)d->N,
                .K = (uint32_t)d->K,
                .batch = (uint32_t)nb,
                .a_off = (uint32_t)(d->a.offset + b0 * d->a.batch_stride + m0 * d->a.row_stride),
                .a_sb = (uint32_t)d->a.batch_stride,
                .a_sm = (uint32_t)d->a.row_stride,
                .a_sk = (uint32_t)d->a.col_stride,
                .b_off = (uint32_t)(d->b.offset + b0 * d->b.batch_stride),
                .b_sb = (uint32_t)d->b.batch_stride,
                .b_sk = (uint32_t)d->b.row_stride,
                .b_sn = (uint32_t)d->b.col_stride,
                .c_off = (uint32_t)(d->c.offset + b0 * d->c.batch_stride + m0 * d->c.row_stride),
                .c_sb = (uint32_t)d->c.batch_stride,
                .c_sm = (uint32_t)d->c.row_stride,
                .c_sn = (uint32_t)d->c.col_stride,
                .bias_off = (uint32_t)d->bias_offset,
                .flags = (d->bias ? F_BIAS : 0) | (d->mode == VKT_GRAD_ACCUMULATE ? F_ACCUM : 0) |
                         (d->a.col_stride <= d->a.row_stride ? F_A_KFAST : 0) |
                         (d->b.col_stride <= d->b.row_stride ? F_B_NFAST : 0) | (sum ? F_SUM : 0),
                .alpha = d->alpha,
            };
            vkt_bind bind[4] = {vkt_tensor_bind_r(d->a.t), vkt_tensor_bind_r(d->b.t),
                                vkt_tensor_bind_r(d->bias ? d->bias : d->a.t),
                                vkt_tensor_bind_w(d->c.t)};
            st = vkt_cmd_dispatch(s->cmd, p, bind, &pc, (uint32_t)ceil_div(nm, k->bm),
                                  (uint32_t)ceil_div(d->N, k->bn), sum ? 1u : (uint32_t)nb,
                                  "matmul", err);
            if (st) return st;
        }
    return VKT_OK;
}

vkt_status vkt_op_matmul(vkt_step *s, const vkt_matmul_desc *d0, vkt_err *err)
{
    vkt_matmul_desc d = *d0;
    if (d.batch < 1 || d.M < 1 || d.N < 1 || d.K < 1)
        return vkt_fail(err, VKT_ERR_SHAPE, "matmul: empty product batch=%lld M=%lld N=%lld K=%lld",
                        (long long)d.batch, (long long)d.M, (long long)d.N, (long long)d.K);
    if (!d.c.t) return vkt_fail(err, VKT_ERR_USAGE, "matmul: no output tensor");
    vkt_dtype dt = d.c.t->dtype;
    if (!vkt_step_dtype_ok(s, dt))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "matmul: dtype %s not supported on this device",
                        vkt_dtype_name(dt));
    if (d.M > UINT32_MAX || d.N > UINT32_MAX || d.K > UINT32_MAX || d.batch > UINT32_MAX)
        return vkt_fail(err, VKT_ERR_SHAPE, "matmul: sizes above 32 bits");
    vkt_status st;
    if ((st = check_operand("a", &d.a, d.batch, d.M, d.K, dt, err))) return st;
    if ((st = check_operand("b", &d.b, d.batch, d.K, d.N, dt, err))) return st;
    if ((st = check_operand("c", &d.c, d.batch, d.M, d.N, dt, err))) return st;
    if (d.bias) {
        vkt_matmul_operand bo = {d.bias, d.bias_offset, 0, 0, 1};
        if ((st = check_operand("bias", &bo, 1, 1, d.N, dt, err))) return st;
    }
    const mm_kernel *k = NULL;
    if (d.kernel) {
        for (int i = 0; i < N_KERNELS; i++)
            if (strcmp(d.kernel, kernels[i].name) == 0) k = &kernels[i];
        if (!k) return vkt_fail(err, VKT_ERR_USAGE, "matmul: unknown kernel %s", d.kernel);
    }

    bool sum = false;
    if (d.batch > 1 && d.c.batch_stride == 0) {
        /* Sum over the batch. When A's and B's matrices sit end to end along K, the sum is one
         * product with K' = batch*K: [A0 A1 ..]·[B0; B1; ..]. Otherwise each workgroup loops over
         * the batch, so that the sum is rounded to the storage type once. */
        if (d.a.batch_stride == d.K * d.a.col_stride && d.b.batch_stride == d.K * d.b.row_stride &&
            d.K * d.batch <= UINT32_MAX) {
            d.K *= d.batch;
            d.batch = 1;
        } else {
            sum = true;
        }
    }
    /* One matrix B for the whole batch and A, C rows evenly spaced across it: one taller product.
     */
    if (d.batch > 1 && d.b.batch_stride == 0 && d.a.batch_stride == d.M * d.a.row_stride &&
        d.c.batch_stride == d.M * d.c.row_stride && d.M * d.batch <= UINT32_MAX) {
        d.M *= d.batch;
        d.batch = 1;
    }
    if (d.batch == 1) d.a.batch_stride = d.b.batch_stride = d.c.batch_stride = 0;
    return gemm(s, &d, sum, k ? k : pick_kernel(&d, sum), err);
}

/* ---- tensor-level ops ---- */

/* Operand view of the last two dims of t as an [R, C] matrix (transposed when trans); batch
 * stride is the matrix size, or 0 when t is 2-D and the batch is larger. */
static vkt_matmul_operand view(const vkt_tensor *t, bool trans, int64_t batch)
{
    int64_t r = t->shape[t->ndim - 2], c = t->shape[t->ndim - 1];
    vkt_matmul_operand o = {t, 0, t->ndim > 2 || batch == 1 ? r * c : 0, trans ? 1 : c,
                            trans ? c : 1};
    return o;
}

static vkt_matmul_operand transpose(vkt_matmul_operand o)
{
    int64_t t = o.row_stride;
    o.row_stride = o.col_stride;
    o.col_stride = t;
    return o;
}

static int64_t lead_numel(const vkt_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim - 2; i++)
        n *= t->shape[i];
    return n;
}

static bool same_lead(const vkt_tensor *x, const vkt_tensor *y)
{
    if (x->ndim != y->ndim) return false;
    for (int i = 0; i < x->ndim - 2; i++)
        if (x->shape[i] != y->shape[i]) return false;
    return true;
}

/* Checks the shapes of c = op(a)·op(b) (+ bias) and fills the product's sizes. */
static vkt_status mm_shapes(const vkt_tensor *a, bool ta, const vkt_tensor *b, bool tb,
                            const vkt_tensor *bias, const vkt_tensor *c, int64_t *batch, int64_t *M,
                            int64_t *N, int64_t *K, vkt_err *err)
{
    char s1[96], s2[96], s3[96];
    if (a->ndim < 2 || b->ndim < 2 || c->ndim < 2)
        return vkt_fail(err, VKT_ERR_SHAPE, "matmul: operands need at least 2 dims");
    *M = a->shape[a->ndim - (ta ? 1 : 2)];
    *K = a->shape[a->ndim - (ta ? 2 : 1)];
    int64_t kb = b->shape[b->ndim - (tb ? 1 : 2)];
    *N = b->shape[b->ndim - (tb ? 2 : 1)];
    *batch = lead_numel(c);
    bool ok = kb == *K && c->shape[c->ndim - 2] == *M && c->shape[c->ndim - 1] == *N;
    ok = ok && (a->ndim == 2 || same_lead(a, c)) && (b->ndim == 2 || same_lead(b, c));
    ok = ok && (c->ndim == 2 || a->ndim > 2 || b->ndim > 2);
    if (!ok)
        return vkt_fail(err, VKT_ERR_SHAPE, "matmul: a %s%s · b %s%s does not give c %s",
                        vkt_shape_str(a, s1, sizeof s1), ta ? "ᵀ" : "",
                        vkt_shape_str(b, s2, sizeof s2), tb ? "ᵀ" : "",
                        vkt_shape_str(c, s3, sizeof s3));
    if (bias && (bias->ndim != 1 || bias->shape[0] != *N))
        return vkt_fail(err, VKT_ERR_SHAPE, "matmul: bias shape %s, expected [%lld]",
                        vkt_shape_str(bias, s1, sizeof s1), (long long)*N);
    return VKT_OK;
}

vkt_status vkt_op_matmul_fwd(vkt_step *s, const vkt_tensor *a, bool trans_a, const vkt_tensor *b,
                             bool trans_b, const vkt_tensor *bias, float alpha, vkt_tensor *c,
                             vkt_grad_mode mode, vkt_err *err)
{
    int64_t batch, M, N, K;
    vkt_status st = mm_shapes(a, trans_a, b, trans_b, bias, c, &batch, &M, &N, &K, err);
    if (st) return st;
    vkt_matmul_desc d = {batch,
                         M,
                         N,
                         K,
                         view(a, trans_a, batch),
                         view(b, trans_b, batch),
                         view(c, false, batch),
                         bias,
                         0,
                         alpha,
                         mode,
                         NULL};
    return vkt_op_matmul(s, &d, err);
}

vkt_status vkt_op_matmul_bwd(vkt_step *s, const vkt_tensor *a, bool trans_a, const vkt_tensor *b,
                             bool trans_b, float alpha, const vkt_tensor *dc, vkt_tensor *da,
                             vkt_tensor *db, vkt_tensor *dbias, vkt_grad_mode mode, vkt_err *err)
{
    int64_t batch, M, N, K;
    vkt_status st = mm_shapes(a, trans_a, b, trans_b, dbias, dc, &batch, &M, &N, &K, err);
    if (st) return st;
    vkt_matmul_operand A = view(a, trans_a, batch), B = view(b, trans_b, batch),
                       dC = view(dc, false, batch);
    if (da) {
        /* dA' = alpha · dC · B'ᵀ, written through A's own strides (so also for trans_a). */
        if ((st = vkt_check_same_shape("matmul", "da", da, a, err))) return st;
        vkt_matmul_operand dA = A;
        dA.t = da;
        vkt_matmul_desc d = {batch, M, K, N, dC, transpose(B), dA, NULL, 0, alpha, mode, NULL};
        if ((st = vkt_op_matmul(s, &d, err))) return st;
    }
    if (db) {
        /* dB' = alpha · A'ᵀ · dC. */
        if ((st = vkt_check_same_shape("matmul", "db", db, b, err))) return st;
        vkt_matmul_operand dB = B;
        dB.t = db;
        vkt_matmul_desc d = {batch, K, N, M, transpose(A), dC, dB, NULL, 0, alpha, mode, NULL};
        if ((st = vkt_op_matmul(s, &d, err))) return st;
    }
    if (dbias) return vkt_op_matmul_bias_bwd(s, dc, dbias, mode, err);
    return VKT_OK;
}

vkt_status vkt_op_matmul_bias_bwd(vkt_step *s, const vkt_tensor *dy, vkt_tensor *db,
                                  vkt_grad_mode mode, vkt_err *err)
{
    char s1[96], s2[96];
    int64_t n = db->ndim == 1 ? db->shape[0] : -1;
    if (n < 1 || dy->ndim < 1 || dy->shape[dy->ndim - 1] != n)
        return vkt_fail(err, VKT_ERR_SHAPE, "bias grad: dy %s, db %s: db must be [last dim of dy]",
                        vkt_shape_str(dy, s1, sizeof s1), vkt_shape_str(db, s2, sizeof s2));
    const vkt_tensor *ts[] = {dy, db};
    vkt_status st = vkt_check_dtype("bias grad", dy->dtype, ts, 2, err);
    if (st) return st;
    if (!vkt_step_dtype_ok(s, dy->dtype))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED,
                        "bias grad: dtype %s not supported on this device",
                        vkt_dtype_name(dy->dtype));
    if (vkt_tensor_numel(dy) > UINT32_MAX)
        return vkt_fail(err, VKT_ERR_SHAPE, "bias grad: dy too large");
    char v[64];
    uint32_t spec[1] = {COLSUM_WG};
    vkt_pipeline *p;
    st = vkt_step_pipeline(s, vkt_variant_name(v, sizeof v, "matmul", "bwd", dy->dtype), 2,
                           sizeof(struct colsum_pc), spec, 1, &p, err);
    if (st) return st;
    struct colsum_pc pc = {(uint32_t)(vkt_tensor_numel(dy) / n), (uint32_t)n, (uint32_t)n, 0, 0,
                           mode == VKT_GRAD_ACCUMULATE};
    vkt_bind b[2] = {vkt_tensor_bind_r(dy), vkt_tensor_bind_w(db)};
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, vkt_groups((uint64_t)n, 32), "matmul_bias_grad",
                               err);
}

/* x [..., in] as a [rows, in] matrix. */
static vkt_status linear_shapes(const vkt_tensor *x, const vkt_tensor *w, const vkt_tensor *b,
                                const vkt_tensor *y, int64_t *rows, vkt_err *err)
{
    char s1[96], s2[96], s3[96];
    bool ok = w->ndim == 2 && x->ndim >= 1 && y->ndim == x->ndim &&
              x->shape[x->ndim - 1] == w->shape[1] && y->shape[y->ndim - 1] == w->shape[0];
    for (int i = 0; ok && i < x->ndim - 1; i++)
        ok = x->shape[i] == y->shape[i];
    if (!ok)
        return vkt_fail(err, VKT_ERR_SHAPE,
                        "linear: x %s, w %s, y %s: expected x [..., in], w [out, in], y [..., out]",
                        vkt_shape_str(x, s1, sizeof s1), vkt_shape_str(w, s2, sizeof s2),
                        vkt_shape_str(y, s3, sizeof s3));
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return vkt_fail(err, VKT_ERR_SHAPE, "linear: bias %s, expected [%lld]",
                        vkt_shape_str(b, s1, sizeof s1), (long long)w->shape[0]);
    *rows = vkt_tensor_numel(x) / w->shape[1];
    return VKT_OK;
}

vkt_status vkt_op_linear_fwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *w,
                             const vkt_tensor *b, vkt_tensor *y, vkt_err *err)
{
    int64_t rows;
    vkt_status st = linear_shapes(x, w, b, y, &rows, err);
    if (st) return st;
    int64_t out = w->shape[0], in = w->shape[1];
    /* y[r, o] = sum_i x[r, i] · w[o, i] + b[o]: B = wᵀ. */
    vkt_matmul_desc d = {1,
                         rows,
                         out,
                         in,
                         {x, 0, 0, in, 1},
                         {w, 0, 0, 1, in},
                         {y, 0, 0, out, 1},
                         b,
                         0,
                         1.0f,
                         VKT_GRAD_OVERWRITE,
                         NULL};
    return vkt_op_matmul(s, &d, err);
}

vkt_status vkt_op_linear_bwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *w,
                             const vkt_tensor *dy, vkt_tensor *dx, vkt_grad_mode dx_mode,
                             vkt_tensor *dw, vkt_tensor *db, vkt_grad_mode dw_mode, vkt_err *err)
{
    int64_t rows;
    /* Shapes are checked against whichever of x/dx describes the input. */
    const vkt_tensor *xs = x ? x : dx;
    if (!xs) {
        if (dw) return vkt_fail(err, VKT_ERR_USAGE, "linear: dw needs x");
        return db ? vkt_op_matmul_bias_bwd(s, dy, db, dw_mode, err) : VKT_OK;
    }
    vkt_status st = linear_shapes(xs, w, db, dy, &rows, err);
    if (st) return st;
    int64_t out = w->shape[0], in = w->shape[1];
    if (dx) {
        if ((st = vkt_check_same_shape("linear", "dx", dx, xs, err))) return st;
        /* dx[r, i] = sum_o dy[r, o] · w[o, i] */
        vkt_matmul_desc d = {
            1, rows, in,      out, {dy, 0, 0, out, 1}, {w, 0, 0, in, 1}, {dx, 0, 0, in, 1}, NULL,
            0, 1.0f, dx_mode, NULL};
        if ((st = vkt_op_matmul(s, &d, err))) return st;
    }
    if (dw) {
        if (!x) return vkt_fail(err, VKT_ERR_USAGE, "linear: dw needs x");
        if ((st = vkt_check_same_shape("linear", "dw", dw, w, err))) return st;
        /* dw[o, i] = sum_r dy[r, o] · x[r, i]: A = dyᵀ. */
        vkt_matmul_desc d = {
            1, out,  in,      rows, {dy, 0, 0, 1, out}, {x, 0, 0, in, 1}, {dw, 0, 0, in, 1}, NULL,
            0, 1.0f, dw_mode, NULL};
        if ((st = vkt_op_matmul(s, &d, err))) return st;
    }
    if (db) return vkt_op_matmul_bias_bwd(s, dy, db, dw_mode, err);
    return VKT_OK;
}
