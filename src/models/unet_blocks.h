/* Building blocks of the SD1.x UNet (spec sd1-architecture.md §3.2): the ResBlock and the
 * SpatialTransformer (BasicTransformerBlocks of self-attention, cross-attention and a GEGLU
 * feed-forward). Each block has a loader (dims from the weight shapes), a forward that records
 * into a planned step and fills a saved struct, and a backward from d out to d in (and to the
 * context). models/unet.c assembles them; tests call them one by one against golden data.
 *
 *   vkt_unet_res r;  vkt_unet_res_load(w, &src, "input_blocks.3.0.", -1, 128, &r, &err);
 *   vkt_step_begin_planned(s, &err);
 *   vkt_unet_res_saved sv;  vkt_tensor y, dx;
 *   vkt_unet_res_fwd(s, &r, &x, &emb_act, &y, &sv, &err);                    // y: a step tensor
 *   vkt_unet_res_bwd(s, &r, &sv, &dy, &dx, VKT_GRAD_OVERWRITE, NULL, 0, &err);
 *
 * Backward memory: the forwards save only what the input gradients need (norm inputs and
 * statistics, attention q/k/v/out, the GEGLU input) and recompute norm outputs. Weight gradients
 * are not recorded yet (every linear/conv backward passes NULL for dW, TODO(#8)); adding them
 * needs the linear/conv inputs saved as well.
 */
#ifndef VKT_MODELS_UNET_BLOCKS_H
#define VKT_MODELS_UNET_BLOCKS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "models/weights.h"
#include "nn/step.h"

#define VKT_UNET_GROUPS 32   /* GroupNorm(32) everywhere in SD1 */

/* ------------------------------------------------------------------------------------------ */
/* ResBlock: y = skip(x) + conv2(SiLU(GN2(conv1(SiLU(GN1(x))) + emb_layers(emb_act)))) */

typedef struct vkt_unet_res {
    int64_t cin, cout, temb;
    vkt_tensor gn1_g, gn1_b, conv1_w, conv1_b, emb_w, emb_b, gn2_g, gn2_b, conv2_w, conv2_b;
    bool has_skip; /* 1x1 conv when cin != cout, else identity */
    vkt_tensor skip_w, skip_b;
} vkt_unet_res;

/* Loads prefix + "in_layers.0.weight" ... (original LDM names). cin: the expected input width,
 * or -1 to take it from the file; temb: the time-embedding width. Views are owned by w. */
vkt_status vkt_unet_res_load(vkt_weights *w, const vkt_weight_source *src, const char *prefix, int64_t cin,
                             int64_t temb, vkt_unet_res *out, vkt_err *err);

typedef struct vkt_unet_res_saved {
    vkt_tensor x;            /* the input (borrowed view; kept alive by this struct) */
    vkt_tensor h;            /* conv1 output + time embedding: GN2's input */
    vkt_tensor m1, r1, m2, r2; /* GN statistics, f32 [B, 32] */
    vkt_tensor emb_act;      /* SiLU(emb) [B, temb] */
} vkt_unet_res_saved;

/* x: [B, cin, H, W]; emb_act: SiLU(emb) [B, temb] (SD computes it once for all blocks). Creates
 * y [B, cout, H, W] as a step tensor. */
vkt_status vkt_unet_res_fwd(vkt_step *s, const vkt_unet_res *r, const vkt_tensor *x, const vkt_tensor *emb_act,
                            vkt_tensor *y, vkt_unet_res_saved *sv, vkt_err *err);
/* dx [B, cin, H, W] (=|+= by mode) d out / d x for upstream dy. demb_act [B, temb], optional
 * (NULL: not computed; training with a fixed time embedding never needs it), by emb_mode. */
vkt_status vkt_unet_res_bwd(vkt_step *s, const vkt_unet_res *r, const vkt_unet_res_saved *sv, const vkt_tensor *dy,
                            vkt_tensor *dx, vkt_grad_mode mode, vkt_tensor *demb_act, vkt_grad_mode emb_mode,
                            vkt_err *err);

/* A step tensor of the given shape (a shorthand the UNet uses everywhere). */
vkt_status vkt_unet_tmp(vkt_step *s, vkt_dtype dt, int ndim, const int64_t *shape, const char *what, vkt_tensor *out,
                        vkt_err *err);

#endif
