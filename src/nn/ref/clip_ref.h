/* CPU reference for gradient clipping, in double (torch.nn.utils.clip_grad_norm_). */
#ifndef VKT_NN_REF_CLIP_REF_H
#define VKT_NN_REF_CLIP_REF_H

#include <stddef.h>

/* Global L2 norm of n tensors g[i] of len[i] elements. */
double vkt_ref_clip_norm(const double *const *g, const size_t *len, int n);
/* min(max_norm / (norm + 1e-6), 1); 1 when max_norm <= 0. */
double vkt_ref_clip_scale(double norm, double max_norm);

#endif
