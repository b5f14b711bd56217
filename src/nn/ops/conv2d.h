/* 2-D convolution, NCHW, weights [Cout, Cin, KH, KW] as in torch (shaders/conv2d.comp):
 * forward, grad-input, grad-weight and grad-bias, each recorded on its own so that a step asks
 * only for the gradients it needs (textual inversion: dx only).
 *
 *   vkt_conv2d_params p = vkt_conv2d_std(1, 1);               // stride 1, padding 1 (3x3 "same")
 *   vkt_op_conv2d_fwd(s, &p, &x, &w, &bias, &y, &err);        // bias may be NULL
 *   vkt_op_conv2d_bwd_dx(s, &p, &dy, &w, &dx, VKT_GRAD_OVERWRITE, &err);
 *   vkt_op_conv2d_bwd_dw(s, &p, &x, &dy, &dw, VKT_GRAD_ACCUMULATE, &err);
 *   vkt_op_conv2d_bwd_db(s, &dy, &db, VKT_GRAD_ACCUMULATE, &err);
 *
 *   // VAE Downsample: zero-pad right and bottom by one, then 3x3 stride 2 without padding
 *   vkt_conv2d_params d = {.stride_h = 2, .stride_w = 2, .pad_bottom = 1, .pad_right = 1};
 *
 * Shapes: x [B, Cin, H, W], w [Cout, Cin, KH, KW], bias [Cout], y [B, Cout, OH, OW] with
 * OH = (H + pad_top + pad_bottom - KH) / stride_h + 1 (and likewise OW). All tensors of one call
 * have the same dtype: f32, or f16 where vkt_step_dtype_ok() allows it (stored in f16, computed
 * and accumulated in f32).
 */
#ifndef VKT_NN_OPS_CONV2D_H
#define VKT_NN_OPS_CONV2D_H

#include "nn/step.h"

/* How the three GEMM-shaped kernels run. AUTO picks the best variant the device and build
 * allow; a named algorithm fails with VKT_ERR_UNSUPPORTED where it cannot run. */
typedef enum vkt_conv2d_algo {
    VKT_CONV2D_AUTO = 0,
    VKT_CONV2D_TILED, /* portable implicit GEMM: shared-memory tiles + register blocking */
    /* TODO(#9): VKT_CONV2D_COOPMAT, cooperative-matrix variants */
} vkt_conv2d_algo;

/* Tile of the implicit GEMM: a workgroup computes bm x bn outputs in k steps of bk, each thread a
 * tm x tn block, so the workgroup has (bm/tm)*(bn/tn) threads. Valid when bm % tm == bn % tn ==
 * 0, that thread count is <= the device's limit and a multiple of both bk and bn, and the tiles
 * fit shared memory. All zero: the wrapper chooses from the GEMM's M, N and K. */
typedef struct vkt_conv2d_tile {
    uint32_t bm, bn, bk, tm, tn;
} vkt_conv2d_tile;

typedef struct vkt_conv2d_params {
    int stride_h, stride_w;                       /* >= 1 */
    int pad_top, pad_bottom, pad_left, pad_right; /* zero padding, >= 0 */
    vkt_conv2d_algo algo;                         /* 0: AUTO */
    vkt_conv2d_tile tile;                         /* {0}: chosen per call */
} vkt_conv2d_params;

/* Square stride and the same padding on all four sides (torch Conv2d(stride=, padding=)). */
vkt_conv2d_params vkt_conv2d_std(int stride, int pad);

/* (in + pad0 + pad1 - k) / stride + 1, or 0 when the padded input is smaller than the kernel or
 * an argument is out of range. */
int64_t vkt_conv2d_out_size(int64_t in, int64_t k, int stride, int pad0, int pad1);

/* The tile the wrapper would use for a GEMM of M x N with depth K (what AUTO resolves to). */
vkt_conv2d_tile vkt_conv2d_pick_tile(const vkt_step *s, int64_t M, int64_t N, int64_t K);

/* y = conv(x, w) + bias (bias NULL: none). Overwrites y, which must not alias x or w. */
vkt_status vkt_op_conv2d_fwd(vkt_step *s, const vkt_conv2d_params *p, const vkt_tensor *x,
                             const vkt_tensor *w, const vkt_tensor *bias, vkt_tensor *y,
                             vkt_err *err);

/* dx (=|+=, by mode) the gradient of sum(y * dy) with respect to x: the transposed convolution
 * of dy with w. dx [B, Cin, H, W] fixes the input size (stride 2 maps two heights to one OH). */
vkt_status vkt_op_conv2d_bwd_dx(vkt_step *s, const vkt_conv2d_params *p, const vkt_tensor *dy,
                                const vkt_tensor *w, vkt_tensor *dx, vkt_grad_mode mode,
                                vkt_err *err);

/* dw (=|+=, by mode) the gradient with respect to w: dw[co,ci,ky,kx] = sum over b, oy, ox of
 * dy[b,co,oy,ox] * x[b,ci,oy*sh-pt+ky,ox*sw-pl+kx]. */
vkt_status vkt_op_conv2d_bwd_dw(vkt_step *s, const vkt_conv2d_params *p, const vkt_tensor *x,
                                const vkt_tensor *dy, vkt_tensor *dw, vkt_grad_mode mode,
                                vkt_err *err);

/* db (=|+=, by mode) the gradient with respect to the bias: db[co] = sum over b, oy, ox of dy. */
vkt_status vkt_op_conv2d_bwd_db(vkt_step *s, const vkt_tensor *dy, vkt_tensor *db,
                                vkt_grad_mode mode, vkt_err *err);

#endif
