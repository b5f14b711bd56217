/* CPU reference for matmul and linear, in double: plain loops over dense row-major arrays. */
#ifndef VKT_NN_REF_MATMUL_REF_H
#define VKT_NN_REF_MATMUL_REF_H

#include <stdbool.h>
#include <stdint.h>

/* Element addressing of one operand, as in vkt_matmul_operand. */
typedef struct vkt_ref_operand {
    int64_t offset, batch_stride, row_stride, col_stride;
} vkt_ref_operand;

/* c[b,m,n] (=|+=) alpha * sum_k a[b,m,k] * b[b,k,n] + bias[n], elements addressed by strides;
 * a c batch stride of 0 sums over the batch (bias added once). */
void vkt_ref_matmul_strided(int64_t batch, int64_t M, int64_t N, int64_t K, const double *a,
                            vkt_ref_operand ao, const double *b, vkt_ref_operand bo,
                            const double *bias, double alpha, bool accumulate, double *c,
                            vkt_ref_operand co);

/* Dense batched matmul: a [batch|1, M, K] ([.., K, M] when ta), b [batch|1, K, N] ([.., N, K] when
 * tb), a_bcast/b_bcast: one matrix for every batch; c [batch, M, N] (overwritten);
 *   c = alpha * op(a) op(b) + bias   (bias [N] or NULL) */
void vkt_ref_matmul_fwd(const double *a, bool ta, bool a_bcast, const double *b, bool tb,
                        bool b_bcast, const double *bias, double alpha, double *c, int64_t batch,
                        int64_t M, int64_t N, int64_t K);
/* Its gradients for upstream dc [batch, M, N]: da (shape of a), db (shape of b), dbias [N], each
 * NULL or overwritten; a broadcast operand gets the sum over the batch. */
void vkt_ref_matmul_bwd(const double *a, bool ta, bool a_bcast, const double *b, bool tb,
                        bool b_bcast, double alpha, const double *dc, double *da, double *db,
                        double *dbias, int64_t batch, int64_t M, int64_t N, int64_t K);

/* y [rows, out] = x [rows, in] · w [out, in]ᵀ + b [out] (b may be NULL). */
void vkt_ref_linear_fwd(const double *x, const double *w, const double *b, double *y, int64_t rows,
                        int64_t in, int64_t out);
/* dx = dy·w, dw = dyᵀ·x, db = sum_rows dy; each NULL or overwritten. */
void vkt_ref_linear_bwd(const double *x, const double *w, const double *dy, double *dx, double *dw,
                        double *db, int64_t rows, int64_t in, int64_t out);

#endif
