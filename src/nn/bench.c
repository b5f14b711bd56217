/* Op benchmarks. Timing: one submission records `reps` calls; the per-call GPU time is the
 * median of the per-dispatch timestamp deltas. */
#include "nn/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "nn/ops/act.h"
#include "nn/ops/attention.h"
#include "nn/ops/conv2d.h"
#include "nn/ops/embed.h"
#include "nn/ops/geglu.h"
#include "nn/ops/groupnorm.h"
#include "nn/ops/layernorm.h"
#include "nn/ops/matmul.h"
#include "nn/ops/softmax.h"

typedef vkt_status (*record_fn)(vkt_step *s, void *user, vkt_err *err);

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Records `reps` calls of fn, submits, returns the median ms of the calls' dispatches. */
static vkt_status measure(vkt_step *s, int reps, record_fn fn, void *user, double *ms_out, vkt_err *err)
{
    vkt_cmd_set_profiling(s->cmd, true);
    vkt_status st = vkt_step_begin(s, err);
    for (int r = 0; r < reps && !st; r++) st = fn(s, user, err);
    if (!st) st = vkt_step_run(s, err);
    vkt_cmd_set_profiling(s->cmd, false);
    if (st) return st;
    const char *const *labels;
    const double *ms;
    uint32_t n;
    if (!vkt_cmd_timings(s->cmd, &labels, &ms, &n) || n == 0)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "bench: this device has no compute timestamps");
    /* Calls may record several dispatches: sum per call, then take the median over calls. */
    uint32_t per = n / (uint32_t)reps;
    double *calls = vkt_malloc((size_t)reps * sizeof *calls);
    if (!calls) return vkt_fail(err, VKT_ERR_NOMEM, "bench");
    for (int r = 0; r < reps; r++) {
        calls[r] = 0;
        for (uint32_t k = 0; k < per; k++) calls[r] += ms[(uint32_t)r * per + k];
    }
    qsort(calls, (size_t)reps, sizeof *calls, cmp_double);
    *ms_out = calls[reps / 2];
    free(calls);
    return VKT_OK;
}

static vkt_bench_result *push(vkt_bench_list *l)
{
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 32;
        vkt_bench_result *nv = vkt_realloc(l->v, cap * sizeof *nv);
        if (!nv) return NULL;
        l->v = nv;
        l->cap = cap;
    }
    memset(&l->v[l->n], 0, sizeof l->v[0]);
    return &l->v[l->n++];
}

