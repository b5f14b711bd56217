/* The deterministic random SD1-layout model of docs/tiny-model.md: key set from a config and
 * bit-exact float32 values from (seed, key). Host-only; writing the file is the caller's job.
 *
 *   vkt_gen_tensor *ts; uint32_t n;
 *   vkt_gen_keys(&VKT_GEN_TINY, &ts, &n, &err);
 *   for (i...) { float *v = malloc(numel * 4); vkt_gen_values(seed, &ts[i], v); ... }
 *   free(ts);
 */
#ifndef VKT_MODELS_TINY_MODEL_H
#define VKT_MODELS_TINY_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

#define VKT_GEN_MAX_LEVELS 4

typedef struct vkt_gen_config {
    const char *name;
    /* CLIP text encoder */
    int clip_width, clip_layers, clip_heads, clip_mlp, vocab, positions;
    /* UNet */
    int mc, n_levels, mults[VKT_GEN_MAX_LEVELS], res_blocks, attn[VKT_GEN_MAX_LEVELS], unet_heads, depth,
        context, temb, in_ch, out_ch;
    /* VAE */
    int vae_ch, vae_levels, vae_mults[VKT_GEN_MAX_LEVELS], vae_res, z;
} vkt_gen_config;

extern const vkt_gen_config VKT_GEN_TINY; /* sd1-architecture.md §8 */
extern const vkt_gen_config VKT_GEN_SD15; /* the SD1.5 dims */

typedef struct vkt_gen_tensor {
    char key[112];
    int ndim;
    int64_t shape[4];
    bool is_i64; /* position_ids */
} vkt_gen_tensor;

/* All keys of the model (CLIP, UNet, VAE, schedule) in a fixed order; *out is malloc'd. */
vkt_status vkt_gen_keys(const vkt_gen_config *c, vkt_gen_tensor **out, uint32_t *n, vkt_err *err);
int64_t vkt_gen_numel(const vkt_gen_tensor *t);
/* Float values of t (not position_ids) into out[numel]. */
void vkt_gen_values(uint64_t seed, const vkt_gen_tensor *t, float *out);
uint64_t vkt_fnv1a64(const char *s);

/* Writes the whole model of c with seed to path (safetensors, temp file + rename), float tensors
 * as F16 when fp16, with the head-count and generator metadata. */
vkt_status vkt_gen_write(const vkt_gen_config *c, uint64_t seed, bool fp16, const char *path, vkt_err *err);

#endif
