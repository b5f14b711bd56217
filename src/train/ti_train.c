/* Textual-inversion and hypernetwork training loop (webui textual_inversion.py: train_embedding,
 * hypernetwork.py: train_hypernetwork, as described in ../shared/spec/training.md). */
#define _GNU_SOURCE
#include "train/ti_train.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/env.h"
#include "base/fault.h"
#include "base/file.h"
#include "base/log.h"
#include "base/rng.h"
#include "io/embedding_file.h"
#include "io/embedding_optim.h"
#include "io/hash.h"
#include "io/model_file.h"
#include "io/tfevents.h"
#include "models/clip.h"
#include "models/hypernetwork.h"
#include "models/schedule.h"
#include "models/unet.h"
#include "nn/ops/clip.h"
#include "nn/ops/optim.h"
#include "text/embedding_name.h"
#include "text/prompt.h"
#include "text/template.h"
#include "text/tokenizer.h"
#include "train/dataset.h"
#include "train/embedding_init.h"
#include "train/logs.h"
#include "train/lr_schedule.h"
#include "train/prefetch.h"
#include "train/ti_step.h"
#include "train/txt2img.h"
#include "io/embedding_image.h"
#include "io/image.h"

static volatile sig_atomic_t stop_requested;

void vkt_ti_request_stop(void) { stop_requested = 1; }

vkt_ti_opts vkt_ti_defaults(void)
{
    return (vkt_ti_opts){
        .init_text = "*", .vectors = 1, .lr = "0.005", .batch = 1, .grad_accum = 1, .steps = 100000,
        .width = 512, .height = 512, .clip_value = "0.1", .latent_sampling = VKT_LATENT_ONCE,
        .template_name = "style_filewords", .filewords_join = " ", .repeats = 1, .save_every = 500,
        .preview_every = 500, .preview_steps = 20, .preview_sampler = "euler_a", .preview_cfg = 7.0,
        .preview_seed = -1, .save_image_with_embedding = true, .ema_every = 1,
        .csv_every = 500, .log_dir = "textual_inversion", .out_dir = "embeddings", .clip_skip = 1,
        .dtype = VKT_F32,
    };
}

vkt_ti_opts vkt_hn_train_defaults(void)
{
    vkt_ti_opts o = vkt_ti_defaults();
    o.lr = "0.00001"; /* training.md §2: the UI's hypernetwork default */
    o.out_dir = "hypernetworks";
    return o;
}

/* Device tensors of one batch shape (re-made when the shape changes). */
typedef struct batch_gpu {
    int64_t B, T, lh, lw;
    bool has_mult, has_weight, has_ctx, recorded;
    vkt_tensor ids, src, mult, latent, noise, noise32, ca, cb, t, weight, ctx;
    vkt_ti_step_out res;
} batch_gpu;

/* Host side of one mini-batch. */
typedef struct batch_host {
    int32_t *ids, *src;
    float *mult, *latent, *noise, *ca, *cb, *weight;
    int32_t *t;
    float *ctx; /* [B, T, W] cached conditioning (has_ctx) */
    bool has_mult, has_weight, has_ctx;
    int64_t B, T, lh, lw;
    char *first_prompt; /* owned: for the report / previews */
} batch_host;

typedef struct trainer {
    const vkt_ti_opts *o;
    vkt_model_file *mf;
    vkt_device *dev;
    vkt_clip *clip;
    vkt_unet *unet;
    vkt_vae *vae; /* kept only for previews */
    vkt_tokenizer *tok;
    vkt_prompt_embs *embs;
    vkt_template *tmpl;
    vkt_dataset *ds;
    vkt_embedding *emb;
    vkt_embedding_optim *optim_in; /* from a resumed .optim */
    /* hypernetwork training (emb == NULL): the modules, a training hook (dropout on, multiplier
     * 1) and an apply hook (dropout off) for the evaluation loss and previews */
    vkt_hypernetwork *hn;
    vkt_hn_hook *hook, *apply_hook;
    bool hn_dropout;
    uint64_t hn_stream; /* dropout stream of the mini-batch being recorded */
    /* hypernetworks without tag shuffling or dropout: each image's conditioning is encoded once
     * and reused (webui: at dataset preparation), as the prompt of an image never changes */
    bool cache_cond;
    float **cond; /* per item: [k·77, W] f32 (NULL until its first use) */
    int *cond_k;  /* its 77-token chunks */
    vkt_step *cstep;
    char name[256];
    char model_hash[16], model_name[256];
    /* per dataset item: the scaled latent (once/deterministic) or mean + logvar (random) */
    float **lat_a, **lat_b;
    float **weights;
    int *lh, *lw;
    vkt_schedule sched;
    /* GPU */
    vkt_step *step, *opt, *evs; /* training mini-batch, optimizer, forward-only evaluation */
    vkt_tensor vec, dvec, m, v, clip_state, ema;
    vkt_tensor **grads; /* what clipping acts on (gather_grads), n_grads of them */
    int n_grads;
    batch_gpu g, eg;
    batch_host h;
    /* run */
    char run_dir[1024];
    vkt_train_log *log;
    vkt_tfevents *tb;
    int64_t tb_epoch;              /* epoch number of the latest step, for preview tags */
    double *tb_losses;             /* HN: the last 3·n update losses (the webui's loss_logging) */
    size_t tb_cap, tb_n, tb_next;
} trainer;

static vkt_status alloc_f32(vkt_device *dev, int nd, const int64_t *shape, const char *what, vkt_tensor *t,
                            vkt_err *err)
{
    vkt_status st = vkt_tensor_alloc(dev, VKT_F32, nd, shape, what, t, err);
    if (!st) st = vkt_tensor_zero(dev, t, err);
    return st;
}

/* --- setup ----------------------------------------------------------------------------- */

static bool is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The webui's name rule (text/embedding_name) into tr->name. */
static vkt_status set_name(trainer *tr, const char *raw, vkt_err *err)
{
    char *clean = NULL;
    vkt_status st = vkt_embedding_name_sanitize(raw, &clean, err);
    if (st) return st;
    snprintf(tr->name, sizeof tr->name, "%s", clean);
    free(clean);
    if (!tr->name[0]) return vkt_fail(err, VKT_ERR_USAGE, "embedding name \"%s\" has no usable characters", raw);
    return VKT_OK;
}

static vkt_status load_embedding(trainer *tr, vkt_err *err)
{
    const vkt_ti_opts *o = tr->o;
    int W = vkt_model_file_config(tr->mf)->clip_width;
    vkt_status st;
    const char *file = is_file(o->embedding) ? o->embedding : NULL;
    char existing[1200] = "";
    if (!file) { /* a NAME: its final file in out_dir is continued (--resume) or protected */
        if ((st = set_name(tr, o->embedding, err))) return st;
        snprintf(existing, sizeof existing, "%s/%s.%s", o->out_dir, tr->name, o->save_safetensors ? "safetensors" : "pt");
        if (is_file(existing) && o->resume) file = existing;
        else if (is_file(existing) && !o->overwrite)
            return vkt_fail(err, VKT_ERR_USAGE,
                            "%s exists: --resume continues it, --overwrite starts a new \"%s\" and replaces it",
                            existing, tr->name);
        else if (o->resume)
            return vkt_fail(err, VKT_ERR_USAGE, "--resume: there is no %s to continue", existing);
    }
    if (file) {
        if ((st = vkt_embedding_file_read(file, &tr->emb, err))) return st;
        if (tr->emb->width != W)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: embedding width %d, the model's text width is %d", file,
                            tr->emb->width, W);
        if ((st = set_name(tr, tr->emb->name, err))) return st;
        char optim[1300];
        snprintf(optim, sizeof optim, "%s.optim", file);
        if (is_file(optim)) {
            vkt_err oe = {0};
            char why[160] = "";
            if (vkt_embedding_optim_read(optim, &tr->optim_in, &oe) != VKT_OK)
                vkt_log(VKT_LOG_WARN, "%s: %s; starting a fresh optimizer", optim, oe.msg);
            else if (!vkt_embedding_optim_usable(tr->optim_in, tr->emb, why, sizeof why)) {
                vkt_log(VKT_LOG_WARN, "%s: %s; starting a fresh optimizer", optim, why);
                vkt_embedding_optim_destroy(tr->optim_in);
                tr->optim_in = NULL;
            }
        }
        return VKT_OK;
    }
    if (o->vectors < 1 || o->vectors > 75) return vkt_fail(err, VKT_ERR_USAGE, "--vectors must be 1..75");
    /* training.md §6: the init text's token-embedding rows, stretched over N vectors */
    return vkt_embedding_init_from_text(tr->mf, tr->tok, tr->name, tr->o->init_text, o->vectors, &tr->emb, NULL, err);
}

/* The hypernetwork file (o->hypernetwork, or out_dir/NAME.pt) with its .optim when the hash
 * matches (training.md §8); the webui names the run by the file stem cut at its last '('. */
