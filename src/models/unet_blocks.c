/* UNet blocks (sd1-architecture.md §3.2) built from nn ops: ResBlock and SpatialTransformer,
 * forward and input-gradient backward. Knows nothing of the whole UNet's layout. */
#include "models/unet_blocks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "nn/ops/attention.h"
#include "nn/ops/binary.h"
#include "nn/ops/conv2d.h"
#include "nn/ops/geglu.h"
#include "nn/ops/groupnorm.h"
#include "nn/ops/layernorm.h"
#include "nn/ops/matmul.h"

#define RES_GN_EPS 1e-5f /* ResBlock in_layers.0 / out_layers.0 (§3.4) */

vkt_status vkt_unet_tmp(vkt_step *s, vkt_dtype dt, int ndim, const int64_t *shape, const char *what, vkt_tensor *out,
                        vkt_err *err)
{
    return vkt_step_tensor(s, dt, ndim, shape, what, out, err);
}

/* prefix + key into *out with the expected shape (-1: any). */
static vkt_status get(vkt_weights *w, const vkt_weight_source *src, const char *prefix, const char *key, int ndim,
                      const int64_t *shape, vkt_tensor *out, vkt_err *err)
{
    char full[160];
    int n = snprintf(full, sizeof full, "%s%s", prefix, key);
    if (n < 0 || (size_t)n >= sizeof full) return vkt_fail(err, VKT_ERR_USAGE, "weight key %s%s too long", prefix, key);
    return vkt_weights_get(w, src, full, ndim, shape, out, err);
}

static int exists(const vkt_weight_source *src, const char *prefix, const char *key)
{
    char full[160];
    snprintf(full, sizeof full, "%s%s", prefix, key);
    return vkt_weight_exists(src, full);
}

/* y = SiLU(GN(x)) with fresh statistics m, r (f32 [B, 32]); y and the statistics are new step
 * tensors unless given (m, r may be NULL: temporaries). */
static vkt_status gn_silu(vkt_step *s, const vkt_tensor *x, const vkt_tensor *g, const vkt_tensor *b, float eps,
                          vkt_tensor *y, vkt_tensor *m, vkt_tensor *r, vkt_err *err)
{
    vkt_tensor tm, tr;
    const int64_t sh[2] = {x->shape[0], VKT_UNET_GROUPS};
    vkt_status st = vkt_unet_tmp(s, x->dtype, x->ndim, x->shape, "gn_silu", y, err);
    if (!st) st = vkt_unet_tmp(s, VKT_F32, 2, sh, "gn mean", m ? m : &tm, err);
    if (!st) st = vkt_unet_tmp(s, VKT_F32, 2, sh, "gn rstd", r ? r : &tr, err);
    if (!st) st = vkt_op_groupnorm_silu_fwd(s, x, g, b, VKT_UNET_GROUPS, eps, y, m ? m : &tm, r ? r : &tr, err);
    return st;
}

vkt_status vkt_unet_zero(vkt_step *s, const vkt_tensor *t, vkt_err *err)
{
    return vkt_cmd_zero(s->cmd, t->buf, t->offset, (vkt_tensor_bytes(t) + 3) & ~(size_t)3, err);
}

vkt_status vkt_unet_gn_silu_bwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *g, const vkt_tensor *b, float eps,
                              const vkt_tensor *m, const vkt_tensor *r, const vkt_tensor *dy, vkt_tensor *dx,
                              vkt_grad_mode mode, vkt_err *err)
{
    (void)eps; /* the fused backward recomputes the GN output from the saved m, r */
    return vkt_op_groupnorm_silu_bwd(s, x, g, b, m, r, dy, dx, mode, NULL, NULL, VKT_GRAD_OVERWRITE, err);
}

/* ------------------------------------------------------------------------------------------ */
/* ResBlock */

