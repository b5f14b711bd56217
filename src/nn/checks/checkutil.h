/* Small static helpers shared by the check files in this folder (case names, int32 uploads,
 * summation-error bounds). Not an op family: only files named <family>_check.c are registered. */
#ifndef VKT_NN_CHECKS_CHECKUTIL_H
#define VKT_NN_CHECKS_CHECKUTIL_H

#include <math.h>
#include <stdio.h>

#include "nn/check.h"

#define CK_EPS32 5.9604644775390625e-8 /* 2^-24: unit roundoff of float32 */
#define CK_EPS16 4.8828125e-4          /* 2^-11: unit roundoff of float16 */
/* Error of storing a float32 as float16: Vulkan leaves the conversion's rounding mode to the
 * implementation (round-to-nearest-even or toward zero), so up to one f16 ulp: 2^-10 relative,
 * and 2^-24 absolute in the subnormal range. */
#define CK_F16_STORE_REL (2 * CK_EPS16)
#define CK_F16_STORE_ABS 5.9604644775390625e-8

static inline size_t ck_numel(int nd, const int64_t *s)
{
    size_t n = 1;
    for (int i = 0; i < nd; i++) n *= (size_t)s[i];
    return n;
}

/* Appends "[2,3,5]" to buf at *k. */
static inline void ck_shape_append(char *buf, size_t n, int *k, int nd, const int64_t *s)
{
    *k += snprintf(buf + *k, *k < (int)n ? n - (size_t)*k : 0, "[");
    for (int i = 0; i < nd; i++)
        *k += snprintf(buf + *k, *k < (int)n ? n - (size_t)*k : 0, "%s%lld", i ? "," : "", (long long)s[i]);
    *k += snprintf(buf + *k, *k < (int)n ? n - (size_t)*k : 0, "]");
}

/* An int32 device tensor holding host[] (the float upload path would convert). */
static inline vkt_status ck_tensor_i32(vkt_check_ctx *ctx, int nd, const int64_t *shape, const int32_t *host,
                                       const char *what, vkt_tensor *out, vkt_err *err)
{
    vkt_tensor t;
    vkt_status st = vkt_tensor_alloc(ctx->dev, VKT_I32, nd, shape, what, &t, err);
    if (st) return st;
    st = vkt_buffer_upload(ctx->dev, t.buf, t.offset, host, vkt_tensor_bytes(&t), err);
    if (st) {
        vkt_tensor_free(ctx->dev, &t);
        return st;
    }
    *out = t;
    return VKT_OK;
}

/* Vulkan's float32 accuracy for what is not correctly rounded, in units of CK_EPS32 (u = half an
 * ULP): division 2.5 ULP (5u), sqrt as 1/inversesqrt (2 + 2.5 ULP: 9u), exp(x) (3 + 2|x|) ULP. */
#define CK_DIV_U 5.0
#define CK_SQRT_U 9.0
static inline double ck_exp_u(double x) { return 6.0 + 4.0 * fabs(x); }

/* First-order bound on the float32 rounding error of a sum whose longest chain of dependent
 * additions has `depth` steps: |err| <= depth * u * sum|terms| (Higham, Accuracy and Stability,
 * eq. 4.3), with one more u for the rounding of each term. */
static inline double ck_sum_bound(double depth, double sum_abs) { return (depth + 1.0) * CK_EPS32 * sum_abs; }

/* ceil(log2(n)) for n >= 1: the depth of a shared-memory tree over n partials. */
static inline int ck_log2i(uint32_t n)
{
    int d = 0;
    while ((1u << d) < n) d++;
    return d;
}

#endif