static vkt_status load_hypernetwork(trainer *tr, vkt_err *err)
{
    const vkt_ti_opts *o = tr->o;
    char path[1100];
    snprintf(path, sizeof path, "%s", o->hypernetwork);
    if (!is_file(path)) {
        int w = snprintf(path, sizeof path, "%s/%s.pt", o->out_dir, o->hypernetwork);
        if (w < 0 || (size_t)w >= sizeof path || strchr(o->hypernetwork, '/') || !is_file(path))
            return vkt_fail(err, VKT_ERR_USAGE,
                            "hypernetwork \"%s\" is neither a file nor %s/%s.pt (make one with `vktrain "
                            "hypernetwork create`)",
                            o->hypernetwork, o->out_dir, o->hypernetwork);
    }
    vkt_status st = vkt_hn_load(path, &tr->hn, err);
    if (st) return st;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.'), *paren = strrchr(base, '(');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (paren && (size_t)(paren - base) < n) n = (size_t)(paren - base);
    snprintf(tr->name, sizeof tr->name, "%.*s", (int)n, base);
    if (!tr->name[0]) return vkt_fail(err, VKT_ERR_USAGE, "%s: the file name gives an empty hypernetwork name", path);
    const vkt_sd_config *cfg = vkt_model_file_config(tr->mf);
    bool any = false; /* k/v inputs: the context (attn2) and each attention level's width (attn1) */
    for (int z = 0; z < tr->hn->n_sizes; z++) {
        int64_t d = tr->hn->sizes[z].dim;
        any |= d == cfg->unet_context;
        for (int l = 0; l < cfg->unet_levels; l++) any |= cfg->unet_attn[l] && d == (int64_t)cfg->unet_mc * cfg->unet_mult[l];
    }
    if (!any) vkt_log(VKT_LOG_WARN, "%s: no module size matches this model's attention widths: nothing will train", path);
    bool used = false;
    char why[200] = "";
    if ((st = vkt_hn_load_optim(tr->hn, path, &used, why, sizeof why, err))) return st;
    char optim[1200];
    snprintf(optim, sizeof optim, "%s.optim", path);
    if (!used && is_file(optim)) vkt_log(VKT_LOG_WARN, "%s: %s; starting a fresh optimizer", optim, why);
    tr->hn_dropout = vkt_hn_has_dropout(tr->hn);
    return VKT_OK;
}

/* Standard normals by Box-Muller from r (the same draws on every machine). */
static void normals(vkt_rng *r, float *out, size_t n)
{
    for (size_t k = 0; k < n; k += 2) {
        double u1 = 1.0 - vkt_rng_f64(r), u2 = vkt_rng_f64(r), rad = sqrt(-2.0 * log(u1));
        out[k] = (float)(rad * cos(2 * M_PI * u2));
        if (k + 1 < n) out[k + 1] = (float)(rad * sin(2 * M_PI * u2));
    }
}

/* Encodes every image once with the VAE (webui: at dataset preparation), then frees the VAE. */
static vkt_status encode_latents(trainer *tr, vkt_err *err)
{
    vkt_status st = VKT_OK;
    vkt_vae *vae = NULL;
    vkt_step *s = NULL;
    vkt_prefetch *pf = NULL;
    size_t n = tr->ds->n;
    tr->lat_a = vkt_calloc(n, sizeof *tr->lat_a);
    tr->lat_b = vkt_calloc(n, sizeof *tr->lat_b);
    tr->weights = vkt_calloc(n, sizeof *tr->weights);
    tr->lh = vkt_calloc(n, sizeof *tr->lh);
    tr->lw = vkt_calloc(n, sizeof *tr->lw);
    if (!tr->lat_a || !tr->lat_b || !tr->weights || !tr->lh || !tr->lw) return vkt_fail(err, VKT_ERR_NOMEM, "latents");
    /* decode + resize on a worker thread (train/prefetch.h), overlapping the VAE load and encodes */
    if ((st = vkt_prefetch_create(tr->ds, NULL, n, NULL, &pf, err))) goto done;
    vkt_weight_source src = vkt_weight_source_model_file(tr->mf, "first_stage_model.", tr->o->model);
    if ((st = vkt_vae_load(tr->dev, &src, tr->o->dtype, &vae, err))) goto done;
    if (tr->o->preview_every > 0) tr->vae = vae; /* previews decode with it later */
    if ((st = vkt_step_create(tr->dev, &s, err))) goto done;
    for (size_t k = 0; k < n && !st; k++) {
        size_t i;
        vkt_train_image px = {0};
        vkt_tensor img = {0}, mean, logvar;
        if ((st = vkt_prefetch_next(pf, &i, &px, err))) break;
        int64_t lh = px.lh, lw = px.lw, hw = lh * lw;
        tr->lh[i] = px.lh;
        tr->lw[i] = px.lw;
        float *hm = vkt_malloc((size_t)(4 * hw) * sizeof *hm), *hl = vkt_malloc((size_t)(4 * hw) * sizeof *hl);
        if (!hm || !hl) st = vkt_fail(err, VKT_ERR_NOMEM, "latent of %s", tr->ds->items[i].path);
        if (!st) st = vkt_tensor_alloc(tr->dev, tr->o->dtype, 4, (int64_t[]){1, 3, px.h, px.w}, "image", &img, err);
        if (!st) st = vkt_tensor_upload_f32(tr->dev, &img, px.x, err);
        if (!st) st = vkt_step_begin_planned(s, err);
        if (!st) st = vkt_step_tensor(s, tr->o->dtype, 4, (int64_t[]){1, 4, lh, lw}, "mean", &mean, err);
        if (!st) st = vkt_step_tensor(s, tr->o->dtype, 4, (int64_t[]){1, 4, lh, lw}, "logvar", &logvar, err);
        if (!st) st = vkt_vae_encode(s, vae, &img, &mean, &logvar, err);
        if (!st && !(st = vkt_step_keep(s, &mean, err))) st = vkt_step_keep(s, &logvar, err);
        if (!st) st = vkt_step_end(s, err);
        if (!st) st = vkt_step_submit(s, err);
        if (!st) {
            vkt_tensor rm = vkt_step_resolve(s, &mean), rl = vkt_step_resolve(s, &logvar);
            st = vkt_tensor_download_f32(tr->dev, &rm, hm, err);
            if (!st) st = vkt_tensor_download_f32(tr->dev, &rl, hl, err);
        }
        vkt_tensor_free(tr->dev, &img);
        if (!st && tr->o->latent_sampling == VKT_LATENT_RANDOM) {
            tr->lat_a[i] = hm;
            tr->lat_b[i] = hl;
            hm = hl = NULL;
        } else if (!st) { /* once: one sample for the whole run; deterministic: the mean */
            float *lat = vkt_malloc((size_t)(4 * hw) * sizeof *lat), *eps = vkt_malloc((size_t)(4 * hw) * sizeof *eps);
            vkt_rng r = vkt_rng_keyed(tr->o->seed, VKT_RNG_TAG('l', 'a', 't', 'o'), i, 0);
            if (eps) normals(&r, eps, (size_t)(4 * hw));
            if (!lat || !eps) st = vkt_fail(err, VKT_ERR_NOMEM, "latent");
            else st = vkt_vae_latent_host(tr->o->latent_sampling, (size_t)(4 * hw), hm, hl, eps, lat, err);
            free(eps);
            if (!st) tr->lat_a[i] = lat;
            else free(lat);
        }
        free(hm);
        free(hl);
        if (!st && px.weight) {
            tr->weights[i] = px.weight;
            px.weight = NULL;
        }
        vkt_train_image_fini(&px);
        if (st) vkt_err_prefix(err, "encoding %s", tr->ds->items[i].path);
    }
done:
    vkt_prefetch_destroy(pf);
    vkt_step_destroy(s);
    if (vae != tr->vae) vkt_vae_destroy(vae);
    return st;
}

/* --- one mini-batch -------------------------------------------------------------------- */

static void batch_host_fini(batch_host *h)
{
    free(h->ids); free(h->src); free(h->mult); free(h->latent); free(h->noise); free(h->ca); free(h->cb);
    free(h->weight); free(h->t); free(h->first_prompt); free(h->ctx);
    memset(h, 0, sizeof *h);
}

/* The conditioning of item `item` from the first k chunks of its row of the batch's ids and
 * multipliers, encoded once (text encoder forward, the same program as inside the training step,
 * so the values are the same). */
static vkt_status encode_cond(trainer *tr, uint32_t item, const int32_t *ids, const float *mult, int k, vkt_err *err)
{
    if (tr->cond[item]) return VKT_OK;
    int64_t T = (int64_t)k * 77, W = vkt_model_file_config(tr->mf)->clip_width;
    float *out = vkt_malloc((size_t)(T * W) * 4);
    vkt_tensor tid = {0}, tm = {0}, ctx;
    bool has_mult = false;
    vkt_status st = !out ? vkt_fail(err, VKT_ERR_NOMEM, "conditioning") : VKT_OK;
    for (int64_t i = 0; i < T; i++) has_mult |= mult[i] != 1.0f;
    const int64_t shape[2] = {1, T};
    if (!st && !tr->cstep) st = vkt_step_create(tr->dev, &tr->cstep, err);
    if (!st) st = vkt_tensor_alloc(tr->dev, VKT_I32, 2, shape, "prompt ids", &tid, err);
    if (!st) st = vkt_buffer_upload(tr->dev, tid.buf, 0, ids, (size_t)T * 4, err);
    if (!st && has_mult) st = vkt_tensor_alloc(tr->dev, VKT_F32, 2, shape, "prompt multipliers", &tm, err);
    if (!st && has_mult) st = vkt_tensor_upload_f32(tr->dev, &tm, mult, err);
    if (!st) st = vkt_step_begin_planned(tr->cstep, err);
    if (!st)
        st = vkt_clip_fwd(tr->cstep, tr->clip, &tid, NULL, NULL, has_mult ? &tm : NULL, tr->o->clip_skip, &ctx, NULL,
                          err);
    if (!st) st = vkt_step_keep(tr->cstep, &ctx, err);
    if (!st) st = vkt_step_end(tr->cstep, err);
    if (!st) st = vkt_step_submit(tr->cstep, err);
    if (!st) {
        vkt_tensor r = vkt_step_resolve(tr->cstep, &ctx);
        st = vkt_tensor_download_f32(tr->dev, &r, out, err);
    }
    if (tid.buf) vkt_tensor_free(tr->dev, &tid);
    if (tm.buf) vkt_tensor_free(tr->dev, &tm);
    if (st) {
        free(out);
        return st;
    }
    tr->cond[item] = out;
    tr->cond_k[item] = k;
    return VKT_OK;
}

/* Ids, placements, latents, noise and timesteps for items[0..B) with their prompts (owned by
 * the caller); member m draws from the stream (seed, tag, keys[m]), so a resumed run draws the
 * same. */
static vkt_status prepare_items(trainer *tr, const uint32_t *items, char *const *prompts, size_t B, uint64_t tag,
                                const uint64_t *keys, vkt_err *err)
{
    batch_host *h = &tr->h;
    batch_host_fini(h);
    vkt_prompt_result *pr = vkt_calloc(B, sizeof *pr);
    if (!pr) return vkt_fail(err, VKT_ERR_NOMEM, "prompts");
    vkt_status st = VKT_OK;
    size_t K = 1;
    int *own_k = vkt_calloc(B, sizeof *own_k); /* chunks of each prompt before the padding */
    if (!own_k) st = vkt_fail(err, VKT_ERR_NOMEM, "prompts");
    for (size_t m = 0; m < B && !st; m++) {
        st = vkt_prompt_tokenize(tr->tok, tr->embs, prompts[m], SIZE_MAX, NULL, &pr[m], err);
        if (!st && pr[m].n_chunks > K) K = pr[m].n_chunks;
        if (!st) own_k[m] = (int)pr[m].n_chunks;
    }
    for (size_t m = 0; m < B && !st; m++) st = vkt_prompt_result_pad(&pr[m], K, err);
    if (st) goto done;
    h->first_prompt = strdup(prompts[0]);
    int64_t T = (int64_t)K * 77, lh = tr->lh[items[0]], lw = tr->lw[items[0]], n4 = 4 * lh * lw;
    h->B = (int64_t)B;
    h->T = T;
    h->lh = lh;
    h->lw = lw;
    h->ids = vkt_malloc((size_t)((int64_t)B * T) * 4);
    h->src = vkt_malloc((size_t)((int64_t)B * T) * 4);
    h->mult = vkt_malloc((size_t)((int64_t)B * T) * 4);
    h->latent = vkt_malloc((size_t)((int64_t)B * n4) * 4);
    h->noise = vkt_malloc((size_t)((int64_t)B * n4) * 4);
    h->weight = vkt_malloc((size_t)((int64_t)B * n4) * 4);
    h->ca = vkt_malloc(B * 4);
    h->cb = vkt_malloc(B * 4);
    h->t = vkt_malloc(B * 4);
    if (!h->first_prompt || !h->ids || !h->src || !h->mult || !h->latent || !h->noise || !h->weight || !h->ca || !h->cb ||
        !h->t) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "batch");
        goto done;
    }
    int found = 0;
    for (size_t m = 0; m < B; m++) {
        vkt_rng r = vkt_rng_keyed(tr->o->seed, tag, keys[m], 0);
        for (size_t c = 0; c < K; c++) {
            const vkt_prompt_chunk *ch = &pr[m].chunks[c];
            for (int p = 0; p < 77; p++) {
                size_t at = m * (size_t)T + c * 77 + (size_t)p;
                h->ids[at] = ch->ids[p];
                h->src[at] = -1;
                h->mult[at] = (float)ch->multipliers[p];
                if (ch->multipliers[p] != 1.0) h->has_mult = true;
            }
            for (size_t f = 0; f < ch->n_fixes; f++) {
                const vkt_prompt_fix *fx = &ch->fixes[f];
                if (fx->emb != 0) continue; /* only the trained embedding is registered */
                for (int i = 0; i < fx->vectors && fx->position + i < 77; i++) {
                    h->src[m * (size_t)T + c * 77 + (size_t)(fx->position + i)] = i;
                    found = 1;
                }
            }
        }
        uint32_t item = items[m];
        if (tr->lh[item] != lh || tr->lw[item] != lw) {
            st = vkt_fail(err, VKT_ERR_INTERNAL, "a mini-batch mixes latent sizes");
            goto done;
        }
        float *lat = h->latent + m * (size_t)n4;
        if (tr->o->latent_sampling == VKT_LATENT_RANDOM) { /* fresh eps every use */
            float *eps = h->noise + m * (size_t)n4; /* scratch: overwritten by the noise below */
            normals(&r, eps, (size_t)n4);
            if ((st = vkt_vae_latent_host(VKT_LATENT_RANDOM, (size_t)n4, tr->lat_a[item], tr->lat_b[item], eps, lat, err)))
                goto done;
        } else {
            memcpy(lat, tr->lat_a[item], (size_t)n4 * 4);
        }
        normals(&r, h->noise + m * (size_t)n4, (size_t)n4);
        int t = (int)vkt_rng_below(&r, VKT_SCHED_T); /* t ~ U{0..999} */
        h->t[m] = t;
        h->ca[m] = (float)sqrt(tr->sched.alphas_cumprod[t]);
        h->cb[m] = (float)sqrt(1.0 - tr->sched.alphas_cumprod[t]);
        for (int ch = 0; ch < 4; ch++)
            for (int64_t q = 0; q < lh * lw; q++)
                h->weight[m * (size_t)n4 + (size_t)ch * (size_t)(lh * lw) + (size_t)q] =
                    tr->weights[item] ? tr->weights[item][q] : 1.0f;
        if (tr->weights[item]) h->has_weight = true;
    }
    if (tr->cache_cond) { /* each image's own chunks, encoded once; webui: shorter rows repeat their last vector */
        int64_t W = vkt_model_file_config(tr->mf)->clip_width;
        if (!(h->ctx = vkt_malloc((size_t)((int64_t)B * T * W) * 4))) {
            st = vkt_fail(err, VKT_ERR_NOMEM, "batch conditioning");
            goto done;
        }
        for (size_t m = 0; m < B; m++) {
            if ((st = encode_cond(tr, items[m], h->ids + m * (size_t)T, h->mult + m * (size_t)T, own_k[m], err)))
                goto done;
            int64_t rows = (int64_t)tr->cond_k[items[m]] * 77;
            for (int64_t t = 0; t < T; t++)
                memcpy(h->ctx + ((int64_t)m * T + t) * W, tr->cond[items[m]] + (t < rows ? t : rows - 1) * W,
                       (size_t)W * 4);
        }
        h->has_ctx = true;
    }
    if (!found && tr->emb) st = vkt_fail(err, VKT_ERR_USAGE, "prompt \"%s\" does not contain the embedding \"%s\"", prompts[0],
                              tr->name);
