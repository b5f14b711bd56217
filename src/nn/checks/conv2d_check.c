/* Checks for conv2d: GPU vs double reference for the forward and each gradient (accumulate and
 * overwrite) at small odd shapes, every padding mode, with and without bias, f32 and f16, with
 * the automatic tile and with forced odd tiles; and the reference backward vs central finite
 * differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "nn/check.h"
#include "nn/ref/conv2d_ref.h"

typedef struct conv_case {
    const char *name;
    int B, Cin, H, W, Cout, KH, KW;
    int sh, sw, pt, pb, pl, pr;
    bool bias, fd,
        tiles; /* fd: check the reference by finite differences; tiles: forced tiles too */
} conv_case;

/* clang-format off */
static const conv_case cases[] = {
    /* name                 B Cin  H   W Cout KH KW sh sw pt pb pl pr bias   fd     tiles */
    {"1x1",                 2, 5,  9, 11, 7,  1, 1, 1, 1, 0, 0, 0, 0, true,  true,  true},
    {"3x3 p1",              2, 3,  9, 11, 7,  3, 3, 1, 1, 1, 1, 1, 1, true,  true,  true},
    {"3x3 s2 p1",           2, 5,  9, 11, 7,  3, 3, 2, 2, 1, 1, 1, 1, false, true,  true},  /* UNet Downsample */
    {"3x3 s2 pad(0,1,0,1)", 2, 3,  9, 11, 7,  3, 3, 2, 2, 0, 1, 0, 1, true,  true,  true},  /* VAE Downsample */
    {"3x3 s2 pad(0,1,0,1)", 3, 5,  8, 10, 7,  3, 3, 2, 2, 0, 1, 0, 1, true,  false, false}, /* even sizes */
    {"3x3 p0",              2, 5,  9, 11, 7,  3, 3, 1, 1, 0, 0, 0, 0, false, true,  true},
    {"1x1 s2",              2, 3,  9, 11, 7,  1, 1, 2, 2, 0, 0, 0, 0, true,  true,  false},
    {"2x3 s(2,1) pad(1,0,2,1)", 2, 3, 9, 11, 7, 2, 3, 2, 1, 1, 0, 2, 1, false, true, true},
    {"3x3 p1 multi-tile",   2, 19, 13, 13, 70, 3, 3, 1, 1, 1, 1, 1, 1, true,  false, true},
};
/* clang-format on */
enum { QUICK_A = 1, QUICK_B = 3 }; /* the cases selftest runs by default */

/* Forced tiles besides the automatic one: tiny, non-power-of-two and the largest. */
static const vkt_conv2d_tile forced[] = {
    {16, 16, 8, 2, 2}, {48, 32, 8, 3, 2}, {128, 128, 8, 8, 8}, {32, 64, 4, 2, 4}};

/* The fd callbacks: L's forward as a function of x, w or bias alone. */
typedef struct fd_user {
    const vkt_ref_conv2d *c;
    const double *x, *w, *bias;
    int which; /* 0: vary x, 1: w, 2: bias */
} fd_user;

static void fd_fwd(void *u, const double *v, double *y)
{
    const fd_user *f = u;
    vkt_ref_conv2d_fwd(f->c, f->which == 0 ? v : f->x, f->which == 1 ? v : f->w,
                       f->which == 2 ? v : f->bias, y, NULL);
}

/* Host data of one case, shared by every dtype and tile. */
typedef struct host {
    size_t nx, nw, ny;
    float *x, *w, *b, *dy, *ax, *aw, *ab,
        *got;                      /* a*: prior contents of the gradients (accumulate) */
    double *dx_, *dw_, *db_, *ddy; /* double copies of the inputs */
    double *y, *ymag, *gx, *gxmag, *gw, *gwmag, *gb, *gbmag, *want, *mag;
} host;

static void host_free(host *h)
{
    void *ps[] = {h->x,   h->w,     h->b,   h->dy,    h->ax,   h->aw,   h->ab, h->got,
                  h->dx_, h->dw_,   h->db_, h->ddy,   h->y,    h->ymag, h->gx, h->gxmag,
                  h->gw,  h->gwmag, h->gb,  h->gbmag, h->want, h->mag};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        free(ps[i]);
    memset(h, 0, sizeof *h);
}

