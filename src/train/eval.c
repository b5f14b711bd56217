/* eval: case file -> planned step (text encoder, UNet, loss, backward; VAE) -> output file. */
#include "train/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "io/safetensors.h"
#include "models/clip.h"
#include "models/hypernetwork.h"
#include "models/schedule.h"
#include "models/unet.h"
#include "models/vae.h"
#include "train/ti_step.h"
#include "nn/step.h"

#define MAX_OUT 1024 /* grad_hn.* of a deep hypernetwork with many sizes included */

typedef struct out_tensor {
    char name[96];
    int ndim;
    int64_t shape[4];
    float *data; /* owned */
} out_tensor;

typedef struct eval_ctx {
    const vkt_eval_opts *o;
    vkt_model_file *model;
    vkt_safetensors *cs;
    vkt_device *dev;
    vkt_step *step;
    /* persistent inputs on the device (owned) */
    vkt_tensor in[16];
    int n_in;
    out_tensor *out; /* MAX_OUT, owned */
    int n_out;
    /* text group */
    vkt_clip *clip;
    vkt_tensor ids, src_idx, learned, mult, clip_out, dlearned;
    bool has_text, has_learned, has_mult;
    vkt_clip_saved *clip_saved;
    /* unet group */
    vkt_unet *unet;
    bool has_unet;
    vkt_tensor latent, noise, noise32, coef_a, coef_b, timestep, weight, context;
    bool has_weight, has_context;
    vkt_ti_step_out res;
    /* --hypernetwork */
    vkt_hypernetwork *hn;
    vkt_hn_hook *hook;
    /* vae groups */
    vkt_vae *vae;
    bool has_enc, has_dec;
    vkt_tensor image, dec_latent, vae_mean, vae_logvar, decoded;
} eval_ctx;

static const char *const known_inputs[] = {"input_ids", "learned", "learned_at", "multipliers", "latent", "noise",
                                           "timestep", "loss_weight", "context", "image", "decode_latent", NULL};

static const vkt_tensor_data *input(eval_ctx *c, const char *name) { return vkt_safetensors_find(c->cs, name); }

static vkt_status check_inputs(eval_ctx *c, vkt_err *err)
{
    for (size_t i = 0; i < vkt_safetensors_count(c->cs); i++) {
        const char *n = vkt_safetensors_name(c->cs, i);
        bool ok = false;
        for (int k = 0; known_inputs[k]; k++) ok |= strcmp(n, known_inputs[k]) == 0;
        if (!ok)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: unknown input tensor \"%s\" (see eval-case.md)", c->o->case_path, n);
    }
    return VKT_OK;
}

/* Device tensor of an input, converted to f32 (floats) or copied as i32 (ints). */
static vkt_status upload_input(eval_ctx *c, const vkt_tensor_data *td, const char *name, bool as_int, vkt_dtype fdt,
                               vkt_tensor *out, vkt_err *err)
{
    size_t n = vkt_tensor_data_numel(td);
    float *host = vkt_malloc((n ? n : 1) * sizeof *host);
    if (!host) return vkt_fail(err, VKT_ERR_NOMEM, "%s", name);
    vkt_status st = vkt_tensor_data_to_f32(td, host, err);
    vkt_tensor t = {0};
    int64_t shape[VKT_MAX_DIMS];
    for (int i = 0; i < td->ndim && i < VKT_MAX_DIMS; i++) shape[i] = td->shape[i];
    if (!st && (td->ndim < 1 || td->ndim > VKT_MAX_DIMS))
        st = vkt_fail(err, VKT_ERR_FORMAT, "%s: %d dims", name, td->ndim);
    if (!st) st = vkt_tensor_alloc(c->dev, as_int ? VKT_I32 : fdt, td->ndim, shape, name, &t, err);
    if (!st) {
        if (as_int) {
            int32_t *iv = (int32_t *)host;
            for (size_t i = 0; i < n; i++) iv[i] = (int32_t)host[i]; /* exact: ids < 2^24 checked by callers */
            st = vkt_buffer_upload(c->dev, t.buf, 0, iv, n * 4, err);
        } else {
            st = vkt_tensor_upload_f32(c->dev, &t, host, err);
        }
    }
    free(host);
    if (st) {
        vkt_tensor_free(c->dev, &t);
        return st;
    }
    c->in[c->n_in++] = t;
    *out = t;
    return VKT_OK;
}

