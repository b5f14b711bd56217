/* C side of shaders/attention.comp: shape checks, block sizes that fit the device's shared
 * memory, dispatch of the forward and the two backward passes. */
#include "nn/ops/attention.h"

#include <math.h>
#include <stdio.h>

struct attn_pc { /* mirrors `PC` in shaders/attention.comp */
    uint32_t B, H, Tq, Tk;
    float scale;
    uint32_t causal, accumulate, flags;
};
_Static_assert(sizeof(struct attn_pc) <= 128, "push constants must fit 128 bytes");

typedef enum kern { K_FWD, K_KV, K_Q } kern;

/* Specialization constants 0..5 of one pipeline. */
typedef struct attn_cfg {
    uint32_t wg, bq, bk, tpr, dpt, d;
} attn_cfg;

/* Shared memory of a kernel, mirroring the declarations in the shader (floats, rows of q/k/v/do
 * padded to D+1, score tiles to BK+1). */
static size_t shared_bytes(kern k, size_t bq, size_t bk, size_t d, size_t wg)
{
    size_t ds = d + 1, ss = bk + 1, f = 2 * bk * ds;         /* sK, sV */
    if (k == K_FWD) f += bq * ds + bq * ss;                  /* sQ, sS */
    if (k == K_Q) f += 2 * bq * ds + bq * ss + bq + wg + bq; /* sQ sdO, sdS, sL, sPart, sDelta */
    if (k == K_KV) f += 2 * bq * ds + 2 * bq * ss + bq + wg; /* sQ sdO, sdS sP, sL, sPart */
    return f * sizeof(float);
}

/* TPR invocations per row, each owning ceil(D/TPR) <= 10 head-dim elements for D <= 160; then
 * the largest query/key blocks whose staging fits shared memory (16x16 fits every pass up to
 * D = 80 in 32 KiB, D = 160 takes 16x8). */
static vkt_status pick_cfg(const vkt_step *s, kern k, uint32_t d, attn_cfg *out, vkt_err *err)
{
    static const uint32_t cand[][2] = {{16, 16}, {16, 8}, {8, 16}, {8, 8}, {8, 4}, {4, 8}, {4, 4},
                                       {2, 4},   {4, 2},  {2, 2},  {1, 2}, {2, 1}, {1, 1}};
    const vkt_device_info *inf = s->info;
    uint32_t tpr = 4;
    while (tpr < 16 && tpr * 8 < d)
        tpr *= 2;
    for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++) {
        uint32_t bq = cand[i][0], bk = cand[i][1], wg = (k == K_KV ? bk : bq) * tpr;
        if (wg > inf->max_wg_invocations || wg > inf->max_wg_size[0]) continue;
        if (k == K_KV && wg % bq) continue; /* staged query rows get WG/BQ invocations each */
        if (shared_bytes(k, bq, bk, d, wg) > inf->max_shared_bytes) continue;
        *out = (attn_cfg){wg, bq, bk, tpr, (d + tpr - 1) / tpr, d};
        return VKT_OK;
    }
    return vkt_fail(err, VKT_ERR_UNSUPPORTED,
                    "attention: head dim %u needs more than the device's %u bytes of shared memory",
                    d, inf->max_shared_bytes);
}

static vkt_status pipeline(vkt_step *s, kern k, vkt_dtype dt, uint32_t d, uint32_t n_bind,
                           attn_cfg *cfg, vkt_pipeline **p, vkt_err *err)
{
    vkt_status st = pick_cfg(s, k, d, cfg, err);
    if (st) return st;
    char v[64];
    if (k == K_FWD)
        snprintf(v, sizeof v, "attention_fwd_%s", vkt_dtype_name(dt));
    else
        snprintf(v, sizeof v, "attention_bwd_%s_%s", vkt_dtype_name(dt), k == K_KV ? "kv" : "q");
    uint32_t spec[6] = {cfg->wg, cfg->bq, cfg->bk, cfg->tpr, cfg->dpt, cfg->d};
    return vkt_step_pipeline(s, v, n_bind, sizeof(struct attn_pc), spec, 6, p, err);
}

