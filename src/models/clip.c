/* CLIP text encoder: load, forward with saved activations, backward to learned vectors.
 * Shapes: N = B*K sequences of T = 77 tokens, width W, H heads. */
#include "models/clip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "nn/ops/act.h"
#include "nn/ops/attention.h"
#include "nn/ops/binary.h"
#include "nn/ops/embed.h"
#include "nn/ops/emphasis.h"
#include "nn/ops/layernorm.h"
#include "nn/ops/matmul.h"

#define LN_EPS 1e-5f /* every CLIP LayerNorm (spec §2) */

typedef struct clip_layer {
    vkt_tensor ln1_g, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, ln2_g, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
} clip_layer;

struct vkt_clip {
    vkt_clip_config cfg;
    vkt_weights *w;
    vkt_tensor tok, pos, fln_g, fln_b;
    clip_layer layers[VKT_CLIP_MAX_LAYERS];
};

/* What the backward of one layer needs (dx only: weight gradients would also need the inputs of
 * the linear layers). */
typedef struct layer_saved {
    vkt_tensor x, mean1, rstd1, q, k, v, o, lse, x1, mean2, rstd2, f1;
} layer_saved;

struct vkt_clip_saved {
    int n_layers; /* layers run (clip skip) */
    vkt_tensor src_idx, h_final, fmean, frstd, z, mult;
    bool has_src, has_mult;
    int64_t B, K;
    layer_saved ls[VKT_CLIP_MAX_LAYERS];
};

const vkt_clip_config *vkt_clip_get_config(const vkt_clip *c) { return &c->cfg; }
vkt_dtype vkt_clip_dtype(const vkt_clip *c) { return vkt_weights_dtype(c->w); }
uint64_t vkt_clip_weight_bytes(const vkt_clip *c) { return vkt_weights_bytes(c->w); }
const vkt_tensor *vkt_clip_token_table(const vkt_clip *c) { return &c->tok; }

void vkt_clip_destroy(vkt_clip *c)
{
    if (!c) return;
    vkt_weights_destroy(c->w);
    free(c);
}

void vkt_clip_saved_free(vkt_clip_saved *sv) { free(sv); }

static int count_layers(const vkt_weight_source *src)
{
    int n = 0;
    char key[128];
    for (;; n++) {
        snprintf(key, sizeof key, "encoder.layers.%d.self_attn.q_proj.weight", n);
        if (!vkt_weight_exists(src, key) || n >= VKT_CLIP_MAX_LAYERS) return n;
    }
}