vkt_status vkt_unet_res_load(vkt_weights *w, const vkt_weight_source *src, const char *prefix, int64_t cin,
                             int64_t temb, vkt_unet_res *out, vkt_err *err)
{
    vkt_unet_res r;
    memset(&r, 0, sizeof r);
    vkt_status st = get(w, src, prefix, "in_layers.0.weight", 1, (int64_t[]){cin}, &r.gn1_g, err);
    if (st) return st;
    r.cin = r.gn1_g.shape[0];
    r.temb = temb;
    st = get(w, src, prefix, "in_layers.0.bias", 1, (int64_t[]){r.cin}, &r.gn1_b, err);
    if (!st) st = get(w, src, prefix, "in_layers.2.weight", 4, (int64_t[]){-1, r.cin, 3, 3}, &r.conv1_w, err);
    if (st) return st;
    r.cout = r.conv1_w.shape[0];
    const int64_t co = r.cout;
    st = get(w, src, prefix, "in_layers.2.bias", 1, (int64_t[]){co}, &r.conv1_b, err);
    if (!st) st = get(w, src, prefix, "emb_layers.1.weight", 2, (int64_t[]){co, temb}, &r.emb_w, err);
    if (!st) st = get(w, src, prefix, "emb_layers.1.bias", 1, (int64_t[]){co}, &r.emb_b, err);
    if (!st) st = get(w, src, prefix, "out_layers.0.weight", 1, (int64_t[]){co}, &r.gn2_g, err);
    if (!st) st = get(w, src, prefix, "out_layers.0.bias", 1, (int64_t[]){co}, &r.gn2_b, err);
    if (!st) st = get(w, src, prefix, "out_layers.3.weight", 4, (int64_t[]){co, co, 3, 3}, &r.conv2_w, err);
    if (!st) st = get(w, src, prefix, "out_layers.3.bias", 1, (int64_t[]){co}, &r.conv2_b, err);
    if (st) return st;
    r.has_skip = exists(src, prefix, "skip_connection.weight");
    if (r.has_skip) {
        st = get(w, src, prefix, "skip_connection.weight", 4, (int64_t[]){co, r.cin, 1, 1}, &r.skip_w, err);
        if (!st) st = get(w, src, prefix, "skip_connection.bias", 1, (int64_t[]){co}, &r.skip_b, err);
        if (st) return st;
    } else if (r.cin != r.cout) {
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: %sskip_connection.weight missing for a %lld -> %lld ResBlock",
                        src->origin, prefix, (long long)r.cin, (long long)r.cout);
    }
    if (r.cin % VKT_UNET_GROUPS || r.cout % VKT_UNET_GROUPS)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: ResBlock %s%lld -> %lld channels: not divisible by %d groups",
                        src->origin, prefix, (long long)r.cin, (long long)r.cout, VKT_UNET_GROUPS);
    *out = r;
    return VKT_OK;
}

vkt_status vkt_unet_res_fwd(vkt_step *s, const vkt_unet_res *r, const vkt_tensor *x, const vkt_tensor *emb_act,
                            vkt_tensor *y, vkt_unet_res_saved *sv, vkt_err *err)
{
    if (x->ndim != 4 || x->shape[1] != r->cin)
        return vkt_fail(err, VKT_ERR_SHAPE, "ResBlock: x must be [B, %lld, H, W]", (long long)r->cin);
    const int64_t B = x->shape[0], H = x->shape[2], W = x->shape[3];
    const int64_t ysh[4] = {B, r->cout, H, W}, esh[2] = {B, r->cout};
    const vkt_dtype dt = x->dtype;
    const vkt_conv2d_params c3 = vkt_conv2d_std(1, 1), c1 = vkt_conv2d_std(1, 0);
    vkt_unet_res_saved v;
    memset(&v, 0, sizeof v);
    v.x = *x;
    v.emb_act = *emb_act;
    vkt_tensor a, e, a2, out, sk;
    /* h = conv1(SiLU(GN1(x))) + emb_layers(SiLU(emb))[:, :, None, None] */
    vkt_status st = gn_silu(s, x, &r->gn1_g, &r->gn1_b, RES_GN_EPS, &a, &v.m1, &v.r1, err);
    if (!st) st = vkt_unet_tmp(s, dt, 4, ysh, "res h", &v.h, err);
    if (!st) st = vkt_op_conv2d_fwd(s, &c3, &a, &r->conv1_w, &r->conv1_b, &v.h, err);
    if (!st) st = vkt_unet_tmp(s, dt, 2, esh, "res emb", &e, err);
    if (!st) st = vkt_op_linear_fwd(s, emb_act, &r->emb_w, &r->emb_b, &e, err);
    if (!st) {
        vkt_tensor e4 = vkt_tensor_reshape(&e, 4, (int64_t[]){B, r->cout, 1, 1});
        st = vkt_op_add_fwd(s, &v.h, &e4, &v.h, err);
    }
    /* out = conv2(SiLU(GN2(h))) + skip(x) */
    if (!st) st = gn_silu(s, &v.h, &r->gn2_g, &r->gn2_b, RES_GN_EPS, &a2, &v.m2, &v.r2, err);
    if (!st) st = vkt_unet_tmp(s, dt, 4, ysh, "res out", &out, err);
    if (!st) st = vkt_op_conv2d_fwd(s, &c3, &a2, &r->conv2_w, &r->conv2_b, &out, err);
    if (!st && r->has_skip) {
        st = vkt_unet_tmp(s, dt, 4, ysh, "res skip", &sk, err);
        if (!st) st = vkt_op_conv2d_fwd(s, &c1, x, &r->skip_w, &r->skip_b, &sk, err);
        if (!st) st = vkt_op_add_fwd(s, &out, &sk, &out, err);
    } else if (!st) {
        st = vkt_op_add_fwd(s, &out, x, &out, err);
    }
    if (st) return st;
    *y = out;
    *sv = v;
    return VKT_OK;
}

