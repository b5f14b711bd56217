/* Euler a, Euler and DDIM: host schedule math in double, one recorded device step per sampler
 * step (k-diffusion sampling.py / external.py, webui sd_samplers_kdiffusion.py and
 * sd_samplers_timesteps{,_impl}.py). */
#include "models/sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "nn/ops/sampler_update.h"
#include "nn/philox.h"

static const struct {
    const char *cli, *webui;
} names[VKT_SAMPLER_COUNT] = {{"euler_a", "Euler a"}, {"euler", "Euler"}, {"ddim", "DDIM"}};

bool vkt_sampler_parse(const char *name, vkt_sampler_kind *out)
{
    static const struct {
        const char *name;
        vkt_sampler_kind k;
    } aliases[] = {{"k_euler_a", VKT_SAMPLER_EULER_A}, {"k_euler_ancestral", VKT_SAMPLER_EULER_A},
                   {"k_euler", VKT_SAMPLER_EULER}};
    if (!name) return false;
    for (int k = 0; k < VKT_SAMPLER_COUNT; k++)
        if (!strcmp(name, names[k].cli) || !strcmp(name, names[k].webui)) {
            *out = (vkt_sampler_kind)k;
            return true;
        }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(name, aliases[i].name)) {
            *out = aliases[i].k;
            return true;
        }
    return false;
}

const char *vkt_sampler_name(vkt_sampler_kind k) { return k < VKT_SAMPLER_COUNT ? names[k].cli : "?"; }
const char *vkt_sampler_webui_name(vkt_sampler_kind k) { return k < VKT_SAMPLER_COUNT ? names[k].webui : "?"; }

/* --- schedule ------------------------------------------------------------------------------ */

void vkt_sigma_schedule_init(vkt_sigma_schedule *s, const double *ac)
{
    for (int t = 0; t < VKT_SCHED_T; t++) {
        s->sigmas[t] = sqrt((1.0 - ac[t]) / ac[t]);
        s->log_sigmas[t] = log(s->sigmas[t]);
    }
}

/* DiscreteSchedule.sigma_to_t: low_idx = dists.ge(0).cumsum(0).argmax(0) (the first index of the
 * largest prefix count: the last t with log_sigmas[t] <= log sigma, or 0 when there is none),
 * clamped to T - 2; then linear interpolation in log sigma, w clamped to [0, 1]. */
double vkt_sigma_schedule_t(const vkt_sigma_schedule *s, double sigma)
{
    double ls = log(sigma);
    int count = 0, best = -1, lo = 0;
    for (int t = 0; t < VKT_SCHED_T; t++) {
        count += ls - s->log_sigmas[t] >= 0;
        if (count > best) best = count, lo = t;
    }
    if (lo > VKT_SCHED_T - 2) lo = VKT_SCHED_T - 2;
    double l = s->log_sigmas[lo], h = s->log_sigmas[lo + 1];
    double w = (l - ls) / (l - h);
    w = w < 0 ? 0 : w > 1 ? 1 : w;
    return (1.0 - w) * lo + w * (lo + 1);
}

/* DiscreteSchedule.t_to_sigma: interpolate log sigma between floor(t) and ceil(t). */
double vkt_sigma_schedule_sigma(const vkt_sigma_schedule *s, double t)
{
    if (t < 0) t = 0;
    if (t > VKT_SCHED_T - 1) t = VKT_SCHED_T - 1;
    int lo = (int)floor(t), hi = (int)ceil(t);
    double w = t - floor(t);
    return exp((1.0 - w) * s->log_sigmas[lo] + w * s->log_sigmas[hi]);
}

void vkt_sigma_schedule_get(const vkt_sigma_schedule *s, int n, double *out)
{
    const double t_max = VKT_SCHED_T - 1;
    for (int i = 0; i < n; i++) {
        /* torch.linspace(t_max, 0, n); n == 1 gives [t_max] */
        double t = n == 1 ? t_max : t_max - t_max * (double)i / (double)(n - 1);
        out[i] = vkt_sigma_schedule_sigma(s, t);
    }
    out[n] = 0.0;
}

