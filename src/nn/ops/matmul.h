/* Matrix products (shaders/matmul.comp): batched matmul with transposes, broadcast and bias, and
 * torch's Linear (y = x·Wᵀ + b, W is [out, in]) on top, each with its backward.
 *
 *   vkt_op_linear_fwd(s, &x, &w, &b, &y, &err);                               // y = x·wᵀ + b
 *   vkt_op_linear_bwd(s, &x, &w, &dy, &dx, VKT_GRAD_OVERWRITE, &dw, &db, VKT_GRAD_ACCUMULATE,
 * &err); vkt_op_matmul_fwd(s, &q, false, &k, true, NULL, 0.125f, &scores, VKT_GRAD_OVERWRITE,
 * &err);
 *
 * All tensors of one call share one dtype: f32, or f16 storage (f32 accumulation) where the
 * device has 16-bit storage. Outputs must not overlap inputs. Every output is written by exactly
 * one mode: OVERWRITE (out = result) or ACCUMULATE (out += result; out must hold valid values).
 */
#ifndef VKT_NN_OPS_MATMUL_H
#define VKT_NN_OPS_MATMUL_H

#include <stdbool.h>

#include "nn/step.h"

/* One operand of vkt_op_matmul: a matrix, or a batch of them, inside a tensor, addressed by
 * element strides. Element (b, r, c) is at t[offset + b*batch_stride + r*row_stride +
 * c*col_stride]; a transpose is a swap of row_stride and col_stride. */
typedef struct vkt_matmul_operand {
    const vkt_tensor *t;  /* borrowed */
    int64_t offset;       /* elements from the start of t */
    int64_t batch_stride; /* 0: the same matrix for every batch (A, B); for C: sum over the batch */
    int64_t row_stride, col_stride;
} vkt_matmul_operand;

typedef struct vkt_matmul_desc {
    int64_t batch, M, N, K; /* all >= 1 */
    vkt_matmul_operand a;   /* [M, K] as used */
    vkt_matmul_operand b;   /* [K, N] as used */
    vkt_matmul_operand c;   /* [M, N]; batch_stride 0 with batch > 1 sums the products */
    const vkt_tensor *bias; /* borrowed; N contiguous elements at bias_offset, or NULL */
    int64_t bias_offset;
    float alpha;
    vkt_grad_mode mode; /* OVERWRITE: c = alpha·a·b + bias; ACCUMULATE: c += ... */
    const char *kernel; /* NULL: chosen per device and shape; else a name from
                           vkt_matmul_kernel_name() (checks test every kernel) */
} vkt_matmul_desc;

/* C[b] (=|+=) alpha · A[b] · B[b] + bias, for b < batch. Fails with VKT_ERR_SHAPE when an operand
 * reaches outside its tensor or a count does not fit the GPU's 32-bit indices, VKT_ERR_UNSUPPORTED
 * when the device lacks the dtype. A broadcast B (batch_stride 0) with A and C rows evenly spaced
 * over the batch runs as one [batch*M, K]·[K, N] product. */
vkt_status vkt_op_matmul(vkt_step *s, const vkt_matmul_desc *d, vkt_err *err);

/* Names of the GEMM kernels this build has, i < count; NULL past the end. */
const char *vkt_matmul_kernel_name(int i);

/* c (=|+=) alpha · op(a) · op(b) + bias, op(x) = xᵀ (last two dims) when trans_x.
 *   a: [..., M, K] ([..., K, M] when trans_a); b: [..., K, N] ([..., N, K] when trans_b);
 *   c: [..., M, N]; bias: [N] or NULL.
 * The batch dims "..." of c are those of a and b; a or b may instead be 2-D (one matrix for the
 * whole batch, e.g. a weight). */
vkt_status vkt_op_matmul_fwd(vkt_step *s, const vkt_tensor *a, bool trans_a, const vkt_tensor *b,
                             bool trans_b, const vkt_tensor *bias, float alpha, vkt_tensor *c,
                             vkt_grad_mode mode, vkt_err *err);

/* Gradients of c = alpha · op(a) · op(b) + bias for upstream dc (shape of c). Each of da, db,
 * dbias may be NULL (not needed) and otherwise has the shape of a, b, bias; every one given is
 * written by mode. A 2-D a or b broadcast over the batch gets the sum over the batch. */
vkt_status vkt_op_matmul_bwd(vkt_step *s, const vkt_tensor *a, bool trans_a, const vkt_tensor *b,
                             bool trans_b, float alpha, const vkt_tensor *dc, vkt_tensor *da,
                             vkt_tensor *db, vkt_tensor *dbias, vkt_grad_mode mode, vkt_err *err);

/* torch.nn.functional.linear: y = x · wᵀ + b (b may be NULL).
 *   x: [..., in]; w: [out, in]; b: [out]; y: [..., out] (same leading dims as x). y is overwritten.
 */
vkt_status vkt_op_linear_fwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *w,
                             const vkt_tensor *b, vkt_tensor *y, vkt_err *err);

/* Backward of vkt_op_linear_fwd for upstream dy [..., out]:
 *   dx = dy · w        (written by dx_mode)
 *   dw = dyᵀ · x       (sum over all leading dims; written by dw_mode)
 *   db = sum_rows dy   (written by dw_mode)
 * Any of dx, dw, db may be NULL to skip it; x may be NULL when dw is. w is always given (its
 * shape says in and out). */
vkt_status vkt_op_linear_bwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *w,
                             const vkt_tensor *dy, vkt_tensor *dx, vkt_grad_mode dx_mode,
                             vkt_tensor *dw, vkt_tensor *db, vkt_grad_mode dw_mode, vkt_err *err);

/* db[n] (=|+=) sum over rows of dy viewed as [rows, N] (N = db's size; dy's last dim). The bias
 * gradient of linear and matmul. */
vkt_status vkt_op_matmul_bias_bwd(vkt_step *s, const vkt_tensor *dy, vkt_tensor *db,
                                  vkt_grad_mode mode, vkt_err *err);

#endif