vkt_status vkt_unet_res_bwd(vkt_step *s, const vkt_unet_res *r, const vkt_unet_res_saved *sv, const vkt_tensor *dy,
                            vkt_tensor *dx, vkt_grad_mode mode, vkt_tensor *demb_act, vkt_grad_mode emb_mode,
                            vkt_err *err)
{
    const vkt_tensor *x = &sv->x, *h = &sv->h;
    const vkt_conv2d_params c3 = vkt_conv2d_std(1, 1), c1 = vkt_conv2d_std(1, 0);
    vkt_status st = vkt_check_same_shape("ResBlock bwd", "dy", dy, h, err);
    if (!st) st = vkt_check_same_shape("ResBlock bwd", "dx", dx, x, err);
    if (st) return st;
    const int64_t B = h->shape[0];
    vkt_tensor da2, dh, da1;
    /* through conv2, SiLU, GN2 to dh (the gradient of GN2's input h) */
    st = vkt_unet_tmp(s, h->dtype, 4, h->shape, "d res a2", &da2, err);
    if (!st) st = vkt_op_conv2d_bwd_dx(s, &c3, dy, &r->conv2_w, &da2, VKT_GRAD_OVERWRITE, err);
    if (!st) st = vkt_unet_tmp(s, h->dtype, 4, h->shape, "d res h", &dh, err);
    if (!st) st = vkt_unet_gn_silu_bwd(s, h, &r->gn2_g, &r->gn2_b, RES_GN_EPS, &sv->m2, &sv->r2, &da2, &dh,
                              VKT_GRAD_OVERWRITE, err);
    /* time embedding: de = sum over H, W of dh; demb_act = de . emb_w */
    if (!st && demb_act) {
        vkt_tensor de;
        st = vkt_unet_tmp(s, h->dtype, 2, (int64_t[]){B, r->cout}, "d res emb", &de, err);
        if (!st) {
            vkt_tensor de4 = vkt_tensor_reshape(&de, 4, (int64_t[]){B, r->cout, 1, 1});
            st = vkt_op_binary_bwd(s, VKT_BINARY_ADD, 1.0f, 1.0f, h, &de4, &dh, NULL, &de4, VKT_GRAD_OVERWRITE, err);
        }
        if (!st) st = vkt_op_linear_bwd(s, &sv->emb_act, &r->emb_w, &de, demb_act, emb_mode, NULL, NULL,
                                        VKT_GRAD_OVERWRITE, err);
    }
    /* through conv1, SiLU, GN1 into dx, then the skip path */
    if (!st) st = vkt_unet_tmp(s, x->dtype, 4, x->shape, "d res a1", &da1, err);
    if (!st) st = vkt_op_conv2d_bwd_dx(s, &c3, &dh, &r->conv1_w, &da1, VKT_GRAD_OVERWRITE, err);
    if (!st) st = vkt_unet_gn_silu_bwd(s, x, &r->gn1_g, &r->gn1_b, RES_GN_EPS, &sv->m1, &sv->r1, &da1, dx, mode, err);
    if (!st) {
        if (r->has_skip) st = vkt_op_conv2d_bwd_dx(s, &c1, dy, &r->skip_w, dx, VKT_GRAD_ACCUMULATE, err);
        else st = vkt_op_axpy(s, 1.0f, dy, 1.0f, dx, err);
    }
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Attention: o = softmax(q·kᵀ·D^-½)·v per head, heads interleaved in the channel dim
 * (q [B, Tq, H·D], k and v [B, Tk, H·D]), flash-style: the forward saves the per-row log-sum-exp
 * [B, H, Tq] (f32) as `aux`, and the backward recomputes the probabilities. */

static vkt_status attn_fwd(vkt_step *s, int heads, const vkt_tensor *q, const vkt_tensor *k, const vkt_tensor *v,
                           vkt_tensor *o, vkt_tensor *aux, vkt_err *err)
{
    const int64_t B = q->shape[0], Tq = q->shape[1];
    vkt_status st = vkt_unet_tmp(s, VKT_F32, 3, (int64_t[]){B, heads, Tq}, "attn lse", aux, err);
    if (!st) st = vkt_op_attention_fwd(s, q, k, v, heads, 0.0f, false, o, aux, err);
    return st;
}

/* dq, dk, dv (overwritten) from do. */
static vkt_status attn_bwd(vkt_step *s, int heads, const vkt_unet_attn_saved *a, const vkt_tensor *dout,
                           vkt_tensor *dq, vkt_tensor *dk, vkt_tensor *dv, vkt_err *err)
{
    return vkt_op_attention_bwd(s, &a->q, &a->k, &a->v, &a->o, &a->aux, dout, heads, 0.0f, false, dq, dk, dv,
                                VKT_GRAD_OVERWRITE, err);
}

/* ------------------------------------------------------------------------------------------ */
/* SpatialTransformer */

#define ST_GN_EPS 1e-6f /* SpatialTransformer norm (§3.4) */
#define LN_EPS 1e-5f    /* transformer norm1..3 */

static vkt_status load_attn(vkt_weights *w, const vkt_weight_source *src, const char *prefix, int d, bool cross,
                            int64_t C, int64_t kv, int heads, int index, vkt_unet_attn *a, vkt_err *err)
{
    char p[160];
    snprintf(p, sizeof p, "%stransformer_blocks.%d.%s.", prefix, d, cross ? "attn2" : "attn1");
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%stransformer_blocks.%d.%s", prefix, d, cross ? "attn2" : "attn1");
    a->index = index;
    a->cross = cross;
    a->dim = C;
    a->heads = heads;
    vkt_status st = get(w, src, p, "to_k.weight", 2, (int64_t[]){C, kv}, &a->to_k, err);
    if (st) return st;
    a->kv_dim = a->to_k.shape[1];
    st = get(w, src, p, "to_q.weight", 2, (int64_t[]){C, C}, &a->to_q, err);
    if (!st) st = get(w, src, p, "to_v.weight", 2, (int64_t[]){C, a->kv_dim}, &a->to_v, err);
    if (!st) st = get(w, src, p, "to_out.0.weight", 2, (int64_t[]){C, C}, &a->out_w, err);
    if (!st) st = get(w, src, p, "to_out.0.bias", 1, (int64_t[]){C}, &a->out_b, err);
    return st;
}

vkt_status vkt_unet_st_load(vkt_weights *w, const vkt_weight_source *src, const char *prefix, int64_t c, int64_t ctx,
                            int heads, int *attn_index, vkt_unet_st *out, vkt_err *err)
{
    vkt_unet_st *t = vkt_calloc(1, sizeof *t); /* ~40 KiB: not on the stack */
    if (!t) return vkt_fail(err, VKT_ERR_NOMEM, "SpatialTransformer");
    vkt_status st = get(w, src, prefix, "norm.weight", 1, (int64_t[]){c}, &t->gn_g, err);
    if (st) goto done;
    const int64_t C = t->c = t->gn_g.shape[0];
    t->heads = heads;
    if (C % VKT_UNET_GROUPS || heads < 1 || C % heads) {
        st = vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: SpatialTransformer %s: %lld channels with %d heads, %d groups",
                      src->origin, prefix, (long long)C, heads, VKT_UNET_GROUPS);
        goto done;
    }
    char key[160], full[256];
    snprintf(full, sizeof full, "%s%sproj_in.weight", src->prefix, prefix);
    const vkt_tensor_data *pin = src->find(src->user, full);
    if (pin && pin->ndim == 2) {
        st = vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: %s is a linear [C, C] projection (SD2/SDXL layout): not supported",
                      src->origin, full);
        goto done;
    }
    st = get(w, src, prefix, "norm.bias", 1, (int64_t[]){C}, &t->gn_b, err);
    if (!st) st = get(w, src, prefix, "proj_in.weight", 4, (int64_t[]){C, C, 1, 1}, &t->pin_w, err);
    if (!st) st = get(w, src, prefix, "proj_in.bias", 1, (int64_t[]){C}, &t->pin_b, err);
    if (!st) st = get(w, src, prefix, "proj_out.weight", 4, (int64_t[]){C, C, 1, 1}, &t->pout_w, err);
    if (!st) st = get(w, src, prefix, "proj_out.bias", 1, (int64_t[]){C}, &t->pout_b, err);
    if (st) goto done;
    for (int d = 0;; d++) {
        snprintf(key, sizeof key, "transformer_blocks.%d.norm1.weight", d);
        if (!exists(src, prefix, key)) break;
        if (d == VKT_UNET_MAX_DEPTH) {
            st = vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: %s: more than %d transformer blocks", src->origin, prefix,
                          VKT_UNET_MAX_DEPTH);
            goto done;
        }
        vkt_unet_tblock *b = &t->blocks[d];
        char p[160];
        snprintf(p, sizeof p, "%stransformer_blocks.%d.", prefix, d);
        const int64_t vc[1] = {C};
        st = get(w, src, p, "norm1.weight", 1, vc, &b->ln1_g, err);
        if (!st) st = get(w, src, p, "norm1.bias", 1, vc, &b->ln1_b, err);
        if (!st) st = get(w, src, p, "norm2.weight", 1, vc, &b->ln2_g, err);
        if (!st) st = get(w, src, p, "norm2.bias", 1, vc, &b->ln2_b, err);
        if (!st) st = get(w, src, p, "norm3.weight", 1, vc, &b->ln3_g, err);
        if (!st) st = get(w, src, p, "norm3.bias", 1, vc, &b->ln3_b, err);
        if (!st) st = get(w, src, p, "ff.net.0.proj.weight", 2, (int64_t[]){-1, C}, &b->ff1_w, err);
        if (st) goto done;
        const int64_t F2 = b->ff1_w.shape[0];
        if (F2 % 2) {
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: %sff.net.0.proj.weight has %lld rows (GEGLU needs an even count)",
                          src->origin, p, (long long)F2);
            goto done;
        }
        st = get(w, src, p, "ff.net.0.proj.bias", 1, (int64_t[]){F2}, &b->ff1_b, err);
        if (!st) st = get(w, src, p, "ff.net.2.weight", 2, (int64_t[]){C, F2 / 2}, &b->ff2_w, err);
        if (!st) st = get(w, src, p, "ff.net.2.bias", 1, vc, &b->ff2_b, err);
        if (!st) st = load_attn(w, src, prefix, d, false, C, C, heads, (*attn_index)++, &b->attn1, err);
        if (!st) st = load_attn(w, src, prefix, d, true, C, ctx, heads, (*attn_index)++, &b->attn2, err);
        if (st) goto done;
        if (d == 0) t->ctx = b->attn2.kv_dim;
        else if (b->attn2.kv_dim != t->ctx) {
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: %s: context dims differ between transformer blocks", src->origin,
                          prefix);
            goto done;
        }
        t->depth = d + 1;
    }
    if (!t->depth) {
        st = vkt_fail(err, VKT_ERR_FORMAT, "%s: %stransformer_blocks.0 missing", src->origin, prefix);
        goto done;
    }
    *out = *t;