/* Random inputs for case k (rounded to f16 values when f16, so that the reference sees exactly
 * what the GPU reads) and the reference results. */
static vkt_status host_init(vkt_check_ctx *ctx, const conv_case *k, const vkt_ref_conv2d *c,
                            bool f16, host *h, vkt_err *err)
{
    h->nx = (size_t)c->B * c->Cin * c->H * c->W;
    h->nw = (size_t)c->Cout * c->Cin * c->KH * c->KW;
    h->ny = (size_t)c->B * c->Cout * c->OH * c->OW;
    size_t nmax = h->nx > h->nw ? h->nx : h->nw;
    nmax = nmax > h->ny ? nmax : h->ny;
    size_t nb = (size_t)c->Cout;
    h->x = vkt_malloc(h->nx * 4), h->w = vkt_malloc(h->nw * 4), h->b = vkt_malloc(nb * 4);
    h->dy = vkt_malloc(h->ny * 4), h->ax = vkt_malloc(h->nx * 4), h->aw = vkt_malloc(h->nw * 4);
    h->ab = vkt_malloc(nb * 4), h->got = vkt_malloc(nmax * 4);
    h->y = vkt_malloc(h->ny * 8), h->ymag = vkt_malloc(h->ny * 8), h->gx = vkt_malloc(h->nx * 8);
    h->gxmag = vkt_malloc(h->nx * 8), h->gw = vkt_malloc(h->nw * 8),
    h->gwmag = vkt_malloc(h->nw * 8);
    h->gb = vkt_malloc(nb * 8), h->gbmag = vkt_malloc(nb * 8), h->want = vkt_malloc(nmax * 8);
    h->mag = vkt_malloc(nmax * 8);
    if (!h->x || !h->w || !h->b || !h->dy || !h->ax || !h->aw || !h->ab || !h->got || !h->y ||
        !h->ymag || !h->gx || !h->gxmag || !h->gw || !h->gwmag || !h->gb || !h->gbmag || !h->want ||
        !h->mag)
        return vkt_fail(err, VKT_ERR_NOMEM, "conv2d check");
    uint64_t rng = ctx->seed ^ (uint64_t)(k - cases) * 0x9E3779B97F4A7C15ull ^ (f16 ? 0x16 : 0x32);
    vkt_rng_fill(&rng, h->x, h->nx, -1.0, 1.0);
    vkt_rng_fill(&rng, h->w, h->nw, -1.0, 1.0);
    vkt_rng_fill(&rng, h->b, nb, -1.0, 1.0);
    vkt_rng_fill(&rng, h->dy, h->ny, -1.0, 1.0);
    vkt_rng_fill(&rng, h->ax, h->nx, -1.0, 1.0);
    vkt_rng_fill(&rng, h->aw, h->nw, -1.0, 1.0);
    vkt_rng_fill(&rng, h->ab, nb, -1.0, 1.0);
    if (f16) {
        float *fs[] = {h->x, h->w, h->b, h->dy, h->ax, h->aw, h->ab};
        size_t ns[] = {h->nx, h->nw, nb, h->ny, h->nx, h->nw, nb};
        for (int i = 0; i < 7; i++)
            vkt_round_f16(fs[i], ns[i]);
    }
    h->dx_ = vkt_to_double(h->x, h->nx), h->dw_ = vkt_to_double(h->w, h->nw),
    h->db_ = vkt_to_double(h->b, nb);
    h->ddy = vkt_to_double(h->dy, h->ny);
    if (!h->dx_ || !h->dw_ || !h->db_ || !h->ddy)
        return vkt_fail(err, VKT_ERR_NOMEM, "conv2d check");
    vkt_ref_conv2d_fwd(c, h->dx_, h->dw_, k->bias ? h->db_ : NULL, h->y, h->ymag);
    vkt_ref_conv2d_bwd_dx(c, h->ddy, h->dw_, h->gx, h->gxmag);
    vkt_ref_conv2d_bwd_dw(c, h->dx_, h->ddy, h->gw, h->gwmag);
    vkt_ref_conv2d_bwd_db(c, h->ddy, h->gb, h->gbmag);
    return VKT_OK;
}

