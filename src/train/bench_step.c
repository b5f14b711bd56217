/* bench step: the TI step of train/ti_step recorded once, resubmitted with fresh inputs. */
#include "train/bench_step.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fault.h"
#include "base/log.h"
#include "base/rng.h"
#include "io/safetensors.h"
#include "models/clip.h"
#include "models/hypernetwork.h"
#include "models/schedule.h"
#include "models/unet.h"
#include "nn/ops/optim.h"
#include "nn/step.h"
#include "train/ti_step.h"

const char *const vkt_bench_phase_names[VKT_BENCH_PHASES] = {
    "inputs", "text fwd", "unet fwd", "loss", "unet bwd", "text bwd", "optimizer"};
enum { PH_INPUTS, PH_TEXT_FWD, PH_UNET_FWD, PH_LOSS, PH_UNET_BWD, PH_TEXT_BWD, PH_OPTIM };

#define T_TOKENS 77
#define MAX_MARKS 16
#define MAX_LABELS 256

/* A host input: a persistent device tensor, its region of the staging buffer, its host values. */
typedef struct input {
    vkt_tensor dev;   /* owned */
    vkt_tensor stage; /* view of the staging buffer */
    void *host;       /* owned: f32 or i32 values */
} input;

enum {
    IN_IDS,
    IN_SRC,
    IN_LATENT,
    IN_NOISE,
    IN_NOISE32,
    IN_COEF_A,
    IN_COEF_B,
    IN_TIMESTEP,
    N_INPUTS
};

typedef struct bench_ctx {
    const vkt_bench_step_opts *o;
    vkt_bench_step_result *r;
    vkt_device *dev;
    vkt_safetensors *file;
    vkt_clip *clip;
    vkt_unet *unet;
    vkt_step *s, *s_opt;
    vkt_dtype dt;
    int64_t B, h, w, N, W;
    int32_t vocab; /* the start/end ids are the last two rows (49406, 49407 in SD1) */
    input in[N_INPUTS];
    bool has_noise32;
    vkt_tensor vectors, dvectors, m, v; /* owned, f32 [N, W] */
    vkt_hypernetwork *hn;               /* owned, with --hypernetwork */
    vkt_hn_hook *hook;
    vkt_buffer *staging, *readback;     /* owned */
    vkt_schedule sched;
    vkt_ti_step_out out;
    /* phase marks of the current recording: command index where each starts */
    uint32_t mark_at[MAX_MARKS];
    int mark_phase[MAX_MARKS], n_marks;
    int64_t adam_step;
    /* profile accumulation */
    const char *labels[MAX_LABELS];
    uint32_t label_count[MAX_LABELS];
    int n_labels;
    double *label_ms;  /* [profile_steps][MAX_LABELS] */
    double *phase_acc; /* [profile_steps][VKT_BENCH_PHASES] */
} bench_ctx;

vkt_bench_step_opts vkt_bench_step_defaults(void)
{
    return (vkt_bench_step_opts){.batch = 1,
                                 .width = 512,
                                 .height = 512,
                                 .vectors = 1,
                                 .dtype = VKT_F16,
                                 .steps = 20,
                                 .warmup = 3,
                                 .profile_steps = 5,
                                 .clip_skip = 1,
                                 .seed = 0};
}