static vkt_status add_output(eval_ctx *c, const char *name, const vkt_tensor *t, vkt_err *err)
{
    if (c->n_out == MAX_OUT) return vkt_fail(err, VKT_ERR_INTERNAL, "too many outputs");
    out_tensor *o = &c->out[c->n_out];
    vkt_tensor real = vkt_step_resolve(c->step, t);
    size_t n = (size_t)vkt_tensor_numel(t);
    o->data = vkt_malloc(n * sizeof *o->data);
    if (!o->data) return vkt_fail(err, VKT_ERR_NOMEM, "%s", name);
    vkt_status st = vkt_tensor_download_f32(c->dev, &real, o->data, err);
    if (st) {
        free(o->data);
        o->data = NULL;
        return st;
    }
    snprintf(o->name, sizeof o->name, "%s", name);
    o->ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) o->shape[i] = t->shape[i];
    c->n_out++;
    return VKT_OK;
}

/* --- text group ------------------------------------------------------------------------ */

static vkt_status text_prepare(eval_ctx *c, vkt_err *err)
{
    const vkt_tensor_data *ids = input(c, "input_ids"), *learned = input(c, "learned"), *at = input(c, "learned_at"),
                          *mult = input(c, "multipliers");
    if (!ids) {
        if (learned || at || mult)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: learned/learned_at/multipliers need input_ids", c->o->case_path);
        return VKT_OK;
    }
    c->has_text = true;
    vkt_weight_source src = vkt_weight_source_model_file(c->model, VKT_CLIP_PREFIX, c->o->model);
    vkt_status st = vkt_clip_load(c->dev, &src, c->o->dtype, vkt_model_file_config(c->model)->clip_heads, &c->clip, err);
    if (st) return st;
    const vkt_clip_config *cfg = vkt_clip_get_config(c->clip);
    if (ids->ndim != 2 || ids->shape[1] % 77 || ids->shape[1] == 0)
        return vkt_fail(err, VKT_ERR_FORMAT, "input_ids: shape must be [B, 77*K]");
    int64_t B = ids->shape[0], T = ids->shape[1];
    for (size_t i = 0; i < vkt_tensor_data_numel(ids); i++) {
        double v = vkt_tensor_data_get(ids, i);
        if (v < 0 || v >= cfg->vocab || v != floor(v))
            return vkt_fail(err, VKT_ERR_FORMAT, "input_ids: element %zu is %g, outside the vocabulary 0..%d", i, v,
                            cfg->vocab - 1);
    }
    if ((st = upload_input(c, ids, "input_ids", true, VKT_F32, &c->ids, err))) return st;
    if (mult) {
        if (mult->ndim != 2 || mult->shape[0] != B || mult->shape[1] != T)
            return vkt_fail(err, VKT_ERR_FORMAT, "multipliers: shape must be [%lld, %lld]", (long long)B, (long long)T);
        if ((st = upload_input(c, mult, "multipliers", false, VKT_F32, &c->mult, err))) return st;
        c->has_mult = true;
    }
    if (learned || at) {
        if (!learned || !at) return vkt_fail(err, VKT_ERR_FORMAT, "learned and learned_at come together");
        if (learned->ndim != 2 || learned->shape[1] != cfg->width)
            return vkt_fail(err, VKT_ERR_FORMAT, "learned: shape must be [N, %d]", cfg->width);
        if (at->ndim != 2 || at->shape[0] != B)
            return vkt_fail(err, VKT_ERR_FORMAT, "learned_at: shape must be [%lld, P]", (long long)B);
        if ((st = upload_input(c, learned, "learned", false, VKT_F32, &c->learned, err))) return st;
        int64_t N = learned->shape[0], P = at->shape[1];
        int32_t *src = vkt_malloc((size_t)(B * T) * sizeof *src);
        if (!src) return vkt_fail(err, VKT_ERR_NOMEM, "placements");
        for (int64_t i = 0; i < B * T; i++) src[i] = -1;
        for (int64_t b = 0; b < B; b++)
            for (int64_t p = 0; p < P; p++) {
                double v = vkt_tensor_data_get(at, (size_t)(b * P + p));
                if (v < 0) continue;
                if (v >= T) {
                    free(src);
                    return vkt_fail(err, VKT_ERR_FORMAT, "learned_at[%lld,%lld] = %g is outside 0..%lld", (long long)b,
                                    (long long)p, v, (long long)T - 1);
                }
                /* The webui truncates the vectors at the end of their chunk (sd_hijack:
                 * emb_len = min(77 - offset - 1, N)). */
                int64_t start = (int64_t)v, end = (start / 77 + 1) * 77;
                for (int64_t i = 0; i < N && start + i < end; i++) src[b * T + start + i] = (int32_t)i;
            }
        vkt_tensor t;
        st = vkt_tensor_alloc(c->dev, VKT_I32, 2, (int64_t[]){B, T}, "placements", &t, err);
        if (!st) st = vkt_buffer_upload(c->dev, t.buf, 0, src, (size_t)(B * T) * 4, err);
        free(src);
        if (st) return st;
        c->in[c->n_in++] = t;
        c->src_idx = t;
        c->has_learned = true;
    }
    return VKT_OK;
}

