/* CPU reference for broadcasting binary ops (numpy rules), in double. */
#ifndef VKT_NN_REF_BINARY_REF_H
#define VKT_NN_REF_BINARY_REF_H

#include <stdint.h>

#include "nn/ops/binary.h"

/* A shape: nd dims, outermost first (right-aligned against the others when broadcasting). */
typedef struct vkt_ref_shape {
    int nd;
    int64_t d[5];
} vkt_ref_shape;

/* y (shape ys, the broadcast of as and bs) = op(a, b); b may be NULL for scale. */
void vkt_ref_binary_fwd(vkt_binary op, double alpha, double beta, vkt_ref_shape as, const double *a,
                        vkt_ref_shape bs, const double *b, vkt_ref_shape ys, double *y);
/* da, db (either may be NULL) = gradients of sum(dy * y) with respect to a and b (overwritten). */
void vkt_ref_binary_bwd(vkt_binary op, double alpha, double beta, vkt_ref_shape as, const double *a,
                        vkt_ref_shape bs, const double *b, vkt_ref_shape ys, const double *dy, double *da,
                        double *db);

#endif
