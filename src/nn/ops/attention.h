/* Scaled-dot-product attention (shaders/attention.comp), flash style: neither direction stores
 * a Tq x Tk matrix; the forward saves the per-row log-sum-exp and the backward recomputes the
 * probabilities from it.
 *
 * Layout: heads live in the channel dim, as the models' q/k/v linear layers produce them
 * (C = H*D, head h = channels h*D .. h*D+D-1):
 *   q, o: [B, Tq, C]    k, v: [B, Tk, C]    lse: [B, H, Tq] (always f32)
 *
 *   vkt_op_attention_fwd(s, &q, &k, &v, 8, 0.0f, false, &o, &lse, &err);      // scale D^-1/2
 *   vkt_op_attention_bwd(s, &q, &k, &v, &o, &lse, &dout, 8, 0.0f, false,
 *                        &dq, &dk, &dv, VKT_GRAD_OVERWRITE, &err);
 *
 * q, k, v, o and the gradients share one dtype: f32, or f16 storage (f32 math) where the device
 * has 16-bit storage. Head dims 1..160 run everywhere with 32 KiB of shared memory (larger ones
 * where shared memory allows; the call fails with VKT_ERR_UNSUPPORTED otherwise).
 */
#ifndef VKT_NN_OPS_ATTENTION_H
#define VKT_NN_OPS_ATTENTION_H

#include <stdbool.h>

#include "nn/step.h"

/* o = softmax(scale * q·kᵀ [+ causal mask]) · v per batch and head; lse = log sum_j exp(s_ij),
 * the softmax's log-normaliser, which the backward needs (NULL when no backward follows).
 * scale 0 means D^-1/2. causal: query i sees keys j <= i (torch's is_causal, top-left aligned
 * also when Tq != Tk). Outputs are overwritten. */
vkt_status vkt_op_attention_fwd(vkt_step *s, const vkt_tensor *q, const vkt_tensor *k,
                                const vkt_tensor *v, int heads, float scale, bool causal,
                                vkt_tensor *o, vkt_tensor *lse, vkt_err *err);

/* Gradients of vkt_op_attention_fwd for upstream dout (shape of o), from its inputs, its output
 * o and its lse, with the same heads, scale and causal. Each of dq, dk, dv may be NULL (not
 * needed); the others (shapes of q, k, v) are written by mode. */
vkt_status vkt_op_attention_bwd(vkt_step *s, const vkt_tensor *q, const vkt_tensor *k,
                                const vkt_tensor *v, const vkt_tensor *o, const vkt_tensor *lse,
                                const vkt_tensor *dout, int heads, float scale, bool causal,
                                vkt_tensor *dq, vkt_tensor *dk, vkt_tensor *dv, vkt_grad_mode mode,
                                vkt_err *err);

#endif