/* Tolerances, as atol + rtol*|want| + mtol*mag (mag = sum of |terms|, see check.h).
 * f32: inputs are exact in both; the GPU sums K <= 630 products (K = B*OH*OW = 338 for dw) in
 * float with fma in its own order. The worst-case bound K*2^-24*mag reaches 3.8e-5*mag, but the
 * rounding errors of random-sign terms add like a random walk, ~sqrt(K)*2^-24*mag <= 1.5e-6*mag;
 * 1e-5 keeps a 7x margin, while one wrong or missing tap (|term| ~ mag/K) would be >= 1.6e-3*mag.
 * f16 storage: the same float sum, then one rounding of the result to f16: at most 2^-11 = 4.88e-4
 * of |result| for normal values, 2^-25 absolute below 2^-14 (subnormal spacing 2^-24). */
static void tols(vkt_dtype dt, double *atol, double *rtol, double *mtol)
{
    *mtol = 1e-5;
    *atol = dt == VKT_F16 ? 0x1p-25 : 0.0;
    *rtol = dt == VKT_F16 ? 4.9e-4 : 0.0;
}

static void compare(vkt_check_ctx *ctx, const char *variant, const char *what, const char *desc,
                    vkt_dtype dt, const float *got, const double *want, const double *mag, size_t n)
{
    double atol, rtol, mtol;
    tols(dt, &atol, &rtol, &mtol);
    vkt_check_compare_mag(ctx, "conv2d", variant, what, desc, got, want, mag, n, atol, rtol, mtol);
}

/* want = ref + prior (accumulate mode), mag likewise. */
static void plus_prior(host *h, const double *ref, const double *refmag, const float *prior,
                       size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h->want[i] = ref[i] + prior[i];
        h->mag[i] = refmag[i] + fabs(prior[i]);
    }
}

static const char *variant_str(char *out, size_t n, const char *dir, vkt_dtype dt,
                               vkt_conv2d_tile t)
{
    char v[48];
    snprintf(out, n, "%s %ux%ux%u/%ux%u", vkt_variant_name(v, sizeof v, "conv2d", dir, dt), t.bm,
             t.bn, t.bk, t.tm, t.tn);
    return out;
}

/* GPU run of one case with one tile (tile {0}: automatic) and dtype; with_db adds the grad-bias
 * checks (which use no tile). */