done:
    free(t);
    return st;
}

/* tok [B, HW, C] = proj_in(xn) with xn [B, C, H, W]: the 1x1 conv and the NCHW -> tokens transpose
 * in one product, tok[b, p, c] = sum_i W[c, i] · xn[b, i, p] + bias[c]. */
static vkt_status proj_in_fwd(vkt_step *s, const vkt_unet_st *t, const vkt_tensor *xn, const vkt_tensor *tok,
                              vkt_err *err)
{
    const int64_t B = xn->shape[0], C = t->c, P = xn->shape[2] * xn->shape[3];
    vkt_matmul_desc d = {B, P, C, C, {xn, 0, C * P, 1, P}, {&t->pin_w, 0, 0, 1, C}, {tok, 0, P * C, C, 1},
                         &t->pin_b, 0, 1.0f, VKT_GRAD_OVERWRITE, NULL};
    return vkt_op_matmul(s, &d, err);
}

/* dxn[b, i, p] = sum_c W[c, i] · dtok[b, p, c] (overwritten). */
static vkt_status proj_in_bwd(vkt_step *s, const vkt_unet_st *t, const vkt_tensor *dtok, const vkt_tensor *dxn,
                              vkt_err *err)
{
    const int64_t B = dxn->shape[0], C = t->c, P = dxn->shape[2] * dxn->shape[3];
    vkt_matmul_desc d = {B, C, P, C, {&t->pin_w, 0, 0, 1, C}, {dtok, 0, P * C, 1, C}, {dxn, 0, C * P, P, 1},
                         NULL, 0, 1.0f, VKT_GRAD_OVERWRITE, NULL};
    return vkt_op_matmul(s, &d, err);
}