int vkt_ddim_timesteps(int steps, int *out)
{
    int stride = VKT_SCHED_T / steps, m = 0;
    for (int t = 0; t < VKT_SCHED_T; t += stride) out[m++] = t + 1 > VKT_SCHED_T - 1 ? VKT_SCHED_T - 1 : t + 1;
    return m;
}

/* --- plan ---------------------------------------------------------------------------------- */

/* k-diffusion sampling.get_ancestral_step(sigma_from, sigma_to, eta = 1). */
static void ancestral(double from, double to, double *down, double *up)
{
    double u = sqrt(to * to * (from * from - to * to) / (from * from));
    *up = u < to ? u : to;
    *down = sqrt(to * to - *up * *up);
}

vkt_status vkt_sampler_plan_init(vkt_sampler_kind kind, const double *ac, int steps, vkt_sampler_plan *out,
                                 vkt_err *err)
{
    if (kind >= VKT_SAMPLER_COUNT) return vkt_fail(err, VKT_ERR_USAGE, "sampler: unknown kind %d", (int)kind);
    if (steps < 1 || steps > VKT_SCHED_T)
        return vkt_fail(err, VKT_ERR_USAGE, "sampler: %d steps, expected 1..%d", steps, VKT_SCHED_T);
    for (int t = 0; t < VKT_SCHED_T; t++)
        if (!(ac[t] > 0 && ac[t] < 1) || (t && !(ac[t] < ac[t - 1])))
            return vkt_fail(err, VKT_ERR_FORMAT, "alphas_cumprod[%d] = %g: not a decreasing sequence in (0, 1)", t,
                            ac[t]);
    vkt_sampler_plan p = {.kind = kind, .steps = steps};
    vkt_sigma_schedule *sch = vkt_malloc(sizeof *sch);
    double *sig = vkt_malloc((size_t)(steps + 1) * sizeof *sig);
    int *ts = vkt_malloc(VKT_SCHED_T * sizeof *ts);
    /* n = steps, or for DDIM ceil(1000 / (1000 // steps)) - 1 (up to 999: 600 steps -> 999 calls) */
    p.step = vkt_calloc(VKT_SCHED_T, sizeof *p.step);
    vkt_status st = VKT_OK;
    if (!sch || !sig || !ts || !p.step) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "sampler plan");
        goto done;
    }
    vkt_sigma_schedule_init(sch, ac);
    if (kind == VKT_SAMPLER_DDIM) {
        int m = vkt_ddim_timesteps(steps, ts);
        p.n = m - 1;
        p.init_scale = 1.0;
        for (int i = 0; i < p.n; i++) {
            int index = m - 1 - i;
            vkt_sampler_plan_step *s = &p.step[i];
            double at = ac[ts[index]], ap = ac[ts[index - 1]];
            s->t = ts[index];
            s->c_in = 1.0;
            s->abar = at;
            s->abar_prev = ap;
            /* x' = sqrt(ap) (x - sqrt(1 - at) e) / sqrt(at) + sqrt(1 - ap) e */
            s->a = sqrt(ap) / sqrt(at);
            s->b = sqrt(1.0 - ap) - sqrt(ap) * sqrt(1.0 - at) / sqrt(at);
        }
    } else {
        vkt_sigma_schedule_get(sch, steps, sig);
        p.n = steps;
        p.init_scale = sig[0];
        for (int i = 0; i < steps; i++) {
            vkt_sampler_plan_step *s = &p.step[i];
            double sg = sig[i], sn = sig[i + 1];
            s->sigma = sg;
            s->sigma_next = sn;
            s->t = vkt_sigma_schedule_t(sch, sg);
            s->c_in = 1.0 / sqrt(sg * sg + 1.0);
            s->a = 1.0;
            if (kind == VKT_SAMPLER_EULER) {
                s->b = sn - sg;
            } else {
                double down, up;
                ancestral(sg, sn, &down, &up);
                s->b = down - sg;
                s->s = sn > 0 ? up : 0.0;
            }
        }
    }
    *out = p;
    p.step = NULL;
done:
    free(p.step);
    free(sch);
    free(sig);
    free(ts);
    return st;
}

void vkt_sampler_plan_fini(vkt_sampler_plan *p)
{
    if (!p) return;
    free(p->step);
    memset(p, 0, sizeof *p);
}