static vkt_status gpu_case(vkt_check_ctx *ctx, const conv_case *k, const vkt_ref_conv2d *c,
                           const host *hc, vkt_dtype dt, vkt_conv2d_tile tile, bool with_db,
                           const char *desc, vkt_err *err)
{
    host *h = (host *)hc;
    vkt_status st = VKT_OK;
    vkt_conv2d_params p = {.stride_h = k->sh,
                           .stride_w = k->sw,
                           .pad_top = k->pt,
                           .pad_bottom = k->pb,
                           .pad_left = k->pl,
                           .pad_right = k->pr,
                           .algo = VKT_CONV2D_TILED,
                           .tile = tile};
    const int64_t sx[4] = {c->B, c->Cin, c->H, c->W}, sw[4] = {c->Cout, c->Cin, c->KH, c->KW};
    const int64_t sy[4] = {c->B, c->Cout, c->OH, c->OW}, sb[1] = {c->Cout};
    vkt_tensor x = {0}, w = {0}, b = {0}, y = {0}, dy = {0}, dx = {0}, dw = {0}, db = {0};
    if ((st = vkt_check_tensor(ctx, dt, 4, sx, h->x, "x", &x, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 4, sw, h->w, "w", &w, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 1, sb, h->b, "bias", &b, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 4, sy, NULL, "y", &y, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 4, sy, h->dy, "dy", &dy, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 4, sx, h->ax, "dx", &dx, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 4, sw, h->aw, "dw", &dw, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 1, sb, h->ab, "db", &db, err))) goto done;

    /* Accumulate into the random prior contents. */
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_conv2d_fwd(ctx->step, &p, &x, &w, k->bias ? &b : NULL, &y, err))) goto done;
    if ((st = vkt_op_conv2d_bwd_dx(ctx->step, &p, &dy, &w, &dx, VKT_GRAD_ACCUMULATE, err)))
        goto done;
    if ((st = vkt_op_conv2d_bwd_dw(ctx->step, &p, &x, &dy, &dw, VKT_GRAD_ACCUMULATE, err)))
        goto done;
    if (with_db && (st = vkt_op_conv2d_bwd_db(ctx->step, &dy, &db, VKT_GRAD_ACCUMULATE, err)))
        goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;

    int64_t KHW = (int64_t)c->KH * c->KW;
    vkt_conv2d_tile tf = tile, tx = tile, tw = tile;
    if (!tile.bm) {
        tf = vkt_conv2d_pick_tile(ctx->step, c->Cout, (int64_t)c->B * c->OH * c->OW, c->Cin * KHW);
        tx = vkt_conv2d_pick_tile(ctx->step, c->Cin, (int64_t)c->B * c->H * c->W, c->Cout * KHW);
        tw = vkt_conv2d_pick_tile(ctx->step, c->Cout, c->Cin * KHW, (int64_t)c->B * c->OH * c->OW);
    }
    char vf[64], vx[64], vw[64], vb[64];
    variant_str(vf, sizeof vf, "fwd", dt, tf);
    variant_str(vx, sizeof vx, "bwd_dx", dt, tx);
    variant_str(vw, sizeof vw, "bwd_dw", dt, tw);
    vkt_variant_name(vb, sizeof vb, "conv2d", "bwd_db", dt);

    if ((st = vkt_tensor_download_f32(ctx->dev, &y, h->got, err))) goto done;
    compare(ctx, vf, "fwd", desc, dt, h->got, h->y, h->ymag, h->ny);
    if ((st = vkt_tensor_download_f32(ctx->dev, &dx, h->got, err))) goto done;
    plus_prior(h, h->gx, h->gxmag, h->ax, h->nx);
    compare(ctx, vx, "bwd:dx+=", desc, dt, h->got, h->want, h->mag, h->nx);
    if ((st = vkt_tensor_download_f32(ctx->dev, &dw, h->got, err))) goto done;
    plus_prior(h, h->gw, h->gwmag, h->aw, h->nw);
    compare(ctx, vw, "bwd:dw+=", desc, dt, h->got, h->want, h->mag, h->nw);
    if (with_db) {
        if ((st = vkt_tensor_download_f32(ctx->dev, &db, h->got, err))) goto done;
        plus_prior(h, h->gb, h->gbmag, h->ab, (size_t)c->Cout);
        compare(ctx, vb, "bwd:db+=", desc, dt, h->got, h->want, h->mag, (size_t)c->Cout);
    }

    /* Overwrite: the gradients now hold the accumulated values, which must all be replaced. */
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_conv2d_bwd_dx(ctx->step, &p, &dy, &w, &dx, VKT_GRAD_OVERWRITE, err)))
        goto done;
    if ((st = vkt_op_conv2d_bwd_dw(ctx->step, &p, &x, &dy, &dw, VKT_GRAD_OVERWRITE, err)))
        goto done;
    if (with_db && (st = vkt_op_conv2d_bwd_db(ctx->step, &dy, &db, VKT_GRAD_OVERWRITE, err)))
        goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    if ((st = vkt_tensor_download_f32(ctx->dev, &dx, h->got, err))) goto done;
    compare(ctx, vx, "bwd:dx", desc, dt, h->got, h->gx, h->gxmag, h->nx);
    if ((st = vkt_tensor_download_f32(ctx->dev, &dw, h->got, err))) goto done;
    compare(ctx, vw, "bwd:dw", desc, dt, h->got, h->gw, h->gwmag, h->nw);
    if (with_db) {
        if ((st = vkt_tensor_download_f32(ctx->dev, &db, h->got, err))) goto done;
        compare(ctx, vb, "bwd:db", desc, dt, h->got, h->gb, h->gbmag, (size_t)c->Cout);
    }