void vkt_bench_list_fini(vkt_bench_list *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* --- act: memory-bound reference point (SiLU over a UNet feature map) --- */
typedef struct act_user { vkt_tensor x, y; } act_user;

static vkt_status act_rec(vkt_step *s, void *u, vkt_err *err)
{
    act_user *a = u;
    return vkt_op_act_fwd(s, VKT_ACT_SILU, 0, &a->x, &a->y, err);
}

static vkt_status bench_act(vkt_step *s, const vkt_bench_opts *o, vkt_dtype dt, vkt_bench_list *out, vkt_err *err)
{
    int64_t shape[4] = {1, 320, o->small ? 32 : 64, o->small ? 32 : 64};
    act_user u = {0};
    vkt_status st = vkt_tensor_alloc(s->dev, dt, 4, shape, "bench x", &u.x, err);
    if (!st) st = vkt_tensor_alloc(s->dev, dt, 4, shape, "bench y", &u.y, err);
    if (!st) st = vkt_tensor_zero(s->dev, &u.x, err);
    double ms = 0;
    if (!st) st = measure(s, o->reps, act_rec, &u, &ms, err);
    if (!st) {
        vkt_bench_result *r = push(out);
        if (r) {
            snprintf(r->op, sizeof r->op, "act");
            vkt_variant_name(r->variant, sizeof r->variant, "act", "fwd", dt);
            vkt_shape_str(&u.x, r->shape, sizeof r->shape);
            r->ms = ms;
            r->gbps = ms > 0 ? 2.0 * (double)vkt_tensor_bytes(&u.x) / (ms * 1e6) : 0;
        }
    }
    vkt_tensor_free(s->dev, &u.x);
    vkt_tensor_free(s->dev, &u.y);
    return st;
}

/* Tensors of one case, allocated zeroed (values do not change the timing of these kernels). */
typedef struct case_ts { vkt_tensor t[12]; int n; } case_ts;

static vkt_status case_tensor(vkt_step *s, case_ts *c, vkt_dtype dt, int ndim, const int64_t *shape, vkt_tensor **out,
                              vkt_err *err)
{
    if (c->n == (int)(sizeof c->t / sizeof c->t[0])) return vkt_fail(err, VKT_ERR_INTERNAL, "bench: too many tensors");
    vkt_tensor *t = &c->t[c->n];
    vkt_status st = vkt_tensor_alloc(s->dev, dt, ndim, shape, "bench", t, err);
    if (!st) st = vkt_tensor_zero(s->dev, t, err);
    if (st) return st;
    c->n++;
    *out = t;
    return VKT_OK;
}

static void case_free(vkt_step *s, case_ts *c)
{
    for (int i = 0; i < c->n; i++) vkt_tensor_free(s->dev, &c->t[i]);
    c->n = 0;
}

static void add_result(vkt_bench_list *out, const char *op, const char *variant, const char *shape, double ms,
                       double flops, double bytes)
{
    vkt_bench_result *r = push(out);
    if (!r) return;
    snprintf(r->op, sizeof r->op, "%s", op);
    snprintf(r->variant, sizeof r->variant, "%s", variant);
    snprintf(r->shape, sizeof r->shape, "%s", shape);
    r->ms = ms;
    r->gflops = ms > 0 && flops > 0 ? flops / (ms * 1e6) : 0;
    r->gbps = ms > 0 && bytes > 0 ? bytes / (ms * 1e6) : 0;
}

/* --- conv2d: the UNet's 3x3 convs at 512 px (64x64 latent, 320 ch) and the 1280-ch level --- */
typedef struct conv_user { vkt_conv2d_params p; vkt_tensor *x, *w, *b, *y, *dy, *dx; int which; } conv_user;

static vkt_status conv_rec(vkt_step *s, void *u, vkt_err *err)
{
    conv_user *c = u;
    if (c->which == 0) return vkt_op_conv2d_fwd(s, &c->p, c->x, c->w, c->b, c->y, err);
    return vkt_op_conv2d_bwd_dx(s, &c->p, c->dy, c->w, c->dx, VKT_GRAD_OVERWRITE, err);
}

static vkt_status bench_conv(vkt_step *s, const vkt_bench_opts *o, vkt_dtype dt, vkt_bench_list *out, vkt_err *err)
{
    const int64_t cases[2][2] = {{320, 64}, {1280, 16}}; /* channels, spatial at 512 px */
    for (int k = 0; k < 2; k++) {
        int64_t C = o->small ? cases[k][0] / 4 : cases[k][0], H = cases[k][1];
        case_ts ts = {0};
        conv_user u = {.p = vkt_conv2d_std(1, 1)};
        vkt_status st = case_tensor(s, &ts, dt, 4, (int64_t[]){1, C, H, H}, &u.x, err);
        if (!st) st = case_tensor(s, &ts, dt, 4, (int64_t[]){C, C, 3, 3}, &u.w, err);
        if (!st) st = case_tensor(s, &ts, dt, 1, (int64_t[]){C}, &u.b, err);
        if (!st) st = case_tensor(s, &ts, dt, 4, (int64_t[]){1, C, H, H}, &u.y, err);
        if (!st) st = case_tensor(s, &ts, dt, 4, (int64_t[]){1, C, H, H}, &u.dy, err);
        if (!st) st = case_tensor(s, &ts, dt, 4, (int64_t[]){1, C, H, H}, &u.dx, err);
        for (int which = 0; which < 2 && !st; which++) {
            double ms = 0;
            u.which = which;
            st = measure(s, o->reps, conv_rec, &u, &ms, err);
            char v[64], shape[96];
            snprintf(shape, sizeof shape, "x[1,%lld,%lld,%lld] w3x3", (long long)C, (long long)H, (long long)H);
            if (!st) add_result(out, "conv2d", vkt_variant_name(v, sizeof v, "conv2d", which ? "bwd_dx" : "fwd", dt),
                                shape, ms, 2.0 * (double)(C * C * 9 * H * H), 0);
        }
        case_free(s, &ts);
        if (st) return st;
    }
    return VKT_OK;
}

/* --- norms: GroupNorm(32) over the 320-ch 64x64 map; LayerNorm over 4096 tokens x 320 --- */
typedef struct norm_user { vkt_tensor *x, *g, *b, *y, *mean, *rstd; int which; } norm_user;

static vkt_status norm_rec(vkt_step *s, void *u, vkt_err *err)
{
    norm_user *n = u;
    if (n->which == 0) return vkt_op_groupnorm_fwd(s, n->x, n->g, n->b, 32, 1e-5f, n->y, n->mean, n->rstd, err);
    return vkt_op_layernorm_fwd(s, n->x, n->g, n->b, 1e-5f, n->y, n->mean, n->rstd, err);
}

static vkt_status bench_norm(vkt_step *s, const vkt_bench_opts *o, vkt_dtype dt, vkt_bench_list *out, vkt_err *err)
{
    int64_t C = 320, H = o->small ? 32 : 64;
    for (int which = 0; which < 2; which++) {
        case_ts ts = {0};
        norm_user u = {.which = which};
        vkt_status st;
        if (which == 0) st = case_tensor(s, &ts, dt, 4, (int64_t[]){1, C, H, H}, &u.x, err);
        else st = case_tensor(s, &ts, dt, 3, (int64_t[]){1, H * H, C}, &u.x, err);
        if (!st) st = case_tensor(s, &ts, dt, 1, (int64_t[]){C}, &u.g, err);
        if (!st) st = case_tensor(s, &ts, dt, 1, (int64_t[]){C}, &u.b, err);
        if (!st) st = case_tensor(s, &ts, dt, u.x->ndim, u.x->shape, &u.y, err);
        int64_t nst = which == 0 ? 32 : H * H;
        if (!st) st = case_tensor(s, &ts, VKT_F32, 2, (int64_t[]){1, nst}, &u.mean, err);
        if (!st) st = case_tensor(s, &ts, VKT_F32, 2, (int64_t[]){1, nst}, &u.rstd, err);
        double ms = 0;
        if (!st) st = measure(s, o->reps, norm_rec, &u, &ms, err);
        char v[64], shape[96];
        vkt_shape_str(u.x, shape, sizeof shape);
        if (!st) add_result(out, which ? "layernorm" : "groupnorm",
                            vkt_variant_name(v, sizeof v, which ? "layernorm" : "groupnorm", "fwd", dt), shape, ms, 0,
                            2.0 * (double)vkt_tensor_bytes(u.x));
        case_free(s, &ts);
        if (st) return st;
    }
    return VKT_OK;
}

/* --- matmul: the UNet's linear layers at 512 px (64x64 = 4096 tokens at 320 ch, 1024 at 640,
 * 256 at 1280) and one cross-attention k/v projection of the 77-token context --- */
typedef struct mm_user { vkt_tensor *x, *w, *b, *y, *dy, *dx; int which; } mm_user;

static vkt_status mm_rec(vkt_step *s, void *u, vkt_err *err)
{
    mm_user *m = u;
    if (m->which == 0) return vkt_op_linear_fwd(s, m->x, m->w, m->b, m->y, err);
    return vkt_op_linear_bwd(s, NULL, m->w, m->dy, m->dx, VKT_GRAD_OVERWRITE, NULL, NULL, VKT_GRAD_OVERWRITE, err);
}

static vkt_status bench_matmul(vkt_step *s, const vkt_bench_opts *o, vkt_dtype dt, vkt_bench_list *out, vkt_err *err)
{
    /* tokens, in, out, bias, also the backward to the input (the TI backward needs dx only) */
    static const struct { int64_t T, in, out; bool bias, bwd; const char *what; } cases[] = {
        {4096, 320, 320, false, true, "attn q/k/v/out"},  {4096, 320, 2560, true, true, "geglu proj"},
        {4096, 1280, 320, true, false, "ff out"},         {1024, 640, 640, false, false, "attn q 640"},
        {256, 1280, 10240, true, false, "geglu proj 1280"}, {77, 768, 320, false, false, "ctx k/v"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int64_t T = cases[k].T > 77 && o->small ? cases[k].T / 4 : cases[k].T, I = cases[k].in, N = cases[k].out;
        case_ts ts = {0};
        mm_user u = {0};
        vkt_status st = case_tensor(s, &ts, dt, 3, (int64_t[]){1, T, I}, &u.x, err);
        if (!st) st = case_tensor(s, &ts, dt, 2, (int64_t[]){N, I}, &u.w, err);
        if (!st && cases[k].bias) st = case_tensor(s, &ts, dt, 1, (int64_t[]){N}, &u.b, err);
        if (!st) st = case_tensor(s, &ts, dt, 3, (int64_t[]){1, T, N}, &u.y, err);
        if (!st && cases[k].bwd) st = case_tensor(s, &ts, dt, 3, (int64_t[]){1, T, N}, &u.dy, err);
        if (!st && cases[k].bwd) st = case_tensor(s, &ts, dt, 3, (int64_t[]){1, T, I}, &u.dx, err);
        for (int which = 0; which < (cases[k].bwd ? 2 : 1) && !st; which++) {
            double ms = 0;
            u.which = which;
            st = measure(s, o->reps, mm_rec, &u, &ms, err);
            char v[64], shape[96];
            snprintf(shape, sizeof shape, "%lldx%lld * %lldx%lld %s", (long long)T, (long long)(which ? N : I),
                     (long long)(which ? N : I), (long long)(which ? I : N), cases[k].what);
            if (!st) add_result(out, "matmul", vkt_variant_name(v, sizeof v, "linear", which ? "bwd_dx" : "fwd", dt),
                                shape, ms, 2.0 * (double)(T * I * N), 0);
        }
        case_free(s, &ts);
        if (st) return st;
    }
    return VKT_OK;
}

/* --- attention: SD1.5 self-attention at 512 px (4096 tokens, 8 heads x 40) and cross-attention
 * to the 77-token context; flash-style forward and backward --- */
typedef struct attn_user { vkt_tensor *q, *k, *v, *o, *lse, *dout, *dq, *dk, *dv; int which; } attn_user;

static vkt_status attn_rec(vkt_step *s, void *u, vkt_err *err)
{
    attn_user *a = u;
    if (a->which == 0) return vkt_op_attention_fwd(s, a->q, a->k, a->v, 8, 0.0f, false, a->o, a->lse, err);
    return vkt_op_attention_bwd(s, a->q, a->k, a->v, a->o, a->lse, a->dout, 8, 0.0f, false, a->dq, a->dk, a->dv,
                                VKT_GRAD_OVERWRITE, err);
}

static vkt_status bench_attention(vkt_step *s, const vkt_bench_opts *o, vkt_dtype dt, vkt_bench_list *out,
                                  vkt_err *err)
{
    const int64_t C = 320, Tq = o->small ? 1024 : 4096;
    const int64_t tks[2] = {Tq, 77};
    for (int k = 0; k < 2; k++) {
        int64_t Tk = tks[k];
        case_ts ts = {0};
        attn_user u = {0};
        vkt_status st = case_tensor(s, &ts, dt, 3, (int64_t[]){1, Tq, C}, &u.q, err);
        if (!st) st = case_tensor(s, &ts, dt, 3, (int64_t[]){1, Tk, C}, &u.k, err);
        if (!st) st = case_tensor(s, &ts, dt, 3, (int64_t[]){1, Tk, C}, &u.v, err);
        if (!st) st = case_tensor(s, &ts, dt, 3, (int64_t[]){1, Tq, C}, &u.o, err);
        if (!st) st = case_tensor(s, &ts, VKT_F32, 3, (int64_t[]){1, 8, Tq}, &u.lse, err);
        if (!st) st = case_tensor(s, &ts, dt, 3, (int64_t[]){1, Tq, C}, &u.dout, err);
        if (!st) st = case_tensor(s, &ts, dt, 3, (int64_t[]){1, Tq, C}, &u.dq, err);
        if (!st) st = case_tensor(s, &ts, dt, 3, (int64_t[]){1, Tk, C}, &u.dk, err);
        if (!st) st = case_tensor(s, &ts, dt, 3, (int64_t[]){1, Tk, C}, &u.dv, err);
        /* the backward reads the forward's o and lse: run it once first */
        u.which = 0;
        if (!st) st = vkt_step_begin(s, err);
        if (!st) st = attn_rec(s, &u, err);
        if (!st) st = vkt_step_run(s, err);
        for (int which = 0; which < 2 && !st; which++) {
            double ms = 0;
            u.which = which;
            st = measure(s, o->reps, attn_rec, &u, &ms, err);
            char v[64], shape[96];
            snprintf(shape, sizeof shape, "q[1,%lld,320] kv[1,%lld,320] 8x40 %s", (long long)Tq, (long long)Tk,
                     k ? "cross" : "self");
            /* forward: q·kᵀ and p·v, 2·Tq·Tk·C FLOPs each; backward: 2.5x the forward (the usual
             * count for flash attention: recomputed q·kᵀ, dv, dp, dq, dk) */
            double fl = 4.0 * (double)(Tq * Tk * C) * (which ? 2.5 : 1.0);
            if (!st) add_result(out, "attention", vkt_variant_name(v, sizeof v, "attention", which ? "bwd" : "fwd", dt),
                                shape, ms, fl, 0);
        }
        case_free(s, &ts);
        if (st) return st;
    }
    return VKT_OK;
}

/* --- softmax: unfused attention probabilities (8 heads x 4096 queries over 77 context tokens,
 * and 8 x 1024 x 1024 self-attention at the 640-ch level) --- */
typedef struct sm_user { vkt_tensor *x, *y, *dy, *dx; int which; } sm_user;

static vkt_status sm_rec(vkt_step *s, void *u, vkt_err *err)
{
    sm_user *m = u;
    if (m->which == 0) return vkt_op_softmax_fwd(s, m->x, m->y, err);
    return vkt_op_softmax_bwd(s, m->y, m->dy, m->dx, VKT_GRAD_OVERWRITE, err);
}

static vkt_status bench_softmax(vkt_step *s, const vkt_bench_opts *o, vkt_dtype dt, vkt_bench_list *out, vkt_err *err)
{
    const int64_t shapes[2][3] = {{8, o->small ? 1024 : 4096, 77}, {8, o->small ? 256 : 1024, o->small ? 256 : 1024}};
    for (int k = 0; k < 2; k++) {
        case_ts ts = {0};
        sm_user u = {0};
        vkt_status st = VKT_OK;
        vkt_tensor **tt[4] = {&u.x, &u.y, &u.dy, &u.dx};
        for (int i = 0; i < 4 && !st; i++) st = case_tensor(s, &ts, dt, 3, shapes[k], tt[i], err);
        for (int which = 0; which < 2 && !st; which++) {
            double ms = 0;
            u.which = which;
            st = measure(s, o->reps, sm_rec, &u, &ms, err);
            char v[64], shape[96];
            vkt_shape_str(u.x, shape, sizeof shape);
            /* forward reads x, writes y; backward reads y and dy, writes dx */
            if (!st) add_result(out, "softmax", vkt_variant_name(v, sizeof v, "softmax", which ? "bwd" : "fwd", dt),
                                shape, ms, 0, (which ? 3.0 : 2.0) * (double)vkt_tensor_bytes(u.x));
        }
        case_free(s, &ts);
        if (st) return st;
    }
    return VKT_OK;
}

/* --- geglu: the feed-forward gate at 4096 tokens x 1280 (proj output 2560) --- */
typedef struct geglu_user { vkt_tensor *p, *y, *dy, *dp; int which; } geglu_user;

static vkt_status geglu_rec(vkt_step *s, void *u, vkt_err *err)
{
    geglu_user *g = u;
    if (g->which == 0) return vkt_op_geglu_fwd(s, g->p, g->y, err);
    return vkt_op_geglu_bwd(s, g->p, g->dy, g->dp, VKT_GRAD_OVERWRITE, err);
}

static vkt_status bench_geglu(vkt_step *s, const vkt_bench_opts *o, vkt_dtype dt, vkt_bench_list *out, vkt_err *err)
{
    int64_t T = o->small ? 1024 : 4096, F = 1280;
    case_ts ts = {0};
    geglu_user u = {0};
    vkt_status st = case_tensor(s, &ts, dt, 3, (int64_t[]){1, T, 2 * F}, &u.p, err);
    if (!st) st = case_tensor(s, &ts, dt, 3, (int64_t[]){1, T, F}, &u.y, err);
    if (!st) st = case_tensor(s, &ts, dt, 3, (int64_t[]){1, T, F}, &u.dy, err);
    if (!st) st = case_tensor(s, &ts, dt, 3, (int64_t[]){1, T, 2 * F}, &u.dp, err);
    for (int which = 0; which < 2 && !st; which++) {
        double ms = 0;
        u.which = which;
        st = measure(s, o->reps, geglu_rec, &u, &ms, err);
        char v[64], shape[96];
        vkt_shape_str(u.p, shape, sizeof shape);
        /* forward reads p, writes y; backward reads p and dy, writes dp */
        double bytes = which ? 2.0 * (double)vkt_tensor_bytes(u.p) + (double)vkt_tensor_bytes(u.dy)
                             : (double)vkt_tensor_bytes(u.p) + (double)vkt_tensor_bytes(u.y);
        if (!st) add_result(out, "geglu", vkt_variant_name(v, sizeof v, "geglu", which ? "bwd" : "fwd", dt), shape, ms,
                            0, bytes);
    }
    case_free(s, &ts);
    return st;
}

/* --- embed: CLIP token gather from the 49408 x 768 table for a batch of 77-token prompts with
 * one learned vector, and the backward to the vectors --- */
typedef struct embed_user { vkt_tensor *ids, *table, *src, *vec, *y, *dvec; int which; } embed_user;

static vkt_status embed_rec(vkt_step *s, void *u, vkt_err *err)
{
    embed_user *e = u;
    if (e->which == 0) return vkt_op_embed_fwd(s, e->ids, e->table, e->src, e->vec, e->y, err);
    return vkt_op_embed_bwd_vectors(s, e->src, e->y, e->dvec, VKT_GRAD_OVERWRITE, err);
}

static vkt_status bench_embed(vkt_step *s, const vkt_bench_opts *o, vkt_dtype dt, vkt_bench_list *out, vkt_err *err)
{
    int64_t B = o->small ? 4 : 16, T = 77, V = 49408, D = 768;
    case_ts ts = {0};
    embed_user u = {0};
    vkt_status st = case_tensor(s, &ts, VKT_I32, 2, (int64_t[]){B, T}, &u.ids, err);
    if (!st) st = case_tensor(s, &ts, dt, 2, (int64_t[]){V, D}, &u.table, err);
    if (!st) st = case_tensor(s, &ts, VKT_I32, 2, (int64_t[]){B, T}, &u.src, err);
    if (!st) st = case_tensor(s, &ts, VKT_F32, 2, (int64_t[]){1, D}, &u.vec, err);
    if (!st) st = case_tensor(s, &ts, dt, 3, (int64_t[]){B, T, D}, &u.y, err);
    if (!st) st = case_tensor(s, &ts, VKT_F32, 2, (int64_t[]){1, D}, &u.dvec, err);
    for (int which = 0; which < 2 && !st; which++) {
        double ms = 0;
        u.which = which;
        st = measure(s, o->reps, embed_rec, &u, &ms, err);
        char v[64], shape[96];
        snprintf(shape, sizeof shape, "ids[%lld,77] table[49408,768]", (long long)B);
        /* rows gathered and written once (forward); dy read once (backward) */
        if (!st) add_result(out, "embed", vkt_variant_name(v, sizeof v, "embed", which ? "bwd_vectors" : "fwd", dt),
                            shape, ms, 0, (which ? 1.0 : 2.0) * (double)vkt_tensor_bytes(u.y));
    }
    case_free(s, &ts);
    return st;
}

vkt_status vkt_bench_ops(vkt_step *s, const vkt_bench_opts *o, vkt_bench_list *out, vkt_err *err)
{
    vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    for (int d = 0; d < (o->fp16 ? 2 : 1); d++) {
        if (!vkt_step_dtype_ok(s, dts[d])) continue;
        const struct { const char *name; vkt_status (*fn)(vkt_step *, const vkt_bench_opts *, vkt_dtype,
                                                         vkt_bench_list *, vkt_err *); } cases[] = {
            {"act", bench_act},         {"conv2d", bench_conv},   {"norm", bench_norm},
            {"matmul", bench_matmul},   {"attention", bench_attention}, {"softmax", bench_softmax},
            {"geglu", bench_geglu},     {"embed", bench_embed}};
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            if (o->only && strcmp(o->only, cases[k].name) != 0) continue;
            vkt_status st = cases[k].fn(s, o, dts[d], out, err);
            if (st) return st;
        }
    }
    return VKT_OK;
}
