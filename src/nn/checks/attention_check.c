/* Checks for flash attention: GPU forward (o, lse) and both backward passes (dq, dk, dv) against
 * the double reference that materialises the probabilities, for f32 and f16 storage, at odd
 * sizes (Tq 7..37, Tk 7..77, head dims 16..160 and 512, 1..3 heads, causal with Tq < Tk, = Tk
 * and > Tk), and the reference backward against central finite differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/fault.h"
#include "nn/check.h"
#include "nn/checks/ckbuf.h"
#include "nn/ops/attention.h"
#include "nn/ref/attention_ref.h"

enum { W_DQ = 1, W_DK = 2, W_DV = 4, W_ALL = 7 };

typedef struct attn_case {
    int64_t B, H, Tq, Tk, D;
    bool causal;
    vkt_grad_mode mode;
    int want;    /* gradients asked for (W_*) */
    bool no_lse; /* also run the forward without lse (inference), into a second o */
} attn_case;

typedef struct fd_user {
    const vkt_ref_attn *a;
    const double *q, *k, *v;
} fd_user;

static void fd_fwd(void *u, const double *x, double *y)
{
    (void)x; /* one of q, k, v in u, perturbed in place */
    fd_user *f = u;
    if (!vkt_ref_attention_fwd(f->a, f->q, f->k, f->v, y, NULL))
        for (int64_t n = 0; n < f->a->B * f->a->Tq * f->a->H * f->a->D; n++)
            y[n] = NAN;
}