void vkt_bench_step_result_fini(vkt_bench_step_result *r)
{
    free(r->ops);
    memset(r, 0, sizeof *r);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of n values at stride (sorts a copy). */
static double median(const double *v, int n, int stride)
{
    if (n <= 0) return 0;
    double tmp[64];
    int k = n < 64 ? n : 64;
    for (int i = 0; i < k; i++)
        tmp[i] = v[(size_t)i * (size_t)stride];
    qsort(tmp, (size_t)k, sizeof *tmp, cmp_double);
    return k % 2 ? tmp[k / 2] : 0.5 * (tmp[k / 2 - 1] + tmp[k / 2]);
}

static void mark(bench_ctx *c, int phase)
{
    if (c->n_marks == MAX_MARKS) return;
    c->mark_at[c->n_marks] = vkt_cmd_n_records(c->s->cmd);
    c->mark_phase[c->n_marks++] = phase;
}

static void on_phase(void *user, const char *name)
{
    bench_ctx *c = user;
    for (int p = 0; p < VKT_BENCH_PHASES; p++)
        if (strcmp(name, vkt_bench_phase_names[p]) == 0) mark(c, p);
}

/* ------------------------------------------------------------------------------------------ */
/* Setup */

static vkt_status load_models(bench_ctx *c, vkt_err *err)
{
    const vkt_bench_step_opts *o = c->o;
    vkt_status st = vkt_safetensors_open(o->model, &c->file, err);
    if (st) return st;
    vkt_weight_source src = vkt_weight_source_safetensors(c->file, VKT_CLIP_PREFIX, o->model);
    src.shapes_only = o->plan_only;
    const char *heads = vkt_safetensors_meta(c->file, "vktrain.clip_heads");
    if ((st = vkt_clip_load(c->dev, &src, c->dt, heads ? atoi(heads) : 0, &c->clip, err))) {
        vkt_err_prefix(err, "loading the text encoder");
        return st;
    }
    src = vkt_weight_source_safetensors(c->file, "model.diffusion_model.", o->model);
    src.shapes_only = o->plan_only;
    st =
        vkt_unet_load(c->dev, &src, c->dt,
                      vkt_unet_heads_from_meta(vkt_safetensors_meta(c->file, "vktrain.unet_heads")),
                      &c->unet, err);
    if (st) {
        vkt_err_prefix(err, "loading the UNet");
        return st;
    }
    const vkt_unet_config *uc = vkt_unet_get_config(c->unet);
    const vkt_clip_config *cc = vkt_clip_get_config(c->clip);
    if (uc->ctx != cc->width)
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "%s: text width %d differs from the UNet's context %lld", o->model,
                        cc->width, (long long)uc->ctx);
    if (uc->in_ch != 4 || uc->out_ch != 4)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED,
                        "%s: UNet with %lld input / %lld output channels (need 4/4)", o->model,
                        (long long)uc->in_ch, (long long)uc->out_ch);
    int64_t div = (int64_t)1 << (uc->n_levels - 1);
    if (c->h % div || c->w % div)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED,
                        "size %dx%d: the latent %lldx%lld must be divisible by %lld for this UNet",
                        o->width, o->height, (long long)c->w, (long long)c->h, (long long)div);
    c->W = cc->width;
    c->vocab = cc->vocab;
    if (c->vocab < 3)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: vocabulary of %d tokens", o->model, cc->vocab);
    c->r->unet_channels = uc->mc;
    c->r->context_dim = uc->ctx;
    c->r->unet_levels = uc->n_levels;
    c->r->clip_width = cc->width;
    c->r->clip_layers = cc->layers;
    c->r->weight_bytes = vkt_unet_weight_bytes(c->unet) + vkt_clip_weight_bytes(c->clip);
    if (o->hypernetwork) { /* small: uploaded even with plan_only, so the hook can be recorded */
        if ((st = vkt_hn_load(o->hypernetwork, &c->hn, err)) || (st = vkt_hn_upload(c->hn, c->dev, true, err)) ||
            (st = vkt_hn_hook_create(&c->hn, 1, VKT_HN_TRAIN, &c->hook, err))) {
            vkt_err_prefix(err, "--hypernetwork");
            return st;
        }
        c->r->hypernetwork_params = vkt_hn_param_count(c->hn);
        c->r->other_bytes += (uint64_t)c->r->hypernetwork_params * 16; /* weights, grads, m, v (f32) */
    }
    return VKT_OK;
}