done:
    vkt_tensor_free(ctx->dev, &x);
    vkt_tensor_free(ctx->dev, &w);
    vkt_tensor_free(ctx->dev, &b);
    vkt_tensor_free(ctx->dev, &y);
    vkt_tensor_free(ctx->dev, &dy);
    vkt_tensor_free(ctx->dev, &dx);
    vkt_tensor_free(ctx->dev, &dw);
    vkt_tensor_free(ctx->dev, &db);
    return st;
}

/* Reference backward vs central differences of L = sum(conv(x, w, bias) * dy). L is linear in
 * each of x, w and bias, so the differences have no truncation error whatever eps; what is left
 * is double rounding in L (about 1e-16 * sum|terms| ~ 1e-12 here) over 2*eps = 0.02, ~1e-10,
 * far below 1e-8, while a wrong tap in the reference backward changes a gradient by ~0.1. */
static void fd_case(vkt_check_ctx *ctx, const vkt_ref_conv2d *c, host *h, bool bias,
                    const char *desc)
{
    fd_user u = {c, h->dx_, h->dw_, bias ? h->db_ : NULL, 0};
    const double eps = 1e-2, atol = 1e-8, rtol = 1e-8;
    vkt_check_fd(ctx, "conv2d", "fd:dx", desc, fd_fwd, &u, h->dx_, h->nx, h->ny, h->ddy, h->gx, eps,
                 atol, rtol, 64);
    u.which = 1;
    vkt_check_fd(ctx, "conv2d", "fd:dw", desc, fd_fwd, &u, h->dw_, h->nw, h->ny, h->ddy, h->gw, eps,
                 atol, rtol, 64);
    if (bias) {
        u.which = 2;
        vkt_check_fd(ctx, "conv2d", "fd:db", desc, fd_fwd, &u, h->db_, (size_t)c->Cout, h->ny,
                     h->ddy, h->gb, eps, atol, rtol, 64);
    }
}

vkt_status vkt_opcheck_conv2d(vkt_check_ctx *ctx, vkt_err *err)
{
    const vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    int n_cases = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n_cases; i++) {
        if (ctx->quick && i != QUICK_A && i != QUICK_B) continue;
        const conv_case *k = &cases[i];
        vkt_conv2d_params p = {.stride_h = k->sh,
                               .stride_w = k->sw,
                               .pad_top = k->pt,
                               .pad_bottom = k->pb,
                               .pad_left = k->pl,
                               .pad_right = k->pr};
        vkt_ref_conv2d c;
        if (!vkt_ref_conv2d_init(&c, k->B, k->Cin, k->H, k->W, k->Cout, k->KH, k->KW, &p))
            return vkt_fail(err, VKT_ERR_INTERNAL, "conv2d check: bad case %s", k->name);
        char desc[96];
        snprintf(desc, sizeof desc, "%s x[%d,%d,%d,%d] Cout%d%s", k->name, k->B, k->Cin, k->H, k->W,
                 k->Cout, k->bias ? " bias" : "");
        for (int d = 0; d < 2; d++) {
            if (!vkt_step_dtype_ok(ctx->step, dts[d])) continue;
            host h = {0};
            vkt_status st = host_init(ctx, k, &c, dts[d] == VKT_F16, &h, err);
            if (!st) st = gpu_case(ctx, k, &c, &h, dts[d], (vkt_conv2d_tile){0}, true, desc, err);
            /* Forced tiles prove the kernel right for any tile, not only the ones AUTO picks. */
            for (size_t t = 0; !st && k->tiles && !ctx->quick && dts[d] == VKT_F32 &&
                               t < sizeof forced / sizeof forced[0];
                 t++)
                st = gpu_case(ctx, k, &c, &h, dts[d], forced[t], false, desc, err);
            if (!st && dts[d] == VKT_F32 && k->fd && !ctx->no_fd)
                fd_case(ctx, &c, &h, k->bias, desc);
            host_free(&h);
            if (st) return st;
        }
    }
    return VKT_OK;
}
