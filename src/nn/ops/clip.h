/* Gradient clipping on the GPU (shaders/clip.comp): by value, and by the global L2 norm over a
 * list of tensors (torch.nn.utils.clip_grad_norm_) without any host round trip.
 *
 *   vkt_tensor *grads[] = {&dw1, &db1, &dw2};
 *   int64_t n = vkt_clip_norm_state_len((const vkt_tensor *const *)grads, 3);
 *   vkt_tensor state;  vkt_tensor_alloc(dev, VKT_F32, 1, &n, "clip state", &state, &err);
 *   vkt_op_clip_norm(s, grads, 3, 1.0f, true, &state, &err);   // state[0] = norm, for logging
 *
 * The state can also feed vkt_op_adamw_step (src/nn/ops/optim.h) instead of applying the scale
 * here: the optimizer then multiplies each gradient by state[1] and skips the update when the
 * gradients were not finite (state[2] == 0).
 */
#ifndef VKT_NN_OPS_CLIP_H
#define VKT_NN_OPS_CLIP_H

#include "nn/step.h"

/* Slots of the clip state (f32). */
enum {
    VKT_CLIP_NORM = 0,   /* total L2 norm of all gradients (NaN/Inf when they are not finite) */
    VKT_CLIP_SCALE = 1,  /* min(max_norm / (norm + 1e-6), 1); 1 without clipping; NaN if not finite */
    VKT_CLIP_FINITE = 2, /* 1 when the norm is finite, else 0 */
    VKT_CLIP_HEADER = 64 /* slots before the per-chunk partial sums (256 bytes) */
};

/* g = clamp(g, -v, v) in place (f32). */
vkt_status vkt_op_clip_value(vkt_step *s, vkt_tensor *g, float v, vkt_err *err);

/* Elements the state tensor of vkt_op_clip_norm needs for these gradients (the header plus one
 * partial sum per 4096-element chunk, each tensor's region padded to 256 bytes). */
int64_t vkt_clip_norm_state_len(const vkt_tensor *const *g, int n);

/* Global norm of the f32 tensors g[0..n-1] (sqrt of the sum of all squares, deterministic
 * fixed-order sums) into state (f32 [>= vkt_clip_norm_state_len], at offset 0 of its binding);
 * max_norm <= 0 means no clipping (scale 1). When apply, every g[i] is multiplied by the scale
 * (torch multiplies by the clamped coefficient always; multiplying by 1 is exact). */
vkt_status vkt_op_clip_norm(vkt_step *s, vkt_tensor *const *g, int n, float max_norm, bool apply, vkt_tensor *state,
                            vkt_err *err);

#endif
