/* CPU reference for 2-D convolution (NCHW, weights [Cout, Cin, KH, KW]), in double. Each function
 * can also return mag: for every output element the sum of |terms| that make it, which scales
 * the rounding error a float implementation may show. */
#ifndef VKT_NN_REF_CONV2D_REF_H
#define VKT_NN_REF_CONV2D_REF_H

#include <stdbool.h>

#include "nn/ops/conv2d.h"

typedef struct vkt_ref_conv2d {
    int B, Cin, H, W, Cout, KH, KW, OH, OW;
    int sh, sw, pt, pl; /* bottom/right padding shows only in OH, OW */
} vkt_ref_conv2d;

/* Fills c for x [B,Cin,H,W], w [Cout,Cin,KH,KW] and p; false when the output would be empty. */
bool vkt_ref_conv2d_init(vkt_ref_conv2d *c, int B, int Cin, int H, int W, int Cout, int KH, int KW,
                         const vkt_conv2d_params *p);

/* y[B,Cout,OH,OW] = conv(x, w) + bias (bias may be NULL); mag (may be NULL) likewise shaped. */
void vkt_ref_conv2d_fwd(const vkt_ref_conv2d *c, const double *x, const double *w,
                        const double *bias, double *y, double *mag);
/* dx[B,Cin,H,W] = d sum(y*dy) / dx (overwritten). */
void vkt_ref_conv2d_bwd_dx(const vkt_ref_conv2d *c, const double *dy, const double *w, double *dx,
                           double *mag);
/* dw[Cout,Cin,KH,KW] = d sum(y*dy) / dw (overwritten). */
void vkt_ref_conv2d_bwd_dw(const vkt_ref_conv2d *c, const double *x, const double *dy, double *dw,
                           double *mag);
/* db[Cout] = d sum(y*dy) / dbias (overwritten). */
void vkt_ref_conv2d_bwd_db(const vkt_ref_conv2d *c, const double *dy, double *db, double *mag);

#endif
