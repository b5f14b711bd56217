/* Matmul and linear in double, written from the definitions (torch.matmul,
 * torch.nn.functional.linear). */
#include "nn/ref/matmul_ref.h"

#include <stddef.h>

void vkt_ref_matmul_strided(int64_t batch, int64_t M, int64_t N, int64_t K, const double *a,
                            vkt_ref_operand ao, const double *b, vkt_ref_operand bo,
                            const double *bias, double alpha, bool accumulate, double *c,
                            vkt_ref_operand co)
{
    if (!accumulate)
        for (int64_t t = 0; t < batch; t++)
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++)
                    c[co.offset + t * co.batch_stride + m * co.row_stride + n * co.col_stride] = 0;
    for (int64_t t = 0; t < batch; t++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++)
                    s +=
                        a[ao.offset + t * ao.batch_stride + m * ao.row_stride + k * ao.col_stride] *
                        b[bo.offset + t * bo.batch_stride + k * bo.row_stride + n * bo.col_stride];
                s *= alpha;
                if (bias && (t == 0 || co.batch_stride != 0)) s += bias[n];
                c[co.offset + t * co.batch_stride + m * co.row_stride + n * co.col_stride] += s;
            }
}

/* Index of op(x)[t, r, c] in a dense [.., R, C] array ([.., C, R] when transposed). */
static size_t at(int64_t t, bool bcast, bool trans, int64_t R, int64_t C, int64_t r, int64_t c)
{
    int64_t base = bcast ? 0 : t * R * C;
    return (size_t)(base + (trans ? c * R + r : r * C + c));
}

void vkt_ref_matmul_fwd(const double *a, bool ta, bool a_bcast, const double *b, bool tb,
                        bool b_bcast, const double *bias, double alpha, double *c, int64_t batch,
                        int64_t M, int64_t N, int64_t K)
{
    for (int64_t t = 0; t < batch; t++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++)
                    s += a[at(t, a_bcast, ta, M, K, m, k)] * b[at(t, b_bcast, tb, K, N, k, n)];
                c[(t * M + m) * N + n] = alpha * s + (bias ? bias[n] : 0.0);
            }
}

void vkt_ref_matmul_bwd(const double *a, bool ta, bool a_bcast, const double *b, bool tb,
                        bool b_bcast, double alpha, const double *dc, double *da, double *db,
                        double *dbias, int64_t batch, int64_t M, int64_t N, int64_t K)
{
    int64_t na = (a_bcast ? 1 : batch) * M * K, nb = (b_bcast ? 1 : batch) * K * N;
    if (da)
        for (int64_t i = 0; i < na; i++)
            da[i] = 0;
    if (db)
        for (int64_t i = 0; i < nb; i++)
            db[i] = 0;
    if (dbias)
        for (int64_t n = 0; n < N; n++)
            dbias[n] = 0;
    for (int64_t t = 0; t < batch; t++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double g = dc[(t * M + m) * N + n];
                if (dbias) dbias[n] += g;
                for (int64_t k = 0; k < K; k++) {
                    /* c[m,n] = alpha sum_k A[m,k] B[k,n]: dA[m,k] += alpha g B[k,n], dB[k,n] +=
                     * alpha g A[m,k] */
                    if (da)
                        da[at(t, a_bcast, ta, M, K, m, k)] +=
                            alpha * g * b[at(t, b_bcast, tb, K, N, k, n)];
                    if (db)
                        db[at(t, b_bcast, tb, K, N, k, n)] +=
                            alpha * g * a[at(t, a_bcast, ta, M, K, m, k)];
                }
            }
}

void vkt_ref_linear_fwd(const double *x, const double *w, const double *b, double *y, int64_t rows,
                        int64_t in, int64_t out)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (int64_t i = 0; i < in; i++)
                s += x[r * in + i] * w[o * in + i];
            y[r * out + o] = s;
        }
}

void vkt_ref_linear_bwd(const double *x, const double *w, const double *dy, double *dx, double *dw,
                        double *db, int64_t rows, int64_t in, int64_t out)
{
    if (dx)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t i = 0; i < in; i++) {
                double s = 0;
                for (int64_t o = 0; o < out; o++)
                    s += dy[r * out + o] * w[o * in + i];
                dx[r * in + i] = s;
            }
    if (dw)
        for (int64_t o = 0; o < out; o++)
            for (int64_t i = 0; i < in; i++) {
                double s = 0;
                for (int64_t r = 0; r < rows; r++)
                    s += dy[r * out + o] * x[r * in + i];
                dw[o * in + i] = s;
            }
    if (db)
        for (int64_t o = 0; o < out; o++) {
            double s = 0;
            for (int64_t r = 0; r < rows; r++)
                s += dy[r * out + o];
            db[o] = s;
        }
}