static vkt_status alloc_other(bench_ctx *c, vkt_dtype dt, int nd, const int64_t *shape,
                              const char *what, vkt_tensor *t, vkt_err *err)
{
    vkt_status st = vkt_tensor_alloc(c->dev, dt, nd, shape, what, t, err);
    if (!st) st = vkt_tensor_zero(c->dev, t, err);
    if (!st) c->r->other_bytes += vkt_tensor_bytes(t);
    return st;
}

/* Persistent inputs, their staging regions, the learned vectors and AdamW moments. */
static vkt_status alloc_inputs(bench_ctx *c, vkt_err *err)
{
    const int64_t B = c->B, lat[4] = {B, 4, c->h, c->w}, tok[2] = {B, T_TOKENS},
                  coef[4] = {B, 1, 1, 1};
    struct {
        vkt_dtype dt;
        int nd;
        const int64_t *shape;
        const char *what;
    } spec[N_INPUTS] = {
        [IN_IDS] = {VKT_I32, 2, tok, "bench ids"},
        [IN_SRC] = {VKT_I32, 2, tok, "bench placements"},
        [IN_LATENT] = {c->dt, 4, lat, "bench latent"},
        [IN_NOISE] = {c->dt, 4, lat, "bench noise"},
        [IN_NOISE32] = {VKT_F32, 4, lat, "bench noise f32"},
        [IN_COEF_A] = {c->dt, 4, coef, "bench sqrt abar"},
        [IN_COEF_B] = {c->dt, 4, coef, "bench sqrt 1-abar"},
        [IN_TIMESTEP] = {VKT_I32, 1, &B, "bench timestep"},
    };
    c->has_noise32 = c->dt != VKT_F32;
    size_t offs[N_INPUTS], total = 0;
    vkt_status st = VKT_OK;
    for (int i = 0; i < N_INPUTS && !st; i++) {
        if (i == IN_NOISE32 && !c->has_noise32) continue;
        input *in = &c->in[i];
        if ((st = alloc_other(c, spec[i].dt, spec[i].nd, spec[i].shape, spec[i].what, &in->dev,
                              err)))
            break;
        size_t bytes = vkt_tensor_bytes(&in->dev);
        in->host = vkt_malloc((size_t)vkt_tensor_numel(&in->dev) * 4);
        if (!in->host) st = vkt_fail(err, VKT_ERR_NOMEM, "%s", spec[i].what);
        offs[i] = total;
        total += (bytes + 255) & ~(size_t)255;
    }
    if (st) return st;
    if ((st = vkt_buffer_create(c->dev, total, VKT_MEM_UPLOAD, "bench input staging", &c->staging,
                                err)))
        return st;
    if ((st = vkt_buffer_create(c->dev, 256, VKT_MEM_READBACK, "bench loss readback", &c->readback,
                                err)))
        return st;
    c->r->other_bytes += total + 256;
    for (int i = 0; i < N_INPUTS; i++) {
        if (i == IN_NOISE32 && !c->has_noise32) continue;
        c->in[i].stage = c->in[i].dev;
        c->in[i].stage.buf = c->staging;
        c->in[i].stage.offset = offs[i];
    }
    const int64_t vshape[2] = {c->N, c->W};
    if ((st = alloc_other(c, VKT_F32, 2, vshape, "bench vectors", &c->vectors, err)) ||
        (st = alloc_other(c, VKT_F32, 2, vshape, "bench d vectors", &c->dvectors, err)) ||
        (st = alloc_other(c, VKT_F32, 2, vshape, "adamw m", &c->m, err)) ||
        (st = alloc_other(c, VKT_F32, 2, vshape, "adamw v", &c->v, err)))
        return st;
    if (c->o->plan_only) return VKT_OK;
    /* initial vectors: small normal values like an embedding initialised from words */
    size_t n = (size_t)(c->N * c->W);
    float *init = vkt_malloc(n * sizeof *init);
    if (!init) return vkt_fail(err, VKT_ERR_NOMEM, "vectors");
    vkt_rng rng = vkt_rng_keyed(c->o->seed, VKT_RNG_TAG('b', 'v', 'e', 'c'), 0, 0);
    for (size_t i = 0; i < n; i++) {
        double u1 = vkt_rng_f64(&rng), u2 = vkt_rng_f64(&rng);
        init[i] = (float)(0.015 * sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2));
    }
    st = vkt_tensor_upload_f32(c->dev, &c->vectors, init, err);
    free(init);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Per-step host inputs */