vkt_status vkt_clip_load(vkt_device *dev, const vkt_weight_source *src, vkt_dtype dt, int heads, vkt_clip **out,
                         vkt_err *err)
{
    vkt_clip *c = vkt_calloc(1, sizeof *c);
    if (!c) return vkt_fail(err, VKT_ERR_NOMEM, "text encoder");
    vkt_status st = vkt_weights_create(dev, dt, &c->w, err);
    if (st) goto done;
    vkt_weights *w = c->w;
    const int64_t any2[2] = {-1, -1};
    if ((st = vkt_weights_get(w, src, "embeddings.token_embedding.weight", 2, any2, &c->tok, err))) goto done;
    c->cfg.vocab = (int)c->tok.shape[0];
    int W = c->cfg.width = (int)c->tok.shape[1];
    if ((st = vkt_weights_get(w, src, "embeddings.position_embedding.weight", 2, (int64_t[]){-1, W}, &c->pos, err)))
        goto done;
    c->cfg.positions = (int)c->pos.shape[0];
    if (c->cfg.positions < 77) {
        st = vkt_fail(err, VKT_ERR_FORMAT, "%s: %d position embeddings, need 77", src->origin, c->cfg.positions);
        goto done;
    }
    c->cfg.layers = count_layers(src);
    if (c->cfg.layers == 0) {
        st = vkt_fail(err, VKT_ERR_FORMAT, "%s: no text encoder layers under %s", src->origin, src->prefix);
        goto done;
    }
    c->cfg.heads = heads > 0 ? heads : (W >= 64 ? W / 64 : 1);
    if (W % c->cfg.heads) {
        st = vkt_fail(err, VKT_ERR_FORMAT, "%s: width %d not divisible by %d heads", src->origin, W, c->cfg.heads);
        goto done;
    }
    for (int l = 0; l < c->cfg.layers; l++) {
        clip_layer *L = &c->layers[l];
        char key[160];
        const int64_t vw[1] = {W}, ww[2] = {W, W};
#define GET(field, name, nd, shape)                                                                           \
    snprintf(key, sizeof key, "encoder.layers.%d.%s", l, name);                                               \
    if ((st = vkt_weights_get(w, src, key, nd, shape, &L->field, err))) goto done;
        GET(ln1_g, "layer_norm1.weight", 1, vw) GET(ln1_b, "layer_norm1.bias", 1, vw)
        GET(q_w, "self_attn.q_proj.weight", 2, ww) GET(q_b, "self_attn.q_proj.bias", 1, vw)
        GET(k_w, "self_attn.k_proj.weight", 2, ww) GET(k_b, "self_attn.k_proj.bias", 1, vw)
        GET(v_w, "self_attn.v_proj.weight", 2, ww) GET(v_b, "self_attn.v_proj.bias", 1, vw)
        GET(o_w, "self_attn.out_proj.weight", 2, ww) GET(o_b, "self_attn.out_proj.bias", 1, vw)
        GET(ln2_g, "layer_norm2.weight", 1, vw) GET(ln2_b, "layer_norm2.bias", 1, vw)
        GET(fc1_w, "mlp.fc1.weight", 2, ((int64_t[]){-1, W}))
        c->cfg.mlp = (int)L->fc1_w.shape[0];
        GET(fc1_b, "mlp.fc1.bias", 1, ((int64_t[]){c->cfg.mlp}))
        GET(fc2_w, "mlp.fc2.weight", 2, ((int64_t[]){W, c->cfg.mlp})) GET(fc2_b, "mlp.fc2.bias", 1, vw)
#undef GET
    }
    if ((st = vkt_weights_get(w, src, "final_layer_norm.weight", 1, (int64_t[]){W}, &c->fln_g, err))) goto done;
    if ((st = vkt_weights_get(w, src, "final_layer_norm.bias", 1, (int64_t[]){W}, &c->fln_b, err))) goto done;
    *out = c;
    c = NULL;
done:
    vkt_clip_destroy(c);
    return st;
}

static vkt_status tensor(vkt_step *s, vkt_dtype dt, int nd, const int64_t *shape, const char *what, vkt_tensor *t,
                         vkt_err *err)
{
    return vkt_step_tensor(s, dt, nd, shape, what, t, err);
}

/* One encoder layer forward: x [N, T, W] -> *y. */
static vkt_status layer_fwd(vkt_step *s, const vkt_clip *c, const clip_layer *L, const vkt_tensor *x, vkt_tensor *y,
                            layer_saved *sv, vkt_err *err)
{
    vkt_dtype dt = x->dtype;
    int64_t N = x->shape[0], T = x->shape[1], W = x->shape[2], R = N * T;
    const int64_t sh[3] = {N, T, W}, rows[1] = {R}, shm[3] = {N, T, c->cfg.mlp};
    vkt_tensor a, p, b, g, f2;
    vkt_status st;
    sv->x = *x;
    if ((st = tensor(s, dt, 3, sh, "clip ln1", &a, err)) || (st = tensor(s, VKT_F32, 1, rows, "ln1 mean", &sv->mean1, err)) ||
        (st = tensor(s, VKT_F32, 1, rows, "ln1 rstd", &sv->rstd1, err)))
        return st;
    if ((st = vkt_op_layernorm_fwd(s, x, &L->ln1_g, &L->ln1_b, LN_EPS, &a, &sv->mean1, &sv->rstd1, err))) return st;
    if ((st = tensor(s, dt, 3, sh, "clip q", &sv->q, err)) || (st = tensor(s, dt, 3, sh, "clip k", &sv->k, err)) ||
        (st = tensor(s, dt, 3, sh, "clip v", &sv->v, err)))
        return st;
    if ((st = vkt_op_linear_fwd(s, &a, &L->q_w, &L->q_b, &sv->q, err)) ||
        (st = vkt_op_linear_fwd(s, &a, &L->k_w, &L->k_b, &sv->k, err)) ||
        (st = vkt_op_linear_fwd(s, &a, &L->v_w, &L->v_b, &sv->v, err)))
        return st;
    if ((st = tensor(s, dt, 3, sh, "clip attn", &sv->o, err)) ||
        (st = tensor(s, VKT_F32, 3, (int64_t[]){N, c->cfg.heads, T}, "clip lse", &sv->lse, err)))
        return st;
    if ((st = vkt_op_attention_fwd(s, &sv->q, &sv->k, &sv->v, c->cfg.heads, 0.0f, true, &sv->o, &sv->lse, err)))
        return st;
    if ((st = tensor(s, dt, 3, sh, "clip proj", &p, err))) return st;
    if ((st = vkt_op_linear_fwd(s, &sv->o, &L->o_w, &L->o_b, &p, err))) return st;
    if ((st = tensor(s, dt, 3, sh, "clip x1", &sv->x1, err))) return st;
    if ((st = vkt_op_add_fwd(s, x, &p, &sv->x1, err))) return st;
    if ((st = tensor(s, dt, 3, sh, "clip ln2", &b, err)) || (st = tensor(s, VKT_F32, 1, rows, "ln2 mean", &sv->mean2, err)) ||
        (st = tensor(s, VKT_F32, 1, rows, "ln2 rstd", &sv->rstd2, err)))
        return st;
    if ((st = vkt_op_layernorm_fwd(s, &sv->x1, &L->ln2_g, &L->ln2_b, LN_EPS, &b, &sv->mean2, &sv->rstd2, err))) return st;
    if ((st = tensor(s, dt, 3, shm, "clip fc1", &sv->f1, err)) || (st = tensor(s, dt, 3, shm, "clip gelu", &g, err)))
        return st;
    if ((st = vkt_op_linear_fwd(s, &b, &L->fc1_w, &L->fc1_b, &sv->f1, err))) return st;
    if ((st = vkt_op_act_fwd(s, VKT_ACT_QUICK_GELU, 0, &sv->f1, &g, err))) return st;
    if ((st = tensor(s, dt, 3, sh, "clip fc2", &f2, err))) return st;
    if ((st = vkt_op_linear_fwd(s, &g, &L->fc2_w, &L->fc2_b, &f2, err))) return st;
    if ((st = tensor(s, dt, 3, sh, "clip x2", y, err))) return st;
    return vkt_op_add_fwd(s, &sv->x1, &f2, y, err);
}

