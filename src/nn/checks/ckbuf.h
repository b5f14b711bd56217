/* Host + device copies of one check operand, shared by the matmul, softmax and attention checks:
 * the values the GPU sees (f16-rounded for f16 variants) as float and double, and the device
 * tensor. Not an op family: only files named <family>_check.c are registered. */
#ifndef VKT_NN_CHECKS_CKBUF_H
#define VKT_NN_CHECKS_CKBUF_H

#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "nn/check.h"

typedef struct ckbuf {
    size_t n;
    float *f;
    double *d;
    vkt_tensor t;
} ckbuf;

/* Fills b with uniform values in [lo, hi) from rng (zeros when rng is NULL), rounded to f16 for
 * f16 tensors, and uploads them. */
static inline vkt_status ckbuf_make(vkt_check_ctx *ctx, ckbuf *b, vkt_dtype dt, int ndim,
                                    const int64_t *shape, uint64_t *rng, double lo, double hi,
                                    const char *what, vkt_err *err)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    b->n = n;
    b->f = vkt_malloc((n ? n : 1) * sizeof *b->f);
    if (!b->f) return vkt_fail(err, VKT_ERR_NOMEM, "check: %s", what);
    if (rng)
        vkt_rng_fill(rng, b->f, n, lo, hi);
    else
        memset(b->f, 0, n * sizeof *b->f);
    if (dt == VKT_F16) vkt_round_f16(b->f, n);
    b->d = vkt_to_double(b->f, n);
    if (!b->d) return vkt_fail(err, VKT_ERR_NOMEM, "check: %s", what);
    return vkt_check_tensor(ctx, dt, ndim, shape, b->f, what, &b->t, err);
}

/* Frees n buffers (zeroed ones too) and zeroes them. */
static inline void ckbuf_free(vkt_check_ctx *ctx, ckbuf *b, int n)
{
    for (int i = 0; i < n; i++) {
        vkt_tensor_free(ctx->dev, &b[i].t);
        free(b[i].f);
        free(b[i].d);
        memset(&b[i], 0, sizeof b[i]);
    }
}

/* Downloads b's tensor into got (b->n floats, caller's). */
static inline vkt_status ckbuf_get(vkt_check_ctx *ctx, const ckbuf *b, float *got, vkt_err *err)
{
    return vkt_tensor_download_f32(ctx->dev, &b->t, got, err);
}

/* Downloads b's tensor and compares it with want, plus b's initial values when acc (the
 * accumulate base). */
static inline vkt_status ckbuf_compare(vkt_check_ctx *ctx, const ckbuf *b, const double *want,
                                       bool acc, const char *op, const char *variant,
                                       const char *what, const char *desc, double atol, double rtol,
                                       vkt_err *err)
{
    float *got = vkt_malloc((b->n ? b->n : 1) * sizeof *got);
    double *w = vkt_malloc((b->n ? b->n : 1) * sizeof *w);
    vkt_status st = VKT_OK;
    if (!got || !w) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "%s check", op);
        goto done;
    }
    for (size_t i = 0; i < b->n; i++)
        w[i] = want[i] + (acc ? b->d[i] : 0.0);
    if ((st = ckbuf_get(ctx, b, got, err))) goto done;
    vkt_check_compare(ctx, op, variant, what, desc, got, w, b->n, atol, rtol);
done:
    free(got);
    free(w);
    return st;
}

#endif
