/* Checks for the timestep embedding: the reference's frequencies against the check values of
 * spec sd1-architecture §3.1, and the GPU against the reference for SD's C = 320, an odd C and
 * the sin-first order, with timesteps over the whole range 0..999, as int32 and as the float32
 * fractional timesteps of the k-diffusion samplers. No backward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fault.h"
#include "nn/checks/checkutil.h"
#include "nn/ops/timestep.h"
#include "nn/ref/timestep_ref.h"

static vkt_status one_case(vkt_check_ctx *ctx, int64_t C, bool cos_first, bool float_t, vkt_err *err)
{
    static const int32_t ts[] = {0, 1, 999, 500, 37, 998, 2};
    /* 20-step k-diffusion t values (999 * (1 - i/19)) and other fractions */
    static const float tsf[] = {999.0f, 946.421f, 0.5f, 473.6842f, 52.57895f, 998.99994f, 0.0f};
    const int64_t B = 7, tshape[1] = {B}, yshape[2] = {B, C};
    size_t n = (size_t)(B * C);
    vkt_status st = VKT_OK;
    char desc[96];
    snprintf(desc, sizeof desc, "t[%lld] %s C=%lld %s", (long long)B, float_t ? "f32" : "i32", (long long)C,
             cos_first ? "cos,sin" : "sin,cos");
    const char *variant = float_t ? "timestep_fwd_f32_tfloat" : "timestep_fwd_f32";
    const int64_t fshape[1] = {C / 2};
    float *got = vkt_malloc(n * 4), *hf = vkt_malloc((size_t)(C / 2) * 4);
    double *want = vkt_malloc(n * 8);
    vkt_tensor tt = {0}, tf = {0}, ty = {0};
    if (!got || !hf || !want) { st = vkt_fail(err, VKT_ERR_NOMEM, "timestep check"); goto done; }
    vkt_timestep_freqs(C / 2, 10000.0, hf);
    if (float_t) st = vkt_check_tensor(ctx, VKT_F32, 1, tshape, tsf, "t", &tt, err);
    else st = ck_tensor_i32(ctx, 1, tshape, ts, "t", &tt, err);
    if (st) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 1, fshape, hf, "freqs", &tf, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 2, yshape, NULL, "y", &ty, err))) goto done;
    if (float_t) vkt_ref_timestep_fwd_f(tsf, B, C, 10000.0, cos_first, want);
    else vkt_ref_timestep_fwd(ts, B, C, 10000.0, cos_first, want);
    for (int with_table = 1; with_table >= 0; with_table--) {
        if ((st = vkt_step_begin(ctx->step, err))) goto done;
        if ((st = vkt_op_timestep_fwd(ctx->step, &tt, with_table ? &tf : NULL, 10000.0f, cos_first, &ty, err)))
            goto done;
        if ((st = vkt_step_run(ctx->step, err))) goto done;
        if ((st = vkt_tensor_download_f32(ctx->dev, &ty, got, err))) goto done;
        /* With the table, freq and the correctly rounded product t*freq equal the reference's
         * float32 values bit for bit; what remains is vkt_sincos (<= ~2e-7: the DP2 step of the
         * reduction rounds at ulp(pi/4)/2, the polynomials are within an ulp) and the output
         * rounding (6e-8): 5e-7.
         * Without it the GPU's exp may be a few ulp off (Vulkan allows 3 + 2|x| ulp), which moves
         * the argument (ulp 6.1e-5 at t = 999) by an ulp or two: 2e-4 = three ulps at 999. */
        vkt_check_compare(ctx, "timestep", variant, with_table ? "fwd" : "fwd:gpu-exp", desc, got, want,
                          n, with_table ? 5e-7 : 2e-4, 0);
    }
done:
    vkt_tensor_free(ctx->dev, &tt);
    vkt_tensor_free(ctx->dev, &tf);
    vkt_tensor_free(ctx->dev, &ty);
    free(got);
    free(hf);
    free(want);
    return st;
}

vkt_status vkt_opcheck_timestep(vkt_check_ctx *ctx, vkt_err *err)
{
    /* Spec check values (half = 160): freq_0 = 1, freq_1 = 0.944060876..., freq_159 =
     * 1.0592537e-4. The reference rounds freq to float32 (6e-8 relative) and the spec quotes 8
     * digits (5e-8 relative): 2e-7 relative. */
    float got[3] = {(float)vkt_ref_timestep_freq(0, 160, 1e4), (float)vkt_ref_timestep_freq(1, 160, 1e4),
                    (float)vkt_ref_timestep_freq(159, 160, 1e4)};
    double want[3] = {1.0, 0.944060876, 1.0592537e-4};
    vkt_check_compare(ctx, "timestep", "ref", "spec:freq", "freq_0, freq_1, freq_159", got, want, 3, 0, 2e-7);

    static const struct { int64_t C; bool cos_first; } cases[] = {{320, true}, {13, true}, {8, false}};
    int nc = ctx->quick ? 2 : 3;
    for (int i = 0; i < nc; i++) {
        vkt_status st = one_case(ctx, cases[i].C, cases[i].cos_first, false, err);
        if (st) return st;
    }
    for (int i = 0; i < nc; i++) {
        vkt_status st = one_case(ctx, cases[i].C, cases[i].cos_first, true, err);
        if (st) return st;
    }
    return VKT_OK;
}
