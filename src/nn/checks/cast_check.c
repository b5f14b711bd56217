/* Checks for cast: f32 -> f16 must equal the host's round-to-nearest-even conversion up to the
 * rounding freedom Vulkan allows (one f16 ulp), f16 -> f32 must be exact, same-dtype is a copy. */
#include <math.h>
#include <stdlib.h>

#include "base/fault.h"
#include "nn/check.h"
#include "nn/ops/cast.h"

vkt_status vkt_opcheck_cast(vkt_check_ctx *ctx, vkt_err *err)
{
    const size_t n = 1037;
    vkt_status st = VKT_OK;
    float *h = vkt_malloc(n * 4), *got = vkt_malloc(n * 4);
    double *want = vkt_malloc(n * 8);
    vkt_tensor a = {0}, b = {0}, c = {0};
    if (!h || !got || !want) { st = vkt_fail(err, VKT_ERR_NOMEM, "cast check"); goto done; }
    uint64_t rng = ctx->seed;
    vkt_rng_fill(&rng, h, n, -70000.0, 70000.0);
    for (size_t i = 0; i < n / 2; i++) h[i] *= 1e-5f; /* small and subnormal-range values too */
    int64_t shape[2] = {1, (int64_t)n};
    bool f16 = vkt_step_dtype_ok(ctx->step, VKT_F16);
    if ((st = vkt_check_tensor(ctx, VKT_F32, 2, shape, h, "x", &a, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 2, shape, NULL, "copy", &c, err))) goto done;
    if (f16 && (st = vkt_check_tensor(ctx, VKT_F16, 2, shape, NULL, "h", &b, err))) goto done;
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_cast(ctx->step, &a, &c, err))) goto done;
    if (f16 && (st = vkt_op_cast(ctx->step, &a, &b, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    for (size_t i = 0; i < n; i++) want[i] = h[i];
    if ((st = vkt_tensor_download_f32(ctx->dev, &c, got, err))) goto done;
    vkt_check_compare(ctx, "cast", "copy", "f32->f32", "[1,1037]", got, want, n, 0, 0);
    if (f16) {
        /* the reference: round to nearest even; a driver may round either way (Vulkan allows
         * any f16 rounding), so allow one f16 ulp; |x| > 65504 overflows to inf either way */
        for (size_t i = 0; i < n; i++) want[i] = vkt_f16_to_f32(vkt_f32_to_f16(h[i]));
        if ((st = vkt_tensor_download_f32(ctx->dev, &b, got, err))) goto done;
        for (size_t i = 0; i < n; i++)
            if (isinf(want[i]) && isinf(got[i]) && (want[i] > 0) == (got[i] > 0)) { got[i] = 0; want[i] = 0; }
        vkt_check_compare(ctx, "cast", "cast_fwd_f16", "f32->f16", "[1,1037]", got, want, n, 6e-8, 9.8e-4);
        /* back to f32: exact */
        vkt_tensor back = {0};
        if ((st = vkt_check_tensor(ctx, VKT_F32, 2, shape, NULL, "back", &back, err))) goto done;
        if (!(st = vkt_step_begin(ctx->step, err)) && !(st = vkt_op_cast(ctx->step, &b, &back, err)) &&
            !(st = vkt_step_run(ctx->step, err))) {
            float *g16 = vkt_malloc(n * 4);
            if (g16 && !(st = vkt_tensor_download_f32(ctx->dev, &b, g16, err)) &&
                !(st = vkt_tensor_download_f32(ctx->dev, &back, got, err))) {
                for (size_t i = 0; i < n; i++) {
                    want[i] = g16[i];
                    if (isinf(g16[i]) && got[i] == g16[i]) want[i] = got[i] = 0; /* inf stays inf */
                }
                vkt_check_compare(ctx, "cast", "cast_bwd_f16", "f16->f32", "[1,1037]", got, want, n, 0, 0);
            }
            free(g16);
        }
        vkt_tensor_free(ctx->dev, &back);
    }
done:
    vkt_tensor_free(ctx->dev, &a);
    vkt_tensor_free(ctx->dev, &b);
    vkt_tensor_free(ctx->dev, &c);
    free(h); free(got); free(want);
    return st;
}
