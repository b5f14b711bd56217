/* C side of shaders/conv2d.comp: shape checks, algorithm and tile choice, dispatch. */
#include "nn/ops/conv2d.h"

#include <stdio.h>

#define DB_WG 128 /* grad-bias reduction; a power of two (shared-memory tree) */

struct conv2d_pc { /* mirrors `PC` of the GEMM kernels in shaders/conv2d.comp */
    uint32_t B, Cin, H, W, Cout, OH, OW, KH, KW;
    uint32_t sh, sw;
    int32_t pt, pl;
    uint32_t M, N, K;
    uint32_t tiles_n;
    uint32_t flags; /* bit 0: accumulate, bit 1: bias */
};
_Static_assert(sizeof(struct conv2d_pc) <= 128, "push constants must fit 128 bytes");

struct conv2d_db_pc { /* mirrors `PC` of VKT_BWD_DB in shaders/conv2d.comp */
    uint32_t B, C, HW, accumulate;
};
_Static_assert(sizeof(struct conv2d_db_pc) <= 128, "push constants must fit 128 bytes");

vkt_conv2d_params vkt_conv2d_std(int stride, int pad)
{
    return (vkt_conv2d_params){.stride_h = stride,
                               .stride_w = stride,
                               .pad_top = pad,
                               .pad_bottom = pad,
                               .pad_left = pad,
                               .pad_right = pad};
}

int64_t vkt_conv2d_out_size(int64_t in, int64_t k, int stride, int pad0, int pad1)
{
    if (in < 1 || k < 1 || stride < 1 || pad0 < 0 || pad1 < 0) return 0;
    int64_t padded = in + pad0 + pad1;
    return padded < k ? 0 : (padded - k) / stride + 1;
}

static uint32_t tile_wg(const vkt_conv2d_tile *t)
{
    return (t->bm / t->tm) * (t->bn / t->tn);
}
static uint32_t tile_shared(const vkt_conv2d_tile *t)
{
    return t->bk * (t->bm + 1 + t->bn + 1) * 4;
}

/* NULL when t can run on this device, else why not. */
static const char *tile_problem(const vkt_step *s, const vkt_conv2d_tile *t)
{
    if (!t->bm || !t->bn || !t->bk || !t->tm || !t->tn) return "a zero size";
    if (t->bm % t->tm || t->bn % t->tn) return "bm % tm or bn % tn is not 0";
    if (t->bm > 1024 || t->bn > 1024 || t->bk > 1024) return "a tile side over 1024";
    uint32_t wg = tile_wg(t);
    if (wg > s->info->max_wg_invocations || wg > s->info->max_wg_size[0]) return "too many threads";
    if (wg % t->bk || wg % t->bn) return "threads not a multiple of bk and bn";
    if (tile_shared(t) > s->info->max_shared_bytes) return "shared memory too small";
    return NULL;
}

vkt_conv2d_tile vkt_conv2d_pick_tile(const vkt_step *s, int64_t M, int64_t N, int64_t K)
{
    (void)K; /* TODO(#9): split K for grad-weight, whose K = B*OH*OW dwarfs M and N */
    /* The largest register block that M and N fill, with 256 threads. */
    vkt_conv2d_tile t;
    if (M >= 128 && N >= 1024)
        t = (vkt_conv2d_tile){128, 128, 8, 8, 8}; /* 64 accumulators a thread */
    else if (N <= 32)
        t = (vkt_conv2d_tile){64, 32, 16, 4, 2};
    else if (M <= 16)
        t = (vkt_conv2d_tile){16, 64, 16, 1, 4}; /* few output rows: Cout, */
    else if (M <= 32)
        t = (vkt_conv2d_tile){32, 64, 16, 2, 4}; /* or Cin for dx */
    else
        t = (vkt_conv2d_tile){64, 64, 16, 4, 4};
    /* 64 threads and 2.1 KiB of shared memory fit every Vulkan device (limits >= 128, 16 KiB). */
    if (tile_problem(s, &t)) t = (vkt_conv2d_tile){32, 32, 16, 4, 4};
    return t;
}