/* One layer backward: dres holds d(layer output) on entry and d(layer input) on exit. */
static vkt_status layer_bwd(vkt_step *s, const vkt_clip *c, const clip_layer *L, const layer_saved *sv,
                            vkt_tensor *dres, vkt_err *err)
{
    vkt_dtype dt = dres->dtype;
    int64_t N = dres->shape[0], T = dres->shape[1], W = dres->shape[2];
    const int64_t sh[3] = {N, T, W}, shm[3] = {N, T, c->cfg.mlp};
    vkt_tensor dg, df1, db, dout, dq, dk, dv, da;
    vkt_status st;
    /* MLP branch: x2 = x1 + fc2(quick_gelu(fc1(LN2(x1)))) */
    if ((st = tensor(s, dt, 3, shm, "d gelu", &dg, err)) || (st = tensor(s, dt, 3, shm, "d fc1", &df1, err)) ||
        (st = tensor(s, dt, 3, sh, "d ln2", &db, err)))
        return st;
    if ((st = vkt_op_linear_bwd(s, NULL, &L->fc2_w, dres, &dg, VKT_GRAD_OVERWRITE, NULL, NULL, VKT_GRAD_OVERWRITE, err)))
        return st;
    if ((st = vkt_op_act_bwd(s, VKT_ACT_QUICK_GELU, 0, &sv->f1, &dg, &df1, VKT_GRAD_OVERWRITE, err))) return st;
    if ((st = vkt_op_linear_bwd(s, NULL, &L->fc1_w, &df1, &db, VKT_GRAD_OVERWRITE, NULL, NULL, VKT_GRAD_OVERWRITE, err)))
        return st;
    if ((st = vkt_op_layernorm_bwd(s, &sv->x1, &L->ln2_g, &sv->mean2, &sv->rstd2, &db, dres, VKT_GRAD_ACCUMULATE, NULL,
                                   NULL, VKT_GRAD_OVERWRITE, err)))
        return st;
    /* attention branch: x1 = x + out_proj(attn(q, k, v)), q/k/v = proj(LN1(x)) */
    if ((st = tensor(s, dt, 3, sh, "d attn", &dout, err)) || (st = tensor(s, dt, 3, sh, "d q", &dq, err)) ||
        (st = tensor(s, dt, 3, sh, "d k", &dk, err)) || (st = tensor(s, dt, 3, sh, "d v", &dv, err)) ||
        (st = tensor(s, dt, 3, sh, "d ln1", &da, err)))
        return st;
    if ((st = vkt_op_linear_bwd(s, NULL, &L->o_w, dres, &dout, VKT_GRAD_OVERWRITE, NULL, NULL, VKT_GRAD_OVERWRITE, err)))
        return st;
    if ((st = vkt_op_attention_bwd(s, &sv->q, &sv->k, &sv->v, &sv->o, &sv->lse, &dout, c->cfg.heads, 0.0f, true, &dq,
                                   &dk, &dv, VKT_GRAD_OVERWRITE, err)))
        return st;
    if ((st = vkt_op_linear_bwd(s, NULL, &L->q_w, &dq, &da, VKT_GRAD_OVERWRITE, NULL, NULL, VKT_GRAD_OVERWRITE, err)) ||
        (st = vkt_op_linear_bwd(s, NULL, &L->k_w, &dk, &da, VKT_GRAD_ACCUMULATE, NULL, NULL, VKT_GRAD_OVERWRITE, err)) ||
        (st = vkt_op_linear_bwd(s, NULL, &L->v_w, &dv, &da, VKT_GRAD_ACCUMULATE, NULL, NULL, VKT_GRAD_OVERWRITE, err)))
        return st;
    return vkt_op_layernorm_bwd(s, &sv->x, &L->ln1_g, &sv->mean1, &sv->rstd1, &da, dres, VKT_GRAD_ACCUMULATE, NULL,
                                NULL, VKT_GRAD_OVERWRITE, err);
}

