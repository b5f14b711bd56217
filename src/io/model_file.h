/* Stable Diffusion model files: a single checkpoint (.safetensors / .ckpt, with or without a
 * `state_dict` wrapper) or a diffusers folder, plus an optional separate VAE file, presented
 * under the original LDM key names (../shared/spec/sd15-keys.tsv). Detects the family, infers
 * every dimension from tensor shapes (sd1-architecture.md section 7) and counts parameters.
 * Tensors stay in the files' maps: callers read each one when they need it, so loading costs
 * no host memory beyond the map. Knows nothing of Vulkan.
 *
 *   vkt_model_file *mf;
 *   vkt_model_opts o = {.vae_path = NULL, .ema = false};
 *   if (vkt_model_file_open("v1-5.safetensors", &o, &mf, &err)) return err.code;
 *   const vkt_sd_config *c = vkt_model_file_config(mf);       // c->unet_mc == 320, ...
 *   const vkt_tensor_data *w;
 *   if (vkt_model_file_get(mf, "model.diffusion_model.out.2.weight", 4,
 *                          (int64_t[]){c->unet_out_ch, c->unet_mc, 3, 3}, &w, &err)) ...
 *   vkt_model_file_close(mf);
 */
#ifndef VKT_IO_MODEL_FILE_H
#define VKT_IO_MODEL_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "io/tensor_data.h"

#define VKT_SD_MAX_LEVELS 8

typedef enum vkt_model_family {
    VKT_FAMILY_UNKNOWN,
    VKT_FAMILY_SD1,
    VKT_FAMILY_SD1_INPAINT, /* 9 UNet input channels */
    VKT_FAMILY_SD1_OTHER_IN, /* other input-channel counts (instruct-pix2pix: 8) */
    VKT_FAMILY_SD2,
    VKT_FAMILY_SDXL,
    VKT_FAMILY_SDXL_REFINER,
} vkt_model_family;

/* "SD 1.x", "SD 1.x inpainting", "SD 2.x", "SDXL base", ... */
const char *vkt_model_family_name(vkt_model_family f);

typedef struct vkt_sd_config {
    vkt_model_family family;
    bool has_clip, has_unet, has_vae;
    /* CLIP text encoder */
    int clip_width, clip_layers, clip_heads, clip_mlp, clip_vocab, clip_positions;
    /* UNet */
    int unet_in_ch, unet_out_ch, unet_mc, unet_levels, unet_mult[VKT_SD_MAX_LEVELS], unet_res_blocks;
    bool unet_attn[VKT_SD_MAX_LEVELS]; /* attention (SpatialTransformer) at level i */
    int unet_depth, unet_context, unet_heads, unet_temb;
    bool unet_linear_proj; /* 2-D proj_in (SD2/SDXL) instead of a 1x1 conv */
    /* VAE */
    int vae_ch, vae_levels, vae_mult[VKT_SD_MAX_LEVELS], vae_res_blocks, vae_z, vae_embed;
    /* where the head counts came from: "metadata", "config.json" or "default" */
    const char *clip_heads_from, *unet_heads_from;
} vkt_sd_config;

typedef struct vkt_model_stats {
    int64_t clip_params, clip_buffers; /* buffers: position_ids */
    int64_t unet_params, vae_params, other_params; /* other: schedule buffers and the rest */
    size_t n_clip, n_unet, n_vae, n_other, n_ema_ignored;
    size_t n_by_dtype[VKT_IO_DTYPE_COUNT]; /* tensors per dtype, over everything kept */
} vkt_model_stats;

typedef struct vkt_model_opts {
    const char *vae_path; /* replaces the checkpoint's VAE (keys first_stage_model.-relative,
                             prefixed, or diffusers VAE names) */
    bool ema;             /* use the model_ema.* copies as UNet weights */
    bool any_family;      /* open recognised but unsupported families too (for `vktrain info`);
                             vkt_model_file_supported() then says whether training may use it */
    bool skip_crc;        /* torch files: skip CRC-32 checks of storages */
} vkt_model_opts;

typedef struct vkt_model_file vkt_model_file;

/* Opens a checkpoint file or a diffusers folder (a directory with unet/, text_encoder/, vae/).
 * Fails with VKT_ERR_UNSUPPORTED naming the family for SD1 inpainting, SD2.x, SDXL (unless
 * opts->any_family), with VKT_ERR_FORMAT when the file is not a Stable Diffusion model or a
 * required tensor has an impossible shape. opts may be NULL. */
vkt_status vkt_model_file_open(const char *path, const vkt_model_opts *opts, vkt_model_file **out,
                               vkt_err *err);
void vkt_model_file_close(vkt_model_file *mf);

const vkt_sd_config *vkt_model_file_config(const vkt_model_file *mf);
/* The multiple image sizes must have for this model: the VAE's downsampling times the UNet's
 * (64 px for SD1); 8 when the config lacks a VAE or UNet level count. */
int vkt_sd_config_pixel_multiple(const vkt_sd_config *c);
const vkt_model_stats *vkt_model_file_stats(const vkt_model_file *mf);
/* "safetensors", "torch" or "diffusers". */
const char *vkt_model_file_format(const vkt_model_file *mf);
/* VKT_OK when the family is SD 1.x with a text encoder, UNet and VAE; else the reason. */
vkt_status vkt_model_file_supported(const vkt_model_file *mf, vkt_err *err);

/* Tensors under their original names (sorted by name). */
size_t vkt_model_file_count(const vkt_model_file *mf);
const char *vkt_model_file_name(const vkt_model_file *mf, size_t i);
const vkt_tensor_data *vkt_model_file_tensor(const vkt_model_file *mf, size_t i);
const vkt_tensor_data *vkt_model_file_find(const vkt_model_file *mf, const char *key);
/* find + shape check: VKT_ERR_FORMAT "<file>: tensor \"key\" is missing" or
 * "<file>: tensor \"key\": shape [a,b], expected [c,d]". */
vkt_status vkt_model_file_get(const vkt_model_file *mf, const char *key, int ndim, const int64_t *shape,
                              const vkt_tensor_data **out, vkt_err *err);

#endif