static double normal(vkt_rng *r)
{
    double u1 = vkt_rng_f64(r), u2 = vkt_rng_f64(r);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

/* Host draws for step k: a prompt of random words with the N vectors at a random position,
 * random latent, noise and timestep (like a training step's). Not timed: a trainer prepares the
 * next batch while the GPU works. */
static void draw_inputs(bench_ctx *c, int64_t k)
{
    vkt_rng rng = vkt_rng_keyed(c->o->seed, VKT_RNG_TAG('b', 'i', 'n', 'p'), (uint64_t)k, 0);
    int32_t *ids = c->in[IN_IDS].host, *src = c->in[IN_SRC].host, *ts = c->in[IN_TIMESTEP].host;
    float *lat = c->in[IN_LATENT].host, *noise = c->in[IN_NOISE].host, *ca = c->in[IN_COEF_A].host,
          *cb = c->in[IN_COEF_B].host;
    int64_t L = 3 + (int64_t)vkt_rng_below(&rng, 18); /* words besides the vectors */
    if (L > T_TOKENS - 2 - c->N) L = T_TOKENS - 2 - c->N;
    for (int64_t b = 0; b < c->B; b++) {
        int32_t *row = ids + b * T_TOKENS, *srow = src + b * T_TOKENS;
        int64_t at = 1 + (int64_t)vkt_rng_below(&rng, (uint64_t)L + 1);
        row[0] = c->vocab - 2;
        for (int64_t i = 1; i < T_TOKENS; i++) {
            row[i] =
                i <= L + c->N ? (int32_t)vkt_rng_below(&rng, (uint64_t)c->vocab - 2) : c->vocab - 1;
            srow[i] = i >= at && i < at + c->N ? (int32_t)(i - at) : -1;
        }
        srow[0] = -1;
        int t = (int)vkt_rng_below(&rng, VKT_SCHED_T);
        ts[b] = t;
        ca[b] = (float)sqrt(c->sched.alphas_cumprod[t]);
        cb[b] = (float)sqrt(1.0 - c->sched.alphas_cumprod[t]);
    }
    size_t n = (size_t)vkt_tensor_numel(&c->in[IN_LATENT].dev);
    for (size_t i = 0; i < n; i++) {
        lat[i] = (float)normal(&rng);
        noise[i] = (float)normal(&rng);
    }
    if (c->has_noise32) memcpy(c->in[IN_NOISE32].host, noise, n * sizeof *noise);
}

/* The drawn inputs into the staging buffer (converted to their dtypes); timed. */
static vkt_status stage_inputs(bench_ctx *c, vkt_err *err)
{
    vkt_status st = VKT_OK;
    for (int i = 0; i < N_INPUTS && !st; i++) {
        if (i == IN_NOISE32 && !c->has_noise32) continue;
        const input *in = &c->in[i];
        if (in->dev.dtype == VKT_I32)
            st = vkt_buffer_upload(c->dev, c->staging, in->stage.offset, in->host,
                                   vkt_tensor_bytes(&in->dev), err);
        else
            st = vkt_tensor_upload_f32(c->dev, &in->stage, in->host, err);
    }
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Recording */

/* Records the step: staging -> inputs, the TI graph, loss -> readback. Plan-only: dry. */
static vkt_status record_step(bench_ctx *c, bool profile, vkt_err *err)
{
    vkt_step *s = c->s;
    c->n_marks = 0;
    vkt_cmd_set_profiling(s->cmd, profile);
    vkt_status st = vkt_step_begin_planned(s, err);
    if (st) return st;
    mark(c, PH_INPUTS);
    for (int i = 0; i < N_INPUTS && !st; i++) {
        if (i == IN_NOISE32 && !c->has_noise32) continue;
        const input *in = &c->in[i];
        st = vkt_cmd_copy(s->cmd, c->staging, in->stage.offset, in->dev.buf, in->dev.offset,
                          vkt_tensor_bytes(&in->dev), err);
    }
    if (st) return st;
    vkt_ti_step_io io = {
        .ids = &c->in[IN_IDS].dev,
        .src_idx = c->hn ? NULL : &c->in[IN_SRC].dev,
        .vectors = c->hn ? NULL : &c->vectors,
        .latent = &c->in[IN_LATENT].dev,
        .noise = &c->in[IN_NOISE].dev,
        .noise_f32 = c->has_noise32 ? &c->in[IN_NOISE32].dev : &c->in[IN_NOISE].dev,
        .coef_a = &c->in[IN_COEF_A].dev,
        .coef_b = &c->in[IN_COEF_B].dev,
        .timestep = &c->in[IN_TIMESTEP].dev,
    };
    vkt_ti_step_opts to = {.clip_skip = c->o->clip_skip,
                           .backward = true,
                           .dloss = 1.0f,
                           .grad_mode = VKT_GRAD_OVERWRITE,
                           .dvectors = c->hn ? NULL : &c->dvectors,
                           .on_phase = on_phase,
                           .phase_user = c};
    if (c->hn) { /* one recording: its dropout masks (if any) repeat, the cost does not change */
        vkt_hn_hook_begin(c->hook, c->o->seed, 0);
        to.hook = vkt_hn_hook_unet(c->hook);
    }
    if ((st = vkt_ti_step_record(s, c->clip, c->unet, &io, &to, &c->out, err))) return st;
    mark(c, PH_INPUTS); /* the loss readback */
    if ((st = vkt_cmd_copy(s->cmd, c->out.loss.buf, c->out.loss.offset, c->readback, 0, 4, err)))
        return st;
    c->r->n_commands = vkt_cmd_n_records(s->cmd);
    if (c->o->plan_only)
        st = vkt_step_end_dry(s, err);
    else
        st = vkt_step_end(s, err);
    if (st) return st;
    c->r->plan_peak_bytes = vkt_step_peak_bytes(s);
    c->r->plan_naive_bytes = vkt_step_naive_bytes(s);
    c->r->planned_total_bytes = c->r->weight_bytes + c->r->plan_peak_bytes + c->r->other_bytes;
    return VKT_OK;
}

/* One training iteration after draw_inputs: inputs to staging, the step, AdamW, the loss. */
static vkt_status iterate(bench_ctx *c, bool profile, double *loss, vkt_err *err)
{
    vkt_status st = stage_inputs(c, err);
    if (!st) st = vkt_step_submit(c->s, err);
    if (st) return st;
    vkt_adamw h = {.lr = 5e-3f,
                   .beta1 = 0.9f,
                   .beta2 = 0.999f,
                   .eps = 1e-8f,
                   .weight_decay = 0.0f,
                   .step = ++c->adam_step};
    vkt_cmd_set_profiling(c->s_opt->cmd, profile);
    if ((st = vkt_step_begin(c->s_opt, err))) return st;
    if (c->hn) { /* the webui's hypernetwork AdamW at its default rate 1e-5; then zero grads */
        h = vkt_hn_adamw(1e-5);
        if ((st = vkt_hn_record_adamw(c->s_opt, c->hn, &h, NULL, err)) ||
            (st = vkt_hn_record_zero_grads(c->s_opt, c->hn, err)))
            return st;
    } else if ((st = vkt_op_adamw_step(c->s_opt, &h, &c->vectors, &c->dvectors, &c->m, &c->v, NULL, err))) {
        return st;
    }
    if ((st = vkt_step_run(c->s_opt, err))) return st;
    float l = 0;
    if ((st = vkt_buffer_download(c->dev, c->readback, 0, &l, 4, err))) return st;
    *loss = l;
    return VKT_OK;
}

static int label_index(bench_ctx *c, const char *label)
{
    for (int i = 0; i < c->n_labels; i++)
        if (c->labels[i] == label || strcmp(c->labels[i], label) == 0) return i;
    if (c->n_labels == MAX_LABELS) return MAX_LABELS - 1; /* lump the rest into the last */
    c->labels[c->n_labels] = label;
    return c->n_labels++;
}

/* Adds the timings of the last submits (step and optimizer) as profiled step p. */
static vkt_status collect(bench_ctx *c, int p, vkt_err *err)
{
    const char *const *labels;
    const double *ms;
    uint32_t n;
    double *ph = c->phase_acc + (size_t)p * VKT_BENCH_PHASES,
           *lm = c->label_ms + (size_t)p * MAX_LABELS;
    if (!vkt_cmd_timings(c->s->cmd, &labels, &ms, &n))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED,
                        "bench step: this device has no compute timestamps");
    if (n < c->r->n_commands)
        return vkt_fail(err, VKT_ERR_INTERNAL, "bench step: %u timestamps for %u commands", n,
                        c->r->n_commands);
    int m = 0;
    for (uint32_t i = 0; i < n; i++) {
        while (m + 1 < c->n_marks && c->mark_at[m + 1] <= i)
            m++;
        ph[c->mark_phase[m]] += ms[i];
        int li = label_index(c, labels[i]);
        lm[li] += ms[i];
        if (p == 0) c->label_count[li]++;
    }
    if (!vkt_cmd_timings(c->s_opt->cmd, &labels, &ms, &n))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "bench step: no timestamps for the optimizer");
    for (uint32_t i = 0; i < n; i++) {
        ph[PH_OPTIM] += ms[i];
        int li = label_index(c, labels[i]);
        lm[li] += ms[i];
        if (p == 0) c->label_count[li]++;
    }
    return VKT_OK;
}

