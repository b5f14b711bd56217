/* txt2img the way the webui runs it, on already-loaded models: prompt and negative prompt through
 * the webui's prompt handling (emphasis, BREAK, 75-token chunks, embeddings), the CLIP text
 * encoder with clip skip, a sampler of models/sampler.h with classifier-free guidance, and the
 * VAE decoder to RGB8 (one image at a time, as the webui's decode_latent_batch). Shared by
 * `vktrain sample` and training previews.
 *
 *   vkt_txt2img_models m = {.dev = dev, .tok = tok, .clip = clip, .unet = unet, .vae = vae,
 *                           .alphas_cumprod = ac};
 *   vkt_txt2img_opts o = vkt_txt2img_opts_default();
 *   o.prompt = "a photo of a cat"; o.seed = 1;
 *   vkt_txt2img_result r;
 *   if (vkt_txt2img_run(&m, &o, &r, &err) == VKT_OK) use(r.rgb[0], r.width, r.height);
 *   vkt_txt2img_result_fini(&r);
 *
 * Conditioning: the prompt and the negative prompt are tokenized separately (an empty negative
 * prompt is the encoding of "", as in the webui). When both have the same number of 77-token
 * chunks, every step is one UNet call over [negative x B; prompt x B]; otherwise two calls per
 * step with their own context lengths (the webui's default), or, with pad_cond_uncond (the
 * webui's "pad prompt/negative prompt to be same length" option), the shorter is padded with
 * empty chunks (the encoding of "") and one call is made. Not supported: the webui's prompt
 * editing [a:b:when], alternation [a|b] and AND composition (they stay literal text), hires fix,
 * subseeds, extra networks in the prompt (<lora:...>, <hypernet:...>; hypernetworks come in through
 * models.hook instead).
 */
#ifndef VKT_TRAIN_TXT2IMG_H
#define VKT_TRAIN_TXT2IMG_H

#include <stdbool.h>
#include <stdint.h>

#include "models/clip.h"
#include "models/sampler.h"
#include "models/unet.h"
#include "models/vae.h"
#include "text/prompt.h"
#include "text/tokenizer.h"

typedef struct vkt_txt2img_models {
    vkt_device *dev;              /* all borrowed */
    vkt_tokenizer *tok;
    const vkt_clip *clip;
    vkt_unet *unet;               /* same dtype as clip */
    const vkt_vae *vae;
    const double *alphas_cumprod; /* [1000]: the model's float32 values */
    /* Textual-inversion embeddings found in prompts (NULL: none), with their vectors f32 [J, clip
     * width] on the device. emb_row maps a registration's user pointer to the row of emb_vectors
     * where its vectors start; NULL: the user pointer is the row itself, (void *)(uintptr_t)row. */
    const vkt_prompt_embs *embs;
    const vkt_tensor *emb_vectors;
    int64_t (*emb_row)(void *ctx, const void *user);
    void *emb_row_ctx;
    /* Hypernetworks: the hook of vkt_hn_hook_create(..., VKT_HN_APPLY, ...) or NULL. */
    const vkt_unet_kv_hook *hook;
} vkt_txt2img_models;

typedef struct vkt_txt2img_opts {
    const char *prompt;
    const char *negative; /* NULL or "": the empty negative prompt */
    vkt_sampler_kind sampler;
    int steps;            /* 1..1000 */
    double cfg_scale;
    uint64_t seed;        /* image b of the batch uses seed + b */
    int width, height;    /* pixels: multiples of the VAE factor times the UNet's (SD1: 64) */
    int batch;            /* images, 1..64 */
    int clip_skip;        /* >= 1 */
    bool pad_cond_uncond;
    vkt_prompt_opts prompt_opts;
    /* Called after each sampler step (may be NULL). */
    void (*progress)(void *user, int done, int total);
    void *progress_user;
} vkt_txt2img_opts;

/* Euler a, 20 steps, CFG 7, seed 0, 512x512, batch 1, clip skip 1, webui prompt options. */
vkt_txt2img_opts vkt_txt2img_opts_default(void);

typedef struct vkt_txt2img_result {
    int n, width, height;
    uint8_t **rgb;      /* owned: n images [height][width][3] */
    float *latents;     /* owned: the final latents [n, C, height/f, width/f] (f: the VAE factor) */
    uint64_t *seeds;    /* owned: the seed of each image */
    bool padded;        /* cond and uncond were padded to one length (infotext "Pad conds: True") */
    int unet_calls;     /* sampler steps that ran (the webui's DDIM makes one fewer than steps) */
    uint64_t peak_bytes; /* the sampling step's planned device memory */
    /* The user pointers of the embeddings the prompts placed, in the order of the webui's "TI
     * hashes" infotext: the prompt's (first placement first), then the negative prompt's, each
     * list without repeats (an embedding in both appears twice, as in the webui). Owned array. */
    const void **used_embs;
    int n_used_embs;
} vkt_txt2img_result;

/* Runs txt2img. Fails with VKT_ERR_USAGE for options out of range or a size the models cannot
 * take (naming the multiple it needs), VKT_ERR_FORMAT for a prompt the parser rejects, and with
 * the device's errors. *out is filled only on success. */
vkt_status vkt_txt2img_run(const vkt_txt2img_models *m, const vkt_txt2img_opts *o, vkt_txt2img_result *out,
                           vkt_err *err);
void vkt_txt2img_result_fini(vkt_txt2img_result *r);

#endif
