/* Checks for the optimizer updates: AdamW (several configurations, Adam = weight decay 0) over
 * several steps with a changing learning rate against the double reference of torch's formula,
 * AdamW reading a clip state (scale applied; update skipped for non-finite gradients), and the
 * EMA update. No finite differences: these are updates, not differentiable ops. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "nn/checks/checkutil.h"
#include "nn/ops/clip.h"
#include "nn/ops/optim.h"
#include "nn/ref/optim_ref.h"

#define N_STEPS 6
static const float LRS[N_STEPS] = {1e-2f, 5e-3f, 2e-2f, 1e-2f, 1e-3f, 1e-2f}; /* a schedule */

typedef struct acfg {
    float beta1, beta2, eps, wd;
    float gscale; /* 0: no clip state; else the state's scale (finite) */
    bool skip;    /* clip state says "not finite": nothing may change */
} acfg;

/* First-order error bounds of the GPU's float32 AdamW relative to the double reference, carried
 * along the steps per element (u = 2^-24; Vulkan: sqrt 9u, division 5u, the rest correctly
 * rounded; every hyper-parameter is converted to float32 once, u each):
 *   g' = g*s                       eg = u|g'| (when scaled)
 *   m' = b1*m + (1-b1)*g'          em' = b1*em + (1-b1)*eg + 2u(|m| + |g'|) + u|m'|
 *   v' = b2*v + (1-b2)*g'^2        ev' = b2*ev + 2(1-b2)|g'|eg + 2u*v + 3u(1-b2)g'^2 + u*v'
 *   d  = sqrt(v')/bc2s + eps       |dd| <= (sqrt(v')/bc2s)(ev'/(2v') + (CK_SQRT_U + CK_DIV_U + 1)u) + u*d
 *   U  = (ss*m')/d                 |dU| <= |U|(2u + CK_DIV_U*u + |dd|/d) + ss*em'/d
 *   p' = p*decay - U               ep' = ep + 2u|p| + |dU| + u|p'|                          */
static void bounds_step(const acfg *c, double lr, int64_t step, const double *p_old, const double *m_old,
                        const double *v_old, const double *g, const double *p, const double *m, const double *v,
                        double *ep, double *em, double *ev, size_t n)
{
    const double u = CK_EPS32, b1 = c->beta1, b2 = c->beta2;
    double bc2s = sqrt(1 - pow(b2, (double)step)), ss = lr / (1 - pow(b1, (double)step));
    double s = c->gscale ? c->gscale : 1.0;
    for (size_t i = 0; i < n; i++) {
        double gp = g[i] * s, eg = c->gscale ? u * fabs(gp) : 0;
        em[i] = b1 * em[i] + (1 - b1) * eg + 2 * u * (fabs(m_old[i]) + fabs(gp)) + u * fabs(m[i]);
        ev[i] = b2 * ev[i] + 2 * (1 - b2) * fabs(gp) * eg + 2 * u * v_old[i] + 3 * u * (1 - b2) * gp * gp + u * v[i];
        double sv = sqrt(v[i]) / bc2s, d = sv + c->eps;
        double dd = (v[i] > 0 ? sv * (ev[i] / (2 * v[i]) + (CK_SQRT_U + CK_DIV_U + 1) * u) : 0) + u * d;
        double U = ss * m[i] / d;
        double dU = fabs(U) * (2 * u + CK_DIV_U * u + dd / d) + ss * em[i] / d;
        ep[i] += 2 * u * fabs(p_old[i]) + dU + u * fabs(p[i]);
    }
}

