/* CPU reference for nearest-neighbour resize of NCHW planes, in double. */
#ifndef VKT_NN_REF_UPSAMPLE_REF_H
#define VKT_NN_REF_UPSAMPLE_REF_H

#include <stdint.h>

/* torch's source index for output index d along an axis of in -> out (ATen nearest_idx). */
int64_t vkt_ref_nearest_src(int64_t d, int64_t in, int64_t out);
/* y[P, OH, OW] = x[P, H, W] resized (P = B*C planes). */
void vkt_ref_upsample_fwd(int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW, const double *x,
                          double *y);
/* dx[P, H, W] = d sum(y*dy) / dx (overwritten); mag (may be NULL): sum of |dy| gathered. */
void vkt_ref_upsample_bwd(int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW, const double *dy,
                          double *dx, double *mag);

#endif