/* Fails unless two tensors' byte ranges are disjoint (an output must not alias an input). */
static vkt_status check_no_alias(const char *what, const vkt_tensor *out, const vkt_tensor *in,
                                 vkt_err *err)
{
    if (!in || out->buf != in->buf) return VKT_OK;
    size_t a0 = out->offset, a1 = a0 + vkt_tensor_bytes(out), b0 = in->offset,
           b1 = b0 + vkt_tensor_bytes(in);
    if (a0 < b1 && b0 < a1)
        return vkt_fail(err, VKT_ERR_USAGE, "conv2d: %s overlaps an input", what);
    return VKT_OK;
}

static vkt_status check_4d(const char *what, const vkt_tensor *t, vkt_err *err)
{
    if (t->ndim != 4)
        return vkt_fail(err, VKT_ERR_SHAPE, "conv2d: %s has %d dims, expected 4", what, t->ndim);
    for (int i = 0; i < 4; i++)
        if (t->shape[i] < 1)
            return vkt_fail(err, VKT_ERR_SHAPE, "conv2d: %s has an empty dimension", what);
    /* The shaders index with 32-bit unsigned arithmetic. */
    if (vkt_tensor_numel(t) > INT32_MAX)
        return vkt_fail(err, VKT_ERR_SHAPE, "conv2d: %s too large", what);
    return VKT_OK;
}

/* Checks x [B,Cin,H,W], w [Cout,Cin,KH,KW], y [B,Cout,OH,OW] against each other and p, and fills
 * the shape part of the push constants. */
static vkt_status check_shapes(const vkt_step *s, const vkt_conv2d_params *p, const vkt_tensor *x,
                               const vkt_tensor *w, const vkt_tensor *y, const char *xn,
                               const char *yn, struct conv2d_pc *pc, vkt_err *err)
{
    vkt_status st;
    if ((st = check_4d(xn, x, err)) || (st = check_4d("w", w, err)) || (st = check_4d(yn, y, err)))
        return st;
    if (p->stride_h < 1 || p->stride_w < 1 || p->pad_top < 0 || p->pad_bottom < 0 ||
        p->pad_left < 0 || p->pad_right < 0 || p->stride_h > 65536 || p->stride_w > 65536 ||
        p->pad_top > 65536 || p->pad_bottom > 65536 || p->pad_left > 65536 || p->pad_right > 65536)
        return vkt_fail(err, VKT_ERR_USAGE,
                        "conv2d: stride %dx%d, padding t%d b%d l%d r%d out of range", p->stride_h,
                        p->stride_w, p->pad_top, p->pad_bottom, p->pad_left, p->pad_right);
    int64_t B = x->shape[0], Cin = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t Cout = w->shape[0], KH = w->shape[2], KW = w->shape[3];
    int64_t OH = vkt_conv2d_out_size(H, KH, p->stride_h, p->pad_top, p->pad_bottom);
    int64_t OW = vkt_conv2d_out_size(W, KW, p->stride_w, p->pad_left, p->pad_right);
    char a[96], b[96];
    if (w->shape[1] != Cin)
        return vkt_fail(err, VKT_ERR_SHAPE, "conv2d: w shape %s, expected [*,%lld,*,*] for %s %s",
                        vkt_shape_str(w, a, sizeof a), (long long)Cin, xn,
                        vkt_shape_str(x, b, sizeof b));
    if (OH < 1 || OW < 1)
        return vkt_fail(err, VKT_ERR_SHAPE,
                        "conv2d: kernel %lldx%lld larger than the padded input %lldx%lld",
                        (long long)KH, (long long)KW, (long long)(H + p->pad_top + p->pad_bottom),
                        (long long)(W + p->pad_left + p->pad_right));
    if (y->shape[0] != B || y->shape[1] != Cout || y->shape[2] != OH || y->shape[3] != OW)
        return vkt_fail(err, VKT_ERR_SHAPE, "conv2d: %s shape %s, expected [%lld,%lld,%lld,%lld]",
                        yn, vkt_shape_str(y, a, sizeof a), (long long)B, (long long)Cout,
                        (long long)OH, (long long)OW);
    const vkt_tensor *ts[] = {x, w, y};
    if ((st = vkt_check_dtype("conv2d", x->dtype, ts, 3, err))) return st;
    if (!vkt_step_dtype_ok(s, x->dtype))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "conv2d: dtype %s not supported on this device",
                        vkt_dtype_name(x->dtype));
    /* GEMM extents: M*N and K products stay below 2^31 because each is bounded by a tensor's
     * element count (y, dx, dw) or by Cin*KH*KW, Cout*KH*KW, B*OH*OW (sizes of w and y). */
    *pc = (struct conv2d_pc){.B = (uint32_t)B,
                             .Cin = (uint32_t)Cin,
                             .H = (uint32_t)H,
                             .W = (uint32_t)W,
                             .Cout = (uint32_t)Cout,
                             .OH = (uint32_t)OH,
                             .OW = (uint32_t)OW,
                             .KH = (uint32_t)KH,
                             .KW = (uint32_t)KW,
                             .sh = (uint32_t)p->stride_h,
                             .sw = (uint32_t)p->stride_w,
                             .pt = p->pad_top,
                             .pl = p->pad_left};
    return VKT_OK;
}

