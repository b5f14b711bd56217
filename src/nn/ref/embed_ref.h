/* CPU reference for the token-embedding gather with learned-vector overrides, in double. */
#ifndef VKT_NN_REF_EMBED_REF_H
#define VKT_NN_REF_EMBED_REF_H

#include <stddef.h>
#include <stdint.h>

/* y[p, :] = src && src[p] >= 0 ? vectors[src[p], :] : table[ids[p], :] for p < P; invalid
 * indices give zero rows. table [V, D], vectors [J, D], y [P, D]. */
void vkt_ref_embed_fwd(const int32_t *ids, const int32_t *src, size_t P, const double *table, int64_t V,
                       const double *vectors, int64_t J, int64_t D, double *y);
/* Gradients of sum(dy * y): dtable [V, D] and dvectors [J, D] (either may be NULL), overwritten. */
void vkt_ref_embed_bwd(const int32_t *ids, const int32_t *src, size_t P, int64_t V, int64_t J, int64_t D,
                       const double *dy, double *dtable, double *dvectors);

#endif