static vkt_status need_shape(const char *what, const vkt_tensor *t, int64_t a, int64_t b, int64_t c,
                             vkt_err *err)
{
    if (t->ndim == 3 && t->shape[0] == a && t->shape[1] == b && t->shape[2] == c) return VKT_OK;
    char sh[96];
    return vkt_fail(err, VKT_ERR_SHAPE, "attention: %s shape %s, expected [%lld,%lld,%lld]", what,
                    vkt_shape_str(t, sh, sizeof sh), (long long)a, (long long)b, (long long)c);
}

/* Checks q [B, Tq, C], k and v [B, Tk, C], C = heads*D, dtypes, sizes; fills pc and D. */
static vkt_status check_qkv(vkt_step *s, const vkt_tensor *q, const vkt_tensor *k,
                            const vkt_tensor *v, int heads, float scale, bool causal,
                            struct attn_pc *pc, uint32_t *d, vkt_err *err)
{
    char sh[96];
    if (q->ndim != 3 || k->ndim != 3)
        return vkt_fail(err, VKT_ERR_SHAPE, "attention: q %s: expected [B, T, heads*D]",
                        vkt_shape_str(q, sh, sizeof sh));
    int64_t B = q->shape[0], Tq = q->shape[1], C = q->shape[2], Tk = k->shape[1];
    if (heads < 1 || C % heads || B < 1 || Tq < 1 || Tk < 1)
        return vkt_fail(err, VKT_ERR_SHAPE, "attention: q %s with %d heads",
                        vkt_shape_str(q, sh, sizeof sh), heads);
    vkt_status st = need_shape("k", k, B, Tk, C, err);
    if (!st) st = need_shape("v", v, B, Tk, C, err);
    const vkt_tensor *ts[] = {q, k, v};
    if (!st) st = vkt_check_dtype("attention", q->dtype, ts, 3, err);
    if (st) return st;
    if (!vkt_step_dtype_ok(s, q->dtype))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED,
                        "attention: dtype %s not supported on this device",
                        vkt_dtype_name(q->dtype));
    if (vkt_tensor_numel(q) > UINT32_MAX || vkt_tensor_numel(k) > UINT32_MAX ||
        B * heads * Tq > UINT32_MAX)
        return vkt_fail(err, VKT_ERR_SHAPE, "attention: tensors above 32-bit indexing");
    *d = (uint32_t)(C / heads);
    *pc = (struct attn_pc){(uint32_t)B,
                           (uint32_t)heads,
                           (uint32_t)Tq,
                           (uint32_t)Tk,
                           scale != 0.0f ? scale : (float)(1.0 / sqrt((double)*d)),
                           causal,
                           0,
                           0};
    return VKT_OK;
}

static vkt_status check_lse(const vkt_tensor *lse, const struct attn_pc *pc, vkt_err *err)
{
    if (lse->dtype != VKT_F32) return vkt_fail(err, VKT_ERR_SHAPE, "attention: lse must be f32");
    return need_shape("lse", lse, pc->B, pc->H, pc->Tq, err);
}

vkt_status vkt_op_attention_fwd(vkt_step *s, const vkt_tensor *q, const vkt_tensor *k,
                                const vkt_tensor *v, int heads, float scale, bool causal,
                                vkt_tensor *o, vkt_tensor *lse, vkt_err *err)
{
    struct attn_pc pc;
    uint32_t d;
    vkt_status st = check_qkv(s, q, k, v, heads, scale, causal, &pc, &d, err);
    if (!st) st = vkt_check_same_shape("attention", "o", o, q, err);
    const vkt_tensor *ts[] = {o};
    if (!st) st = vkt_check_dtype("attention", q->dtype, ts, 1, err);
    if (!st && lse) st = check_lse(lse, &pc, err);
    attn_cfg cfg;
    vkt_pipeline *p;
    if (!st) st = pipeline(s, K_FWD, q->dtype, d, 5, &cfg, &p, err);
    if (st) return st;
    pc.flags = lse ? 1u : 0u;
    vkt_bind b[5] = {vkt_tensor_bind_r(q), vkt_tensor_bind_r(k), vkt_tensor_bind_r(v),
                     vkt_tensor_bind_w(o), lse ? vkt_tensor_bind_w(lse) : vkt_tensor_bind_r(q)};
    uint64_t groups = (uint64_t)pc.B * pc.H * vkt_groups(pc.Tq, cfg.bq);
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, groups, "attention_fwd", err);
}

