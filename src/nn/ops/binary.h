/* Element-wise binary ops with numpy broadcasting over up to 5 dims (shaders/binary.comp).
 * Shapes align from the right; each dim of a and b is 1 or y's size; y has exactly the
 * broadcast shape. All tensors share one dtype: f32, or f16 where the device has 16-bit storage
 * (math in f32).
 *
 *   vkt_op_add_fwd(s, &h, &temb, &h2, &err);          // [B,C,H,W] + [B,C,1,1]
 *   vkt_op_mul_fwd(s, &x, &gamma, &y, &err);          // [B,T,C] * [C]
 *   vkt_op_binary_bwd(s, VKT_BINARY_ADD, 1, 1, &h, &temb, &dh2, &dh, &dtemb, VKT_GRAD_ACCUMULATE, &err);
 *   vkt_op_axpy(s, 1.0f, &grad_step, 1.0f, &grad_sum, &err);   // grad_sum += grad_step
 */
#ifndef VKT_NN_OPS_BINARY_H
#define VKT_NN_OPS_BINARY_H

#include "nn/step.h"

/* Values are shared with shaders/binary.comp. */
typedef enum vkt_binary {
    VKT_BINARY_ADD = 0,   /* y = alpha*a + beta*b */
    VKT_BINARY_MUL = 1,   /* y = alpha*a*b (beta unused) */
    VKT_BINARY_SCALE = 2, /* y = alpha*a + beta (b unused: pass NULL) */
    VKT_BINARY_COUNT
} vkt_binary;

const char *vkt_binary_name(vkt_binary op);

/* y = op(a, b) as above. y may alias a (or b) when that operand has y's shape; it must not
 * overlap a broadcast operand. Fails with VKT_ERR_SHAPE when the shapes do not broadcast to y. */
vkt_status vkt_op_binary_fwd(vkt_step *s, vkt_binary op, float alpha, float beta, const vkt_tensor *a,
                             const vkt_tensor *b, vkt_tensor *y, vkt_err *err);

/* Gradients of op(a, b) from dy (y's shape); da / db (shapes of a / b) may be NULL when not
 * needed. Each one is reduced over the dims its operand was broadcast along, deterministically
 * (fixed-order sums, no atomics); by mode it is overwritten or accumulated (da = / += ...).
 * add: da = alpha*sum(dy), db = beta*sum(dy); mul: da = alpha*sum(dy*b), db = alpha*sum(dy*a);
 * scale: da = alpha*sum(dy). a and b are read only where mul needs them, but always give the
 * shapes (b may be NULL for scale). dy must not alias da or db. */
vkt_status vkt_op_binary_bwd(vkt_step *s, vkt_binary op, float alpha, float beta, const vkt_tensor *a,
                             const vkt_tensor *b, const vkt_tensor *dy, vkt_tensor *da, vkt_tensor *db,
                             vkt_grad_mode mode, vkt_err *err);

/* Shorthands. */
vkt_status vkt_op_add_fwd(vkt_step *s, const vkt_tensor *a, const vkt_tensor *b, vkt_tensor *y, vkt_err *err);
vkt_status vkt_op_mul_fwd(vkt_step *s, const vkt_tensor *a, const vkt_tensor *b, vkt_tensor *y, vkt_err *err);
/* y = alpha*x + beta (same shape; y may alias x). */
vkt_status vkt_op_scale_fwd(vkt_step *s, const vkt_tensor *x, float alpha, float beta, vkt_tensor *y,
                            vkt_err *err);
/* y = alpha*x + beta*y in place (same shape and dtype), e.g. gradient accumulation. */
vkt_status vkt_op_axpy(vkt_step *s, float alpha, const vkt_tensor *x, float beta, vkt_tensor *y, vkt_err *err);

#endif