static int cmp_op(const void *a, const void *b)
{
    const vkt_bench_op_time *x = a, *y = b;
    return x->ms > y->ms ? -1 : x->ms < y->ms;
}

static vkt_status profile_pass(bench_ctx *c, vkt_err *err)
{
    int P = c->o->profile_steps;
    vkt_bench_step_result *r = c->r;
    c->phase_acc = vkt_calloc((size_t)P * VKT_BENCH_PHASES, sizeof *c->phase_acc);
    c->label_ms = vkt_calloc((size_t)P * MAX_LABELS, sizeof *c->label_ms);
    if (!c->phase_acc || !c->label_ms) return vkt_fail(err, VKT_ERR_NOMEM, "profile");
    vkt_status st = record_step(c, true, err);
    if (st) return st;
    int64_t k0 = c->o->warmup + c->o->steps;
    for (int p = 0; p < P; p++) {
        double loss;
        double t0 = now_ms();
        draw_inputs(c, k0 + p);
        if ((st = iterate(c, true, &loss, err))) return st;
        vkt_log(now_ms() - t0 > 2000 ? VKT_LOG_INFO : VKT_LOG_DEBUG,
                "bench step: profiled step %d: %.1f ms", p, now_ms() - t0);
        if ((st = collect(c, p, err))) return st;
    }
    double *tot = vkt_calloc((size_t)P, sizeof *tot);
    if (!tot) return vkt_fail(err, VKT_ERR_NOMEM, "profile");
    for (int p = 0; p < P; p++)
        for (int k = 0; k < VKT_BENCH_PHASES; k++)
            tot[p] += c->phase_acc[(size_t)p * VKT_BENCH_PHASES + k];
    r->gpu_ms = median(tot, P, 1);
    free(tot);
    for (int k = 0; k < VKT_BENCH_PHASES; k++)
        r->phase_ms[k] = median(c->phase_acc + k, P, VKT_BENCH_PHASES);
    r->has_phases = true;
    r->ops = vkt_calloc((size_t)(c->n_labels ? c->n_labels : 1), sizeof *r->ops);
    if (!r->ops) return vkt_fail(err, VKT_ERR_NOMEM, "profile");
    for (int i = 0; i < c->n_labels; i++)
        r->ops[i] = (vkt_bench_op_time){c->labels[i], median(c->label_ms + i, P, MAX_LABELS),
                                        c->label_count[i]};
    r->n_ops = (uint32_t)c->n_labels;
    qsort(r->ops, r->n_ops, sizeof *r->ops, cmp_op);
    return VKT_OK;
}