void vkt_sampler_ref_step(const vkt_sampler_plan *p, int i, double cfg, size_t n, const double *x,
                          const double *eps_u, const double *eps_c, const double *z, double *out)
{
    const vkt_sampler_plan_step *s = &p->step[i];
    for (size_t k = 0; k < n; k++) {
        if (p->kind == VKT_SAMPLER_DDIM) {
            /* webui sd_samplers_timesteps_impl.ddim, eta 0 (sigma_t = 0, no noise term) */
            double e = eps_u[k] + (eps_c[k] - eps_u[k]) * cfg;
            double pred_x0 = (x[k] - sqrt(1.0 - s->abar) * e) / sqrt(s->abar);
            double dir_xt = sqrt(1.0 - s->abar_prev) * e;
            out[k] = sqrt(s->abar_prev) * pred_x0 + dir_xt;
            continue;
        }
        /* CompVisDenoiser.forward: input + eps * c_out, c_out = -sigma; CFGDenoiser.combine_denoised */
        double sg = s->sigma, sn = s->sigma_next;
        double du = x[k] + eps_u[k] * -sg, dc = x[k] + eps_c[k] * -sg;
        double denoised = du + (dc - du) * cfg;
        double d = (x[k] - denoised) / sg; /* sampling.to_d */
        if (p->kind == VKT_SAMPLER_EULER) {
            out[k] = x[k] + d * (sn - sg);
        } else {
            double down, up;
            ancestral(sg, sn, &down, &up);
            out[k] = x[k] + d * (down - sg);
            if (sn > 0) out[k] += z[k] * up;
        }
    }
}

void vkt_sampler_noise(uint64_t seed, uint64_t draw, size_t n, float *out)
{
    for (size_t j = 0; j < n; j++) out[j] = (float)vkt_philox_normal(seed, draw, j);
}

/* --- device loop --------------------------------------------------------------------------- */

struct vkt_sampler {
    vkt_device *dev;  /* borrowed */
    const vkt_sampler_plan *plan;
    vkt_step *step;   /* owned: the recorded sampling step */
    int64_t B, C, h, w;
    size_t per_image; /* C*h*w */
    int rows;         /* rows of the UNet input: 2B (batched) or B (two calls) */
    vkt_tensor x, noise, coef, t, xin; /* owned, persistent */
    uint64_t *seeds;  /* owned [B] */
    float *host;      /* owned scratch [B * per_image] (+ rows for t) */
};

void vkt_sampler_destroy(vkt_sampler *sm)
{
    if (!sm) return;
    vkt_step_destroy(sm->step);
    vkt_tensor_free(sm->dev, &sm->x);
    vkt_tensor_free(sm->dev, &sm->noise);
    vkt_tensor_free(sm->dev, &sm->coef);
    vkt_tensor_free(sm->dev, &sm->t);
    vkt_tensor_free(sm->dev, &sm->xin);
    free(sm->seeds);
    free(sm->host);
    free(sm);
}

static vkt_status check_ctx(const vkt_tensor *c, int64_t rows, int64_t ctx_dim, vkt_dtype dt, const char *what,
                            vkt_err *err)
{
    char sh[96];
    if (!c || c->ndim != 3 || c->shape[0] != rows || c->shape[1] < 1 || c->shape[2] != ctx_dim || c->dtype != dt)
        return vkt_fail(err, VKT_ERR_SHAPE, "sampler: %s conditioning %s %s, expected [%lld, T, %lld] %s", what,
                        c ? vkt_shape_str(c, sh, sizeof sh) : "(none)", c ? vkt_dtype_name(c->dtype) : "",
                        (long long)rows, (long long)ctx_dim, vkt_dtype_name(dt));
    return VKT_OK;
}

