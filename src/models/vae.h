/* The SD1.x VAE (LDM AutoencoderKL, ../shared/spec/sd1-architecture.md §4) on the device: the
 * encoder to the latent posterior for training latents, the decoder back to images for previews
 * and `sample`. Every dimension comes from the weights' shapes, so one loader serves the tiny
 * test model and SD1.5 (and SD2.x, whose VAE is the same). Forward only: textual-inversion and
 * hypernetwork training never differentiate the VAE.
 *
 *   vkt_weight_source src = vkt_weight_source_safetensors(st, "first_stage_model.", path);
 *   vkt_vae *vae;
 *   vkt_vae_load(dev, &src, VKT_F32, &vae, &err);
 *   // image [B,3,H,W] in [-1,1] -> posterior mean, logvar [B,4,H/8,W/8] (persistent tensors)
 *   vkt_step_begin_planned(s, &err);
 *   vkt_vae_encode(s, vae, &image, &mean, &logvar, &err);
 *   vkt_step_end(s, &err); vkt_step_submit(s, &err);
 *   ... vkt_vae_latent_host(VKT_LATENT_ONCE, n, mean_h, logvar_h, eps_h, latent_h, &err);
 *   // scaled latent [B,4,h,w] -> image [B,3,8h,8w] in model range; previews via vkt_vae_to_rgb8
 *   vkt_step_begin_planned(s, &err);
 *   vkt_vae_decode(s, vae, &latent, &decoded, &err);
 *   vkt_step_end(s, &err); vkt_step_submit(s, &err);
 *   vkt_vae_destroy(vae);
 *
 * Memory: every activation is a step tensor, so the planner reuses it once dead; the peak is a
 * few full-resolution feature maps. SD1.5, batch 1, planned (`test_vae plan`): decode 512 px
 * 640 MiB fp32 / 320 MiB fp16, 768 px 1440 / 720 MiB; encode 512 px 387 / 194 MiB, 768 px
 * 871 / 435 MiB; the largest single tensor (256 channels at full size) is 256 MiB at 512 px fp32,
 * so it needs maxStorageBufferRange above that (lavapipe: 128 MiB, fp16 only). The mid-block
 * attention is flash-style (nn/ops/spatial_attn.h): no (H*W/64)^2 matrix. TODO(#6): tile the
 * decoder for larger images and small-binding devices.
 */
#ifndef VKT_MODELS_VAE_H
#define VKT_MODELS_VAE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "models/weights.h"
#include "nn/step.h"

#define VKT_VAE_MAX_LEVELS 8
#define VKT_VAE_MAX_RES 8    /* ResnetBlocks per level (SD: 2 in the encoder, 3 in the decoder) */
#define VKT_VAE_SCALE 0.18215f /* SD1/SD2 latent scale_factor */
#define VKT_VAE_GROUPS 32     /* every VAE GroupNorm: 32 groups, eps 1e-6 */

/* Dimensions read from the weights (sd1-architecture.md §7). */
typedef struct vkt_vae_config {
    int in_ch, out_ch;                      /* image channels: encoder.conv_in / decoder.conv_out (3) */
    int ch;                                 /* encoder.conv_in width (SD1: 128, TINY: 32) */
    int n_levels;                           /* resolution levels (4) */
    int enc_ch[VKT_VAE_MAX_LEVELS];         /* encoder width per level: ch * mult (128,256,512,512) */
    int dec_ch[VKT_VAE_MAX_LEVELS];         /* decoder width per level, index = key's up.i (same) */
    int enc_res, dec_res;                   /* ResnetBlocks per level: num_res_blocks (2), +1 (3) */
    int z;                                  /* z_channels: the decoder's input (4) */
    int embed;                              /* embed_dim: latent channels (4) */
    int factor;                             /* pixels per latent pixel: 2^(downsamples) (8) */
} vkt_vae_config;

typedef struct vkt_vae vkt_vae;

/* Loads the VAE from src (keys relative to its prefix: "encoder.conv_in.weight", ...) into
 * device weights of dtype dt (VKT_F32, or VKT_F16 where the device stores it: activations then
 * use f16 storage with f32 math). Fails with VKT_ERR_FORMAT naming the key when a tensor is
 * missing or has an unexpected shape, VKT_ERR_UNSUPPORTED for layouts vktrain does not run
 * (attention inside a level, more than VKT_VAE_MAX_LEVELS levels or VKT_VAE_MAX_RES blocks). */
vkt_status vkt_vae_load(vkt_device *dev, const vkt_weight_source *src, vkt_dtype dt, vkt_vae **out, vkt_err *err);
void vkt_vae_destroy(vkt_vae *v); /* NULL is a no-op */