done:
    for (size_t m = 0; m < B; m++) vkt_prompt_result_fini(&pr[m]);
    free(pr);
    free(own_k);
    return st;
}

#define TAG_TRAIN VKT_RNG_TAG('n', 'o', 'i', 's')
#define TAG_FIXED VKT_RNG_TAG('e', 'v', 'a', 'l')
#define FIXED_USE 0x6576616c00000000ull /* prompt use keys of the fixed draws */

/* Fixed draw d: item d mod n with its own prompt, noise and timestep (stream (seed, TAG_FIXED, d)). */
static vkt_status fixed_draw(trainer *tr, uint64_t d, uint32_t *item, char **prompt, vkt_err *err)
{
    *item = (uint32_t)(d % tr->ds->n);
    return vkt_dataset_prompt(tr->ds, *item, FIXED_USE + d, prompt, err);
}

/* Mini-batch b of the epoch plan, global mini-batch number k; with fixed draws, the draws
 * (k*B + m) mod fixed_draws instead. */
static vkt_status prepare_batch(trainer *tr, const vkt_epoch_plan *plan, size_t b, uint64_t k, vkt_err *err)
{
    size_t B = plan->batch;
    char **prompts = vkt_calloc(B, sizeof *prompts);
    uint64_t *keys = vkt_calloc(B, sizeof *keys);
    uint32_t *items = vkt_calloc(B, sizeof *items);
    vkt_status st = !prompts || !keys || !items ? vkt_fail(err, VKT_ERR_NOMEM, "prompts") : VKT_OK;
    int nf = tr->o->fixed_draws;
    for (size_t m = 0; m < B && !st; m++) {
        if (nf > 0) {
            keys[m] = (k * B + m) % (uint64_t)nf;
            st = fixed_draw(tr, keys[m], &items[m], &prompts[m], err);
        } else {
            keys[m] = k * B + m;
            items[m] = plan->items[b * B + m];
            st = vkt_epoch_plan_prompt(tr->ds, plan, b, m, &prompts[m], err);
        }
    }
    if (!st) st = prepare_items(tr, items, prompts, B, nf > 0 ? TAG_FIXED : TAG_TRAIN, keys, err);
    for (size_t m = 0; prompts && m < B; m++) free(prompts[m]);
    free(prompts);
    free(keys);
    free(items);
    return st;
}

