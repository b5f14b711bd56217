/* txt2img: prompts -> CLIP conditioning -> sampler -> VAE -> RGB8 (webui processing.py,
 * sd_samplers_cfg_denoiser.py, sd_hijack_clip.py for the chunked conditioning). */
#include "train/txt2img.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "nn/ops/binary.h"
#include "nn/ops/concat.h"

#define MAX_BATCH 64

vkt_txt2img_opts vkt_txt2img_opts_default(void)
{
    return (vkt_txt2img_opts){.sampler = VKT_SAMPLER_EULER_A,
                              .steps = 20,
                              .cfg_scale = 7.0,
                              .width = 512,
                              .height = 512,
                              .batch = 1,
                              .clip_skip = 1,
                              .prompt_opts = vkt_prompt_opts_default()};
}

void vkt_txt2img_result_fini(vkt_txt2img_result *r)
{
    if (!r) return;
    for (int i = 0; r->rgb && i < r->n; i++) free(r->rgb[i]);
    free(r->rgb);
    free(r->seeds);
    free(r->latents);
    free((void *)r->used_embs);
    memset(r, 0, sizeof *r);
}

/* Appends the embeddings r places to out (chunk by chunk, each once), as sd_hijack_clip's
 * used_embeddings dict collects them. */
static vkt_status collect_used(const vkt_prompt_result *r, vkt_txt2img_result *out, vkt_err *err)
{
    int first = out->n_used_embs;
    for (size_t c = 0; c < r->n_chunks; c++)
        for (size_t f = 0; f < r->chunks[c].n_fixes; f++) {
            const void *u = r->chunks[c].fixes[f].user;
            bool seen = false;
            for (int i = first; i < out->n_used_embs && !seen; i++) seen = out->used_embs[i] == u;
            if (seen) continue;
            const void **v = vkt_realloc((void *)out->used_embs, (size_t)(out->n_used_embs + 1) * sizeof *v);
            if (!v) return vkt_fail(err, VKT_ERR_NOMEM, "used embeddings");
            v[out->n_used_embs++] = u;
            out->used_embs = v;
        }
    return VKT_OK;
}

/* Host inputs of the text encoder for `rows` copies of one prompt: ids, multipliers and (with
 * embeddings) the learned-vector index of each position, [rows, 77 K]. */
typedef struct text_rows {
    int64_t rows, T;
    int32_t *ids, *src;
    float *mult;
    bool has_src;
} text_rows;

static void text_rows_fini(text_rows *t)
{
    free(t->ids);
    free(t->src);
    free(t->mult);
    memset(t, 0, sizeof *t);
}

/* Writes prompt r into rows [row0, row0 + n) of t. Fails when a placement's vectors are not in
 * m->emb_vectors. */
static vkt_status fill_rows(const vkt_txt2img_models *m, text_rows *t, int64_t row0, int64_t n,
                            const vkt_prompt_result *r, vkt_err *err)
{
    const int64_t J = m->emb_vectors ? m->emb_vectors->shape[0] : 0;
    for (int64_t row = row0; row < row0 + n; row++)
        for (size_t c = 0; c < r->n_chunks; c++) {
            const vkt_prompt_chunk *ch = &r->chunks[c];
            int64_t base = row * t->T + (int64_t)c * VKT_PROMPT_CHUNK_IDS;
            for (int k = 0; k < VKT_PROMPT_CHUNK_IDS; k++) {
                t->ids[base + k] = ch->ids[k];
                t->mult[base + k] = (float)ch->multipliers[k];
                t->src[base + k] = -1;
            }
            /* sd_hijack EmbeddingsWithFixes: the vectors start after the fix's offset and are
             * cut at the end of the 77-row chunk (emb_len = min(77 - offset - 1, N)) */
            for (size_t f = 0; f < ch->n_fixes; f++) {
                const vkt_prompt_fix *fx = &ch->fixes[f];
                int64_t first =
                    m->emb_row ? m->emb_row(m->emb_row_ctx, fx->user) : (int64_t)(uintptr_t)fx->user;
                for (int32_t k = 0; k < fx->vectors && fx->position + k < VKT_PROMPT_CHUNK_IDS; k++) {
                    if (first < 0 || first + k >= J)
                        return vkt_fail(err, VKT_ERR_USAGE, "embedding \"%s\": vector %d is not in the %lld loaded",
                                        fx->name, k, (long long)J);
                    t->src[base + fx->position + k] = (int32_t)(first + k);
                    t->has_src = true;
                }
            }
        }
    return VKT_OK;
}

