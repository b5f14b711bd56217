/* Broadcasting binary ops in double: plain loops over y with explicit index arithmetic. */
#include "nn/ref/binary_ref.h"

#include <string.h>

static int64_t numel(vkt_ref_shape s)
{
    int64_t n = 1;
    for (int i = 0; i < s.nd; i++) n *= s.d[i];
    return n;
}

/* Linear index into x (right-aligned against y, size-1 dims broadcast) of y's element yi. */
static int64_t index_in(vkt_ref_shape x, vkt_ref_shape y, int64_t yi)
{
    int64_t xi = 0, stride = 1;
    for (int d = y.nd - 1; d >= 0; d--) {
        int64_t c = yi % y.d[d];
        yi /= y.d[d];
        int k = d - (y.nd - x.nd);
        if (k < 0) continue;
        if (x.d[k] != 1) xi += c * stride;
        stride *= x.d[k];
    }
    return xi;
}

void vkt_ref_binary_fwd(vkt_binary op, double alpha, double beta, vkt_ref_shape as, const double *a,
                        vkt_ref_shape bs, const double *b, vkt_ref_shape ys, double *y)
{
    int64_t n = numel(ys);
    for (int64_t i = 0; i < n; i++) {
        double va = a[index_in(as, ys, i)];
        double vb = op == VKT_BINARY_SCALE ? 0.0 : b[index_in(bs, ys, i)];
        if (op == VKT_BINARY_ADD) y[i] = alpha * va + beta * vb;
        else if (op == VKT_BINARY_MUL) y[i] = alpha * va * vb;
        else y[i] = alpha * va + beta;
    }
}

void vkt_ref_binary_bwd(vkt_binary op, double alpha, double beta, vkt_ref_shape as, const double *a,
                        vkt_ref_shape bs, const double *b, vkt_ref_shape ys, const double *dy, double *da,
                        double *db)
{
    if (da) memset(da, 0, (size_t)numel(as) * sizeof *da);
    if (db && op != VKT_BINARY_SCALE) memset(db, 0, (size_t)numel(bs) * sizeof *db);
    int64_t n = numel(ys);
    for (int64_t i = 0; i < n; i++) {
        int64_t ia = index_in(as, ys, i), ib = op == VKT_BINARY_SCALE ? 0 : index_in(bs, ys, i);
        if (op == VKT_BINARY_MUL) {
            if (da) da[ia] += alpha * dy[i] * b[ib];
            if (db) db[ib] += alpha * dy[i] * a[ia];
        } else {
            if (da) da[ia] += alpha * dy[i];
            if (db && op == VKT_BINARY_ADD) db[ib] += beta * dy[i];
        }
    }
}