static vkt_status adamw_case(vkt_check_ctx *ctx, const acfg *c, size_t n, vkt_err *err)
{
    vkt_status st = VKT_OK;
    char desc[96];
    snprintf(desc, sizeof desc, "[%zu] b=(%g,%g) eps=%g wd=%g%s", n, c->beta1, c->beta2, c->eps, c->wd,
             c->skip ? " skip" : c->gscale ? " scaled" : "");
    const int64_t shape[1] = {(int64_t)n}, sshape[1] = {VKT_CLIP_HEADER};
    float *hp = vkt_malloc(n * 4), *hg = vkt_malloc(n * 4), *got = vkt_malloc(n * 4), hs[VKT_CLIP_HEADER] = {0};
    double *p = vkt_calloc(n, 8), *m = vkt_calloc(n, 8), *v = vkt_calloc(n, 8), *g = vkt_calloc(n, 8),
           *p0 = vkt_calloc(n, 8), *m0 = vkt_calloc(n, 8), *v0 = vkt_calloc(n, 8), *ep = vkt_calloc(n, 8),
           *em = vkt_calloc(n, 8), *ev = vkt_calloc(n, 8);
    vkt_tensor tp = {0}, tg = {0}, tm = {0}, tv = {0}, ts = {0};
    if (!hp || !hg || !got || !p || !m || !v || !g || !p0 || !m0 || !v0 || !ep || !em || !ev) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "optim check");
        goto done;
    }
    uint64_t rng = ctx->seed ^ 0xadab ^ (uint64_t)(c->wd * 1000) ^ ((uint64_t)(c->beta1 * 100) << 20);
    vkt_rng_fill(&rng, hp, n, -1.0, 1.0);
    for (size_t i = 0; i < n; i++) p[i] = hp[i];
    hs[VKT_CLIP_NORM] = 1.0f;
    hs[VKT_CLIP_SCALE] = c->skip ? NAN : c->gscale;
    hs[VKT_CLIP_FINITE] = c->skip ? 0.0f : 1.0f;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 1, shape, hp, "p", &tp, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 1, shape, NULL, "g", &tg, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 1, shape, NULL, "m", &tm, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 1, shape, NULL, "v", &tv, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 1, sshape, hs, "clip state", &ts, err))) goto done;
    const vkt_tensor *state = c->gscale || c->skip ? &ts : NULL;

    int n_steps = c->skip ? 1 : N_STEPS;
    for (int k = 0; k < n_steps; k++) {
        /* gradients: uniform, every 7th exactly 0 (m = v = 0: no update), every 11th tiny */
        vkt_rng_fill(&rng, hg, n, -1.0, 1.0);
        for (size_t i = 0; i < n; i++) {
            if (i % 7 == 3) hg[i] = 0.0f;
            if (i % 11 == 5) hg[i] *= 1e-3f;
            g[i] = hg[i];
        }
        if ((st = vkt_tensor_upload_f32(ctx->dev, &tg, hg, err))) goto done;
        vkt_adamw h = {LRS[k], c->beta1, c->beta2, c->eps, c->wd, k + 1};
        if ((st = vkt_step_begin(ctx->step, err))) goto done;
        if ((st = vkt_op_adamw_step(ctx->step, &h, &tp, &tg, &tm, &tv, state, err))) goto done;
        if ((st = vkt_step_run(ctx->step, err))) goto done;
        if (c->skip) break;
        memcpy(p0, p, n * 8);
        memcpy(m0, m, n * 8);
        memcpy(v0, v, n * 8);
        /* the reference uses the float32 values the GPU sees for lr, betas, eps, wd and scale */
        vkt_ref_adamw_step(p, g, c->gscale ? c->gscale : 1.0, m, v, n, h.lr, h.beta1, h.beta2, h.eps, h.weight_decay,
                           h.step, NULL);
        bounds_step(c, h.lr, h.step, p0, m0, v0, g, p, m, v, ep, em, ev, n);
        if (k != 0 && k != n_steps - 1) continue;
        char what[32];
        const struct { const char *name; vkt_tensor *t; const double *want, *mag; } outs[3] = {
            {"p", &tp, p, ep}, {"m", &tm, m, em}, {"v", &tv, v, ev}};
        for (int o = 0; o < 3; o++) {
            if ((st = vkt_tensor_download_f32(ctx->dev, outs[o].t, got, err))) goto done;
            snprintf(what, sizeof what, "step%d:%s", k + 1, outs[o].name);
            vkt_check_compare_mag(ctx, "optim", "optim_adamw_f32", what, desc, got, outs[o].want, outs[o].mag, n,
                                  1e-30, 0, 1.0);
        }
    }
    if (c->skip) { /* not finite: p, m, v must be bit-identical to before */
        double zero_m[1] = {0};
        if ((st = vkt_tensor_download_f32(ctx->dev, &tp, got, err))) goto done;
        vkt_check_compare(ctx, "optim", "optim_adamw_f32", "skip:p", desc, got, p, n, 1e-30, 0);
        if ((st = vkt_tensor_download_f32(ctx->dev, &tm, got, err))) goto done;
        double mx = 0;
        for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(got[i]));
        float fm = (float)mx;
        vkt_check_compare(ctx, "optim", "optim_adamw_f32", "skip:m", desc, &fm, zero_m, 1, 1e-30, 0);
    }