static vkt_status text_fwd(eval_ctx *c, bool want_grad, vkt_err *err)
{
    if (!c->has_text) return VKT_OK;
    vkt_status st = vkt_clip_fwd(c->step, c->clip, &c->ids, c->has_learned ? &c->src_idx : NULL,
                                 c->has_learned ? &c->learned : NULL, c->has_mult ? &c->mult : NULL, c->o->clip_skip,
                                 &c->clip_out, want_grad && c->has_learned ? &c->clip_saved : NULL, err);
    if (!st) st = vkt_step_keep(c->step, &c->clip_out, err);
    return st;
}

/* --- unet group ------------------------------------------------------------------------ */

static vkt_status upload_host(eval_ctx *c, vkt_dtype dt, int nd, const int64_t *shape, const float *host,
                              const char *what, vkt_tensor *out, vkt_err *err)
{
    vkt_status st = vkt_tensor_alloc(c->dev, dt, nd, shape, what, out, err);
    if (!st) st = vkt_tensor_upload_f32(c->dev, out, host, err);
    if (st) {
        vkt_tensor_free(c->dev, out);
        return st;
    }
    c->in[c->n_in++] = *out;
    return VKT_OK;
}

static vkt_status f32_of(const vkt_tensor_data *td, float **out, vkt_err *err)
{
    size_t n = vkt_tensor_data_numel(td);
    float *v = vkt_malloc((n ? n : 1) * sizeof *v);
    if (!v) return vkt_fail(err, VKT_ERR_NOMEM, "input");
    vkt_status st = vkt_tensor_data_to_f32(td, v, err);
    if (st) free(v);
    else *out = v;
    return st;
}