static vkt_status record(vkt_sampler *sm, vkt_unet *unet, const vkt_sampler_cond *cond, float cfg, vkt_err *err)
{
    vkt_step *s = sm->step;
    const int64_t n = sm->B * (int64_t)sm->per_image;
    bool noise = sm->plan->kind == VKT_SAMPLER_EULER_A;
    vkt_tensor eu, ec;
    vkt_status st = vkt_step_begin_planned(s, err);
    if (st) return st;
    if (cond->both) {
        if ((st = vkt_unet_fwd(unet, s, &sm->xin, &sm->t, cond->both, cond->hook, &eu, NULL, err))) return st;
        st = vkt_op_sampler_update_fwd(s, &eu, 0, &eu, n, noise ? &sm->noise : NULL, &sm->coef, cfg, &sm->x, &sm->xin,
                                       err);
    } else {
        if ((st = vkt_unet_fwd(unet, s, &sm->xin, &sm->t, cond->uncond, cond->hook, &eu, NULL, err)) ||
            (st = vkt_unet_fwd(unet, s, &sm->xin, &sm->t, cond->cond, cond->hook, &ec, NULL, err)))
            return st;
        st = vkt_op_sampler_update_fwd(s, &eu, 0, &ec, 0, noise ? &sm->noise : NULL, &sm->coef, cfg, &sm->x, &sm->xin,
                                       err);
    }
    if (!st) st = vkt_step_end(s, err);
    return st;
}

vkt_status vkt_sampler_create(vkt_device *dev, vkt_unet *unet, const vkt_sampler_plan *plan, float cfg_scale,
                              int64_t B, int64_t h, int64_t w, const vkt_sampler_cond *cond, vkt_sampler **out,
                              vkt_err *err)
{
    const vkt_unet_config *uc = vkt_unet_get_config(unet);
    const vkt_dtype dt = vkt_unet_dtype(unet);
    vkt_status st = VKT_OK;
    if (B < 1 || h < 1 || w < 1) return vkt_fail(err, VKT_ERR_USAGE, "sampler: batch and latent size must be >= 1");
    if (!cond || (cond->both != NULL) == (cond->uncond != NULL || cond->cond != NULL))
        return vkt_fail(err, VKT_ERR_USAGE, "sampler: give the conditioning as `both` or as `uncond` + `cond`");
    if (cond->both) st = check_ctx(cond->both, 2 * B, uc->ctx, dt, "batched", err);
    else if (!(st = check_ctx(cond->uncond, B, uc->ctx, dt, "negative", err)))
        st = check_ctx(cond->cond, B, uc->ctx, dt, "prompt", err);
    if (st) return st;
    vkt_sampler *sm = vkt_calloc(1, sizeof *sm);
    if (!sm) return vkt_fail(err, VKT_ERR_NOMEM, "sampler");
    sm->dev = dev;
    sm->plan = plan;
    sm->B = B, sm->C = uc->in_ch, sm->h = h, sm->w = w;
    sm->per_image = (size_t)(uc->in_ch * h * w);
    sm->rows = cond->both ? (int)(2 * B) : (int)B;
    const int64_t xs[4] = {B, sm->C, h, w}, is[4] = {sm->rows, sm->C, h, w};
    sm->seeds = vkt_calloc((size_t)B, sizeof *sm->seeds);
    sm->host = vkt_malloc((size_t)B * sm->per_image * sizeof *sm->host + (size_t)sm->rows * sizeof(float));
    if (!sm->seeds || !sm->host) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "sampler");
        goto done;
    }
    if ((st = vkt_tensor_alloc(dev, VKT_F32, 4, xs, "sampler x", &sm->x, err)) ||
        (st = vkt_tensor_alloc(dev, VKT_F32, 4, xs, "sampler noise", &sm->noise, err)) ||
        (st = vkt_tensor_alloc(dev, VKT_F32, 1, (int64_t[]){4}, "sampler scalars", &sm->coef, err)) ||
        (st = vkt_tensor_alloc(dev, VKT_F32, 1, (int64_t[]){sm->rows}, "sampler timesteps", &sm->t, err)) ||
        (st = vkt_tensor_alloc(dev, dt, 4, is, "sampler unet input", &sm->xin, err)))
        goto done;
    if ((st = vkt_tensor_zero(dev, &sm->x, err)) || (st = vkt_tensor_zero(dev, &sm->noise, err)) ||
        (st = vkt_tensor_zero(dev, &sm->coef, err)) || (st = vkt_tensor_zero(dev, &sm->t, err)) ||
        (st = vkt_tensor_zero(dev, &sm->xin, err)))
        goto done;
    if ((st = vkt_step_create(dev, &sm->step, err))) goto done;
    if ((st = record(sm, unet, cond, cfg_scale, err))) goto done;
    *out = sm;
    sm = NULL;