static void batch_gpu_fini(trainer *tr, batch_gpu *g)
{
    if (g->noise32.buf == g->noise.buf) g->noise32.buf = NULL; /* f32 models share one tensor */
    vkt_tensor *ts[] = {&g->ids, &g->src, &g->mult, &g->latent, &g->noise, &g->noise32, &g->ca, &g->cb, &g->t, &g->weight,
                        &g->ctx};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        if (ts[i]->buf) vkt_tensor_free(tr->dev, ts[i]);
    memset(g, 0, sizeof *g);
}

static vkt_status alloc_batch(trainer *tr, batch_gpu *g, vkt_err *err);

/* (Re-)records the mini-batch graph when the batch shape differs from the recorded one. */
static vkt_status ensure_recorded(trainer *tr, vkt_step *s, batch_gpu *g, bool backward, vkt_err *err)
{
    const batch_host *h = &tr->h;
    bool same = g->recorded && g->B == h->B && g->T == h->T && g->lh == h->lh && g->lw == h->lw &&
                g->has_mult == h->has_mult && g->has_weight == h->has_weight && g->has_ctx == h->has_ctx;
    /* hypernetwork dropout masks live in the recording: a new one per mini-batch */
    bool redo = backward && tr->hn_dropout;
    if (same && !redo) return VKT_OK;
    vkt_status st;
    if (!same && (st = alloc_batch(tr, g, err))) return st;
    vkt_ti_step_io io = {.ids = &g->ids, .src_idx = tr->emb ? &g->src : NULL, .vectors = tr->emb ? &tr->vec : NULL,
                         .multipliers = g->has_mult ? &g->mult : NULL, .latent = &g->latent, .noise = &g->noise,
                         .noise_f32 = &g->noise32, .coef_a = &g->ca, .coef_b = &g->cb, .timestep = &g->t,
                         .loss_weight = g->has_weight ? &g->weight : NULL, .context = g->has_ctx ? &g->ctx : NULL};
    /* d objective / d loss = 1/G: the webui divides each mini-batch loss by G */
    vkt_ti_step_opts so = {.clip_skip = tr->o->clip_skip, .backward = backward,
                           .dloss = 1.0f / (float)tr->ds->grad_accum, .grad_mode = VKT_GRAD_ACCUMULATE,
                           .dvectors = tr->emb ? &tr->dvec : NULL};
    if (tr->hn) { /* training: dropout on, multiplier 1; evaluation: dropout off, multiplier 1 */
        vkt_hn_hook *hk = backward ? tr->hook : tr->apply_hook;
        vkt_hn_hook_begin(hk, tr->o->seed, tr->hn_stream);
        so.hook = vkt_hn_hook_unet(hk);
    }
    if ((st = vkt_step_begin_planned(s, err))) return st;
    if ((st = vkt_ti_step_record(s, tr->clip, tr->unet, &io, &so, &g->res, err))) return st;
    if ((st = vkt_step_end(s, err))) return st;
    g->recorded = true;
    if (!same)
        vkt_log(VKT_LOG_DEBUG, "vktrain: recorded a %lldx%lld-token, %lldx%lld-latent step: %.1f MiB planned",
                (long long)h->B, (long long)h->T, (long long)h->lh, (long long)h->lw,
                (double)vkt_step_peak_bytes(s) / (1 << 20));
    return VKT_OK;
}

/* The persistent input tensors of the current batch shape. */
static vkt_status alloc_batch(trainer *tr, batch_gpu *g, vkt_err *err)
{
    const batch_host *h = &tr->h;
    batch_gpu_fini(tr, g);
    vkt_dtype dt = tr->o->dtype;
    int64_t B = h->B, T = h->T;
    const int64_t bt[2] = {B, T}, lat[4] = {B, 4, h->lh, h->lw}, c4[4] = {B, 1, 1, 1}, b1[1] = {B};
    vkt_status st;
    if ((st = vkt_tensor_alloc(tr->dev, VKT_I32, 2, bt, "ids", &g->ids, err)) ||
        (st = vkt_tensor_alloc(tr->dev, VKT_I32, 2, bt, "placements", &g->src, err)) ||
        (st = vkt_tensor_alloc(tr->dev, dt, 4, lat, "latent", &g->latent, err)) ||
        (st = vkt_tensor_alloc(tr->dev, dt, 4, lat, "noise", &g->noise, err)) ||
        (st = vkt_tensor_alloc(tr->dev, dt, 4, c4, "sqrt abar", &g->ca, err)) ||
        (st = vkt_tensor_alloc(tr->dev, dt, 4, c4, "sqrt 1-abar", &g->cb, err)) ||
        (st = vkt_tensor_alloc(tr->dev, VKT_I32, 1, b1, "timesteps", &g->t, err)))
        return st;
    if (dt == VKT_F32) g->noise32 = g->noise;
    else if ((st = vkt_tensor_alloc(tr->dev, VKT_F32, 4, lat, "noise f32", &g->noise32, err))) return st;
    if (h->has_mult && (st = vkt_tensor_alloc(tr->dev, VKT_F32, 2, bt, "multipliers", &g->mult, err))) return st;
    if (h->has_weight && (st = vkt_tensor_alloc(tr->dev, VKT_F32, 4, lat, "loss weight", &g->weight, err))) return st;
    const int64_t cs[3] = {B, T, vkt_model_file_config(tr->mf)->clip_width};
    if (h->has_ctx && (st = vkt_tensor_alloc(tr->dev, dt, 3, cs, "conditioning", &g->ctx, err))) return st;
    g->has_ctx = h->has_ctx;
    g->B = B;
    g->T = T;
    g->lh = h->lh;
    g->lw = h->lw;
    g->has_mult = h->has_mult;
    g->has_weight = h->has_weight;
    return VKT_OK;
}

static vkt_status run_batch(trainer *tr, vkt_step *s, batch_gpu *g, bool backward, double *loss, vkt_err *err)
{
    const batch_host *h = &tr->h;
    vkt_status st = ensure_recorded(tr, s, g, backward, err);
    if (st) return st;
    vkt_device *d = tr->dev;
    size_t bt = (size_t)(h->B * h->T) * 4;
    if ((st = vkt_buffer_upload(d, g->ids.buf, 0, h->ids, bt, err)) || (st = vkt_buffer_upload(d, g->src.buf, 0, h->src, bt, err)) ||
        (st = vkt_buffer_upload(d, g->t.buf, 0, h->t, (size_t)h->B * 4, err)) ||
        (st = vkt_tensor_upload_f32(d, &g->latent, h->latent, err)) || (st = vkt_tensor_upload_f32(d, &g->noise, h->noise, err)) ||
        (st = vkt_tensor_upload_f32(d, &g->ca, h->ca, err)) || (st = vkt_tensor_upload_f32(d, &g->cb, h->cb, err)))
        return st;
    if (g->noise32.buf != g->noise.buf && (st = vkt_tensor_upload_f32(d, &g->noise32, h->noise, err))) return st;
    if (g->has_mult && (st = vkt_tensor_upload_f32(d, &g->mult, h->mult, err))) return st;
    if (g->has_weight && (st = vkt_tensor_upload_f32(d, &g->weight, h->weight, err))) return st;
    if (g->has_ctx && (st = vkt_tensor_upload_f32(d, &g->ctx, h->ctx, err))) return st;
    if ((st = vkt_step_submit(s, err))) return st;
    vkt_tensor lt = vkt_step_resolve(s, &g->res.loss);
    float l;
    if ((st = vkt_tensor_download_f32(d, &lt, &l, err))) return st;
    *loss = l;
    return VKT_OK;
}