static vkt_status unet_prepare(eval_ctx *c, vkt_err *err)
{
    const vkt_tensor_data *lat = input(c, "latent"), *noise = input(c, "noise"), *t = input(c, "timestep"),
                          *w = input(c, "loss_weight"), *ctx = input(c, "context");
    if (!lat && !noise && !t && !w && !ctx) return VKT_OK;
    if (!lat || !noise || !t)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: the unet group needs latent, noise and timestep", c->o->case_path);
    if (!c->has_text && !ctx)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: the unet group needs input_ids or context", c->o->case_path);
    c->has_unet = true;
    vkt_dtype dt = c->o->dtype;
    vkt_weight_source src = vkt_weight_source_model_file(c->model, "model.diffusion_model.", c->o->model);
    vkt_status st = vkt_unet_load(c->dev, &src, dt, vkt_model_file_config(c->model)->unet_heads, &c->unet, err);
    if (st) return st;
    const vkt_unet_config *cfg = vkt_unet_get_config(c->unet);
    if (lat->ndim != 4 || lat->shape[1] != cfg->in_ch || lat->shape[2] % 8 || lat->shape[3] % 8)
        return vkt_fail(err, VKT_ERR_FORMAT, "latent: shape must be [B, %lld, h, w] with h, w divisible by 8",
                        (long long)cfg->in_ch);
    int64_t B = lat->shape[0];
    bool same = noise->ndim == 4;
    for (int i = 0; same && i < 4; i++) same = noise->shape[i] == lat->shape[i];
    if (!same) return vkt_fail(err, VKT_ERR_FORMAT, "noise: shape must equal the latent's");
    if (t->ndim != 1 || t->shape[0] != B) return vkt_fail(err, VKT_ERR_FORMAT, "timestep: shape must be [%lld]", (long long)B);
    if (w && (w->ndim != 4 || w->shape[0] != B || w->shape[1] != 1 || w->shape[2] != lat->shape[2] || w->shape[3] != lat->shape[3]))
        return vkt_fail(err, VKT_ERR_FORMAT, "loss_weight: shape must be [B, 1, h, w] like the latent");
    if (c->has_text && ctx) return vkt_fail(err, VKT_ERR_FORMAT, "context: give input_ids or context, not both");
    if (c->has_text && vkt_clip_get_config(c->clip)->width != cfg->ctx)
        return vkt_fail(err, VKT_ERR_FORMAT, "text width %d differs from the UNet's context %lld",
                        vkt_clip_get_config(c->clip)->width, (long long)cfg->ctx);
    vkt_schedule sch;
    vkt_schedule_init(&sch, 0.00085, 0.012);
    float ca[64], cb[64];
    if (B > 64) return vkt_fail(err, VKT_ERR_FORMAT, "latent: batch %lld above 64", (long long)B);
    for (int64_t b = 0; b < B; b++) {
        double tv = vkt_tensor_data_get(t, (size_t)b);
        if (tv < 0 || tv > 999 || tv != floor(tv))
            return vkt_fail(err, VKT_ERR_FORMAT, "timestep[%lld] = %g, outside 0..999", (long long)b, tv);
        /* the checkpoint's float32 tables: sqrt(abar) in double, then rounded */
        ca[b] = (float)sqrt(sch.alphas_cumprod[(int)tv]);
        cb[b] = (float)sqrt(1.0 - sch.alphas_cumprod[(int)tv]);
    }
    float *hl = NULL, *hn = NULL, *hw = NULL;
    if ((st = f32_of(lat, &hl, err)) || (st = f32_of(noise, &hn, err))) goto done;
    const int64_t *shape = lat->shape, cshape[4] = {B, 1, 1, 1};
    if ((st = upload_host(c, dt, 4, shape, hl, "latent", &c->latent, err))) goto done;
    if ((st = upload_host(c, dt, 4, shape, hn, "noise", &c->noise, err))) goto done;
    if (dt != VKT_F32 && (st = upload_host(c, VKT_F32, 4, shape, hn, "noise f32", &c->noise32, err))) goto done;
    if (dt == VKT_F32) c->noise32 = c->noise;
    if ((st = upload_host(c, dt, 4, cshape, ca, "sqrt abar", &c->coef_a, err))) goto done;
    if ((st = upload_host(c, dt, 4, cshape, cb, "sqrt 1-abar", &c->coef_b, err))) goto done;
    if ((st = upload_input(c, t, "timestep", true, VKT_F32, &c->timestep, err))) goto done;
    if (w) { /* the loss weight is given per pixel and applies to all 4 latent channels */
        if ((st = f32_of(w, &hw, err))) goto done;
        size_t hw_n = (size_t)(shape[2] * shape[3]);
        float *w4 = vkt_malloc((size_t)(B * shape[1]) * hw_n * sizeof *w4);
        if (!w4) { st = vkt_fail(err, VKT_ERR_NOMEM, "loss weight"); goto done; }
        for (int64_t b = 0; b < B; b++)
            for (int64_t ch = 0; ch < shape[1]; ch++)
                memcpy(w4 + (size_t)(b * shape[1] + ch) * hw_n, hw + (size_t)b * hw_n, hw_n * sizeof *w4);
        st = upload_host(c, VKT_F32, 4, shape, w4, "loss weight", &c->weight, err);
        free(w4);
        if (st) goto done;
        c->has_weight = true;
    }
    if (ctx) {
        if (ctx->ndim != 3 || ctx->shape[0] != B || ctx->shape[2] != cfg->ctx)
            { st = vkt_fail(err, VKT_ERR_FORMAT, "context: shape must be [%lld, T, %lld]", (long long)B, (long long)cfg->ctx); goto done; }
        if ((st = upload_input(c, ctx, "context", false, dt, &c->context, err))) goto done;
        c->has_context = true;
    }
done:
    free(hl);
    free(hn);
    free(hw);
    return st;
}

