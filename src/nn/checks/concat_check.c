/* Checks for concat and slice: GPU vs reference for the forwards (exact copies) and the
 * backwards in both grad modes (da and db with different modes, one side alone), along channels
 * of NCHW and along other dimensions, f32 and f16; reference backward vs finite differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "nn/check.h"
#include "nn/ops/concat.h"
#include "nn/ref/concat_ref.h"

/* Tolerances. Copies are exact in both dtypes. Accumulation adds two stored values in float:
 * one rounding, <= 2^-24 of |sum| in f32; f16 storage rounds that sum again, <= 2^-11 relative
 * (4.9e-4 > 2^-11 + 2^-24) or 2^-25 absolute for subnormals. */
static void acc_tols(vkt_dtype dt, double *atol, double *rtol)
{
    *atol = dt == VKT_F16 ? 0x1p-25 : 0;
    *rtol = dt == VKT_F16 ? 4.9e-4 : 0x1p-24;
}

/* [outer, C, inner] view of shape s around dim. */
static void split(int nd, const int64_t *s, int dim, int64_t *outer, int64_t *inner)
{
    *outer = *inner = 1;
    for (int i = 0; i < dim; i++)
        *outer *= s[i];
    for (int i = dim + 1; i < nd; i++)
        *inner *= s[i];
}

static size_t numel(int nd, const int64_t *s)
{
    size_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= (size_t)s[i];
    return n;
}

static void shape_str(char *out, size_t n, int nd, const int64_t *s)
{
    size_t k = (size_t)snprintf(out, n, "[");
    for (int i = 0; i < nd && k < n; i++)
        k += (size_t)snprintf(out + k, n - k, "%s%lld", i ? "," : "", (long long)s[i]);
    if (k < n) snprintf(out + k, n - k, "]");
}

/* Random host data, rounded to f16 values for f16 runs; NULL on OOM. */
static float *rnd(uint64_t *rng, size_t n, vkt_dtype dt)
{
    float *p = vkt_malloc(n * 4);
    if (!p) return NULL;
    vkt_rng_fill(rng, p, n, -1.0, 1.0);
    if (dt == VKT_F16) vkt_round_f16(p, n);
    return p;
}

/* Downloads t into got and compares with want; mag NULL: an exact copy is expected. */
static vkt_status cmp(vkt_check_ctx *ctx, const vkt_tensor *t, float *got, const double *want,
                      const double *mag, size_t n, const char *variant, const char *what,
                      const char *desc, vkt_err *err)
{
    vkt_status st = vkt_tensor_download_f32(ctx->dev, t, got, err);
    if (st) return st;
    double atol, rtol;
    acc_tols(t->dtype, &atol, &rtol);
    if (!mag) atol = rtol = 0;
    vkt_check_compare_mag(ctx, "concat", variant, what, desc, got, want, mag ? mag : want, n, atol,
                          rtol, 0);
    return VKT_OK;
}

/* want[i] = prior[i] + grad[i] (accumulate) or grad[i] (overwrite); mag = |terms| summed. */
static void expect(double *want, double *mag, const float *prior, const double *grad, size_t n,
                   bool acc)
{
    for (size_t i = 0; i < n; i++) {
        want[i] = (acc ? prior[i] : 0) + grad[i];
        mag[i] = (acc ? fabs(prior[i]) : 0) + fabs(grad[i]);
    }
}

typedef struct fd_cat {
    int64_t outer, Ca, Cb, inner;
    const double *a, *b;
    int which; /* 0: vary a, 1: vary b */
} fd_cat;

static void fd_cat_fwd(void *u, const double *v, double *y)
{
    const fd_cat *f = u;
    vkt_ref_concat_fwd(f->outer, f->Ca, f->Cb, f->inner, f->which ? f->a : v, f->which ? v : f->b,
                       y);
}