static vkt_status text_rows_init(text_rows *t, int64_t rows, size_t chunks, vkt_err *err)
{
    memset(t, 0, sizeof *t);
    t->rows = rows;
    t->T = (int64_t)chunks * VKT_PROMPT_CHUNK_IDS;
    size_t n = (size_t)(rows * t->T);
    t->ids = vkt_malloc(n * sizeof *t->ids);
    t->src = vkt_malloc(n * sizeof *t->src);
    t->mult = vkt_malloc(n * sizeof *t->mult);
    if (!t->ids || !t->src || !t->mult) return vkt_fail(err, VKT_ERR_NOMEM, "prompt rows");
    return VKT_OK;
}

typedef struct run_ctx {
    const vkt_txt2img_models *m;
    vkt_step *step;      /* owned: text encoder and VAE */
    vkt_tensor in[10];   /* owned persistent inputs (at most 8: 2 x 3 text, ones, 1 latent) */
    int n_in;
    vkt_tensor ctx[2];   /* owned: the conditioning (both, or uncond + cond) */
    int n_ctx;
} run_ctx;

static vkt_status alloc_in(run_ctx *c, vkt_dtype dt, int nd, const int64_t *shape, const void *host, size_t bytes,
                           const char *what, vkt_tensor *out, vkt_err *err)
{
    if (c->n_in == (int)(sizeof c->in / sizeof c->in[0])) return vkt_fail(err, VKT_ERR_INTERNAL, "txt2img: inputs");
    vkt_status st = vkt_tensor_alloc(c->m->dev, dt, nd, shape, what, out, err);
    if (st) return st;
    c->in[c->n_in++] = *out;
    if (!host) return VKT_OK;
    if (dt == VKT_I32) return vkt_buffer_upload(c->m->dev, out->buf, out->offset, host, bytes, err);
    return vkt_tensor_upload_f32(c->m->dev, out, host, err);
}

/* Records the encoder over t's rows; *enc is a new step tensor [rows, T, width]. */
static vkt_status encode_rows(run_ctx *c, const text_rows *t, int clip_skip, vkt_tensor *enc, vkt_err *err)
{
    const vkt_txt2img_models *m = c->m;
    const int64_t shape[2] = {t->rows, t->T};
    const size_t n = (size_t)(t->rows * t->T);
    vkt_tensor ids, mult, src;
    vkt_status st;
    if ((st = alloc_in(c, VKT_I32, 2, shape, t->ids, n * 4, "prompt ids", &ids, err)) ||
        (st = alloc_in(c, VKT_F32, 2, shape, t->mult, n * 4, "prompt weights", &mult, err)))
        return st;
    if (t->has_src && (st = alloc_in(c, VKT_I32, 2, shape, t->src, n * 4, "embedding placements", &src, err)))
        return st;
    if (t->has_src && !m->emb_vectors)
        return vkt_fail(err, VKT_ERR_USAGE, "txt2img: embeddings placed without their vectors");
    return vkt_clip_fwd(c->step, m->clip, &ids, t->has_src ? &src : NULL, t->has_src ? m->emb_vectors : NULL, &mult,
                        clip_skip, enc, NULL, err);
}

/* Encodes the negative prompt tu and the prompt tc (one row each), each in a text-encoder call
 * of its own as the webui makes them (the emphasis mean is taken over a call's batch), and
 * repeats each B times into new persistent conditioning: with `stack`, one tensor [2 B, T, width]
 * (negative rows first), else two [B, T, width]. The webui encodes B identical rows per call;
 * their mean differs from one row's only by rounding, and encoding one row makes image i of a
 * batch identical to a single image of seed + i. */
