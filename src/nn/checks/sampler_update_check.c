/* Checks for the sampler update: GPU vs the double reference, f32 and f16, at odd sizes, in both
 * layouts the samplers use: one eps tensor [2B, ...] from a batched [uncond; cond] UNet call read
 * at two element offsets, writing two copies of the next input; and two separate eps tensors,
 * one copy, no noise. The coefficient buffer is rewritten and the recorded step resubmitted, as
 * the sampling loop does. Forward only (no backward exists). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fault.h"
#include "nn/checks/checkutil.h"
#include "nn/checks/ckbuf.h"
#include "nn/ops/sampler_update.h"
#include "nn/ref/sampler_update_ref.h"

static vkt_status one_case(vkt_check_ctx *ctx, vkt_dtype dt, const int64_t *sx, bool batched, vkt_err *err)
{
    vkt_status st = VKT_OK;
    const int64_t B = sx[0], n = B * sx[1] * sx[2] * sx[3], copies = batched ? 2 : 1;
    const int64_t s2[4] = {2 * B, sx[1], sx[2], sx[3]}, sin[4] = {copies * B, sx[1], sx[2], sx[3]};
    char desc[96], vname[64];
    int k = snprintf(desc, sizeof desc, "%s x", batched ? "batched" : "separate");
    ck_shape_append(desc, sizeof desc, &k, 4, sx);
    snprintf(vname, sizeof vname, "sampler_update_fwd_%s", vkt_dtype_name(dt));
    ckbuf x = {0}, e2 = {0}, eu = {0}, ec = {0}, nz = {0}, coef = {0}, xin = {0};
    double *wx = vkt_malloc((size_t)n * 8), *wi = vkt_malloc((size_t)(copies * n) * 8);
    double *mag = vkt_malloc((size_t)(copies * n) * 8);
    float *got = vkt_malloc((size_t)(copies * n) * 4);
    if (!wx || !wi || !mag || !got) { st = vkt_fail(err, VKT_ERR_NOMEM, "sampler_update check"); goto done; }
    uint64_t rng = ctx->seed ^ (uint64_t)(n * 131) ^ (batched ? 0xba : 0x5e) ^ (dt == VKT_F16 ? 0x16 : 0x32);
    /* latents reach +-3 sigma_max (~44) at the first step; eps is about N(0, 1) */
    if ((st = ckbuf_make(ctx, &x, VKT_F32, 4, sx, &rng, -40, 40, "x", err))) goto done;
    if ((st = ckbuf_make(ctx, &nz, VKT_F32, 4, sx, &rng, -3, 3, "noise", err))) goto done;
    if ((st = ckbuf_make(ctx, &coef, VKT_F32, 1, (int64_t[]){4}, NULL, 0, 0, "coef", err))) goto done;
    if ((st = ckbuf_make(ctx, &xin, dt, 4, sin, NULL, 0, 0, "xin", err))) goto done;
    if (batched) {
        if ((st = ckbuf_make(ctx, &e2, dt, 4, s2, &rng, -3, 3, "eps", err))) goto done;
    } else {
        if ((st = ckbuf_make(ctx, &eu, dt, 4, sx, &rng, -3, 3, "eps uncond", err))) goto done;
        if ((st = ckbuf_make(ctx, &ec, dt, 4, sx, &rng, -3, 3, "eps cond", err))) goto done;
    }
    const vkt_tensor *tu = batched ? &e2.t : &eu.t, *tc = batched ? &e2.t : &ec.t;
    const double *du = batched ? e2.d : eu.d, *dc = batched ? e2.d + n : ec.d;
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_sampler_update_fwd(ctx->step, tu, 0, tc, batched ? n : 0, batched ? &nz.t : NULL, &coef.t,
                                        7.5f, &x.t, &xin.t, err)))
        goto done;
    if ((st = vkt_step_end(ctx->step, err))) goto done;
    /* two submits of the same recording with different coefficients: an Euler a step, then the
     * last step of a DDIM-like update; x carries over */
    static const float coefs[2][4] = {{1.0f, -1.37f, 0.61f, 0.0719f}, {0.9731f, -0.2113f, 0.0f, 1.0f}};
    for (size_t i = 0; i < (size_t)n; i++) wx[i] = x.d[i];
    for (int pass = 0; pass < 2 && !st; pass++) {
        /* the reference starts from the GPU's own x of the previous pass, so that errors do not
         * compound across passes */
        if (pass && (st = ckbuf_get(ctx, &x, got, err))) break;
        if (pass)
            for (size_t i = 0; i < (size_t)n; i++) wx[i] = got[i];
        if ((st = vkt_buffer_upload(ctx->dev, coef.t.buf, coef.t.offset, coefs[pass], sizeof coefs[pass], err)))
            break;
        if ((st = vkt_step_submit(ctx->step, err))) break;
        double c[4] = {coefs[pass][0], coefs[pass][1], coefs[pass][2], coefs[pass][3]};
        /* error bound: every term of x' = a x + b (eu + cfg (ec - eu)) + s noise is rounded a few
         * times (difference, two products, sums: 6u of the sum of |terms|); xin adds the product
         * by c_in (1u) and, for f16, the store. */
        for (size_t i = 0; i < (size_t)n; i++)
            mag[i] = fabs(c[0] * wx[i]) + fabs(c[1]) * (fabs(du[i]) + 7.5 * (fabs(dc[i]) + fabs(du[i]))) +
                     (batched ? fabs(c[2] * nz.d[i]) : 0.0);
        vkt_ref_sampler_update_fwd(n, du, dc, batched ? nz.d : NULL, c, 7.5, copies, wx, wi);
        if ((st = ckbuf_get(ctx, &x, got, err))) break;
        vkt_check_compare_mag(ctx, "sampler_update", vname, pass ? "fwd:x:resubmit" : "fwd:x", desc, got, wx, mag,
                              (size_t)n, 0, 0, 6 * CK_EPS32);
        for (int64_t r = 1; r < copies; r++)
            for (int64_t i = 0; i < n; i++) mag[r * n + i] = mag[i];
        for (int64_t i = 0; i < copies * n; i++) mag[i] *= fabs(c[3]);
        if ((st = ckbuf_get(ctx, &xin, got, err))) break;
        vkt_check_compare_mag(ctx, "sampler_update", vname, pass ? "fwd:xin:resubmit" : "fwd:xin", desc, got, wi,
                              mag, (size_t)(copies * n), dt == VKT_F16 ? CK_F16_STORE_ABS : 0,
                              dt == VKT_F16 ? CK_F16_STORE_REL : 0, 7 * CK_EPS32);
    }
done:
    ckbuf_free(ctx, &x, 1), ckbuf_free(ctx, &e2, 1), ckbuf_free(ctx, &eu, 1), ckbuf_free(ctx, &ec, 1);
    ckbuf_free(ctx, &nz, 1), ckbuf_free(ctx, &coef, 1), ckbuf_free(ctx, &xin, 1);
    free(wx), free(wi), free(mag), free(got);
    return st;
}

vkt_status vkt_opcheck_sampler_update(vkt_check_ctx *ctx, vkt_err *err)
{
    static const int64_t cases[][4] = {
        {2, 3, 5, 7},   /* odd sizes, B > 1 */
        {1, 4, 13, 21}, /* SD's 4 latent channels, several workgroups */
    };
    const vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    for (int d = 0; d < 2; d++) {
        if (!vkt_step_dtype_ok(ctx->step, dts[d])) continue;
        for (int i = 0; i < 2; i++)
            for (int batched = 1; batched >= 0; batched--) {
                if (ctx->quick && i) continue;
                vkt_status st = one_case(ctx, dts[d], cases[i], batched, err);
                if (st) return st;
            }
    }
    return VKT_OK;
}