static vkt_status one_case(vkt_check_ctx *ctx, const attn_case *c, vkt_dtype dt, vkt_err *err)
{
    vkt_status st = VKT_OK;
    ckbuf h[10] = {0}; /* q k v o lse dout dq dk dv o2 */
    double *wo = NULL, *wlse = NULL, *wdq = NULL, *wdk = NULL, *wdv = NULL, *odev = NULL;
    float *got = NULL;
    int64_t C = c->H * c->D, sq[3] = {c->B, c->Tq, C}, sk[3] = {c->B, c->Tk, C},
            sl[3] = {c->B, c->H, c->Tq};
    vkt_ref_attn a = {c->B, c->H, c->Tq, c->Tk, c->D, 1.0 / sqrt((double)c->D), c->causal};
    bool acc = c->mode == VKT_GRAD_ACCUMULATE;
    uint64_t rng = ctx->seed ^ (uint64_t)(c->Tq * 131 + c->Tk * 17 + c->D * 7 + c->H + c->causal);
    /* q, k in [-2, 2): scores scale*q·k have a standard deviation near 1.3, so rows range from
     * flat to peaked softmaxes. */
    if ((st = ckbuf_make(ctx, &h[0], dt, 3, sq, &rng, -2, 2, "q", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[1], dt, 3, sk, &rng, -2, 2, "k", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[2], dt, 3, sk, &rng, -1, 1, "v", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[3], dt, 3, sq, NULL, 0, 0, "o", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[4], VKT_F32, 3, sl, NULL, 0, 0, "lse", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[5], dt, 3, sq, &rng, -1, 1, "dout", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[6], dt, 3, sq, acc ? &rng : NULL, -1, 1, "dq", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[7], dt, 3, sk, acc ? &rng : NULL, -1, 1, "dk", err))) goto done;
    if ((st = ckbuf_make(ctx, &h[8], dt, 3, sk, acc ? &rng : NULL, -1, 1, "dv", err))) goto done;
    if (c->no_lse && (st = ckbuf_make(ctx, &h[9], dt, 3, sq, NULL, 0, 0, "o2", err))) goto done;
    wo = vkt_malloc(h[0].n * sizeof *wo);
    wlse = vkt_malloc(h[4].n * sizeof *wlse);
    wdq = vkt_malloc(h[0].n * sizeof *wdq);
    wdk = vkt_malloc(h[1].n * sizeof *wdk);
    wdv = vkt_malloc(h[1].n * sizeof *wdv);
    got = vkt_malloc(h[0].n * sizeof *got);
    if (!wo || !wlse || !wdq || !wdk || !wdv || !got) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "attention check");
        goto done;
    }

    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_attention_fwd(ctx->step, &h[0].t, &h[1].t, &h[2].t, (int)c->H, 0.0f, c->causal,
                                   &h[3].t, &h[4].t, err)))
        goto done;
    if (c->no_lse && (st = vkt_op_attention_fwd(ctx->step, &h[0].t, &h[1].t, &h[2].t, (int)c->H,
                                                0.0f, c->causal, &h[9].t, NULL, err)))
        goto done;
    if ((st = vkt_op_attention_bwd(ctx->step, &h[0].t, &h[1].t, &h[2].t, &h[3].t, &h[4].t, &h[5].t,
                                   (int)c->H, 0.0f, c->causal, c->want & W_DQ ? &h[6].t : NULL,
                                   c->want & W_DK ? &h[7].t : NULL, c->want & W_DV ? &h[8].t : NULL,
                                   c->mode, err)))
        goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;

    char desc[96], vf[64], vkv[64], vq[64];
    snprintf(desc, sizeof desc, "B%lld H%lld Tq%lld Tk%lld D%lld%s%s", (long long)c->B,
             (long long)c->H, (long long)c->Tq, (long long)c->Tk, (long long)c->D,
             c->causal ? " causal" : "", acc ? " +=" : "");
    snprintf(vf, sizeof vf, "attention_fwd_%s", vkt_dtype_name(dt));
    snprintf(vkv, sizeof vkv, "attention_bwd_%s_kv", vkt_dtype_name(dt));
    snprintf(vq, sizeof vq, "attention_bwd_%s_q", vkt_dtype_name(dt));

    /* Forward. o_i = sum_j p_ij v_j with |v| < 1: the fp32 error of p (exp and the running
     * rescaling, a few ulp each) and of the sums over at most 77 keys stays below 1e-6 of
     * sum_j p_ij |v_j| <= 1, so atol 2e-6 with rtol 1e-5.
     * f16: o is rounded to f16 (2^-11 relative, 3e-8 absolute below 6e-5): rtol 1e-3 and the
     * fp32 atol; lse stays f32. */
    double atol = 2e-6, rtol = dt == VKT_F16 ? 1e-3 : 1e-5;
    if (!vkt_ref_attention_fwd(&a, h[0].d, h[1].d, h[2].d, wo, wlse)) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "attention check");
        goto done;
    }
    if ((st =
             ckbuf_compare(ctx, &h[3], wo, false, "attention", vf, "fwd:o", desc, atol, rtol, err)))
        goto done;
    if (c->no_lse && (st = ckbuf_compare(ctx, &h[9], wo, false, "attention", vf, "fwd:o(no lse)",
                                         desc, atol, rtol, err)))
        goto done;
    /* lse = m + log l inherits the fp32 error of the scores, dot products of D terms summed in
     * fp32 (rounding ~2^-24 per step on partial sums of a few units: about 1e-6 at these D,
     * 1.2e-6 the most seen on lavapipe): atol 4e-6, rtol 1e-6. */
    if ((st = ckbuf_compare(ctx, &h[4], wlse, false, "attention", vf, "fwd:lse", desc, 4e-6, 1e-6,
                            err)))
        goto done;

    /* Backward from the GPU's own o (what the op reads). dq = scale sum_j p_ij (dp_ij - delta_i)
     * k_j with dp, delta dot products over D <= 512 of terms below 2: fp32 error of each about
     * sqrt(D) 2^-24 |terms| ~ 1e-6, times scale sum_j p_ij |k_j| <= 2 scale: atol 4e-6, rtol
     * 1e-5; f16 adds the output rounding: rtol 1e-3. */
    if ((st = ckbuf_get(ctx, &h[3], got, err))) goto done;
    odev = vkt_to_double(got, h[3].n);
    if (!odev || !vkt_ref_attention_bwd(&a, h[0].d, h[1].d, h[2].d, odev, h[5].d, wdq, wdk, wdv)) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "attention check");
        goto done;
    }
    atol = 4e-6;
    if (c->want & W_DQ && (st = ckbuf_compare(ctx, &h[6], wdq, acc, "attention", vq,
                                              acc ? "bwd:dq+=" : "bwd:dq", desc, atol, rtol, err)))
        goto done;
    if (c->want & W_DK && (st = ckbuf_compare(ctx, &h[7], wdk, acc, "attention", vkv,
                                              acc ? "bwd:dk+=" : "bwd:dk", desc, atol, rtol, err)))
        goto done;
    if (c->want & W_DV && (st = ckbuf_compare(ctx, &h[8], wdv, acc, "attention", vkv,
                                              acc ? "bwd:dv+=" : "bwd:dv", desc, atol, rtol, err)))
        goto done;

    if (!ctx->no_fd && dt == VKT_F32) {
        /* Reference backward from the reference o vs central differences, eps 1e-4 in double:
         * truncation ~eps^2 |L'''| ~ 1e-8, rounding ~1e-16 |L| / eps ~ 1e-11. */
        if (!vkt_ref_attention_bwd(&a, h[0].d, h[1].d, h[2].d, wo, h[5].d, wdq, wdk, wdv)) {
            st = vkt_fail(err, VKT_ERR_NOMEM, "attention check");
            goto done;
        }
        fd_user u = {&a, h[0].d, h[1].d, h[2].d};
        size_t ny = h[0].n;
        vkt_check_fd(ctx, "attention", "fd:dq", desc, fd_fwd, &u, h[0].d, h[0].n, ny, h[5].d, wdq,
                     1e-4, 1e-7, 1e-5, 48);
        vkt_check_fd(ctx, "attention", "fd:dk", desc, fd_fwd, &u, h[1].d, h[1].n, ny, h[5].d, wdk,
                     1e-4, 1e-7, 1e-5, 48);
        vkt_check_fd(ctx, "attention", "fd:dv", desc, fd_fwd, &u, h[2].d, h[2].n, ny, h[5].d, wdv,
                     1e-4, 1e-7, 1e-5, 48);
    }