/* The gradients clipping acts on, gathered once: TI the vectors', HN every used module
 * parameter's (known once the first step is recorded); with norm clipping also its state. */
static vkt_status gather_grads(trainer *tr, vkt_err *err)
{
    if (tr->grads) return VKT_OK;
    int n = tr->hn ? vkt_hn_grads(tr->hn, NULL, 0) : 1;
    if (!(tr->grads = vkt_calloc(n > 0 ? (size_t)n : 1, sizeof *tr->grads)))
        return vkt_fail(err, VKT_ERR_NOMEM, "gradient list");
    if (tr->hn) vkt_hn_grads(tr->hn, tr->grads, n);
    else tr->grads[0] = &tr->dvec;
    tr->n_grads = n;
    if (tr->o->clip_mode != VKT_CLIPGRAD_NORM || n == 0) return VKT_OK;
    int64_t len = vkt_clip_norm_state_len((const vkt_tensor *const *)tr->grads, n);
    return alloc_f32(tr->dev, 1, &len, "clip state", &tr->clip_state, err);
}

/* Gradient clipping (training.md §5) into the optimizer's recording; *state: the norm op's
 * state for AdamW (scale, finiteness), or NULL. A norm threshold <= 0 scales by 0 in torch,
 * which the norm op reads as off: clamp to 0 instead. */
static vkt_status record_clip(trainer *tr, double v, const vkt_tensor **state, vkt_err *err)
{
    *state = NULL;
    vkt_clip_mode mode = tr->o->clip_mode;
    bool zero = mode == VKT_CLIPGRAD_NORM && !(v > 0);
    vkt_status st = VKT_OK;
    if (mode == VKT_CLIPGRAD_VALUE || zero) {
        for (int i = 0; i < tr->n_grads && !st; i++) st = vkt_op_clip_value(tr->opt, tr->grads[i], zero ? 0.0f : (float)v, err);
        return st;
    }
    if (mode != VKT_CLIPGRAD_NORM || tr->n_grads == 0) return VKT_OK;
    *state = &tr->clip_state;
    return vkt_op_clip_norm(tr->opt, tr->grads, tr->n_grads, (float)v, false, &tr->clip_state, err);
}

/* One update: clipping, AdamW, zeroed gradients (and the TI EMA), recorded anew each time
 * because the rate and step count travel as push constants. */
static vkt_status update(trainer *tr, double lr, double clip_value, int64_t adam_step, int64_t step, vkt_err *err)
{
    const vkt_tensor *cs = NULL;
    vkt_status st = tr->o->clip_mode != VKT_CLIPGRAD_NONE ? gather_grads(tr, err) : VKT_OK;
    if (!st) st = vkt_step_begin(tr->opt, err);
    if (!st) st = record_clip(tr, clip_value, &cs, err);
    if (tr->hn) {
        vkt_adamw h = vkt_hn_adamw(lr);
        if (!st) st = vkt_hn_record_adamw(tr->opt, tr->hn, &h, cs, err);
        if (!st) st = vkt_hn_record_zero_grads(tr->opt, tr->hn, err);
    } else {
        /* training.md §1: TI uses AdamW with weight decay 0 (unless a resumed .optim says otherwise) */
        const vkt_embedding_optim *oi = tr->optim_in;
        vkt_adamw h = {.lr = (float)lr, .beta1 = oi ? (float)oi->beta1 : 0.9f, .beta2 = oi ? (float)oi->beta2 : 0.999f,
                       .eps = oi ? (float)oi->eps : 1e-8f, .weight_decay = oi ? (float)oi->weight_decay : 0.0f,
                       .step = adam_step};
        if (!st) st = vkt_op_adamw_step(tr->opt, &h, &tr->vec, &tr->dvec, &tr->m, &tr->v, cs, err);
        if (!st) st = vkt_cmd_zero(tr->opt->cmd, tr->dvec.buf, 0, (vkt_tensor_bytes(&tr->dvec) + 3) & ~(size_t)3, err);
        /* EMA of the vectors (DALLE2 trainer, training.md §11), after the update */
        if (!st && tr->ema.buf && step % tr->o->ema_every == 0)
            st = vkt_op_ema_update(tr->opt, (float)tr->o->ema, &tr->ema, &tr->vec, err);
    }
    if (!st) st = vkt_step_run(tr->opt, err);
    return st;
}

/* Mean loss over a fixed set of draws (item d mod n, its own noise and timestep, the item's
 * prompt for use key d), forward only: comparable between the start and the end of a run. */
static vkt_status eval_loss(trainer *tr, int draws, double *mean, vkt_err *err)
{
    vkt_status st = VKT_OK;
    double sum = 0;
    if (!tr->evs && (st = vkt_step_create(tr->dev, &tr->evs, err))) return st;
    for (int d = 0; d < draws && !st; d++) {
        uint32_t item;
        char *prompt = NULL;
        double l = 0;
        uint64_t key = (uint64_t)d;
        st = fixed_draw(tr, key, &item, &prompt, err);
        if (!st) st = prepare_items(tr, &item, &prompt, 1, TAG_FIXED, &key, err);
        if (!st) st = run_batch(tr, tr->evs, &tr->eg, false, &l, err);
        sum += l;
        free(prompt);
    }
    *mean = draws > 0 ? sum / draws : NAN;
    return st;
}

/* One txt2img preview with the current vectors (training.md §7.3) into images/NAME-K.png, and
 * (save_image_with_embedding, a copy saved this step) into image_embeddings/NAME-K.png with the
 * embedding in its text chunk and pixels. */
static vkt_status preview(trainer *tr, int64_t k, int64_t step, bool with_embedding, vkt_err *err)
{
    const vkt_ti_opts *o = tr->o;
    vkt_txt2img_models m = {.dev = tr->dev, .tok = tr->tok, .clip = tr->clip, .unet = tr->unet, .vae = tr->vae,
                            .alphas_cumprod = tr->sched.alphas_cumprod, .embs = tr->embs,
                            .emb_vectors = tr->emb ? &tr->vec : NULL,
                            /* HN previews: eval mode, dropout off, multiplier used (training.md §7.3) */
                            .hook = tr->hn ? vkt_hn_hook_unet(tr->apply_hook) : NULL};
    vkt_txt2img_opts p = vkt_txt2img_opts_default();
    p.prompt = o->preview_prompt ? o->preview_prompt : tr->h.first_prompt;
    p.negative = o->preview_negative;
    p.steps = o->preview_steps;
    p.cfg_scale = o->preview_cfg;
    p.seed = o->preview_seed >= 0 ? (uint64_t)o->preview_seed : o->seed + (uint64_t)step;
    p.width = o->preview_width ? o->preview_width : o->width;
    p.height = o->preview_height ? o->preview_height : o->height;
    p.clip_skip = o->clip_skip;
    if (!vkt_sampler_parse(o->preview_sampler, &p.sampler))
        return vkt_fail(err, VKT_ERR_USAGE, "preview sampler \"%s\" (euler_a, euler, ddim)", o->preview_sampler);
    vkt_txt2img_result r = {0};
    vkt_status st = vkt_txt2img_run(&m, &p, &r, err);
    if (st) return st;
    vkt_infotext it = {.prompt = p.prompt, .negative = p.negative, .steps = p.steps,
                       .sampler = vkt_sampler_webui_name(p.sampler), .cfg_scale = p.cfg_scale,
                       .seed = (int64_t)r.seeds[0], .width = r.width, .height = r.height,
                       .model_hash = tr->model_hash, .model = tr->model_name, .clip_skip = o->clip_skip};
    char *params = vkt_infotext_format(&it), path[1200];
    if (!params) st = vkt_fail(err, VKT_ERR_NOMEM, "preview infotext");
    snprintf(path, sizeof path, "%s/images", tr->run_dir);
    if (!st) st = vkt_mkdirs(path, err);
    snprintf(path, sizeof path, "%s/images/%s-%lld.png", tr->run_dir, tr->name, (long long)k);
    vkt_png_text t = {"parameters", params};
    if (!st) st = vkt_image_write_png(path, r.rgb[0], r.width, r.height, 3, &t, 1, err);
    if (!st && tr->tb && o->tensorboard_images) /* tensorboard_add_image at the file's step */
        st = vkt_tfevents_add_validation_image(tr->tb, tr->tb_epoch, r.rgb[0], r.width, r.height, 3, step, err);
    if (!st && with_embedding && tr->emb) {
        snprintf(path, sizeof path, "%s/image_embeddings", tr->run_dir);
        if (!(st = vkt_mkdirs(path, err))) {
            snprintf(path, sizeof path, "%s/image_embeddings/%s-%lld.png", tr->run_dir, tr->name, (long long)k);
            st = vkt_embedding_image_write_png(path, tr->emb, r.rgb[0], r.width, r.height, err);
        }
    }
    free(params);
    vkt_txt2img_result_fini(&r);
    if (st) vkt_err_prefix(err, "preview at step %lld", (long long)step);
    return st;
}