done:
    vkt_tensor_free(ctx->dev, &tp);
    vkt_tensor_free(ctx->dev, &tg);
    vkt_tensor_free(ctx->dev, &tm);
    vkt_tensor_free(ctx->dev, &tv);
    vkt_tensor_free(ctx->dev, &ts);
    free(hp); free(hg); free(got);
    free(p); free(m); free(v); free(g); free(p0); free(m0); free(v0); free(ep); free(em); free(ev);
    return st;
}

static vkt_status ema_case(vkt_check_ctx *ctx, float beta, size_t n, vkt_err *err)
{
    vkt_status st = VKT_OK;
    char desc[96];
    snprintf(desc, sizeof desc, "[%zu] beta=%g", n, beta);
    const int64_t shape[1] = {(int64_t)n};
    float *he = vkt_malloc(n * 4), *hp = vkt_malloc(n * 4), *got = vkt_malloc(n * 4);
    double *e = vkt_malloc(n * 8), *p = vkt_malloc(n * 8), *mag = vkt_malloc(n * 8);
    vkt_tensor te = {0}, tp = {0};
    if (!he || !hp || !got || !e || !p || !mag) { st = vkt_fail(err, VKT_ERR_NOMEM, "optim check"); goto done; }
    uint64_t rng = ctx->seed ^ 0xe3a ^ n;
    vkt_rng_fill(&rng, he, n, -1.0, 1.0);
    vkt_rng_fill(&rng, hp, n, -1.0, 1.0);
    for (size_t i = 0; i < n; i++) { e[i] = he[i]; p[i] = hp[i]; }
    if ((st = vkt_check_tensor(ctx, VKT_F32, 1, shape, he, "ema", &te, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 1, shape, hp, "p", &tp, err))) goto done;
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_ema_update(ctx->step, beta, &te, &tp, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    /* e - w*(e - p): the difference, w's conversion and the product each round (u*w|e - p|), the
     * subtraction rounds once more (u of the result). */
    double w = 1.0 - (double)beta;
    for (size_t i = 0; i < n; i++) mag[i] = 3 * CK_EPS32 * w * fabs(e[i] - p[i]);
    vkt_ref_ema_update(beta, e, p, n);
    for (size_t i = 0; i < n; i++) mag[i] += CK_EPS32 * fabs(e[i]);
    if ((st = vkt_tensor_download_f32(ctx->dev, &te, got, err))) goto done;
    vkt_check_compare_mag(ctx, "optim", "optim_ema_f32", "ema", desc, got, e, mag, n, 1e-30, 0, 1.0);
done:
    vkt_tensor_free(ctx->dev, &te);
    vkt_tensor_free(ctx->dev, &tp);
    free(he); free(hp); free(got); free(e); free(p); free(mag);
    return st;
}

vkt_status vkt_opcheck_optim(vkt_check_ctx *ctx, vkt_err *err)
{
    static const acfg cfgs[] = {
        {0.9f, 0.999f, 1e-8f, 0.0f, 0, false},   /* Adam (TI: webui weight decay 0) */
        {0.9f, 0.999f, 1e-8f, 0.01f, 0, false},  /* AdamW, torch defaults (HN) */
        {0.8f, 0.99f, 1e-6f, 0.1f, 0, false},    /* other betas / eps, strong decay */
        {0.9f, 0.999f, 1e-8f, 0.01f, 0.375f, false}, /* gradients scaled by a clip state */
        {0.9f, 0.999f, 1e-8f, 0.01f, 0, true},   /* clip state: not finite, skip */
    };
    static const float betas[] = {0.9f, 0.9999f, 0.0f};
    int nc = ctx->quick ? 2 : (int)(sizeof cfgs / sizeof *cfgs);
    for (int i = 0; i < nc; i++) {
        vkt_status st = adamw_case(ctx, &cfgs[i], ctx->quick ? 131 : 997, err);
        if (st) return st;
    }
    for (int i = 0; i < (ctx->quick ? 1 : 3); i++) {
        vkt_status st = ema_case(ctx, betas[i], 997, err);
        if (st) return st;
    }
    return VKT_OK;
}