vkt_status vkt_clip_fwd(vkt_step *s, const vkt_clip *c, const vkt_tensor *ids, const vkt_tensor *src_idx,
                        const vkt_tensor *vectors, const vkt_tensor *multipliers, int clip_skip, vkt_tensor *out,
                        vkt_clip_saved **saved, vkt_err *err)
{
    int W = c->cfg.width;
    if (ids->ndim != 2 || ids->dtype != VKT_I32 || ids->shape[1] % 77 || ids->shape[1] == 0)
        return vkt_fail(err, VKT_ERR_SHAPE, "text encoder: ids must be i32 [B, 77*K]");
    if (src_idx && (!vkt_shape_eq(src_idx, ids) || src_idx->dtype != VKT_I32 || !vectors))
        return vkt_fail(err, VKT_ERR_SHAPE, "text encoder: placements must be i32 of the ids' shape, with vectors");
    if (vectors && (vectors->ndim != 2 || vectors->shape[1] != W || vectors->dtype != VKT_F32))
        return vkt_fail(err, VKT_ERR_SHAPE, "text encoder: learned vectors must be f32 [N, %d]", W);
    if (multipliers && (multipliers->dtype != VKT_F32 || !(multipliers->ndim == 2 && multipliers->shape[0] == ids->shape[0] &&
                                                           multipliers->shape[1] == ids->shape[1])))
        return vkt_fail(err, VKT_ERR_SHAPE, "text encoder: multipliers must be f32 [B, T] like the ids");
    if (clip_skip < 1 || clip_skip > c->cfg.layers)
        return vkt_fail(err, VKT_ERR_USAGE, "clip skip %d outside 1..%d", clip_skip, c->cfg.layers);
    vkt_clip_saved *sv = vkt_calloc(1, sizeof *sv);
    if (!sv) return vkt_fail(err, VKT_ERR_NOMEM, "text encoder saved state");
    vkt_dtype dt = vkt_clip_dtype(c);
    int64_t B = ids->shape[0], K = ids->shape[1] / 77, N = B * K, T = 77;
    const int64_t sh[3] = {N, T, W};
    vkt_tensor ids_v = vkt_tensor_reshape(ids, 2, (int64_t[]){N, T}), src_v, e, h, pos;
    vkt_status st;
    if (src_idx) src_v = vkt_tensor_reshape(src_idx, 2, (int64_t[]){N, T});
    /* positions are arange(77) always; only the first 77 rows of the table are used */
    pos = vkt_tensor_reshape(&c->pos, 2, (int64_t[]){77, W});
    if ((st = tensor(s, dt, 3, sh, "clip embed", &e, err))) goto fail;
    if ((st = vkt_op_embed_fwd(s, &ids_v, &c->tok, src_idx ? &src_v : NULL, src_idx ? vectors : NULL, &e, err))) goto fail;
    if ((st = tensor(s, dt, 3, sh, "clip h0", &h, err))) goto fail;
    if ((st = vkt_op_add_fwd(s, &e, &pos, &h, err))) goto fail;
    sv->n_layers = c->cfg.layers + 1 - clip_skip;
    for (int l = 0; l < sv->n_layers; l++) {
        vkt_tensor y;
        if ((st = layer_fwd(s, c, &c->layers[l], &h, &y, &sv->ls[l], err))) goto fail;
        h = y;
    }
    sv->h_final = h;
    vkt_tensor z;
    const int64_t rows[1] = {N * T};
    if ((st = tensor(s, dt, 3, sh, "clip out", &z, err)) || (st = tensor(s, VKT_F32, 1, rows, "fln mean", &sv->fmean, err)) ||
        (st = tensor(s, VKT_F32, 1, rows, "fln rstd", &sv->frstd, err)))
        goto fail;
    if ((st = vkt_op_layernorm_fwd(s, &h, &c->fln_g, &c->fln_b, LN_EPS, &z, &sv->fmean, &sv->frstd, err))) goto fail;
    sv->B = B;
    sv->K = K;
    if (multipliers) {
        /* emphasis works on [B, K, 77, W] and [B, K, 77]: the same bytes viewed per chunk */
        vkt_tensor z4 = vkt_tensor_reshape(&z, 4, (int64_t[]){B, K, T, W}), y4;
        sv->mult = vkt_tensor_reshape(multipliers, 3, (int64_t[]){B, K, T});
        if ((st = tensor(s, dt, 4, (int64_t[]){B, K, T, W}, "clip emphasis", &y4, err))) goto fail;
        if ((st = vkt_op_emphasis_fwd(s, &z4, &sv->mult, &y4, err))) goto fail;
        sv->z = z4;
        sv->has_mult = true;
        *out = vkt_tensor_reshape(&y4, 3, (int64_t[]){B, K * T, W});
    } else {
        *out = vkt_tensor_reshape(&z, 3, (int64_t[]){B, K * T, W});
    }
    if (src_idx) {
        sv->src_idx = src_v;
        sv->has_src = true;
    }
    if (saved) *saved = sv;
    else free(sv);
    return VKT_OK;
fail:
    free(sv);
    vkt_err_prefix(err, "text encoder");
    return st;
}