static vkt_status timed_pass(bench_ctx *c, vkt_err *err)
{
    const vkt_bench_step_opts *o = c->o;
    vkt_bench_step_result *r = c->r;
    vkt_status st = record_step(c, false, err);
    if (st) return st;
    double *ms = vkt_calloc((size_t)o->steps, sizeof *ms);
    if (!ms) return vkt_fail(err, VKT_ERR_NOMEM, "timings");
    for (int64_t k = 0; k < o->warmup + o->steps && !st; k++) {
        if (k == o->warmup)
            vkt_mem_reset_peak(c->dev); /* weights' upload staging is not the step */
        draw_inputs(c, k);
        double t0 = now_ms(), loss = 0;
        st = iterate(c, false, &loss, err);
        double t1 = now_ms();
        if (st) break;
        if (k == 0) r->loss_first = loss;
        r->loss_last = loss;
        if (k >= o->warmup) ms[k - o->warmup] = t1 - t0;
        /* progress on slow devices (lavapipe at SD1.5 size) */
        vkt_log(t1 - t0 > 2000 ? VKT_LOG_INFO : VKT_LOG_DEBUG,
                "bench step: %s step %lld: %.1f ms, loss %.6g", k < o->warmup ? "warm-up" : "timed",
                (long long)k, t1 - t0, loss);
    }
    if (!st) {
        r->steps = o->steps;
        double sum = 0;
        r->ms_min = r->ms_max = ms[0];
        for (int i = 0; i < o->steps; i++) {
            sum += ms[i];
            if (ms[i] < r->ms_min) r->ms_min = ms[i];
            if (ms[i] > r->ms_max) r->ms_max = ms[i];
        }
        r->ms_mean = sum / o->steps;
        qsort(ms, (size_t)o->steps, sizeof *ms, cmp_double);
        r->ms_median =
            o->steps % 2 ? ms[o->steps / 2] : 0.5 * (ms[o->steps / 2 - 1] + ms[o->steps / 2]);
        vkt_mem_stats ms_ = vkt_mem_get_stats(c->dev);
        r->mem_peak_bytes = ms_.peak;
        r->mem_reserved_bytes = ms_.reserved;
    }
    free(ms);
    return st;
}