/* --- saving ---------------------------------------------------------------------------- */

static bool all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    return true;
}

/* A NaN/Inf gradient that the loss did not show yet: never write such weights. */
static vkt_status not_finite(vkt_err *err, int64_t step, const char *path)
{
    return vkt_fail(err, VKT_ERR_NUMERIC,
                    "the weights after step %lld are not finite (a NaN/Inf gradient): stopped without writing %s "
                    "(the last saved files are kept)", (long long)step, path);
}

static vkt_status write_embedding(trainer *tr, const vkt_embedding *e, const char *path, vkt_err *err)
{
    return tr->o->save_safetensors ? vkt_embedding_file_write_safetensors(e, path, err)
                                   : vkt_embedding_file_write_pt(e, path, err);
}

static vkt_status save(trainer *tr, const char *path, const char *stored_name, int64_t file_step, int64_t adam_step,
                       double lr, vkt_err *err)
{
    if (tr->hn) { /* HN copies store the base name (training.md §7.2) */
        vkt_status st = vkt_hn_download(tr->hn, err);
        for (int z = 0; z < tr->hn->n_sizes && !st; z++)
            for (int j = 0; j < 2 && !st; j++)
                for (int i = 0; i < tr->hn->sizes[z].mod[j].n_params && !st; i++) {
                    const vkt_hn_param *p = &tr->hn->sizes[z].mod[j].params[i];
                    int64_t n = p->ndim == 2 ? p->shape[0] * p->shape[1] : p->shape[0];
                    if (!all_finite(p->host, (size_t)n))
                        st = not_finite(err, file_step, path);
                }
        if (!st) st = vkt_hn_set_meta(tr->hn, tr->name, file_step, tr->model_hash, tr->model_name, err);
        if (!st) st = vkt_hn_save(tr->hn, path, err);
        if (!st && tr->o->save_optimizer) st = vkt_hn_save_optim(tr->hn, path, lr, err);
        return st;
    }
    vkt_embedding *e = tr->emb;
    vkt_status st = vkt_tensor_download_f32(tr->dev, &tr->vec, e->vectors, err);
    if (st) return st;
    if (!all_finite(e->vectors, (size_t)e->n_vectors * (size_t)e->width)) return not_finite(err, file_step, path);
    e->has_step = true;
    e->step = file_step;
    e->requires_grad = true;
    if ((st = vkt_embedding_file_set_str(&e->stored_name, stored_name, err)) ||
        (st = vkt_embedding_file_set_str(&e->sd_checkpoint, tr->model_hash, err)) ||
        (st = vkt_embedding_file_set_str(&e->sd_checkpoint_name, tr->model_name, err)))
        return st;
    if ((st = write_embedding(tr, e, path, err))) return st;
    if (tr->ema.buf) { /* the EMA copy beside the raw one: NAME-ema.pt (or .safetensors) */
        char epath[1200], ename[320];
        const char *dot = strrchr(path, '.');
        snprintf(epath, sizeof epath, "%.*s-ema%s", (int)(dot - path), path, dot);
        snprintf(ename, sizeof ename, "%s-ema", stored_name);
        float *raw = e->vectors;
        size_t nv = (size_t)e->n_vectors * (size_t)e->width;
        float *ev = vkt_malloc(nv * sizeof *ev);
        if (!ev) return vkt_fail(err, VKT_ERR_NOMEM, "ema copy");
        st = vkt_tensor_download_f32(tr->dev, &tr->ema, ev, err);
        e->vectors = ev;
        if (!st) st = vkt_embedding_file_set_str(&e->stored_name, ename, err);
        if (!st) st = write_embedding(tr, e, epath, err);
        e->vectors = raw;
        free(ev);
        if (!st) st = vkt_embedding_file_set_str(&e->stored_name, stored_name, err);
        if (st) return st;
    }
    if (!tr->o->save_optimizer) return VKT_OK;
    vkt_embedding_optim *oo = NULL;
    char opath[1100];
    snprintf(opath, sizeof opath, "%s.optim", path);
    st = vkt_embedding_optim_new(e->n_vectors, e->width, lr, &oo, err);
    if (!st && adam_step > 0) {
        oo->step = adam_step;
        st = vkt_tensor_download_f32(tr->dev, &tr->m, oo->exp_avg, err);
        if (!st) st = vkt_tensor_download_f32(tr->dev, &tr->v, oo->exp_avg_sq, err);
    }
    if (!st) st = vkt_embedding_optim_write(oo, e, opath, err);
    vkt_embedding_optim_destroy(oo);
    return st;
}

/* --- driver ---------------------------------------------------------------------------- */

static vkt_status setup(trainer *tr, vkt_err *err)
{
    const vkt_ti_opts *o = tr->o;
    vkt_status st;
    vkt_model_opts mo = {.vae_path = o->vae};
    if ((st = vkt_model_file_open(o->model, &mo, &tr->mf, err))) return st;
    if ((st = vkt_model_file_supported(tr->mf, err))) return st;
    /* sizes this model takes (the UNet halves the latent levels - 1 times), before any work;
     * under varsize every image is centre-cropped to a multiple of it */
    int mult = vkt_sd_config_pixel_multiple(vkt_model_file_config(tr->mf));
    int pw = o->preview_width ? o->preview_width : o->width, ph = o->preview_height ? o->preview_height : o->height;
    if (!o->varsize && (o->width % mult || o->height % mult))
        return vkt_fail(err, VKT_ERR_USAGE, "training size %dx%d: this model needs multiples of %d", o->width, o->height, mult);
    if (o->preview_every > 0 && (pw % mult || ph % mult))
        return vkt_fail(err, VKT_ERR_USAGE, "preview size %dx%d: this model needs multiples of %d", pw, ph, mult);
    const char *slash = strrchr(o->model, '/');
    snprintf(tr->model_name, sizeof tr->model_name, "%s", slash ? slash + 1 : o->model);
    char *dot = strrchr(tr->model_name, '.');
    if (dot && dot != tr->model_name) *dot = 0;
    vkt_file_hash fh;
    if (is_file(o->model) && vkt_hash_file(o->model, true, &fh, err) == VKT_OK) snprintf(tr->model_hash, sizeof tr->model_hash, "%.10s", fh.sha256);
    if ((st = vkt_tokenizer_create(NULL, &tr->tok, err))) return st;
    if (o->hypernetwork && (o->ema > 0 || o->save_safetensors))
        return vkt_fail(err, VKT_ERR_USAGE, "--ema and --save-format are for embeddings only");
    if ((st = o->hypernetwork ? load_hypernetwork(tr, err) : load_embedding(tr, err))) return st;
    if ((st = vkt_template_load(o->template_name, &tr->tmpl, err))) return st;
    /* an embedding gets no gradient without [name]; a hypernetwork trains on any prompt */
    if (!o->hypernetwork && (st = vkt_template_check_ti(tr->tmpl, err))) return st;
    vkt_dataset_opts dopts = vkt_dataset_defaults();
    dopts.size.width = o->width;
    dopts.size.height = o->height;
    dopts.size.varsize = o->varsize;
    dopts.size.varsize_multiple = mult;
    dopts.use_weight = o->use_weight;
    dopts.shuffle_tags = o->shuffle_tags;
    dopts.tag_dropout = o->tag_dropout;
    dopts.filename_regex = o->filename_regex;
    dopts.filewords_join = o->filewords_join;
    dopts.tmpl = tr->tmpl;
    dopts.name = tr->name;
    dopts.batch = o->batch;
    dopts.grad_accum = o->grad_accum;
    dopts.repeats = o->repeats;
    dopts.seed = o->seed;
    if ((st = vkt_dataset_open(o->data_dir, &dopts, &tr->ds, err))) return st;
    /* VKTRAIN_NO_COND_CACHE: the uncached path, for comparison */
    tr->cache_cond = tr->hn && !o->shuffle_tags && !(o->tag_dropout > 0) && !vkt_env_flag("VKTRAIN_NO_COND_CACHE");
    if (tr->cache_cond) {
        tr->cond = vkt_calloc(tr->ds->n, sizeof *tr->cond);
        tr->cond_k = vkt_calloc(tr->ds->n, sizeof *tr->cond_k);
        if (!tr->cond || !tr->cond_k) return vkt_fail(err, VKT_ERR_NOMEM, "conditioning cache");
    }
    if ((st = vkt_prompt_embs_create(&tr->embs, err))) return st;
    if (tr->emb && (st = vkt_prompt_embs_add(tr->embs, tr->tok, tr->name, tr->emb->n_vectors, NULL, err))) return st;
    vkt_schedule_init(&tr->sched, 0.00085, 0.012);
    if ((st = vkt_device_create(&(vkt_device_opts){.select = o->device, .validation = -1}, &tr->dev, err))) return st;
    if ((st = vkt_step_create(tr->dev, &tr->step, err)) || (st = vkt_step_create(tr->dev, &tr->opt, err))) return st;
    if (o->dtype == VKT_F16 && !vkt_step_dtype_ok(tr->step, VKT_F16))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "--precision fp16: this device has no 16-bit storage");
    if ((st = encode_latents(tr, err))) return st;
    const vkt_sd_config *cfg = vkt_model_file_config(tr->mf);
    vkt_weight_source cs = vkt_weight_source_model_file(tr->mf, VKT_CLIP_PREFIX, o->model);
    if ((st = vkt_clip_load(tr->dev, &cs, o->dtype, cfg->clip_heads, &tr->clip, err))) return st;
    vkt_weight_source us = vkt_weight_source_model_file(tr->mf, "model.diffusion_model.", o->model);
    if ((st = vkt_unet_load(tr->dev, &us, o->dtype, cfg->unet_heads, &tr->unet, err))) return st;
    if (tr->hn) {
        if ((st = vkt_hn_upload(tr->hn, tr->dev, true, err)) ||
            (st = vkt_hn_hook_create(&tr->hn, 1, VKT_HN_TRAIN, &tr->hook, err)) ||
            (st = vkt_hn_hook_create(&tr->hn, 1, VKT_HN_APPLY, &tr->apply_hook, err)))
            return st;
        tr->hn->multiplier = 1.0f; /* the evaluation loss and previews at full strength */
        return VKT_OK;
    }
    const int64_t shape[2] = {tr->emb->n_vectors, tr->emb->width};
    if ((st = alloc_f32(tr->dev, 2, shape, "embedding", &tr->vec, err)) ||
        (st = alloc_f32(tr->dev, 2, shape, "embedding grad", &tr->dvec, err)) ||
        (st = alloc_f32(tr->dev, 2, shape, "adam m", &tr->m, err)) || (st = alloc_f32(tr->dev, 2, shape, "adam v", &tr->v, err)))
        return st;
    if ((st = vkt_tensor_upload_f32(tr->dev, &tr->vec, tr->emb->vectors, err))) return st;
    if (o->ema > 0) {
        if (!(o->ema < 1) || o->ema_every < 1) return vkt_fail(err, VKT_ERR_USAGE, "--ema needs 0 < beta < 1, --ema-update-every >= 1");
        if ((st = alloc_f32(tr->dev, 2, shape, "embedding ema", &tr->ema, err)) ||
            (st = vkt_tensor_upload_f32(tr->dev, &tr->ema, tr->emb->vectors, err)))
            return st;
    }
    if (tr->optim_in && tr->optim_in->exp_avg &&
        ((st = vkt_tensor_upload_f32(tr->dev, &tr->m, tr->optim_in->exp_avg, err)) ||
         (st = vkt_tensor_upload_f32(tr->dev, &tr->v, tr->optim_in->exp_avg_sq, err))))
        return st;
    return VKT_OK;
}