static vkt_status encode(run_ctx *c, const text_rows *tu, const text_rows *tc, int64_t B, int clip_skip,
                         bool stack, vkt_err *err)
{
    const vkt_txt2img_models *m = c->m;
    const int64_t W = vkt_clip_get_config(m->clip)->width;
    const vkt_dtype dt = vkt_clip_dtype(m->clip);
    vkt_tensor eu, ec, ones, ru, rc;
    float *one = vkt_malloc((size_t)B * sizeof *one);
    if (!one) return vkt_fail(err, VKT_ERR_NOMEM, "conditioning");
    for (int64_t b = 0; b < B; b++) one[b] = 1.0f;
    vkt_status st = alloc_in(c, dt, 3, (int64_t[]){B, 1, 1}, one, 0, "ones", &ones, err);
    free(one);
    if (!st) st = vkt_step_begin_planned(c->step, err);
    if (!st) st = encode_rows(c, tu, clip_skip, &eu, err);
    if (!st) st = encode_rows(c, tc, clip_skip, &ec, err);
    if (st) return st;
    const int64_t su[3] = {B, tu->T, W}, sc[3] = {B, tc->T, W};
    if (stack) {
        const int64_t cs[3] = {2 * B, tu->T, W};
        if ((st = vkt_tensor_alloc(m->dev, dt, 3, cs, "conditioning", &c->ctx[c->n_ctx], err))) return st;
        c->n_ctx++;
        /* rows repeated by a product with ones (exact), then [negative; prompt] */
        if ((st = vkt_step_tensor(c->step, dt, 3, su, "negative rows", &ru, err)) ||
            (st = vkt_step_tensor(c->step, dt, 3, sc, "prompt rows", &rc, err)) ||
            (st = vkt_op_mul_fwd(c->step, &eu, &ones, &ru, err)) || (st = vkt_op_mul_fwd(c->step, &ec, &ones, &rc, err)))
            return st;
        st = vkt_op_concat_fwd(c->step, 0, &ru, &rc, &c->ctx[0], err);
    } else {
        if ((st = vkt_tensor_alloc(m->dev, dt, 3, su, "negative conditioning", &c->ctx[c->n_ctx], err))) return st;
        c->n_ctx++;
        if ((st = vkt_tensor_alloc(m->dev, dt, 3, sc, "conditioning", &c->ctx[c->n_ctx], err))) return st;
        c->n_ctx++;
        if (!(st = vkt_op_mul_fwd(c->step, &eu, &ones, &c->ctx[0], err)))
            st = vkt_op_mul_fwd(c->step, &ec, &ones, &c->ctx[1], err);
    }
    if (!st) st = vkt_step_end(c->step, err);
    if (!st) st = vkt_step_submit(c->step, err);
    return st;
}

static vkt_status check_opts(const vkt_txt2img_models *m, const vkt_txt2img_opts *o, int64_t *lh, int64_t *lw,
                             vkt_err *err)
{
    if (!o->prompt) return vkt_fail(err, VKT_ERR_USAGE, "txt2img: no prompt");
    if (o->batch < 1 || o->batch > MAX_BATCH)
        return vkt_fail(err, VKT_ERR_USAGE, "txt2img: batch %d, expected 1..%d", o->batch, MAX_BATCH);
    if (o->clip_skip < 1) return vkt_fail(err, VKT_ERR_USAGE, "txt2img: clip skip %d, expected >= 1", o->clip_skip);
    if (vkt_clip_dtype(m->clip) != vkt_unet_dtype(m->unet) ||
        vkt_clip_get_config(m->clip)->width != vkt_unet_get_config(m->unet)->ctx)
        return vkt_fail(err, VKT_ERR_USAGE, "txt2img: the text encoder's output does not fit the UNet's context");
    const vkt_unet_config *uc = vkt_unet_get_config(m->unet);
    const vkt_vae_config *vc = vkt_vae_config_get(m->vae);
    if (uc->in_ch != vc->embed || uc->out_ch != vc->embed)
        return vkt_fail(err, VKT_ERR_USAGE, "txt2img: UNet channels %lld/%lld, VAE latent channels %d",
                        (long long)uc->in_ch, (long long)uc->out_ch, vc->embed);
    /* the UNet halves the latent (levels - 1) times and doubles it back: the webui's hijacked
     * torch.cat interpolates mismatched skips for other sizes, which vktrain does not do */
    int64_t mult = (int64_t)vc->factor << (uc->n_levels - 1);
    if (o->width < 1 || o->height < 1 || o->width % mult || o->height % mult || o->width > 8192 || o->height > 8192)
        return vkt_fail(err, VKT_ERR_USAGE, "txt2img: size %dx%d: width and height must be multiples of %lld (<= 8192)",
                        o->width, o->height, (long long)mult);
    *lh = o->height / vc->factor;
    *lw = o->width / vc->factor;
    return VKT_OK;
}

