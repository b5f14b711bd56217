/* The SD1.x UNet (LDM openaimodel.UNetModel, spec sd1-architecture.md §3) on the GPU: loaded
 * from any SD1-layout weight source with every dim inferred from the shapes (§7), forward
 * eps = unet(x_t, t, context) recorded into a planned step, and the backward from d eps to
 * d context (and through the k/v hook to a hypernetwork).
 *
 *   vkt_weight_source src = vkt_weight_source_safetensors(st, "model.diffusion_model.", path);
 *   vkt_unet *u;
 *   vkt_unet_load(dev, &src, VKT_F32, vkt_unet_heads_from_meta(vkt_safetensors_meta(st,
 *                 "vktrain.unet_heads")), &u, &err);
 *   vkt_step_begin_planned(s, &err);
 *   vkt_tensor eps;  vkt_unet_saved *sv;
 *   vkt_unet_fwd(u, s, &x_t, &t, &context, NULL, &eps, &sv, &err);   // eps: a step tensor
 *   ... loss, d eps ...
 *   vkt_unet_bwd(u, s, sv, &deps, &dcontext, VKT_GRAD_OVERWRITE, &err);
 *   vkt_unet_saved_destroy(sv);          // host bookkeeping only; the step keeps its tensors
 *   vkt_step_end(s, &err); vkt_step_submit(s, &err);
 *   vkt_unet_destroy(u);
 */
#ifndef VKT_MODELS_UNET_H
#define VKT_MODELS_UNET_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "models/unet_blocks.h"
#include "models/weights.h"
#include "nn/step.h"

#define VKT_UNET_MAX_LEVELS 8
#define VKT_UNET_DEFAULT_HEADS 8 /* SD1 */

/* fp16 storage and gradients: d loss / d context of SD's eps loss is ~1e-5 (tiny model: max 3e-5,
 * all below f16's smallest normal 6.1e-5), and d eps itself (2(eps - noise)/numel, numel 16384
 * at 512 px) is ~1e-4, so an unscaled f16 backward runs in subnormals. Scale the loss gradient
 * (vkt_op_mse_bwd's dloss) by this power of two and divide the f32 results (context / learned
 * vectors / hypernetwork gradients) by it, as torch's GradScaler does. On the tiny model's
 * unet_ctx_8x16 case this takes the fp16 grad_context error from 8.3e-3 to 3.8e-3. */
#define VKT_UNET_F16_LOSS_SCALE 1024.0f

/* What the loader found (for messages, `info` and tests). */
typedef struct vkt_unet_config {
    int64_t in_ch, out_ch, mc, temb, ctx; /* model channels, time-embed width, context dim */
    int n_levels, res_blocks, depth, heads;
    int mults[VKT_UNET_MAX_LEVELS];
    bool attn[VKT_UNET_MAX_LEVELS]; /* the level's blocks have SpatialTransformers */
    int n_input, n_output;          /* input_blocks (incl. conv_in) and output_blocks */
    int n_st, n_attn;               /* SpatialTransformers, attentions (2 per transformer block) */
} vkt_unet_config;

typedef struct vkt_unet vkt_unet;
typedef struct vkt_unet_saved vkt_unet_saved;

/* Head count from the `vktrain.unet_heads` metadata value (decimal; may be NULL), else the SD1
 * default of 8. */
int vkt_unet_heads_from_meta(const char *value);

/* Loads every UNet tensor of src (keys relative to src->prefix, e.g. "model.diffusion_model.")
 * into weights of dtype dt (f32, or f16 where the device stores it). heads <= 0: the SD1 default.
 * Fails with VKT_ERR_FORMAT naming the key when a tensor is missing or misshapen, and with
 * VKT_ERR_UNSUPPORTED for layouts that are not SD1 (linear proj_in, 9-channel inpainting input
 * is accepted as-is: in_ch is read from the file). */
vkt_status vkt_unet_load(vkt_device *dev, const vkt_weight_source *src, vkt_dtype dt, int heads, vkt_unet **out,
                         vkt_err *err);
void vkt_unet_destroy(vkt_unet *u); /* NULL is a no-op */

const vkt_unet_config *vkt_unet_get_config(const vkt_unet *u);
uint64_t vkt_unet_weight_bytes(const vkt_unet *u);
vkt_dtype vkt_unet_dtype(const vkt_unet *u);
/* Name of attention i in forward order ("input_blocks.1.1.transformer_blocks.0.attn1"). */
const char *vkt_unet_attn_name(const vkt_unet *u, int i);

/* eps = unet(x, t, context), recorded into the planned step s.
 *   x: [B, in_ch, H, W] in the UNet's dtype, H and W divisible by 2^(levels-1) (8 for SD1);
 *   t: i32 [B] timesteps, or f32 [B] (the fractional timesteps of the k-diffusion samplers);
 *   context: [B, T, ctx] in the UNet's dtype, any T >= 1 (77 per chunk);
 *   hook: the k/v hook of every attention (NULL: none; borrowed until vkt_unet_bwd).
 * *eps is created as a step tensor [B, out_ch, H, W] (vkt_step_keep it to read it back). With
 * saved != NULL, *saved receives what vkt_unet_bwd needs (host bookkeeping, malloc'd; the device
 * memory belongs to the step); with NULL the forward is inference-only. x, t and context must stay
 * valid until the step has run. */
vkt_status vkt_unet_fwd(vkt_unet *u, vkt_step *s, const vkt_tensor *x, const vkt_tensor *t, const vkt_tensor *context,
                        const vkt_unet_kv_hook *hook, vkt_tensor *eps, vkt_unet_saved **saved, vkt_err *err);

/* Backward of the forward that made sv, in the same planned step: deps [B, out_ch, H, W] is
 * d loss / d eps; dcontext [B, T, ctx] (=|+= by mode) receives d loss / d context summed over all
 * cross-attentions (through the hook's backward where it replaced attn2's inputs). dcontext may be
 * NULL when only the hook's gradients are wanted. Records only what these gradients need: no
 * d x_t, no time-embedding gradient, no weight gradients (TODO(#8)). */
vkt_status vkt_unet_bwd(vkt_unet *u, vkt_step *s, vkt_unet_saved *sv, const vkt_tensor *deps, vkt_tensor *dcontext,
                        vkt_grad_mode mode, vkt_err *err);
void vkt_unet_saved_destroy(vkt_unet_saved *sv); /* NULL is a no-op */

#endif