vkt_status vkt_op_attention_bwd(vkt_step *s, const vkt_tensor *q, const vkt_tensor *k,
                                const vkt_tensor *v, const vkt_tensor *o, const vkt_tensor *lse,
                                const vkt_tensor *dout, int heads, float scale, bool causal,
                                vkt_tensor *dq, vkt_tensor *dk, vkt_tensor *dv, vkt_grad_mode mode,
                                vkt_err *err)
{
    struct attn_pc pc;
    uint32_t d;
    vkt_status st = check_qkv(s, q, k, v, heads, scale, causal, &pc, &d, err);
    if (!st) st = vkt_check_same_shape("attention", "o", o, q, err);
    if (!st) st = vkt_check_same_shape("attention", "dout", dout, q, err);
    if (!st && dq) st = vkt_check_same_shape("attention", "dq", dq, q, err);
    if (!st && dk) st = vkt_check_same_shape("attention", "dk", dk, k, err);
    if (!st && dv) st = vkt_check_same_shape("attention", "dv", dv, v, err);
    const vkt_tensor *ts[] = {o, dout, dq ? dq : o, dk ? dk : o, dv ? dv : o};
    if (!st) st = vkt_check_dtype("attention", q->dtype, ts, 5, err);
    if (!st) st = check_lse(lse, &pc, err);
    if (st) return st;
    pc.accumulate = mode == VKT_GRAD_ACCUMULATE;
    attn_cfg cfg;
    vkt_pipeline *p;
    if (dk || dv) {
        if ((st = pipeline(s, K_KV, q->dtype, d, 8, &cfg, &p, err))) return st;
        pc.flags = (dk ? 1u : 0u) | (dv ? 2u : 0u);
        /* A gradient not asked for is bound to the other one's buffer, read-only, and not written.
         */
        vkt_bind b[8] = {vkt_tensor_bind_r(q),
                         vkt_tensor_bind_r(k),
                         vkt_tensor_bind_r(v),
                         vkt_tensor_bind_r(o),
                         vkt_tensor_bind_r(dout),
                         vkt_tensor_bind_r(lse),
                         dk ? vkt_tensor_bind_w(dk) : vkt_tensor_bind_r(dv),
                         dv ? vkt_tensor_bind_w(dv) : vkt_tensor_bind_r(dk)};
        uint64_t groups = (uint64_t)pc.B * pc.H * vkt_groups(pc.Tk, cfg.bk);
        if ((st = vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, groups, "attention_bwd_kv", err)))
            return st;
    }
    if (dq) {
        if ((st = pipeline(s, K_Q, q->dtype, d, 7, &cfg, &p, err))) return st;
        pc.flags = 0;
        vkt_bind b[7] = {vkt_tensor_bind_r(q), vkt_tensor_bind_r(k),    vkt_tensor_bind_r(v),
                         vkt_tensor_bind_r(o), vkt_tensor_bind_r(dout), vkt_tensor_bind_r(lse),
                         vkt_tensor_bind_w(dq)};
        uint64_t groups = (uint64_t)pc.B * pc.H * vkt_groups(pc.Tq, cfg.bq);
        if ((st = vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, groups, "attention_bwd_q", err)))
            return st;
    }
    return VKT_OK;
}