/* Decodes the latents [B, C, h, w] (host f32) one image at a time into out->rgb. */
static vkt_status decode(run_ctx *c, const float *lat, int64_t B, int64_t C, int64_t h, int64_t w,
                         vkt_txt2img_result *out, vkt_err *err)
{
    const vkt_txt2img_models *m = c->m;
    const vkt_vae_config *vc = vkt_vae_config_get(m->vae);
    const vkt_dtype dt = vkt_vae_dtype(m->vae);
    const int64_t H = h * vc->factor, W = w * vc->factor;
    const int64_t ls[4] = {1, C, h, w}, is[4] = {1, vc->out_ch, H, W};
    vkt_tensor latent, image;
    float *px = vkt_malloc((size_t)(vc->out_ch * H * W) * sizeof *px);
    vkt_status st = px ? VKT_OK : vkt_fail(err, VKT_ERR_NOMEM, "decoded image");
    if (!st) st = alloc_in(c, dt, 4, ls, NULL, 0, "latent", &latent, err);
    if (!st) st = vkt_step_begin_planned(c->step, err);
    if (!st) st = vkt_step_tensor(c->step, dt, 4, is, "image", &image, err);
    if (!st) st = vkt_vae_decode(c->step, m->vae, &latent, &image, err);
    if (!st) st = vkt_step_keep(c->step, &image, err);
    if (!st) st = vkt_step_end(c->step, err);
    if (st) goto done;
    vkt_tensor real = vkt_step_resolve(c->step, &image);
    for (int64_t b = 0; b < B && !st; b++) {
        st = vkt_tensor_upload_f32(m->dev, &latent, lat + b * C * h * w, err);
        if (!st) st = vkt_step_submit(c->step, err);
        if (!st) st = vkt_tensor_download_f32(m->dev, &real, px, err);
        if (!st && !(out->rgb[b] = vkt_malloc((size_t)(H * W * 3)))) st = vkt_fail(err, VKT_ERR_NOMEM, "image");
        if (!st) vkt_vae_to_rgb8(px, H, W, out->rgb[b]);
    }
done:
    free(px);
    return st;
}

