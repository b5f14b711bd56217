/* UNet blocks (sd1-architecture.md §3.2) built from nn ops: ResBlock and SpatialTransformer,
 * forward and input-gradient backward. Knows nothing of the whole UNet's layout. */
#include "models/unet_blocks.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/ops/act.h"
#include "nn/ops/binary.h"
#include "nn/ops/conv2d.h"
#include "nn/ops/groupnorm.h"
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
    if (!st) st = vkt_op_groupnorm_fwd(s, x, g, b, VKT_UNET_GROUPS, eps, y, m ? m : &tm, r ? r : &tr, err);
    if (!st) st = vkt_op_act_fwd(s, VKT_ACT_SILU, 0.0f, y, y, err);
    return st;
}

/* dx (by mode) = d/dx of SiLU(GN(x)) for upstream dy, recomputing the GN output from x. */
static vkt_status gn_silu_bwd(vkt_step *s, const vkt_tensor *x, const vkt_tensor *g, const vkt_tensor *b, float eps,
                              const vkt_tensor *m, const vkt_tensor *r, const vkt_tensor *dy, vkt_tensor *dx,
                              vkt_grad_mode mode, vkt_err *err)
{
    vkt_tensor n, dn;
    const int64_t sh[2] = {x->shape[0], VKT_UNET_GROUPS};
    vkt_tensor tm, tr;
    vkt_status st = vkt_unet_tmp(s, x->dtype, x->ndim, x->shape, "gn out (recomputed)", &n, err);
    if (!st) st = vkt_unet_tmp(s, VKT_F32, 2, sh, "gn mean", &tm, err);
    if (!st) st = vkt_unet_tmp(s, VKT_F32, 2, sh, "gn rstd", &tr, err);
    if (!st) st = vkt_op_groupnorm_fwd(s, x, g, b, VKT_UNET_GROUPS, eps, &n, &tm, &tr, err);
    if (!st) st = vkt_unet_tmp(s, x->dtype, x->ndim, x->shape, "d gn out", &dn, err);
    if (!st) st = vkt_op_act_bwd(s, VKT_ACT_SILU, 0.0f, &n, dy, &dn, VKT_GRAD_OVERWRITE, err);
    if (!st) st = vkt_op_groupnorm_bwd(s, x, g, m, r, &dn, dx, mode, NULL, NULL, VKT_GRAD_OVERWRITE, err);
    return st;
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
    if (!st) st = gn_silu_bwd(s, h, &r->gn2_g, &r->gn2_b, RES_GN_EPS, &sv->m2, &sv->r2, &da2, &dh,
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
    if (!st) st = gn_silu_bwd(s, x, &r->gn1_g, &r->gn1_b, RES_GN_EPS, &sv->m1, &sv->r1, &da1, dx, mode, err);
    if (!st) {
        if (r->has_skip) st = vkt_op_conv2d_bwd_dx(s, &c1, dy, &r->skip_w, dx, VKT_GRAD_ACCUMULATE, err);
        else st = vkt_op_axpy(s, 1.0f, dy, 1.0f, dx, err);
    }
    return st;
}