static vkt_status check_opts(const vkt_bench_step_opts *o, vkt_err *err)
{
    if (!o->model) return vkt_fail(err, VKT_ERR_USAGE, "bench step: no model");
    if (o->batch < 1 || o->batch > 64)
        return vkt_fail(err, VKT_ERR_USAGE, "batch %d outside 1..64", o->batch);
    if (o->width < 8 || o->height < 8 || o->width % 8 || o->height % 8 || o->width > 4096 ||
        o->height > 4096)
        return vkt_fail(err, VKT_ERR_USAGE, "size %dx%d: need multiples of 8 in 8..4096", o->width,
                        o->height);
    if (o->vectors < 1 || o->vectors > T_TOKENS - 2)
        return vkt_fail(err, VKT_ERR_USAGE, "vectors %d outside 1..%d", o->vectors, T_TOKENS - 2);
    if (o->dtype != VKT_F32 && o->dtype != VKT_F16)
        return vkt_fail(err, VKT_ERR_USAGE, "precision must be fp16 or fp32");
    if (o->steps < 1 || o->steps > 10000 || o->warmup < 0 || o->warmup > 10000)
        return vkt_fail(err, VKT_ERR_USAGE, "steps 1..10000, warm-up 0..10000");
    if (o->profile_steps < 0 || o->profile_steps > 64)
        return vkt_fail(err, VKT_ERR_USAGE, "profile steps 0..64");
    if (o->clip_skip < 1) return vkt_fail(err, VKT_ERR_USAGE, "clip skip must be >= 1");
    return VKT_OK;
}