/* y [B, C, H, W] = proj_out(tok) (tokens -> NCHW): y[b, c, p] = sum_i W[c, i] · tok[b, p, i] + bias[c]. */
static vkt_status proj_out_fwd(vkt_step *s, const vkt_unet_st *t, const vkt_tensor *tok, const vkt_tensor *y,
                               vkt_err *err)
{
    const int64_t B = y->shape[0], C = t->c, P = y->shape[2] * y->shape[3];
    vkt_matmul_desc d = {B, P, C, C, {tok, 0, P * C, C, 1}, {&t->pout_w, 0, 0, 1, C}, {y, 0, C * P, 1, P},
                         &t->pout_b, 0, 1.0f, VKT_GRAD_OVERWRITE, NULL};
    return vkt_op_matmul(s, &d, err);
}

/* dtok[b, p, i] = sum_c dy[b, c, p] · W[c, i] (overwritten). */
static vkt_status proj_out_bwd(vkt_step *s, const vkt_unet_st *t, const vkt_tensor *dy, const vkt_tensor *dtok,
                               vkt_err *err)
{
    const int64_t B = dy->shape[0], C = t->c, P = dy->shape[2] * dy->shape[3];
    vkt_matmul_desc d = {B, P, C, C, {dy, 0, C * P, 1, P}, {&t->pout_w, 0, 0, C, 1}, {dtok, 0, P * C, C, 1},
                         NULL, 0, 1.0f, VKT_GRAD_OVERWRITE, NULL};
    return vkt_op_matmul(s, &d, err);
}

static vkt_unet_attn_info attn_info(const vkt_unet_attn *a)
{
    return (vkt_unet_attn_info){a->name, a->index, a->cross, a->kv_dim};
}

static bool same_view(const vkt_tensor *a, const vkt_tensor *b) { return a->buf == b->buf && a->offset == b->offset; }