/* cat([a, b], dim) with a of shape sa and b of shape sa but for dim (Cb). */
static vkt_status concat_case(vkt_check_ctx *ctx, vkt_dtype dt, int nd, const int64_t *sa, int dim,
                              int64_t Cb, vkt_err *err)
{
    vkt_status st = VKT_OK;
    int64_t sb[VKT_MAX_DIMS], sy[VKT_MAX_DIMS], outer, inner, Ca = sa[dim];
    memcpy(sb, sa, (size_t)nd * sizeof *sb);
    memcpy(sy, sa, (size_t)nd * sizeof *sy);
    sb[dim] = Cb;
    sy[dim] = Ca + Cb;
    split(nd, sa, dim, &outer, &inner);
    size_t na = numel(nd, sa), nb = numel(nd, sb), ny = numel(nd, sy);
    char desc[96], s1[40], s2[40], vf[64], vb[64];
    shape_str(s1, sizeof s1, nd, sa);
    shape_str(s2, sizeof s2, nd, sb);
    snprintf(desc, sizeof desc, "cat(%s, %s, dim %d)", s1, s2, dim);
    vkt_variant_name(vf, sizeof vf, "concat", "fwd", dt);
    vkt_variant_name(vb, sizeof vb, "concat", "bwd", dt);

    uint64_t rng = ctx->seed ^ (ny * 977 + (size_t)dim) ^ (dt == VKT_F16 ? 0x16 : 0x32);
    float *ha = rnd(&rng, na, dt), *hb = rnd(&rng, nb, dt), *hdy = rnd(&rng, ny, dt);
    float *pa = rnd(&rng, na, dt), *pb = rnd(&rng, nb, dt), *got = vkt_malloc(ny * 4);
    double *da = ha ? vkt_to_double(ha, na) : NULL, *db = hb ? vkt_to_double(hb, nb) : NULL;
    double *ddy = hdy ? vkt_to_double(hdy, ny) : NULL;
    double *want = vkt_malloc(ny * 8), *mag = vkt_malloc(ny * 8);
    double *ga = vkt_malloc(na * 8), *gb = vkt_malloc(nb * 8);
    vkt_tensor a = {0}, b = {0}, y = {0}, dy = {0}, ta = {0}, tb = {0};
    if (!ha || !hb || !hdy || !pa || !pb || !got || !da || !db || !ddy || !want || !mag || !ga ||
        !gb) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "concat check");
        goto done;
    }
    if ((st = vkt_check_tensor(ctx, dt, nd, sa, ha, "a", &a, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, nd, sb, hb, "b", &b, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, nd, sy, NULL, "y", &y, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, nd, sy, hdy, "dy", &dy, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, nd, sa, pa, "da", &ta, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, nd, sb, pb, "db", &tb, err))) goto done;

    /* Run 1: forward; da accumulates into its prior contents, db is overwritten. */
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_concat_fwd(ctx->step, dim, &a, &b, &y, err))) goto done;
    if ((st = vkt_op_concat_bwd(ctx->step, dim, &dy, &ta, VKT_GRAD_ACCUMULATE, &tb,
                                VKT_GRAD_OVERWRITE, err)))
        goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    vkt_ref_concat_fwd(outer, Ca, Cb, inner, da, db, want);
    if ((st = cmp(ctx, &y, got, want, NULL, ny, vf, "fwd", desc, err))) goto done;
    vkt_ref_slice_fwd(outer, Ca + Cb, inner, 0, Ca, ddy, ga);
    vkt_ref_slice_fwd(outer, Ca + Cb, inner, Ca, Cb, ddy, gb);
    expect(want, mag, pa, ga, na, true);
    if ((st = cmp(ctx, &ta, got, want, mag, na, vb, "bwd:da+=", desc, err))) goto done;
    if ((st = cmp(ctx, &tb, got, gb, NULL, nb, vb, "bwd:db", desc, err))) goto done;

    /* Run 2: the modes swapped, then db alone (da = NULL) accumulating on top. */
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_concat_bwd(ctx->step, dim, &dy, &ta, VKT_GRAD_OVERWRITE, &tb,
                                VKT_GRAD_ACCUMULATE, err)))
        goto done;
    if ((st = vkt_op_concat_bwd(ctx->step, dim, &dy, NULL, VKT_GRAD_OVERWRITE, &tb,
                                VKT_GRAD_ACCUMULATE, err)))
        goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    if ((st = cmp(ctx, &ta, got, ga, NULL, na, vb, "bwd:da", desc, err))) goto done;
    for (size_t i = 0; i < nb; i++) { /* gb, then 2*gb (exact), then 2*gb + gb: one rounding */
        want[i] = 3 * gb[i];
        mag[i] = 3 * fabs(gb[i]);
    }
    if ((st = cmp(ctx, &tb, got, want, mag, nb, vb, "bwd:db+=", desc, err))) goto done;

    if (!ctx->no_fd && dt == VKT_F32) {
        /* Linear: differences exact but for double rounding (~1e-14). */
        fd_cat u = {outer, Ca, Cb, inner, da, db, 0};
        vkt_check_fd(ctx, "concat", "fd:da", desc, fd_cat_fwd, &u, da, na, ny, ddy, ga, 1e-2, 1e-8,
                     1e-8, 64);
        u.which = 1;
        vkt_check_fd(ctx, "concat", "fd:db", desc, fd_cat_fwd, &u, db, nb, ny, ddy, gb, 1e-2, 1e-8,
                     1e-8, 64);
    }
