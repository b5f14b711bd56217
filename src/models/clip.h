/* The CLIP ViT-L/14-style text encoder of SD1 (../shared/spec/sd1-architecture.md §2) on the
 * GPU: token-embedding gather with textual-inversion vectors substituted, learned positions,
 * pre-LN causal self-attention layers with quick_gelu MLPs, clip skip, final LayerNorm, the
 * webui's emphasis; and the backward from d output to d learned vectors.
 *
 *   vkt_weight_source src = vkt_weight_source_safetensors(st, VKT_CLIP_PREFIX, path);
 *   vkt_clip *c; vkt_clip_load(dev, &src, VKT_F32, 0, &c, &err);
 *   vkt_step_begin_planned(s, &err);
 *   vkt_clip_saved *sv; vkt_tensor ctx;
 *   vkt_clip_fwd(s, c, &ids, &src_idx, &vectors, NULL, 1, &ctx, &sv, &err);   // ctx [B, T, W]
 *   ... loss ... d ctx ...
 *   vkt_clip_bwd(s, c, sv, &dctx, &dvectors, VKT_GRAD_OVERWRITE, &err);      // frees sv
 */
#ifndef VKT_MODELS_CLIP_H
#define VKT_MODELS_CLIP_H

#include "models/weights.h"
#include "nn/step.h"

#define VKT_CLIP_PREFIX "cond_stage_model.transformer.text_model."
#define VKT_CLIP_MAX_LAYERS 48

typedef struct vkt_clip_config {
    int width, layers, heads, mlp, vocab, positions;
} vkt_clip_config;

typedef struct vkt_clip vkt_clip;
typedef struct vkt_clip_saved vkt_clip_saved;

/* Loads the encoder from src (keys relative to VKT_CLIP_PREFIX). heads 0: width/64 (SD1).
 * Weights are stored in dt (f32 or f16); LayerNorm parameters follow dt too. */
vkt_status vkt_clip_load(vkt_device *dev, const vkt_weight_source *src, vkt_dtype dt, int heads, vkt_clip **out,
                         vkt_err *err);
void vkt_clip_destroy(vkt_clip *c);
const vkt_clip_config *vkt_clip_get_config(const vkt_clip *c);
vkt_dtype vkt_clip_dtype(const vkt_clip *c);
uint64_t vkt_clip_weight_bytes(const vkt_clip *c); /* device bytes of the weights */
/* The token embedding table [vocab, width] (e.g. to initialise an embedding from words). */
const vkt_tensor *vkt_clip_token_table(const vkt_clip *c);

/* Records the encoder for ids (i32 [B, T], T = 77*K: every 77-id chunk is encoded on its own).
 * src_idx (i32 [B, T] or NULL): j >= 0 puts learned vector j (vectors: f32 [J, width]) at that
 * position instead of the token's row. multipliers (f32 [B, T] or NULL): emphasis, applied the
 * webui's way per chunk. clip_skip >= 1 (1 = last layer). *out is a new step tensor [B, T, width]
 * in the model's dtype. With saved != NULL the activations the backward needs are kept and
 * *saved must later go to vkt_clip_bwd or vkt_clip_saved_free. Needs a planned step. */
vkt_status vkt_clip_fwd(vkt_step *s, const vkt_clip *c, const vkt_tensor *ids, const vkt_tensor *src_idx,
                        const vkt_tensor *vectors, const vkt_tensor *multipliers, int clip_skip, vkt_tensor *out,
                        vkt_clip_saved **saved, vkt_err *err);
/* Records d out -> d vectors (f32 [J, width], written by mode): the sum over every placement.
 * Consumes saved (also on failure). */
vkt_status vkt_clip_bwd(vkt_step *s, const vkt_clip *c, vkt_clip_saved *saved, const vkt_tensor *dout,
                        vkt_tensor *dvectors, vkt_grad_mode mode, vkt_err *err);
void vkt_clip_saved_free(vkt_clip_saved *sv);

#endif