vkt_status vkt_txt2img_run(const vkt_txt2img_models *m, const vkt_txt2img_opts *o, vkt_txt2img_result *out,
                           vkt_err *err)
{
    int64_t h = 0, w = 0;
    vkt_status st = check_opts(m, o, &h, &w, err);
    if (st) return st;
    const int64_t B = o->batch, C = vkt_unet_get_config(m->unet)->in_ch;
    run_ctx c = {.m = m};
    vkt_prompt_result rp = {0}, rn = {0};
    text_rows tu = {0}, tc = {0};
    vkt_sampler_plan plan = {0};
    vkt_sampler *sm = NULL;
    float *lat = NULL;
    vkt_txt2img_result r = {.n = o->batch, .width = o->width, .height = o->height};
    r.rgb = vkt_calloc((size_t)B, sizeof *r.rgb);
    r.seeds = vkt_calloc((size_t)B, sizeof *r.seeds);
    lat = vkt_malloc((size_t)(B * C * h * w) * sizeof *lat);
    if (!r.rgb || !r.seeds || !lat) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "txt2img");
        goto done;
    }
    for (int64_t b = 0; b < B; b++) r.seeds[b] = o->seed + (uint64_t)b; /* processing.py: all_seeds */

    /* conditioning (processing.py setup_conds; sd_hijack_clip: chunks of 77, each encoded alone) */
    const char *neg = o->negative ? o->negative : "";
    if ((st = vkt_prompt_tokenize(m->tok, m->embs, o->prompt, SIZE_MAX, &o->prompt_opts, &rp, err))) {
        vkt_err_prefix(err, "prompt");
        goto done;
    }
    if ((st = vkt_prompt_tokenize(m->tok, m->embs, neg, SIZE_MAX, &o->prompt_opts, &rn, err))) {
        vkt_err_prefix(err, "negative prompt");
        goto done;
    }
    /* the webui encodes the negative prompt first and the prompt second; each call puts its
     * embeddings' hashes in front of what is there */
    if ((st = collect_used(&rp, &r, err)) || (st = collect_used(&rn, &r, err))) goto done;
    if (rp.n_chunks != rn.n_chunks && o->pad_cond_uncond) {
        size_t k = rp.n_chunks > rn.n_chunks ? rp.n_chunks : rn.n_chunks;
        if ((st = vkt_prompt_result_pad(&rp, k, err)) || (st = vkt_prompt_result_pad(&rn, k, err))) goto done;
        r.padded = true;
    }
    if ((st = vkt_step_create(m->dev, &c.step, err))) goto done;
    if ((st = text_rows_init(&tu, 1, rn.n_chunks, err)) || (st = text_rows_init(&tc, 1, rp.n_chunks, err))) goto done;
    if ((st = fill_rows(m, &tu, 0, 1, &rn, err)) || (st = fill_rows(m, &tc, 0, 1, &rp, err))) goto done;
    /* same chunk count: one UNet call over [negative x B; prompt x B] per step, else two */
    bool stack = rp.n_chunks == rn.n_chunks;
    if ((st = encode(&c, &tu, &tc, B, o->clip_skip, stack, err))) goto done;
    vkt_sampler_cond cond = stack ? (vkt_sampler_cond){.both = &c.ctx[0], .hook = m->hook}
                                  : (vkt_sampler_cond){.uncond = &c.ctx[0], .cond = &c.ctx[1], .hook = m->hook};

    /* sampling */
    if ((st = vkt_sampler_plan_init(o->sampler, m->alphas_cumprod, o->steps, &plan, err))) goto done;
    if ((st = vkt_sampler_create(m->dev, m->unet, &plan, (float)o->cfg_scale, B, h, w, &cond, &sm, err))) goto done;
    r.peak_bytes = vkt_sampler_peak_bytes(sm);
    if ((st = vkt_sampler_start(sm, r.seeds, err))) goto done;
    for (int i = 0; i < plan.n; i++) {
        if ((st = vkt_sampler_step(sm, i, err))) goto done;
        r.unet_calls++;
        if (o->progress) o->progress(o->progress_user, i + 1, plan.n);
    }
    if ((st = vkt_tensor_download_f32(m->dev, vkt_sampler_latent(sm), lat, err))) goto done;
    vkt_sampler_destroy(sm); /* frees the UNet's activations before the VAE runs */
    sm = NULL;

    if ((st = decode(&c, lat, B, C, h, w, &r, err))) goto done;
    r.latents = lat;
    lat = NULL;
    *out = r;
    memset(&r, 0, sizeof r);
done:
    vkt_txt2img_result_fini(&r);
    vkt_sampler_destroy(sm);
    vkt_sampler_plan_fini(&plan);
    vkt_step_destroy(c.step);
    for (int i = 0; i < c.n_in; i++) vkt_tensor_free(m->dev, &c.in[i]);
    for (int i = 0; i < c.n_ctx; i++) vkt_tensor_free(m->dev, &c.ctx[i]);
    text_rows_fini(&tu);
    text_rows_fini(&tc);
    vkt_prompt_result_fini(&rp);
    vkt_prompt_result_fini(&rn);
    free(lat);
    return st;
}