/* Resolves the algorithm and tile, gets the pipeline and records the GEMM-shaped dispatch. */
static vkt_status dispatch_gemm(vkt_step *s, const vkt_conv2d_params *p, const char *dir,
                                vkt_dtype dt, struct conv2d_pc *pc, int64_t M, int64_t N, int64_t K,
                                const vkt_bind *binds, uint32_t n_binds, const char *label,
                                vkt_err *err)
{
    if (p->algo != VKT_CONV2D_AUTO && p->algo != VKT_CONV2D_TILED)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "conv2d: algorithm %d not available",
                        (int)p->algo);
    if (M > UINT32_MAX || N > UINT32_MAX || K > UINT32_MAX)
        return vkt_fail(err, VKT_ERR_SHAPE, "conv2d: GEMM %lldx%lldx%lld too large", (long long)M,
                        (long long)N, (long long)K);
    vkt_conv2d_tile t = p->tile;
    if (!t.bm && !t.bn && !t.bk && !t.tm && !t.tn) t = vkt_conv2d_pick_tile(s, M, N, K);
    const char *why = tile_problem(s, &t);
    if (why)
        return vkt_fail(err, VKT_ERR_USAGE, "conv2d: tile %ux%ux%u/%ux%u unusable: %s", t.bm, t.bn,
                        t.bk, t.tm, t.tn, why);
    pc->M = (uint32_t)M;
    pc->N = (uint32_t)N;
    pc->K = (uint32_t)K;
    pc->tiles_n = (uint32_t)vkt_groups((uint64_t)N, t.bn);
    uint64_t tiles = vkt_groups((uint64_t)M, t.bm) * pc->tiles_n;
    char v[64];
    uint32_t spec[6] = {tile_wg(&t), t.bm, t.bn, t.bk, t.tm, t.tn};
    vkt_pipeline *pipe;
    vkt_status st = vkt_step_pipeline(s, vkt_variant_name(v, sizeof v, "conv2d", dir, dt), n_binds,
                                      sizeof(struct conv2d_pc), spec, 6, &pipe, err);
    if (st) return st;
    return vkt_cmd_dispatch_1d(s->cmd, pipe, binds, pc, tiles, label, err);
}

vkt_status vkt_op_conv2d_fwd(vkt_step *s, const vkt_conv2d_params *p, const vkt_tensor *x,
                             const vkt_tensor *w, const vkt_tensor *bias, vkt_tensor *y,
                             vkt_err *err)
{
    struct conv2d_pc pc;
    vkt_status st = check_shapes(s, p, x, w, y, "x", "y", &pc, err);
    if (st) return st;
    if (bias) {
        if (bias->ndim != 1 || bias->shape[0] != w->shape[0]) {
            char a[96];
            return vkt_fail(err, VKT_ERR_SHAPE, "conv2d: bias shape %s, expected [%lld]",
                            vkt_shape_str(bias, a, sizeof a), (long long)w->shape[0]);
        }
        if ((st = vkt_check_dtype("conv2d", x->dtype, &bias, 1, err))) return st;
    }
    if ((st = check_no_alias("y", y, x, err)) || (st = check_no_alias("y", y, w, err)) ||
        (st = check_no_alias("y", y, bias, err)))
        return st;
    pc.flags = bias ? 2u : 0u;
    /* Without bias the Bias binding repeats w; the shader never reads it. */
    vkt_bind b[4] = {vkt_tensor_bind_r(x), vkt_tensor_bind_r(w), vkt_tensor_bind_r(bias ? bias : w),
                     vkt_tensor_bind_w(y)};
    return dispatch_gemm(s, p, "fwd", x->dtype, &pc, pc.Cout, (int64_t)pc.B * pc.OH * pc.OW,
                         (int64_t)pc.Cin * pc.KH * pc.KW, b, 4, "conv2d_fwd", err);
}