done:
    vkt_tensor_free(ctx->dev, &a);
    vkt_tensor_free(ctx->dev, &b);
    vkt_tensor_free(ctx->dev, &y);
    vkt_tensor_free(ctx->dev, &dy);
    vkt_tensor_free(ctx->dev, &ta);
    vkt_tensor_free(ctx->dev, &tb);
    free(ha), free(hb), free(hdy), free(pa), free(pb), free(got), free(da), free(db), free(ddy);
    free(want), free(mag), free(ga), free(gb);
    return st;
}

typedef struct fd_slice {
    int64_t outer, C, inner, c0, n;
} fd_slice;

static void fd_slice_fwd(void *u, const double *x, double *y)
{
    const fd_slice *f = u;
    vkt_ref_slice_fwd(f->outer, f->C, f->inner, f->c0, f->n, x, y);
}

/* y = x[c0 : c0+n] along dim, x of shape sx. */
static vkt_status slice_case(vkt_check_ctx *ctx, vkt_dtype dt, int nd, const int64_t *sx, int dim,
                             int64_t c0, int64_t n, vkt_err *err)
{
    vkt_status st = VKT_OK;
    int64_t sy[VKT_MAX_DIMS], outer, inner, C = sx[dim];
    memcpy(sy, sx, (size_t)nd * sizeof *sy);
    sy[dim] = n;
    split(nd, sx, dim, &outer, &inner);
    size_t nx = numel(nd, sx), ny = numel(nd, sy);
    char desc[96], s1[40], v[64];
    shape_str(s1, sizeof s1, nd, sx);
    snprintf(desc, sizeof desc, "slice(%s, dim %d, [%lld,%lld))", s1, dim, (long long)c0,
             (long long)(c0 + n));
    vkt_variant_name(v, sizeof v, "concat", "bwd", dt); /* slice runs the channel-copy kernel */

    uint64_t rng = ctx->seed ^ (nx * 131 + (size_t)c0 * 7 + (size_t)n) ^ (dt == VKT_F16 ? 3 : 5);
    float *hx = rnd(&rng, nx, dt), *hdy = rnd(&rng, ny, dt), *px = rnd(&rng, nx, dt);
    float *got = vkt_malloc(nx * 4);
    double *dx = hx ? vkt_to_double(hx, nx) : NULL, *ddy = hdy ? vkt_to_double(hdy, ny) : NULL;
    double *want = vkt_malloc(nx * 8), *mag = vkt_malloc(nx * 8), *grad = vkt_malloc(nx * 8);
    vkt_tensor x = {0}, y = {0}, dy = {0}, tdx = {0};
    if (!hx || !hdy || !px || !got || !dx || !ddy || !want || !mag || !grad) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "slice check");
        goto done;
    }
    if ((st = vkt_check_tensor(ctx, dt, nd, sx, hx, "x", &x, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, nd, sy, NULL, "y", &y, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, nd, sy, hdy, "dy", &dy, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, nd, sx, px, "dx", &tdx, err))) goto done;

    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_slice_fwd(ctx->step, dim, c0, &x, &y, err))) goto done;
    if ((st = vkt_op_slice_bwd(ctx->step, dim, c0, &dy, &tdx, VKT_GRAD_ACCUMULATE, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    vkt_ref_slice_fwd(outer, C, inner, c0, n, dx, want);
    if ((st = cmp(ctx, &y, got, want, NULL, ny, v, "fwd", desc, err))) goto done;
    vkt_ref_slice_bwd(outer, C, inner, c0, n, ddy, grad);
    expect(want, mag, px, grad, nx, true); /* outside the range: prior + 0 */
    if ((st = cmp(ctx, &tdx, got, want, mag, nx, v, "bwd:dx+=", desc, err))) goto done;

    /* Overwrite replaces the range only: restore the prior contents first. */
    if ((st = vkt_tensor_upload_f32(ctx->dev, &tdx, px, err))) goto done;
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_slice_bwd(ctx->step, dim, c0, &dy, &tdx, VKT_GRAD_OVERWRITE, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    for (size_t i = 0; i < nx; i++)
        want[i] = px[i];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < n; c++)
            for (int64_t i = 0; i < inner; i++)
                want[(o * C + c0 + c) * inner + i] = ddy[(o * n + c) * inner + i];
    if ((st = cmp(ctx, &tdx, got, want, NULL, nx, v, "bwd:dx", desc, err))) goto done;

    if (!ctx->no_fd && dt == VKT_F32) {
        fd_slice u = {outer, C, inner, c0, n};
        vkt_check_fd(ctx, "concat", "fd:slice dx", desc, fd_slice_fwd, &u, dx, nx, ny, ddy, grad,
                     1e-2, 1e-8, 1e-8, 64);
    }
done:
    vkt_tensor_free(ctx->dev, &x);
    vkt_tensor_free(ctx->dev, &y);
    vkt_tensor_free(ctx->dev, &dy);
    vkt_tensor_free(ctx->dev, &tdx);
    free(hx), free(hdy), free(px), free(got), free(dx), free(ddy), free(want), free(mag);
    free(grad);
    return st;
}

vkt_status vkt_opcheck_concat(vkt_check_ctx *ctx, vkt_err *err)
{
    static const int64_t n1[] = {2, 5, 9, 11}, n2[] = {2, 3, 5, 7}, t1[] = {2, 7, 5},
                         t2[] = {2, 3, 4};
    static const int64_t s1[] = {2, 9, 5, 7}, s2[] = {3, 7, 6};
    const vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    for (int d = 0; d < 2; d++) {
        vkt_dtype dt = dts[d];
        if (!vkt_step_dtype_ok(ctx->step, dt)) continue;
        vkt_status st = concat_case(ctx, dt, 4, n1, 1, 3, err); /* UNet [h, skip] */
        if (!st && !ctx->quick) st = concat_case(ctx, dt, 4, n2, 1, 1, err);
        if (!st && !ctx->quick) st = concat_case(ctx, dt, 3, t1, 2, 3, err); /* [B,T,C] on C */
        if (!st && !ctx->quick) st = concat_case(ctx, dt, 3, t2, 0, 1, err); /* outer = 1 */
        if (!st) st = slice_case(ctx, dt, 4, s1, 1, 2, 4, err);
        if (!st && !ctx->quick) st = slice_case(ctx, dt, 4, s1, 1, 0, 9, err); /* whole */
        if (!st && !ctx->quick) st = slice_case(ctx, dt, 4, s1, 1, 8, 1, err); /* last */
        if (!st && !ctx->quick) st = slice_case(ctx, dt, 3, s2, 2, 1, 4, err); /* inner = 1 */
        if (st) return st;
    }
    return VKT_OK;
}