static vkt_status unet_record(eval_ctx *c, vkt_err *err)
{
    if (!c->has_unet) return VKT_OK;
    vkt_ti_step_io io = {
        .ids = c->has_text ? &c->ids : NULL,
        .src_idx = c->has_learned ? &c->src_idx : NULL,
        .vectors = c->has_learned ? &c->learned : NULL,
        .multipliers = c->has_mult ? &c->mult : NULL,
        .context = c->has_context ? &c->context : NULL,
        .latent = &c->latent,
        .noise = &c->noise,
        .noise_f32 = &c->noise32,
        .coef_a = &c->coef_a,
        .coef_b = &c->coef_b,
        .timestep = &c->timestep,
        .loss_weight = c->has_weight ? &c->weight : NULL,
    };
    vkt_status st = VKT_OK;
    if (c->has_learned) {
        st = vkt_step_tensor(c->step, VKT_F32, 2, c->learned.shape, "grad learned", &c->dlearned, err);
        if (!st) st = vkt_step_keep(c->step, &c->dlearned, err);
        if (st) return st;
    }
    vkt_ti_step_opts opts = {.clip_skip = c->o->clip_skip, .backward = true, .dloss = 1.0f,
                             .grad_mode = VKT_GRAD_OVERWRITE, .dvectors = c->has_learned ? &c->dlearned : NULL,
                             .want_context_grad = true, .hook = c->hook ? vkt_hn_hook_unet(c->hook) : NULL};
    if (c->hook) { /* eval-case.md: train mode (multiplier 1) with dropout off */
        vkt_hn_hook_begin(c->hook, 0, 0);
        if ((st = vkt_hn_record_zero_grads(c->step, c->hn, err))) return st;
    }
    return vkt_ti_step_record(c->step, c->clip, c->unet, &io, &opts, &c->res, err);
}

/* d loss / d every hypernetwork parameter, named as in the webui file (eval-case.md). Sizes no
 * attention uses keep their zeroed gradients, as the reference reports zeros for them. */
static vkt_status hn_outputs(eval_ctx *c, vkt_err *err)
{
    vkt_status st = VKT_OK;
    for (int z = 0; z < c->hn->n_sizes && !st; z++)
        for (int j = 0; j < 2 && !st; j++) {
            const vkt_hn_module *m = &c->hn->sizes[z].mod[j];
            for (int i = 0; i < m->n_params && !st; i++) {
                char name[96];
                snprintf(name, sizeof name, "grad_hn.%lld.%d.%s", (long long)c->hn->sizes[z].dim, j, m->params[i].key);
                st = add_output(c, name, &m->params[i].grad, err);
            }
        }
    return st;
}

/* --- vae groups ------------------------------------------------------------------------- */