vkt_status vkt_bench_step_run(const vkt_bench_step_opts *o, vkt_bench_step_result *r, vkt_err *err)
{
    memset(r, 0, sizeof *r);
    r->plan_only = o->plan_only;
    bench_ctx c = {.o = o,
                   .r = r,
                   .dt = o->dtype,
                   .B = o->batch,
                   .h = o->height / 8,
                   .w = o->width / 8,
                   .N = o->vectors};
    vkt_status st = check_opts(o, err);
    if (st) return st;
    vkt_schedule_init(&c.sched, 0.00085, 0.012);
    if ((st = vkt_device_create(&(vkt_device_opts){.select = o->device, .validation = -1}, &c.dev,
                                err)))
        goto done;
    const vkt_device_info *inf = vkt_device_get_info(c.dev);
    snprintf(r->device, sizeof r->device, "%s", inf->name);
    snprintf(r->driver, sizeof r->driver, "%s", inf->driver_name);
    if ((st = vkt_step_create(c.dev, &c.s, err)) || (st = vkt_step_create(c.dev, &c.s_opt, err)))
        goto done;
    if (!vkt_step_dtype_ok(c.s, c.dt)) {
        st = vkt_fail(err, VKT_ERR_UNSUPPORTED,
                      "%s: no fp16 storage (or VKTRAIN_DISABLE_FP16): use --precision fp32",
                      inf->name);
        goto done;
    }
    double t0 = now_ms();
    if ((st = load_models(&c, err)) || (st = alloc_inputs(&c, err))) goto done;
    vkt_log(VKT_LOG_INFO, "bench step: %s loaded in %.1f s (%.1f MiB of weights%s)", o->model,
            (now_ms() - t0) / 1e3, (double)r->weight_bytes / 1048576.0,
            o->plan_only ? ", shapes only" : "");
    if (o->plan_only) {
        st = record_step(&c, false, err);
        goto done;
    }
    if ((st = timed_pass(&c, err))) goto done;
    if (!isfinite(r->loss_last))
        vkt_log(VKT_LOG_WARN, "bench step: the loss is %g (not finite)", r->loss_last);
    if (o->profile_steps > 0) {
        if (!inf->timestamps)
            vkt_log(VKT_LOG_WARN, "bench step: %s has no compute timestamps: no phase times",
                    inf->name);
        else
            st = profile_pass(&c, err);
    }
done:
    free(c.phase_acc);
    free(c.label_ms);
    for (int i = 0; i < N_INPUTS; i++) {
        if (c.in[i].dev.buf) vkt_tensor_free(c.dev, &c.in[i].dev);
        free(c.in[i].host);
    }
    vkt_tensor *own[4] = {&c.vectors, &c.dvectors, &c.m, &c.v};
    for (int i = 0; i < 4; i++)
        if (own[i]->buf) vkt_tensor_free(c.dev, own[i]);
    if (c.dev) {
        vkt_buffer_destroy(c.dev, c.staging);
        vkt_buffer_destroy(c.dev, c.readback);
    }
    vkt_step_destroy(c.s_opt);
    vkt_step_destroy(c.s);
    vkt_hn_hook_destroy(c.hook);
    vkt_hn_destroy(c.hn);
    vkt_unet_destroy(c.unet);
    vkt_clip_destroy(c.clip);
    vkt_safetensors_close(c.file);
    vkt_device_destroy(c.dev);
    return st;
}