/* h1 = h0 + to_out(attention(to_q(n), to_k(c_k), to_v(c_v))) with c_k, c_v from the hook (or c). */
static vkt_status attention_fwd(vkt_step *s, const vkt_unet_attn *a, const vkt_tensor *n, const vkt_tensor *c,
                                const vkt_unet_kv_hook *hook, const vkt_tensor *h0, vkt_tensor *h1,
                                vkt_unet_attn_saved *sv, vkt_err *err)
{
    const vkt_dtype dt = n->dtype;
    const int64_t B = n->shape[0], Tq = n->shape[1], Tk = c->shape[1], C = a->dim;
    vkt_tensor ck = *c, cv = *c;
    vkt_status st = VKT_OK;
    memset(sv, 0, sizeof *sv);
    if (hook && hook->fwd) {
        vkt_unet_attn_info info = attn_info(a);
        st = hook->fwd(hook->user, s, &info, c, &ck, &cv, err);
        if (!st && (!vkt_shape_eq(&ck, c) || !vkt_shape_eq(&cv, c) || ck.dtype != dt || cv.dtype != dt))
            st = vkt_fail(err, VKT_ERR_SHAPE, "%s: the k/v hook must return tensors of c's shape and dtype", a->name);
        if (st) return st;
        sv->hooked = !same_view(&ck, c) || !same_view(&cv, c);
    }
    const int64_t qs[3] = {B, Tq, C}, ks[3] = {B, Tk, C};
    vkt_tensor o;
    st = vkt_unet_tmp(s, dt, 3, qs, "attn q", &sv->q, err);
    if (!st) st = vkt_unet_tmp(s, dt, 3, ks, "attn k", &sv->k, err);
    if (!st) st = vkt_unet_tmp(s, dt, 3, ks, "attn v", &sv->v, err);
    if (!st) st = vkt_unet_tmp(s, dt, 3, qs, "attn o", &sv->o, err);
    if (!st) st = vkt_op_linear_fwd(s, n, &a->to_q, NULL, &sv->q, err);
    if (!st) st = vkt_op_linear_fwd(s, &ck, &a->to_k, NULL, &sv->k, err);
    if (!st) st = vkt_op_linear_fwd(s, &cv, &a->to_v, NULL, &sv->v, err);
    if (!st) st = attn_fwd(s, a->heads, &sv->q, &sv->k, &sv->v, &sv->o, &sv->aux, err);
    if (!st) st = vkt_unet_tmp(s, dt, 3, qs, "attn out", &o, err);
    if (!st) st = vkt_op_linear_fwd(s, &sv->o, &a->out_w, &a->out_b, &o, err);
    if (!st) st = vkt_op_add_fwd(s, &o, h0, &o, err);
    if (!st) *h1 = o;
    return st;
}

/* From dh (d of the attention's residual output): dn (overwritten) = d / d n through the query,
 * plus through k and v for self-attention; dc (cross: d context, accumulated, may be NULL). */
static vkt_status attention_bwd(vkt_step *s, const vkt_unet_attn *a, const vkt_unet_attn_saved *sv,
                                const vkt_unet_kv_hook *hook, const vkt_tensor *dh, vkt_tensor *dn, vkt_tensor *dc,
                                vkt_err *err)
{
    const vkt_dtype dt = dh->dtype;
    vkt_tensor dout, dq, dk, dv;
    vkt_status st = vkt_unet_tmp(s, dt, 3, sv->o.shape, "d attn o", &dout, err);
    if (!st) st = vkt_op_linear_bwd(s, NULL, &a->out_w, dh, &dout, VKT_GRAD_OVERWRITE, NULL, NULL, 0, err);
    if (!st) st = vkt_unet_tmp(s, dt, 3, sv->q.shape, "d attn q", &dq, err);
    if (!st) st = vkt_unet_tmp(s, dt, 3, sv->k.shape, "d attn k", &dk, err);
    if (!st) st = vkt_unet_tmp(s, dt, 3, sv->v.shape, "d attn v", &dv, err);
    if (!st) st = attn_bwd(s, a->heads, sv, &dout, &dq, &dk, &dv, err);
    if (!st) st = vkt_op_linear_bwd(s, NULL, &a->to_q, &dq, dn, VKT_GRAD_OVERWRITE, NULL, NULL, 0, err);
    if (st) return st;
    /* d c_k = dk · to_k, d c_v = dv · to_v: into the hook, or straight into c's gradient */
    vkt_tensor *dcx = a->cross ? dc : dn;
    const int64_t cs[3] = {sv->k.shape[0], sv->k.shape[1], a->kv_dim};
    if (sv->hooked) {
        vkt_tensor dck, dcv;
        st = vkt_unet_tmp(s, dt, 3, cs, "d c_k", &dck, err);
        if (!st) st = vkt_unet_tmp(s, dt, 3, cs, "d c_v", &dcv, err);
        if (!st) st = vkt_op_linear_bwd(s, NULL, &a->to_k, &dk, &dck, VKT_GRAD_OVERWRITE, NULL, NULL, 0, err);
        if (!st) st = vkt_op_linear_bwd(s, NULL, &a->to_v, &dv, &dcv, VKT_GRAD_OVERWRITE, NULL, NULL, 0, err);
        if (!st) {
            vkt_unet_attn_info info = attn_info(a);
            st = hook->bwd(hook->user, s, &info, &dck, &dcv, dcx, err);
        }
    } else if (dcx) {
        st = vkt_op_linear_bwd(s, NULL, &a->to_k, &dk, dcx, VKT_GRAD_ACCUMULATE, NULL, NULL, 0, err);
        if (!st) st = vkt_op_linear_bwd(s, NULL, &a->to_v, &dv, dcx, VKT_GRAD_ACCUMULATE, NULL, NULL, 0, err);
    }
    return st;
}

/* LayerNorm with new step tensors for y and its statistics. */
static vkt_status ln_fwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *g, const vkt_tensor *b, vkt_tensor *y,
                         vkt_tensor *m, vkt_tensor *r, vkt_err *err)
{
    const int64_t sh[2] = {x->shape[0], x->shape[1]};
    vkt_status st = vkt_unet_tmp(s, x->dtype, 3, x->shape, "ln out", y, err);
    if (!st) st = vkt_unet_tmp(s, VKT_F32, 2, sh, "ln mean", m, err);
    if (!st) st = vkt_unet_tmp(s, VKT_F32, 2, sh, "ln rstd", r, err);
    if (!st) st = vkt_op_layernorm_fwd(s, x, g, b, LN_EPS, y, m, r, err);
    return st;
}

