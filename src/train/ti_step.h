/* One textual-inversion mini-batch on the GPU, shared by `vktrain eval` and training:
 *   context = clip(ids with learned vectors at their placements, emphasis, clip skip)
 *   x_t     = sqrt(abar_t)·x0 + sqrt(1−abar_t)·ε
 *   loss    = mean_b mean (w·(ε − unet(x_t, t, context))²)
 * and the backward d loss -> d context -> d learned vectors, recorded into one planned step.
 *
 *   vkt_ti_step_io io = {...persistent input tensors...};
 *   vkt_ti_step_record(s, clip, unet, &io, &opts, &res, &err);   // inside begin_planned/end
 */
#ifndef VKT_TRAIN_TI_STEP_H
#define VKT_TRAIN_TI_STEP_H

#include "models/clip.h"
#include "models/unet.h"
#include "nn/step.h"

/* Inputs: persistent tensors the host fills before each submit. */
typedef struct vkt_ti_step_io {
    const vkt_tensor *ids;         /* i32 [B, T] */
    const vkt_tensor *src_idx;     /* i32 [B, T]: learned vector index per position or -1; NULL: none */
    const vkt_tensor *vectors;     /* f32 [N, W] learned vectors (NULL when src_idx is NULL) */
    const vkt_tensor *multipliers; /* f32 [B, T] or NULL */
    const vkt_tensor *context;     /* [B, T, ctx] in the model dtype: used instead of the text encoder; or NULL */
    const vkt_tensor *latent;      /* [B, 4, h, w] model dtype: scaled clean latent */
    const vkt_tensor *noise;       /* [B, 4, h, w] model dtype and f32 (for the loss): see noise_f32 */
    const vkt_tensor *noise_f32;   /* f32 copy of the noise (loss target) */
    const vkt_tensor *coef_a;      /* [B, 1, 1, 1] model dtype: sqrt(abar_t) */
    const vkt_tensor *coef_b;      /* [B, 1, 1, 1] model dtype: sqrt(1 - abar_t) */
    const vkt_tensor *timestep;    /* i32 [B] */
    const vkt_tensor *loss_weight; /* f32 [B, 4, h, w] or NULL */
} vkt_ti_step_io;

typedef struct vkt_ti_step_opts {
    int clip_skip;          /* >= 1 */
    bool backward;          /* record the backward */
    float dloss;            /* d objective / d loss (1/G with G accumulated mini-batches) */
    vkt_grad_mode grad_mode; /* how dvectors is written */
    vkt_tensor *dvectors;   /* f32 [N, W] (with backward and learned vectors) */
    bool want_context_grad; /* keep d context (eval's grad_context) */
    const vkt_unet_kv_hook *hook; /* NULL, or the UNet's k/v hook (hypernetworks, models/hypernetwork.h) */
    /* Optional: called as each phase starts recording ("text fwd", "unet fwd" (with the noising),
     * "loss" (forward and backward), "unet bwd", "text bwd"), so a profiler can group the
     * step's commands (`vktrain bench step`). */
    void (*on_phase)(void *user, const char *phase);
    void *phase_user;
} vkt_ti_step_opts;

/* Step tensors the caller may read after the step (all kept). */
typedef struct vkt_ti_step_out {
    vkt_tensor context, x_noisy, eps, per_sample, loss, dcontext;
    bool has_context, has_dcontext;
} vkt_ti_step_out;

vkt_status vkt_ti_step_record(vkt_step *s, const vkt_clip *clip, vkt_unet *unet, const vkt_ti_step_io *io,
                              const vkt_ti_step_opts *o, vkt_ti_step_out *out, vkt_err *err);

#endif
