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
#define VKT_UNET_MAX_DEPTH 16 /* transformer blocks per SpatialTransformer (SDXL: 10) */

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

/* ------------------------------------------------------------------------------------------ */
/* SpatialTransformer and its attention layers */

/* The k/v hook of one attention: the hypernetwork entry point (spec §6). Every CrossAttention
 * computes k = to_k(c_k), v = to_v(c_v) where c is the LN1 output (attn1) or the context
 * (attn2); without a hook c_k = c_v = c. */
typedef struct vkt_unet_attn_info {
    const char *name; /* "input_blocks.1.1.transformer_blocks.0.attn1" */
    int index;        /* 0 .. n_attn-1 in forward order (attn1 before attn2 in each block) */
    bool cross;       /* attn2: c is the context */
    int64_t dim;      /* last dim of c: the module size the webui looks up */
} vkt_unet_attn_info;

typedef struct vkt_unet_kv_hook {
    /* Forward: records whatever makes c_k and c_v from c ([B, T, dim]) and returns them (each c
     * itself or a step tensor of c's shape). Keeps for its backward whatever it needs (c
     * included: the UNet does not keep c for the hook). */
    vkt_status (*fwd)(void *user, vkt_step *s, const vkt_unet_attn_info *a, const vkt_tensor *c, vkt_tensor *ck,
                      vkt_tensor *cv, vkt_err *err);
    /* Backward, called in reverse order for each attention whose fwd returned something other
     * than c: dck, dcv are d loss / d c_k and d c_v ([B, T, dim]); the hook adds d loss / d c
     * into dc (always accumulate; dc is NULL for attn2 when nobody needs d context) and records
     * its own parameter gradients as it likes. */
    vkt_status (*bwd)(void *user, vkt_step *s, const vkt_unet_attn_info *a, const vkt_tensor *dck,
                      const vkt_tensor *dcv, vkt_tensor *dc, vkt_err *err);
    void *user; /* borrowed */
} vkt_unet_kv_hook;

typedef struct vkt_unet_attn {
    char name[112];      /* vkt_unet_attn_info.name */
    int index;
    bool cross;
    int64_t dim, kv_dim; /* query width C; width of c (C for attn1, context dim for attn2) */
    int heads;
    vkt_tensor to_q, to_k, to_v, out_w, out_b; /* to_q/k/v: [C, C|ctx], no bias */
} vkt_unet_attn;

typedef struct vkt_unet_tblock {
    vkt_tensor ln1_g, ln1_b, ln2_g, ln2_b, ln3_g, ln3_b;
    vkt_tensor ff1_w, ff1_b, ff2_w, ff2_b; /* ff.net.0.proj [8C, C], ff.net.2 [C, 4C] */
    vkt_unet_attn attn1, attn2;
} vkt_unet_tblock;

typedef struct vkt_unet_st {
    int64_t c, ctx;
    int heads, depth;
    vkt_tensor gn_g, gn_b, pin_w, pin_b, pout_w, pout_b; /* proj_in/out: 1x1 convs [C, C, 1, 1] */
    vkt_unet_tblock blocks[VKT_UNET_MAX_DEPTH];
} vkt_unet_st;

/* Loads prefix + "norm.weight" ... ; c: expected width (-1: from the file); ctx: expected
 * context dim (-1: from the file); *attn_index is the index the first attention gets and is
 * advanced past this transformer's attentions, which are named prefix +
 * "transformer_blocks.N.attn1|2" in vkt_unet_attn_info. Fails with VKT_ERR_UNSUPPORTED for SD2-style linear
 * proj_in, or when heads does not divide C. */
vkt_status vkt_unet_st_load(vkt_weights *w, const vkt_weight_source *src, const char *prefix, int64_t c, int64_t ctx,
                            int heads, int *attn_index, vkt_unet_st *out, vkt_err *err);

typedef struct vkt_unet_attn_saved {
    vkt_tensor q, k, v, o; /* [B, Tq|Tk, C] projections and the attention output */
    vkt_tensor aux;        /* the softmax log-sum-exp, f32 [B, heads, Tq] */
    bool hooked;           /* the hook replaced c_k or c_v: its backward is called */
} vkt_unet_attn_saved;

typedef struct vkt_unet_tblock_saved {
    vkt_tensor h0, h1, h2;                 /* residual stream before attn1, attn2, ff */
    vkt_tensor m1, r1, m2, r2, m3, r3;     /* LayerNorm statistics, f32 [B, T] */
    vkt_tensor p;                          /* ff.net.0.proj output [B, T, 8C] (GEGLU input) */
    vkt_unet_attn_saved a1, a2;
} vkt_unet_tblock_saved;

typedef struct vkt_unet_st_saved {
    vkt_tensor x, m, r;
    vkt_unet_tblock_saved blocks[VKT_UNET_MAX_DEPTH];
} vkt_unet_st_saved;

/* y = x + proj_out(blocks(proj_in(GN(x)))) with x [B, C, H, W] and context [B, T, ctx]. hook may
 * be NULL. Creates y as a step tensor. */
vkt_status vkt_unet_st_fwd(vkt_step *s, const vkt_unet_st *t, const vkt_tensor *x, const vkt_tensor *context,
                           const vkt_unet_kv_hook *hook, vkt_tensor *y, vkt_unet_st_saved *sv, vkt_err *err);
/* dx (=|+= by mode) from dy, or NULL when only the context (and hook) gradients are wanted;
 * dcontext [B, T, ctx] (optional) accumulates d out / d context (summed over the
 * cross-attentions), as does the hook's dc for attn2 when one was given. */
vkt_status vkt_unet_st_bwd(vkt_step *s, const vkt_unet_st *t, const vkt_unet_st_saved *sv, const vkt_unet_kv_hook *hook,
                           const vkt_tensor *dy, vkt_tensor *dx, vkt_grad_mode mode, vkt_tensor *dcontext,
                           vkt_err *err);

/* A step tensor of the given shape (a shorthand the UNet uses everywhere). */
vkt_status vkt_unet_tmp(vkt_step *s, vkt_dtype dt, int ndim, const int64_t *shape, const char *what, vkt_tensor *out,
                        vkt_err *err);
/* Records t = 0 (any step tensor). */
vkt_status vkt_unet_zero(vkt_step *s, const vkt_tensor *t, vkt_err *err);
/* dx (by mode) = d/dx of SiLU(GN(x; g, b, 32 groups, eps)) for upstream dy, from the forward's
 * statistics m, r: one fused GroupNorm+SiLU backward dispatch, which recomputes the GN output
 * inside its passes (nothing but x, m, r is kept; no temporaries). eps is unused (m, r hold it). */
vkt_status vkt_unet_gn_silu_bwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *g, const vkt_tensor *b, float eps,
                                const vkt_tensor *m, const vkt_tensor *r, const vkt_tensor *dy, vkt_tensor *dx,
                                vkt_grad_mode mode, vkt_err *err);

#endif