static vkt_status vae_prepare(eval_ctx *c, vkt_err *err)
{
    const vkt_tensor_data *img = input(c, "image"), *dl = input(c, "decode_latent");
    if (!img && !dl) return VKT_OK;
    vkt_weight_source src = vkt_weight_source_model_file(c->model, "first_stage_model.", c->o->model);
    vkt_status st = vkt_vae_load(c->dev, &src, c->o->dtype, &c->vae, err);
    if (st) return st;
    if (img) {
        if (img->ndim != 4 || img->shape[1] != 3 || img->shape[2] % 8 || img->shape[3] % 8)
            return vkt_fail(err, VKT_ERR_FORMAT, "image: shape must be [B, 3, H, W] with H, W divisible by 8");
        if ((st = upload_input(c, img, "image", false, c->o->dtype, &c->image, err))) return st;
        c->has_enc = true;
    }
    if (dl) {
        if (dl->ndim != 4 || dl->shape[1] != 4)
            return vkt_fail(err, VKT_ERR_FORMAT, "decode_latent: shape must be [B, 4, h, w]");
        if ((st = upload_input(c, dl, "decode_latent", false, c->o->dtype, &c->dec_latent, err))) return st;
        c->has_dec = true;
    }
    return VKT_OK;
}

static vkt_status vae_record(eval_ctx *c, vkt_err *err)
{
    vkt_status st = VKT_OK;
    vkt_dtype dt = c->o->dtype;
    if (c->has_enc) {
        int64_t B = c->image.shape[0], h = vkt_vae_latent_side(c->vae, c->image.shape[2]),
                w = vkt_vae_latent_side(c->vae, c->image.shape[3]);
        const int64_t shape[4] = {B, 4, h, w};
        if ((st = vkt_step_tensor(c->step, dt, 4, shape, "vae mean", &c->vae_mean, err)) ||
            (st = vkt_step_tensor(c->step, dt, 4, shape, "vae logvar", &c->vae_logvar, err)) ||
            (st = vkt_vae_encode(c->step, c->vae, &c->image, &c->vae_mean, &c->vae_logvar, err)) ||
            (st = vkt_step_keep(c->step, &c->vae_mean, err)) || (st = vkt_step_keep(c->step, &c->vae_logvar, err)))
            return st;
    }
    if (c->has_dec) {
        const int64_t *l = c->dec_latent.shape;
        const int64_t shape[4] = {l[0], 3, l[2] * 8, l[3] * 8};
        if ((st = vkt_step_tensor(c->step, dt, 4, shape, "decoded", &c->decoded, err)) ||
            (st = vkt_vae_decode(c->step, c->vae, &c->dec_latent, &c->decoded, err)) ||
            (st = vkt_step_keep(c->step, &c->decoded, err)))
            return st;
    }
    return VKT_OK;
}

/* --- driver ---------------------------------------------------------------------------- */

static void ctx_fini(eval_ctx *c)
{
    vkt_clip_saved_free(c->clip_saved);
    for (int i = 0; i < c->n_out; i++) free(c->out[i].data);
    free(c->out);
    vkt_hn_hook_destroy(c->hook);
    vkt_hn_destroy(c->hn);
    for (int i = 0; i < c->n_in; i++) vkt_tensor_free(c->dev, &c->in[i]);
    vkt_clip_destroy(c->clip);
    vkt_unet_destroy(c->unet);
    vkt_vae_destroy(c->vae);
    vkt_step_destroy(c->step);
    vkt_device_destroy(c->dev);
    vkt_safetensors_close(c->cs);
    vkt_model_file_close(c->model);
}

static vkt_status write_outputs(eval_ctx *c, vkt_err *err)
{
    vkt_safetensors_writer *w = NULL;
    vkt_status st = vkt_safetensors_writer_create(&w, err);
    for (int i = 0; i < c->n_out && !st; i++)
        st = vkt_safetensors_writer_add(w, c->out[i].name, VKT_IO_F32, c->out[i].ndim, c->out[i].shape, c->out[i].data,
                                        err);
    if (!st) st = vkt_safetensors_writer_meta(w, "vktrain.eval_precision", c->o->dtype == VKT_F16 ? "fp16" : "fp32", err);
    if (!st) st = vkt_safetensors_writer_write(w, c->o->out_path, err);
    vkt_safetensors_writer_destroy(w);
    return st;
}