done:
    ckbuf_free(ctx, h, 10);
    free(wo);
    free(wlse);
    free(wdq);
    free(wdk);
    free(wdv);
    free(odev);
    free(got);
    return st;
}

// clang-format off
static const attn_case cases[] = {
    /* CLIP-like causal self-attention, one head */
    {2, 1, 13, 13, 16, true, VKT_GRAD_OVERWRITE, W_ALL},
    /* three heads, fewer keys than queries, gradients accumulated */
    {2, 3, 13, 7, 24, false, VKT_GRAD_ACCUMULATE, W_ALL},
    /* UNet cross-attention: 77 context tokens (5 key blocks) */
    {2, 2, 13, 77, 40, false, VKT_GRAD_OVERWRITE, W_ALL, true},
    /* causal with Tq > Tk (top-left: late queries see every key), head dim 80 */
    {2, 1, 13, 7, 80, true, VKT_GRAD_OVERWRITE, W_ALL},
    /* causal with Tk > Tq: keys 7.. are seen by nobody (zero gradients); no dv asked for */
    {1, 2, 7, 20, 80, true, VKT_GRAD_OVERWRITE, W_DQ | W_DK},
    /* several query and key blocks with the causal diagonal inside them, accumulate */
    {2, 2, 37, 37, 40, true, VKT_GRAD_ACCUMULATE, W_ALL},
    /* largest SD1 head dim: the smallest blocks that fit 32 KiB of shared memory; dk, dv only */
    {1, 1, 19, 21, 160, false, VKT_GRAD_OVERWRITE, W_DK | W_DV},
    /* VAE mid-block: one head of 512 */
    {1, 1, 9, 11, 512, false, VKT_GRAD_OVERWRITE, W_ALL},
};
// clang-format on

vkt_status vkt_opcheck_attention(vkt_check_ctx *ctx, vkt_err *err)
{
    int n_cases = ctx->quick ? 4 : (int)(sizeof cases / sizeof cases[0]);
    vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    for (int d = 0; d < 2; d++) {
        if (!vkt_step_dtype_ok(ctx->step, dts[d])) continue;
        for (int i = 0; i < n_cases; i++) {
            vkt_status st = one_case(ctx, &cases[i], dts[d], err);
            if (st) return st;
        }
    }
    return VKT_OK;
}