static vkt_status tblock_fwd(vkt_step *s, const vkt_unet_tblock *b, const vkt_tensor *h0, const vkt_tensor *context,
                             const vkt_unet_kv_hook *hook, vkt_tensor *h3, vkt_unet_tblock_saved *sv, vkt_err *err)
{
    const vkt_dtype dt = h0->dtype;
    const int64_t B = h0->shape[0], T = h0->shape[1];
    const int64_t F2 = b->ff1_w.shape[0];
    vkt_tensor n1, n2, n3, g, out;
    sv->h0 = *h0;
    vkt_status st = ln_fwd(s, h0, &b->ln1_g, &b->ln1_b, &n1, &sv->m1, &sv->r1, err);
    if (!st) st = attention_fwd(s, &b->attn1, &n1, &n1, hook, h0, &sv->h1, &sv->a1, err);
    if (!st) st = ln_fwd(s, &sv->h1, &b->ln2_g, &b->ln2_b, &n2, &sv->m2, &sv->r2, err);
    if (!st) st = attention_fwd(s, &b->attn2, &n2, context, hook, &sv->h1, &sv->h2, &sv->a2, err);
    /* GEGLU feed-forward: h3 = h2 + ff2(value * gelu(gate)), [value, gate] = ff1(LN3(h2)) */
    if (!st) st = ln_fwd(s, &sv->h2, &b->ln3_g, &b->ln3_b, &n3, &sv->m3, &sv->r3, err);
    if (!st) st = vkt_unet_tmp(s, dt, 3, (int64_t[]){B, T, F2}, "ff proj", &sv->p, err);
    if (!st) st = vkt_op_linear_fwd(s, &n3, &b->ff1_w, &b->ff1_b, &sv->p, err);
    if (!st) st = vkt_unet_tmp(s, dt, 3, (int64_t[]){B, T, F2 / 2}, "geglu", &g, err);
    if (!st) st = vkt_op_geglu_fwd(s, &sv->p, &g, err);
    if (!st) st = vkt_unet_tmp(s, dt, 3, h0->shape, "ff out", &out, err);
    if (!st) st = vkt_op_linear_fwd(s, &g, &b->ff2_w, &b->ff2_b, &out, err);
    if (!st) st = vkt_op_add_fwd(s, &out, &sv->h2, &out, err);
    if (!st) *h3 = out;
    return st;
}

/* dh: on entry d h3, on return d h0 (updated in place). dcontext accumulates (may be NULL). */
static vkt_status tblock_bwd(vkt_step *s, const vkt_unet_tblock *b, const vkt_unet_tblock_saved *sv,
                             const vkt_unet_kv_hook *hook, vkt_tensor *dh, vkt_tensor *dcontext, vkt_err *err)
{
    const vkt_dtype dt = dh->dtype;
    vkt_tensor dg, dp, dn;
    const int64_t B = dh->shape[0], T = dh->shape[1], F2 = sv->p.shape[2];
    vkt_status st = vkt_unet_tmp(s, dt, 3, (int64_t[]){B, T, F2 / 2}, "d geglu", &dg, err);
    if (!st) st = vkt_op_linear_bwd(s, NULL, &b->ff2_w, dh, &dg, VKT_GRAD_OVERWRITE, NULL, NULL, 0, err);
    if (!st) st = vkt_unet_tmp(s, dt, 3, sv->p.shape, "d ff proj", &dp, err);
    if (!st) st = vkt_op_geglu_bwd(s, &sv->p, &dg, &dp, VKT_GRAD_OVERWRITE, err);
    if (!st) st = vkt_unet_tmp(s, dt, 3, dh->shape, "d ln3", &dn, err);
    if (!st) st = vkt_op_linear_bwd(s, NULL, &b->ff1_w, &dp, &dn, VKT_GRAD_OVERWRITE, NULL, NULL, 0, err);
    if (!st) st = vkt_op_layernorm_bwd(s, &sv->h2, &b->ln3_g, &sv->m3, &sv->r3, &dn, dh, VKT_GRAD_ACCUMULATE, NULL,
                                       NULL, VKT_GRAD_OVERWRITE, err);
    /* cross-attention */
    if (!st) st = vkt_unet_tmp(s, dt, 3, dh->shape, "d ln2", &dn, err);
    if (!st) st = attention_bwd(s, &b->attn2, &sv->a2, hook, dh, &dn, dcontext, err);
    if (!st) st = vkt_op_layernorm_bwd(s, &sv->h1, &b->ln2_g, &sv->m2, &sv->r2, &dn, dh, VKT_GRAD_ACCUMULATE, NULL,
                                       NULL, VKT_GRAD_OVERWRITE, err);
    /* self-attention */
    if (!st) st = vkt_unet_tmp(s, dt, 3, dh->shape, "d ln1", &dn, err);
    if (!st) st = attention_bwd(s, &b->attn1, &sv->a1, hook, dh, &dn, NULL, err);
    if (!st) st = vkt_op_layernorm_bwd(s, &sv->h0, &b->ln1_g, &sv->m1, &sv->r1, &dn, dh, VKT_GRAD_ACCUMULATE, NULL,
                                       NULL, VKT_GRAD_OVERWRITE, err);
    return st;
}

