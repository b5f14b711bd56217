/* CPU reference for scaled-dot-product attention, in double; materialises each query's row of
 * probabilities (fine for checks, not for models). Layout as vkt_op_attention_fwd: q, o
 * [B, Tq, H*D], k, v [B, Tk, H*D], lse [B, H, Tq]. */
#ifndef VKT_NN_REF_ATTENTION_REF_H
#define VKT_NN_REF_ATTENTION_REF_H

#include <stdbool.h>
#include <stdint.h>

typedef struct vkt_ref_attn {
    int64_t B, H, Tq, Tk, D;
    double scale;
    bool causal; /* query i sees keys j <= i */
} vkt_ref_attn;

/* o = softmax(scale q kᵀ, masked) v; lse = log sum_j exp(s_ij) (lse may be NULL). Both
 * functions return false only when their Tk-entry scratch row cannot be allocated. */
bool vkt_ref_attention_fwd(const vkt_ref_attn *a, const double *q, const double *k, const double *v,
                           double *o, double *lse);
/* Gradients for upstream dout, from the forward output o (delta_i = dout_i·o_i, as the GPU
 * backward): dq, dk, dv each NULL or overwritten. */
bool vkt_ref_attention_bwd(const vkt_ref_attn *a, const double *q, const double *k, const double *v,
                           const double *o, const double *dout, double *dq, double *dk, double *dv);

#endif