vkt_status vkt_eval_run(const vkt_eval_opts *o, vkt_err *err)
{
    eval_ctx c = {.o = o};
    vkt_status st = vkt_safetensors_open(o->case_path, &c.cs, err);
    if (!st) st = check_inputs(&c, err);
    if (!st) st = vkt_model_file_open(o->model, NULL, &c.model, err);
    if (!st) st = vkt_device_create(&(vkt_device_opts){.select = o->device, .validation = -1}, &c.dev, err);
    if (!st) st = vkt_step_create(c.dev, &c.step, err);
    if (!st && o->dtype == VKT_F16 && !vkt_step_dtype_ok(c.step, VKT_F16))
        st = vkt_fail(err, VKT_ERR_UNSUPPORTED, "--precision fp16: this device has no 16-bit storage");
    if (!st) st = text_prepare(&c, err);
    if (!st) st = unet_prepare(&c, err);
    if (!st) st = vae_prepare(&c, err);
    if (!st && !(c.out = vkt_calloc(MAX_OUT, sizeof *c.out))) st = vkt_fail(err, VKT_ERR_NOMEM, "eval outputs");
    if (!st && o->hypernetwork) {
        if (!c.has_unet) st = vkt_fail(err, VKT_ERR_FORMAT, "--hypernetwork needs the unet group in %s", o->case_path);
        if (!st) st = vkt_hn_load(o->hypernetwork, &c.hn, err);
        if (!st) st = vkt_hn_upload(c.hn, c.dev, true, err);
        if (!st) st = vkt_hn_hook_create(&c.hn, 1, VKT_HN_TRAIN_NO_DROPOUT, &c.hook, err);
    }
    if (st) goto done;
    if ((st = vkt_step_begin_planned(c.step, err))) goto done;
    if (c.has_unet) { /* the text encoder runs inside the TI step */
        if ((st = unet_record(&c, err))) goto done;
    } else if ((st = text_fwd(&c, false, err))) {
        goto done;
    }
    if ((st = vae_record(&c, err))) goto done;
    if ((st = vkt_step_end(c.step, err)) || (st = vkt_step_submit(c.step, err))) goto done;
    if (c.has_unet) {
        if (c.has_text && (st = add_output(&c, "clip_out", &c.res.context, err))) goto done;
        if ((st = add_output(&c, "x_noisy", &c.res.x_noisy, err)) || (st = add_output(&c, "unet_out", &c.res.eps, err)) ||
            (st = add_output(&c, "loss", &c.res.loss, err)) || (st = add_output(&c, "grad_context", &c.res.dcontext, err)))
            goto done;
        if (c.has_learned && (st = add_output(&c, "grad_learned", &c.dlearned, err))) goto done;
        if (c.hn && (st = hn_outputs(&c, err))) goto done;
    } else if (c.has_text && (st = add_output(&c, "clip_out", &c.clip_out, err))) {
        goto done;
    }
    if (c.has_enc && ((st = add_output(&c, "vae_mean", &c.vae_mean, err)) || (st = add_output(&c, "vae_logvar", &c.vae_logvar, err))))
        goto done;
    if (c.has_dec && (st = add_output(&c, "decoded", &c.decoded, err))) goto done;
    if (c.n_out == 0) {
        st = vkt_fail(err, VKT_ERR_FORMAT, "%s: no group has its inputs (eval-case.md)", o->case_path);
        goto done;
    }
    st = write_outputs(&c, err);
done:
    if (st && c.dev && vkt_device_validation_count(c.dev))
        vkt_err_prefix(err, "(%u validation messages)", vkt_device_validation_count(c.dev));
    ctx_fini(&c);
    return st;
}
