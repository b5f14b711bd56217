/* Attention in double from the definition (torch.nn.functional.scaled_dot_product_attention
 * with is_causal: a lower-triangular mask aligned to the top-left corner). */
#include "nn/ref/attention_ref.h"

#include <math.h>
#include <stdlib.h>

/* Element d of head h of token t of batch b in a [B, T, H*D] array. */
static size_t ix(const vkt_ref_attn *a, int64_t b, int64_t T, int64_t t, int64_t h, int64_t d)
{
    return (size_t)(((b * T + t) * a->H + h) * a->D + d);
}

/* p[j] = softmax_j(s_ij) for one query row (p has Tk entries, masked ones 0); returns lse. */
static double probs(const vkt_ref_attn *a, const double *q, const double *k, int64_t b, int64_t h,
                    int64_t i, double *p)
{
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < a->Tk; j++) {
        if (a->causal && j > i) {
            p[j] = -INFINITY;
            continue;
        }
        double dot = 0;
        for (int64_t d = 0; d < a->D; d++)
            dot += q[ix(a, b, a->Tq, i, h, d)] * k[ix(a, b, a->Tk, j, h, d)];
        p[j] = a->scale * dot;
        m = fmax(m, p[j]);
    }
    for (int64_t j = 0; j < a->Tk; j++) {
        p[j] = isinf(p[j]) ? 0.0 : exp(p[j] - m);
        s += p[j];
    }
    for (int64_t j = 0; j < a->Tk; j++)
        p[j] /= s;
    return m + log(s);
}

bool vkt_ref_attention_fwd(const vkt_ref_attn *a, const double *q, const double *k, const double *v,
                           double *o, double *lse)
{
    double *p = malloc((size_t)a->Tk * sizeof *p);
    if (!p) return false;
    for (int64_t b = 0; b < a->B; b++)
        for (int64_t h = 0; h < a->H; h++)
            for (int64_t i = 0; i < a->Tq; i++) {
                double l = probs(a, q, k, b, h, i, p);
                if (lse) lse[(b * a->H + h) * a->Tq + i] = l;
                for (int64_t d = 0; d < a->D; d++) {
                    double s = 0;
                    for (int64_t j = 0; j < a->Tk; j++)
                        s += p[j] * v[ix(a, b, a->Tk, j, h, d)];
                    o[ix(a, b, a->Tq, i, h, d)] = s;
                }
            }
    free(p);
    return true;
}

bool vkt_ref_attention_bwd(const vkt_ref_attn *a, const double *q, const double *k, const double *v,
                           const double *o, const double *dout, double *dq, double *dk, double *dv)
{
    size_t nq = (size_t)(a->B * a->Tq * a->H * a->D), nk = (size_t)(a->B * a->Tk * a->H * a->D);
    for (size_t n = 0; dq && n < nq; n++)
        dq[n] = 0;
    for (size_t n = 0; dk && n < nk; n++)
        dk[n] = 0;
    for (size_t n = 0; dv && n < nk; n++)
        dv[n] = 0;
    double *p = malloc((size_t)a->Tk * sizeof *p);
    if (!p) return false;
    for (int64_t b = 0; b < a->B; b++)
        for (int64_t h = 0; h < a->H; h++)
            for (int64_t i = 0; i < a->Tq; i++) {
                probs(a, q, k, b, h, i, p);
                double delta = 0;
                for (int64_t d = 0; d < a->D; d++)
                    delta += dout[ix(a, b, a->Tq, i, h, d)] * o[ix(a, b, a->Tq, i, h, d)];
                for (int64_t j = 0; j < a->Tk; j++) {
                    if (p[j] == 0.0) continue; /* masked (or underflowed: contributes nothing) */
                    double dp = 0;
                    for (int64_t d = 0; d < a->D; d++)
                        dp += dout[ix(a, b, a->Tq, i, h, d)] * v[ix(a, b, a->Tk, j, h, d)];
                    double ds = p[j] * (dp - delta);
                    for (int64_t d = 0; d < a->D; d++) {
                        if (dq)
                            dq[ix(a, b, a->Tq, i, h, d)] +=
                                a->scale * ds * k[ix(a, b, a->Tk, j, h, d)];
                        if (dk)
                            dk[ix(a, b, a->Tk, j, h, d)] +=
                                a->scale * ds * q[ix(a, b, a->Tq, i, h, d)];
                        if (dv)
                            dv[ix(a, b, a->Tk, j, h, d)] += p[j] * dout[ix(a, b, a->Tq, i, h, d)];
                    }
                }
            }
    free(p);
    return true;
}