const vkt_vae_config *vkt_vae_config_get(const vkt_vae *v); /* borrowed, lives as long as v */
vkt_dtype vkt_vae_dtype(const vkt_vae *v);
uint64_t vkt_vae_params(const vkt_vae *v);
uint64_t vkt_vae_weight_bytes(const vkt_vae *v);
/* Latent side for an image side (each Downsample maps n to floor(n/2): 512 -> 64), 0 if px < 1. */
int64_t vkt_vae_latent_side(const vkt_vae *v, int64_t px);

/* Records the encoder into s, which must be in a planned recording (vkt_step_begin_planned):
 *   image:  [B, in_ch, H, W], the picture in [-1, 1] (webui: uint8 / 127.5 - 1)
 *   mean, logvar: [B, embed, h, w] with h, w = vkt_vae_latent_side(H, W); the posterior of
 *   moments = quant_conv(encoder(image)), unscaled, logvar clamped to [-30, 20].
 * All three in the VAE's dtype. Intermediates are step tensors; mean and logvar may be
 * persistent tensors or step tensors (vkt_step_keep them to read them after the step). Fails
 * with VKT_ERR_SHAPE on mismatched shapes or dtypes, VKT_ERR_USAGE outside a planned step. */
vkt_status vkt_vae_encode(vkt_step *s, const vkt_vae *v, const vkt_tensor *image, vkt_tensor *mean,
                          vkt_tensor *logvar, vkt_err *err);

/* Records the decoder: image = decoder(post_quant_conv(latent / VKT_VAE_SCALE)).
 *   latent: [B, embed, h, w], scaled (as the UNet sees it); image: [B, out_ch, factor*h,
 *   factor*w] in model range (about [-1, 1], not clamped). Same rules as vkt_vae_encode. */
vkt_status vkt_vae_decode(vkt_step *s, const vkt_vae *v, const vkt_tensor *latent, vkt_tensor *image,
                          vkt_err *err);

/* Records one block alone, named by its key prefix: a ResnetBlock ("encoder.down.1.block.0",
 * "decoder.up.3.block.2", "encoder.mid.block_1"), the mid attention ("decoder.mid.attn_1"), a
 * Downsample ("encoder.down.0.downsample") or an Upsample ("decoder.up.1.upsample"). For
 * per-block golden tests and debugging. x: [B, Cin, H, W] in the VAE's dtype; *out is a new step
 * tensor with the block's output shape. Fails with VKT_ERR_USAGE for an unknown name. */
vkt_status vkt_vae_block_fwd(vkt_step *s, const vkt_vae *v, const char *block, const vkt_tensor *x,
                             vkt_tensor *out, vkt_err *err);

/* How training latents come from the posterior (the webui's latent_sampling_method,
 * sd1-architecture.md §4). The difference between ONCE and RANDOM is when the caller draws:
 * ONCE draws one eps per image at dataset preparation and keeps the latent; RANDOM keeps mean
 * and logvar and draws a fresh eps every time the image is used. */
typedef enum vkt_latent_sampling {
    VKT_LATENT_ONCE = 0,      /* "once" (the webui's default) */
    VKT_LATENT_DETERMINISTIC, /* "deterministic": std forced to 0, latent = scale * mean */
    VKT_LATENT_RANDOM,        /* "random" */
} vkt_latent_sampling;

/* "once", "deterministic", "random". */
const char *vkt_latent_sampling_name(vkt_latent_sampling m);
/* Parses the webui's names; false for anything else. */
bool vkt_latent_sampling_parse(const char *name, vkt_latent_sampling *out);

/* Training latent on the device: z = VKT_VAE_SCALE * (mean + exp(logvar/2) * noise) for ONCE and
 * RANDOM, VKT_VAE_SCALE * mean for DETERMINISTIC (noise ignored, may be NULL). noise is a
 * standard normal draw of mean's shape; ONCE and RANDOM fail with VKT_ERR_USAGE without it. All
 * tensors of one shape and dtype; z may be mean itself. One dispatch (nn/ops/posterior.h). */
vkt_status vkt_vae_latent(vkt_step *s, vkt_latent_sampling m, const vkt_tensor *mean, const vkt_tensor *logvar,
                          const vkt_tensor *noise, vkt_tensor *z, vkt_err *err);
/* The same on the host in float32, for n elements (out may be mean). */
vkt_status vkt_vae_latent_host(vkt_latent_sampling m, size_t n, const float *mean, const float *logvar,
                               const float *noise, float *out, vkt_err *err);

/* One decoded image [3, H, W] (model range) to interleaved RGB8 [H, W, 3] the webui's way
 * (sd_samplers_common.single_sample_to_image): clamp(x * 0.5 + 0.5, 0, 1) * 255 in float32,
 * truncated to an integer. */
void vkt_vae_to_rgb8(const float *image, int64_t H, int64_t W, uint8_t *rgb);

#endif