static void teardown(trainer *tr)
{
    batch_host_fini(&tr->h);
    if (tr->dev) {
        batch_gpu_fini(tr, &tr->g);
        batch_gpu_fini(tr, &tr->eg);
        vkt_tensor_free(tr->dev, &tr->vec);
        vkt_tensor_free(tr->dev, &tr->dvec);
        vkt_tensor_free(tr->dev, &tr->m);
        vkt_tensor_free(tr->dev, &tr->v);
        vkt_tensor_free(tr->dev, &tr->clip_state);
        vkt_tensor_free(tr->dev, &tr->ema);
    }
    for (size_t i = 0; tr->ds && i < tr->ds->n; i++) {
        if (tr->lat_a) free(tr->lat_a[i]);
        if (tr->lat_b) free(tr->lat_b[i]);
        if (tr->weights) free(tr->weights[i]);
    }
    free(tr->lat_a); free(tr->lat_b); free(tr->weights); free(tr->lh); free(tr->lw);
    for (size_t i = 0; tr->cond && i < tr->ds->n; i++) free(tr->cond[i]);
    free(tr->cond); free(tr->cond_k);
    vkt_step_destroy(tr->cstep);
    vkt_train_log_destroy(tr->log);
    vkt_tfevents_destroy(tr->tb);
    free(tr->tb_losses);
    free(tr->grads);
    vkt_step_destroy(tr->step);
    vkt_step_destroy(tr->opt);
    vkt_step_destroy(tr->evs);
    vkt_clip_destroy(tr->clip);
    vkt_unet_destroy(tr->unet);
    vkt_vae_destroy(tr->vae);
    vkt_hn_hook_destroy(tr->hook);
    vkt_hn_hook_destroy(tr->apply_hook);
    vkt_hn_destroy(tr->hn); /* its device tensors first */
    vkt_device_destroy(tr->dev);
    vkt_dataset_destroy(tr->ds);
    vkt_prompt_embs_destroy(tr->embs);
    vkt_template_destroy(tr->tmpl);
    vkt_tokenizer_destroy(tr->tok);
    vkt_embedding_optim_destroy(tr->optim_in);
    vkt_embedding_file_destroy(tr->emb);
    vkt_model_file_close(tr->mf);
}

/* The webui's tensorboard_add after an update: TI logs the update's loss with epoch
 * step // steps_per_epoch; HN the mean of its last 3·n update losses (n = images) with epoch
 * step // n and epoch step step − epoch·n + 1 (hypernetwork.py train_hypernetwork). */