vkt_status vkt_op_conv2d_bwd_dx(vkt_step *s, const vkt_conv2d_params *p, const vkt_tensor *dy,
                                const vkt_tensor *w, vkt_tensor *dx, vkt_grad_mode mode,
                                vkt_err *err)
{
    struct conv2d_pc pc;
    vkt_status st = check_shapes(s, p, dx, w, dy, "dx", "dy", &pc, err);
    if (!st) st = check_no_alias("dx", dx, dy, err);
    if (!st) st = check_no_alias("dx", dx, w, err);
    if (st) return st;
    pc.flags = mode == VKT_GRAD_ACCUMULATE ? 1u : 0u;
    vkt_bind b[3] = {vkt_tensor_bind_r(dy), vkt_tensor_bind_r(w), vkt_tensor_bind_w(dx)};
    return dispatch_gemm(s, p, "bwd_dx", dx->dtype, &pc, pc.Cin, (int64_t)pc.B * pc.H * pc.W,
                         (int64_t)pc.Cout * pc.KH * pc.KW, b, 3, "conv2d_bwd_dx", err);
}

vkt_status vkt_op_conv2d_bwd_dw(vkt_step *s, const vkt_conv2d_params *p, const vkt_tensor *x,
                                const vkt_tensor *dy, vkt_tensor *dw, vkt_grad_mode mode,
                                vkt_err *err)
{
    struct conv2d_pc pc;
    vkt_status st = check_shapes(s, p, x, dw, dy, "x", "dy", &pc, err);
    if (!st) st = check_no_alias("dw", dw, x, err);
    if (!st) st = check_no_alias("dw", dw, dy, err);
    if (st) return st;
    pc.flags = mode == VKT_GRAD_ACCUMULATE ? 1u : 0u;
    vkt_bind b[3] = {vkt_tensor_bind_r(x), vkt_tensor_bind_r(dy), vkt_tensor_bind_w(dw)};
    return dispatch_gemm(s, p, "bwd_dw", x->dtype, &pc, pc.Cout, (int64_t)pc.Cin * pc.KH * pc.KW,
                         (int64_t)pc.B * pc.OH * pc.OW, b, 3, "conv2d_bwd_dw", err);
}

vkt_status vkt_op_conv2d_bwd_db(vkt_step *s, const vkt_tensor *dy, vkt_tensor *db,
                                vkt_grad_mode mode, vkt_err *err)
{
    vkt_status st = check_4d("dy", dy, err);
    if (st) return st;
    if (db->ndim != 1 || db->shape[0] != dy->shape[1]) {
        char a[96];
        return vkt_fail(err, VKT_ERR_SHAPE, "conv2d: db shape %s, expected [%lld]",
                        vkt_shape_str(db, a, sizeof a), (long long)dy->shape[1]);
    }
    const vkt_tensor *ts[] = {dy, db};
    if ((st = vkt_check_dtype("conv2d", dy->dtype, ts, 2, err))) return st;
    if (!vkt_step_dtype_ok(s, dy->dtype))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "conv2d: dtype %s not supported on this device",
                        vkt_dtype_name(dy->dtype));
    if ((st = check_no_alias("db", db, dy, err))) return st;
    struct conv2d_db_pc pc = {(uint32_t)dy->shape[0], (uint32_t)dy->shape[1],
                              (uint32_t)(dy->shape[2] * dy->shape[3]), mode == VKT_GRAD_ACCUMULATE};
    char v[64];
    uint32_t spec[1] = {DB_WG};
    vkt_pipeline *pipe;
    st = vkt_step_pipeline(s, vkt_variant_name(v, sizeof v, "conv2d", "bwd_db", dy->dtype), 2,
                           sizeof pc, spec, 1, &pipe, err);
    if (st) return st;
    vkt_bind b[2] = {vkt_tensor_bind_r(dy), vkt_tensor_bind_w(db)};
    return vkt_cmd_dispatch_1d(s->cmd, pipe, b, &pc, pc.C, "conv2d_bwd_db", err);
}