vkt_status vkt_clip_bwd(vkt_step *s, const vkt_clip *c, vkt_clip_saved *sv, const vkt_tensor *dout,
                        vkt_tensor *dvectors, vkt_grad_mode mode, vkt_err *err)
{
    vkt_status st = VKT_OK;
    vkt_dtype dt = vkt_clip_dtype(c);
    int64_t B = sv->B, K = sv->K, N = B * K, T = 77, W = c->cfg.width;
    const int64_t sh[3] = {N, T, W};
    vkt_tensor dz, dres;
    if (dout->ndim != 3 || dout->shape[0] != B || dout->shape[1] != K * T || dout->shape[2] != W || dout->dtype != dt) {
        st = vkt_fail(err, VKT_ERR_SHAPE, "text encoder backward: d output has the wrong shape or dtype");
        goto done;
    }
    if (!sv->has_src) {
        st = vkt_fail(err, VKT_ERR_USAGE, "text encoder backward: no learned vectors to differentiate");
        goto done;
    }
    if (sv->has_mult) {
        vkt_tensor dy4 = vkt_tensor_reshape(dout, 4, (int64_t[]){B, K, T, W}), dz4;
        if ((st = tensor(s, dt, 4, (int64_t[]){B, K, T, W}, "d emphasis", &dz4, err))) goto done;
        if ((st = vkt_op_emphasis_bwd(s, &sv->z, &sv->mult, &dy4, &dz4, err))) goto done;
        dz = vkt_tensor_reshape(&dz4, 3, sh);
    } else {
        dz = vkt_tensor_reshape(dout, 3, sh);
    }
    if ((st = tensor(s, dt, 3, sh, "d clip residual", &dres, err))) goto done;
    if ((st = vkt_op_layernorm_bwd(s, &sv->h_final, &c->fln_g, &sv->fmean, &sv->frstd, &dz, &dres, VKT_GRAD_OVERWRITE,
                                   NULL, NULL, VKT_GRAD_OVERWRITE, err)))
        goto done;
    for (int l = sv->n_layers - 1; l >= 0; l--)
        if ((st = layer_bwd(s, c, &c->layers[l], &sv->ls[l], &dres, err))) goto done;
    /* h0 = embed + pos: d embed = dres; the learned vectors' rows get their positions' sums */
    st = vkt_op_embed_bwd_vectors(s, &sv->src_idx, &dres, dvectors, mode, err);
done:
    if (st) vkt_err_prefix(err, "text encoder backward");
    free(sv);
    return st;
}