static vkt_status tensorboard_step(trainer *tr, int64_t step, int64_t spe, double loss, double rate, vkt_err *err)
{
    int64_t n = (int64_t)tr->ds->n, epoch, estep;
    double shown = loss;
    if (tr->hn) {
        if (!tr->tb_losses) {
            tr->tb_cap = (size_t)(3 * n);
            if (!(tr->tb_losses = vkt_calloc(tr->tb_cap, sizeof *tr->tb_losses)))
                return vkt_fail(err, VKT_ERR_NOMEM, "loss history");
        }
        tr->tb_losses[tr->tb_next] = loss;
        tr->tb_next = (tr->tb_next + 1) % tr->tb_cap;
        if (tr->tb_n < tr->tb_cap) tr->tb_n++;
        double sum = 0;
        for (size_t i = 0; i < tr->tb_n; i++) sum += tr->tb_losses[i];
        shown = sum / (double)tr->tb_n;
        epoch = step / n;
        estep = step - epoch * n + 1;
    } else {
        epoch = step / (spe > 0 ? spe : 1);
        estep = step % (spe > 0 ? spe : 1) + 1;
    }
    tr->tb_epoch = epoch;
    return vkt_tfevents_add_training(tr->tb, shown, step, estep, rate, epoch, err);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

vkt_status vkt_ti_train(const vkt_ti_opts *o, vkt_ti_report *rep, vkt_err *err)
{
    trainer tr = {.o = o};
    memset(rep, 0, sizeof *rep);
    vkt_lr_schedule lr = {0}, clipv = {0};
    vkt_epoch_plan plan = {0};
    vkt_lr_extras extras = {.warmup = o->warmup, .cosine = o->cosine, .lr_min = o->lr_min};
    stop_requested = 0;
    double t0 = now_s();
    vkt_status st = vkt_lr_extras_check(&extras, err);
    if (!st && (o->steps < 1)) st = vkt_fail(err, VKT_ERR_USAGE, "--steps must be > 0");
    if (!st) st = setup(&tr, err);
    if (st) goto done;
    vkt_train_kind kind = tr.hn ? VKT_TRAIN_HN : VKT_TRAIN_TI;
    int64_t s0 = tr.hn ? tr.hn->step : tr.emb->has_step ? tr.emb->step : 0, step = s0;
    if ((st = vkt_lr_schedule_parse(o->lr, o->steps, s0, "learning rate", &lr, err))) goto done;
    if (o->clip_mode != VKT_CLIPGRAD_NONE &&
        (st = vkt_lr_schedule_parse(o->clip_value, o->steps, s0, "gradient clip value", &clipv, err)))
        goto done;
    if ((st = vkt_logs_run_dir(o->log_dir, tr.name, kind, time(NULL), tr.run_dir, sizeof tr.run_dir, err)) ||
        (st = vkt_mkdirs(tr.run_dir, err)) || (st = vkt_train_log_open(tr.run_dir, kind, o->csv_every, &tr.log, err)))
        goto done;
    if (o->tensorboard) { /* webui tensorboard_setup(): <run dir>/tensorboard */
        char d[1100];
        snprintf(d, sizeof d, "%s/tensorboard", tr.run_dir);
        if ((st = vkt_tfevents_create(d, &tr.tb, err))) goto done;
    }
    snprintf(rep->log_path, sizeof rep->log_path, "%s", tr.run_dir);
    { /* the resolved settings, by the webui's names (training.md §7.4) */
        static const char *const clip_names[] = {"disabled", "value", "norm"};
        vkt_train_settings ts = {
            .save_image_with_stored_embedding = o->save_image_with_embedding,
            .kind = kind, .model_name = tr.model_name, .model_hash = tr.model_hash,
            .num_of_dataset_images = (int64_t)tr.ds->n, .num_vectors_per_token = tr.emb ? tr.emb->n_vectors : 0,
            .name = tr.name,
            .learn_rate = o->lr, .batch_size = tr.ds->batch, .gradient_step = tr.ds->grad_accum,
            .data_root = o->data_dir, .log_directory = o->log_dir, .training_width = o->width,
            .training_height = o->height, .steps = o->steps, .clip_grad_mode = clip_names[o->clip_mode],
            .clip_grad_value = o->clip_value, .latent_sampling_method = vkt_latent_sampling_name(o->latent_sampling),
.create_image_every = o->preview_every, .save_every = o->save_every, .template_file = o->template_name,
            .initial_step = s0};
        if (tr.hn) {
            const vkt_hn_options *ho = &tr.hn->opt;
            ts.layer_structure = ho->layer_structure;
            ts.n_layer_structure = (size_t)ho->n_layers;
            ts.activation_func = ho->activation;
            ts.weight_init = ho->weight_init;
            ts.add_layer_norm = ho->layer_norm;
            ts.use_dropout = ho->use_dropout;
        }
        vkt_setting items[48];
        size_t n = vkt_logs_settings_webui(&ts, items, 48);
        if ((st = vkt_logs_write_settings(tr.run_dir, time(NULL), items, n, NULL, 0, err))) goto done;
    }
    if (o->save_every > 0) {
        char d[1100];
        snprintf(d, sizeof d, "%s/%s", tr.run_dir, tr.hn ? "hypernetworks" : "embeddings");
        if ((st = vkt_mkdirs(d, err))) goto done;
    }
    int G = tr.ds->grad_accum;
    int64_t spe = (int64_t)tr.ds->steps_per_epoch;
    int64_t adam_step = tr.optim_in ? tr.optim_in->step : 0;
    uint64_t epoch;
    size_t bi;
    /* the data order continues as if the run had never stopped */
    vkt_dataset_locate(tr.ds, (uint64_t)step * (uint64_t)G, &epoch, &bi);
    if ((st = vkt_dataset_epoch(tr.ds, epoch, &plan, err))) goto done;
    bool finished = false;
    double loss_step = NAN;
    int64_t saved_at = -1; /* step of the last intermediate copy (image embeddings need one) */
    rep->eval_before = rep->eval_after = NAN;
    if (o->eval_draws > 0 && (st = eval_loss(&tr, o->eval_draws, &rep->eval_before, err))) goto done;
    if (!o->quiet && tr.hn)
        fprintf(stderr, "training hypernetwork \"%s\" (%lld parameters) on %zu images, batch %d x %d, %lld steps, %s\n",
                tr.name, (long long)vkt_hn_param_count(tr.hn), tr.ds->n, tr.ds->batch, G, (long long)o->steps,
                vkt_device_get_info(tr.dev)->name);
    else if (!o->quiet)
        fprintf(stderr, "training \"%s\" (%d vectors) on %zu images, batch %d x %d, %lld steps, %s\n", tr.name,
                tr.emb->n_vectors, tr.ds->n, tr.ds->batch, G, (long long)o->steps,
                vkt_device_get_info(tr.dev)->name);
    while (step < o->steps && !finished) {
        double running = 0;
        for (int g = 0; g < G; g++) {
            if (vkt_lr_schedule_check(&lr, step), lr.finished) { finished = true; break; }
            if (o->clip_mode != VKT_CLIPGRAD_NONE) vkt_lr_schedule_check(&clipv, step);
            if (bi >= plan.n_batches) {
                vkt_epoch_plan_fini(&plan);
                if ((st = vkt_dataset_epoch(tr.ds, ++epoch, &plan, err))) goto done;
                bi = 0;
            }
            double l;
            uint64_t k = (uint64_t)step * (uint64_t)G + (uint64_t)g;
            if ((st = prepare_batch(&tr, &plan, bi++, k, err))) goto done;
            tr.hn_stream = k;
            /* VKTRAIN_LOG=debug: what each mini-batch trains on (tests check options by it) */
            vkt_log(VKT_LOG_DEBUG, "batch %llu: %lldx%lld latent, t %d, prompt \"%s\"", (unsigned long long)k,
                    (long long)tr.h.lh, (long long)tr.h.lw, (int)tr.h.t[0], tr.h.first_prompt);
            if ((st = run_batch(&tr, tr.step, &tr.g, true, &l, err))) goto done;
            running += l / G;
        }
        if (finished) break;
        double rate = vkt_lr_effective(&extras, lr.rate, step, o->steps);
        if ((st = update(&tr, rate, clipv.rate, ++adam_step, step + 1, err))) goto done;
        step++;
        loss_step = running;
        if (!isfinite(loss_step)) {
            st = vkt_fail(err, VKT_ERR_NUMERIC, "the loss of step %lld is %g: stopped (the last saved files are kept)",
                          (long long)step, loss_step);
            goto done;
        }
        if (step == s0 + 1) rep->first_loss = loss_step;
        rep->last_loss = loss_step;
        if ((st = vkt_train_log_step(tr.log, step, spe, loss_step, rate, err))) goto done;
        if (tr.tb && (st = tensorboard_step(&tr, step, spe, loss_step, rate, err))) goto done;
        int64_t kname = vkt_logs_due(step, o->save_every, true);
        if (kname) {
            char path[1200], nm[300];
            saved_at = step;
            snprintf(nm, sizeof nm, "%s-%lld", tr.name, (long long)kname);
            snprintf(path, sizeof path, "%s/%s/%s.%s", tr.run_dir, tr.hn ? "hypernetworks" : "embeddings", nm,
                     o->save_safetensors ? "safetensors" : "pt");
            if ((st = save(&tr, path, nm, step, adam_step, rate, err))) goto done;
            if (!o->quiet) /* its own line, also under a redrawn progress line */
                fprintf(stderr, "%ssaved %s (step %lld)%s\n", isatty(2) ? "\r" : "", path, (long long)step,
                        isatty(2) ? "\033[K" : "");
            if ((st = vkt_train_log_plot(tr.log, tr.name, err))) goto done;
        }
        int64_t kimg = vkt_logs_due(step, o->preview_every, true);
        if (kimg && (st = preview(&tr, kimg, step, o->save_image_with_embedding && saved_at == step, err))) goto done;
        bool tty = isatty(2);
        if (!o->quiet && (tty || step % 10 == 0 || step == o->steps || step == s0 + 1)) {
            /* on a terminal one line redraws; otherwise plain lines (STYLE.md §9) */
            double el = now_s() - t0, ips = (double)(step - s0) / (el > 0 ? el : 1);
            double eta = ips > 0 ? (double)(o->steps - step) / ips : 0;
            fprintf(stderr, "%sstep %lld/%lld  epoch %llu  loss %.4f  lr %.1e  %.2f it/s  ETA %d:%02d%s",
                    tty ? "\r" : "", (long long)step, (long long)o->steps, (unsigned long long)epoch, loss_step, rate,
                    ips, (int)(eta / 60), (int)eta % 60, tty ? "\033[K" : "\n");
        }
        if (stop_requested) break;
    }
    if (!o->quiet && isatty(2)) fputc('\n', stderr);
    if (o->eval_draws > 0 && (st = eval_loss(&tr, o->eval_draws, &rep->eval_after, err))) goto done;
    /* final file: the base name, in --out (training.md §7.5) */
    if ((st = vkt_mkdirs(o->out_dir, err))) goto done;
    snprintf(rep->out_path, sizeof rep->out_path, "%s/%s.%s", o->out_dir, tr.name, o->save_safetensors ? "safetensors" : "pt");
    if ((st = save(&tr, rep->out_path, tr.name, step, adam_step, lr.rate, err))) goto done;
    if ((st = vkt_train_log_plot(tr.log, tr.name, err))) goto done;
    rep->steps_done = step;
    if (stop_requested) st = vkt_fail(err, VKT_ERR_INTERRUPTED, "interrupted at step %lld; saved %s", (long long)step, rep->out_path);
done:
    rep->seconds = now_s() - t0;
    vkt_epoch_plan_fini(&plan);
    vkt_lr_schedule_fini(&lr);
    vkt_lr_schedule_fini(&clipv);
    teardown(&tr);
    return st;
}