vkt_status vkt_unet_st_fwd(vkt_step *s, const vkt_unet_st *t, const vkt_tensor *x, const vkt_tensor *context,
                           const vkt_unet_kv_hook *hook, vkt_tensor *y, vkt_unet_st_saved *sv, vkt_err *err)
{
    if (x->ndim != 4 || x->shape[1] != t->c)
        return vkt_fail(err, VKT_ERR_SHAPE, "SpatialTransformer: x must be [B, %lld, H, W]", (long long)t->c);
    if (context->ndim != 3 || context->shape[0] != x->shape[0] || context->shape[2] != t->ctx ||
        context->dtype != x->dtype) {
        char sh[96];
        return vkt_fail(err, VKT_ERR_SHAPE, "SpatialTransformer: context %s %s, expected [%lld, T, %lld] %s",
                        vkt_shape_str(context, sh, sizeof sh), vkt_dtype_name(context->dtype),
                        (long long)x->shape[0], (long long)t->ctx, vkt_dtype_name(x->dtype));
    }
    const vkt_dtype dt = x->dtype;
    const int64_t B = x->shape[0], P = x->shape[2] * x->shape[3], C = t->c;
    const int64_t ts[3] = {B, P, C}, gs[2] = {B, VKT_UNET_GROUPS};
    vkt_tensor xn, h, out;
    memset(sv, 0, sizeof *sv);
    sv->x = *x;
    vkt_status st = vkt_unet_tmp(s, dt, 4, x->shape, "st norm", &xn, err);
    if (!st) st = vkt_unet_tmp(s, VKT_F32, 2, gs, "st gn mean", &sv->m, err);
    if (!st) st = vkt_unet_tmp(s, VKT_F32, 2, gs, "st gn rstd", &sv->r, err);
    if (!st) st = vkt_op_groupnorm_fwd(s, x, &t->gn_g, &t->gn_b, VKT_UNET_GROUPS, ST_GN_EPS, &xn, &sv->m, &sv->r, err);
    if (!st) st = vkt_unet_tmp(s, dt, 3, ts, "st tokens", &h, err);
    if (!st) st = proj_in_fwd(s, t, &xn, &h, err);
    for (int d = 0; d < t->depth && !st; d++) st = tblock_fwd(s, &t->blocks[d], &h, context, hook, &h, &sv->blocks[d], err);
    if (!st) st = vkt_unet_tmp(s, dt, 4, x->shape, "st out", &out, err);
    if (!st) st = proj_out_fwd(s, t, &h, &out, err);
    if (!st) st = vkt_op_add_fwd(s, &out, x, &out, err);
    if (!st) *y = out;
    return st;
}

vkt_status vkt_unet_st_bwd(vkt_step *s, const vkt_unet_st *t, const vkt_unet_st_saved *sv, const vkt_unet_kv_hook *hook,
                           const vkt_tensor *dy, vkt_tensor *dx, vkt_grad_mode mode, vkt_tensor *dcontext,
                           vkt_err *err)
{
    const vkt_tensor *x = &sv->x;
    vkt_status st = vkt_check_same_shape("SpatialTransformer bwd", "dy", dy, x, err);
    if (!st && dx) st = vkt_check_same_shape("SpatialTransformer bwd", "dx", dx, x, err);
    if (st) return st;
    const vkt_dtype dt = x->dtype;
    const int64_t B = x->shape[0], P = x->shape[2] * x->shape[3], C = t->c;
    vkt_tensor dh, dxn;
    /* residual: dx (by mode) = dy */
    if (dx && mode == VKT_GRAD_OVERWRITE) st = vkt_op_scale_fwd(s, dy, 1.0f, 0.0f, dx, err);
    else if (dx) st = vkt_op_axpy(s, 1.0f, dy, 1.0f, dx, err);
    if (!st) st = vkt_unet_tmp(s, dt, 3, (int64_t[]){B, P, C}, "d st tokens", &dh, err);
    if (!st) st = proj_out_bwd(s, t, dy, &dh, err);
    for (int d = t->depth - 1; d >= 0 && !st; d--) st = tblock_bwd(s, &t->blocks[d], &sv->blocks[d], hook, &dh, dcontext, err);
    if (!dx) return st;
    if (!st) st = vkt_unet_tmp(s, dt, 4, x->shape, "d st norm", &dxn, err);
    if (!st) st = proj_in_bwd(s, t, &dh, &dxn, err);
    if (!st) st = vkt_op_groupnorm_bwd(s, x, &t->gn_g, &sv->m, &sv->r, &dxn, dx, VKT_GRAD_ACCUMULATE, NULL, NULL,
                                       VKT_GRAD_OVERWRITE, err);
    return st;
}