done:
    if (st) vkt_err_prefix(err, "sampler");
    vkt_sampler_destroy(sm);
    return st;
}

vkt_status vkt_sampler_set_latent(vkt_sampler *sm, int i, const float *x, const uint64_t *seeds, vkt_err *err)
{
    const vkt_sampler_plan *p = sm->plan;
    if (i < 0 || (p->n > 0 && i >= p->n) || (p->n == 0 && i != 0))
        return vkt_fail(err, VKT_ERR_USAGE, "sampler: step %d of %d", i, p->n);
    memcpy(sm->seeds, seeds, (size_t)sm->B * sizeof *seeds);
    const size_t n = (size_t)sm->B * sm->per_image;
    vkt_status st = vkt_tensor_upload_f32(sm->dev, &sm->x, x, err);
    if (st || p->n == 0) return st;
    /* the UNet input for step i: c_in x, once per row block (uncond and cond see the same x) */
    float *in = vkt_malloc(n * (size_t)(sm->rows / sm->B) * sizeof *in);
    if (!in) return vkt_fail(err, VKT_ERR_NOMEM, "sampler input");
    float c_in = (float)p->step[i].c_in;
    for (int r = 0; r < sm->rows / sm->B; r++)
        for (size_t k = 0; k < n; k++) in[(size_t)r * n + k] = c_in * x[k];
    st = vkt_tensor_upload_f32(sm->dev, &sm->xin, in, err);
    free(in);
    return st;
}

vkt_status vkt_sampler_start(vkt_sampler *sm, const uint64_t *seeds, vkt_err *err)
{
    float scale = (float)sm->plan->init_scale;
    for (int64_t b = 0; b < sm->B; b++) {
        float *x = sm->host + (size_t)b * sm->per_image;
        vkt_sampler_noise(seeds[b], 0, sm->per_image, x);
        for (size_t k = 0; k < sm->per_image; k++) x[k] *= scale; /* KDiffusionSampler.sample: x * sigmas[0] */
    }
    return vkt_sampler_set_latent(sm, 0, sm->host, seeds, err);
}

vkt_status vkt_sampler_step(vkt_sampler *sm, int i, vkt_err *err)
{
    const vkt_sampler_plan *p = sm->plan;
    if (i < 0 || i >= p->n) return vkt_fail(err, VKT_ERR_USAGE, "sampler: step %d of %d", i, p->n);
    const vkt_sampler_plan_step *s = &p->step[i];
    float *tv = sm->host + (size_t)sm->B * sm->per_image;
    for (int r = 0; r < sm->rows; r++) tv[r] = (float)s->t;
    /* the next call's input scaling; after the last step the input is not used */
    float coef[4] = {(float)s->a, (float)s->b, (float)s->s, i + 1 < p->n ? (float)p->step[i + 1].c_in : 1.0f};
    vkt_status st = vkt_buffer_upload(sm->dev, sm->t.buf, sm->t.offset, tv, (size_t)sm->rows * sizeof *tv, err);
    if (!st) st = vkt_buffer_upload(sm->dev, sm->coef.buf, sm->coef.offset, coef, sizeof coef, err);
    if (!st && s->s != 0.0) {
        for (int64_t b = 0; b < sm->B; b++)
            vkt_sampler_noise(sm->seeds[b], (uint64_t)i + 1, sm->per_image, sm->host + (size_t)b * sm->per_image);
        st = vkt_tensor_upload_f32(sm->dev, &sm->noise, sm->host, err);
    }
    if (!st) st = vkt_step_submit(sm->step, err);
    if (st) vkt_err_prefix(err, "sampler step %d", i);
    return st;
}

const vkt_tensor *vkt_sampler_latent(const vkt_sampler *sm) { return &sm->x; }
uint64_t vkt_sampler_peak_bytes(const vkt_sampler *sm) { return vkt_step_peak_bytes(sm->step); }
