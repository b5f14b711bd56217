/* Hypernetwork modules on the GPU: upload/download, the module MLP forward and backward with
 * parameter gradients, the UNet k/v hook that chains several hypernetworks, and AdamW. Built
 * from the linear, act, layernorm, dropout, binary and cast ops; always f32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "models/hypernetwork.h"
#include "models/unet.h"
#include "nn/ops/act.h"
#include "nn/ops/binary.h"
#include "nn/ops/cast.h"
#include "nn/ops/layernorm.h"
#include "nn/ops/matmul.h"
#include "nn/ops/optim.h"
#include "nn/ops/rng.h"

#define HOOK_MAX_HN 8

static int64_t numel_of(const vkt_hn_param *p)
{
    return p->ndim == 2 ? p->shape[0] * p->shape[1] : p->shape[0];
}

/* ---- device copies ----------------------------------------------------------------------- */

static void free_param_dev(vkt_device *dev, vkt_hn_param *p)
{
    if (p->dev.buf) vkt_tensor_free(dev, &p->dev);
    if (p->grad.buf) vkt_tensor_free(dev, &p->grad);
    if (p->m.buf) vkt_tensor_free(dev, &p->m);
    if (p->v.buf) vkt_tensor_free(dev, &p->v);
    memset(&p->dev, 0, sizeof p->dev);
    memset(&p->grad, 0, sizeof p->grad);
    memset(&p->m, 0, sizeof p->m);
    memset(&p->v, 0, sizeof p->v);
}

void vkt_hn_release(vkt_hypernetwork *hn)
{
    if (!hn || !hn->dev) return;
    for (int s = 0; s < hn->n_sizes; s++)
        for (int j = 0; j < 2; j++)
            for (int i = 0; i < hn->sizes[s].mod[j].n_params; i++)
                free_param_dev(hn->dev, &hn->sizes[s].mod[j].params[i]);
    hn->dev = NULL;
}

static vkt_status alloc_fill(vkt_device *dev, const vkt_hn_param *p, const float *host,
                             const char *what, vkt_tensor *t, vkt_err *err)
{
    int64_t shape[2] = {p->shape[0], p->shape[1]};
    vkt_status st = vkt_tensor_alloc(dev, VKT_F32, p->ndim, shape, what, t, err);
    if (!st) st = host ? vkt_tensor_upload_f32(dev, t, host, err) : vkt_tensor_zero(dev, t, err);
    return st;
}

vkt_status vkt_hn_upload(vkt_hypernetwork *hn, vkt_device *dev, bool train, vkt_err *err)
{
    vkt_hn_release(hn);
    hn->dev = dev;
    vkt_status st = VKT_OK;
    for (int s = 0; s < hn->n_sizes && !st; s++)
        for (int j = 0; j < 2 && !st; j++)
            for (int i = 0; i < hn->sizes[s].mod[j].n_params && !st; i++) {
                vkt_hn_param *p = &hn->sizes[s].mod[j].params[i];
                st = alloc_fill(dev, p, p->host, "hn param", &p->dev, err);
                if (!st && train) st = alloc_fill(dev, p, NULL, "hn grad", &p->grad, err);
                if (!st && train) st = alloc_fill(dev, p, p->m_host, "hn exp_avg", &p->m, err);
                if (!st && train) st = alloc_fill(dev, p, p->v_host, "hn exp_avg_sq", &p->v, err);
                if (st)
                    vkt_err_prefix(err, "hypernetwork %s size %lld %s", hn->name,
                                   (long long)hn->sizes[s].dim, p->key);
            }
    if (st) vkt_hn_release(hn);
    return st;
}

vkt_status vkt_hn_download(vkt_hypernetwork *hn, vkt_err *err)
{
    if (!hn->dev)
        return vkt_fail(err, VKT_ERR_USAGE, "hypernetwork %s is not on a device", hn->name);
    vkt_status st = VKT_OK;
    for (int s = 0; s < hn->n_sizes && !st; s++)
        for (int j = 0; j < 2 && !st; j++)
            for (int i = 0; i < hn->sizes[s].mod[j].n_params && !st; i++) {
                vkt_hn_param *p = &hn->sizes[s].mod[j].params[i];
                size_t n = (size_t)numel_of(p);
                st = vkt_tensor_download_f32(hn->dev, &p->dev, p->host, err);
                if (st || !p->m.buf) continue;
                if (!p->m_host) p->m_host = vkt_malloc(n * sizeof(float));
                if (!p->v_host) p->v_host = vkt_malloc(n * sizeof(float));
                if (!p->m_host || !p->v_host)
                    st = vkt_fail(err, VKT_ERR_NOMEM, "hypernetwork moments");
                if (!st) st = vkt_tensor_download_f32(hn->dev, &p->m, p->m_host, err);
                if (!st) st = vkt_tensor_download_f32(hn->dev, &p->v, p->v_host, err);
            }
    return st;
}

vkt_status vkt_hn_record_zero_grads(vkt_step *s, vkt_hypernetwork *hn, vkt_err *err)
{
    vkt_status st = VKT_OK;
    for (int z = 0; z < hn->n_sizes && !st; z++)
        for (int j = 0; j < 2 && !st; j++)
            for (int i = 0; i < hn->sizes[z].mod[j].n_params && !st; i++) {
                const vkt_tensor *g = &hn->sizes[z].mod[j].params[i].grad;
                if (!g->buf)
                    return vkt_fail(err, VKT_ERR_USAGE,
                                    "hypernetwork %s was uploaded without gradients", hn->name);
                st = vkt_cmd_zero(s->cmd, g->buf, g->offset, vkt_tensor_bytes(g), err);
            }
    return st;
}

int vkt_hn_grads(vkt_hypernetwork *hn, vkt_tensor **out, int max)
{
    int n = 0;
    for (int z = 0; z < hn->n_sizes; z++) {
        if (!hn->sizes[z].used) continue;
        for (int j = 0; j < 2; j++)
            for (int i = 0; i < hn->sizes[z].mod[j].n_params; i++) {
                if (n < max) out[n] = &hn->sizes[z].mod[j].params[i].grad;
                n++;
            }
    }
    return n;
}

vkt_adamw vkt_hn_adamw(double lr)
{
    return (vkt_adamw){.lr = (float)lr,
                       .beta1 = (float)VKT_HN_ADAM_BETA1,
                       .beta2 = (float)VKT_HN_ADAM_BETA2,
                       .eps = (float)VKT_HN_ADAM_EPS,
                       .weight_decay = (float)VKT_HN_ADAM_WEIGHT_DECAY};
}

vkt_status vkt_hn_record_adamw(vkt_step *s, vkt_hypernetwork *hn, const vkt_adamw *h,
                               const vkt_tensor *clip_state, vkt_err *err)
{
    vkt_status st = VKT_OK;
    for (int z = 0; z < hn->n_sizes && !st; z++) {
        if (!hn->sizes[z].used) continue; /* no gradient: torch's AdamW skips the parameter */
        for (int j = 0; j < 2 && !st; j++)
            for (int i = 0; i < hn->sizes[z].mod[j].n_params && !st; i++) {
                vkt_hn_param *p = &hn->sizes[z].mod[j].params[i];
                if (!p->grad.buf || !p->m.buf)
                    return vkt_fail(err, VKT_ERR_USAGE,
                                    "hypernetwork %s was uploaded without gradients", hn->name);
                vkt_adamw hh = *h;
                hh.step = p->opt_step + 1;
                st = vkt_op_adamw_step(s, &hh, &p->dev, &p->grad, &p->m, &p->v, clip_state, err);
                if (!st) p->opt_step++;
            }
    }
    return st;
}

/* ---- one module -------------------------------------------------------------------------- */

typedef struct saved_layer {
    vkt_tensor in;         /* the layer's input (Linear, act, LayerNorm) */
    vkt_tensor mean, rstd; /* LayerNorm statistics */
    uint64_t offset;       /* dropout stream */
} saved_layer;

struct vkt_hn_module_saved {
    const vkt_hn_module *m; /* borrowed */
    vkt_act act;
    float act_param, mult;
    bool dropout;
    uint64_t seed;
    vkt_tensor x;
    saved_layer l[VKT_HN_MAX_SEQ];
};

void vkt_hn_module_saved_free(vkt_hn_module_saved *sv)
{
    free(sv);
}

static vkt_status tmp(vkt_step *s, const vkt_tensor *like, int64_t last, const char *what,
                      vkt_tensor *out, vkt_err *err)
{
    int64_t shape[VKT_MAX_DIMS];
    for (int i = 0; i < like->ndim; i++)
        shape[i] = like->shape[i];
    shape[like->ndim - 1] = last;
    return vkt_step_tensor(s, VKT_F32, like->ndim, shape, what, out, err);
}

static int n_dropout(const vkt_hn_module *m)
{
    int n = 0;
    for (int l = 0; l < m->n_layers; l++)
        n += m->layers[l].kind == VKT_HN_DROPOUT;
    return n;
}

vkt_status vkt_hn_module_fwd(vkt_step *s, const vkt_hn_module *m, const vkt_hn_options *o,
                             const vkt_tensor *x, float mult, bool dropout, uint64_t seed,
                             uint64_t offset0, vkt_tensor *y, vkt_hn_module_saved **saved,
                             vkt_err *err)
{
    vkt_status st = VKT_OK;
    vkt_hn_module_saved *sv = vkt_calloc(1, sizeof *sv);
    if (!sv) return vkt_fail(err, VKT_ERR_NOMEM, "hypernetwork module");
    sv->m = m;
    sv->mult = mult;
    sv->dropout = dropout;
    sv->seed = seed;
    sv->x = *x;
    sv->act = VKT_ACT_IDENTITY;
    if (!o->activation_none &&
        (st = vkt_hn_activation(o->activation, &sv->act, &sv->act_param, err)))
        goto done;
    if (x->dtype != VKT_F32 || x->ndim < 1 || m->n_layers < 1 ||
        x->shape[x->ndim - 1] != m->layers[0].in) {
        st = vkt_fail(err, VKT_ERR_SHAPE, "hypernetwork module: input must be f32 [..., %lld]",
                      (long long)(m->n_layers ? m->layers[0].in : 0));
        goto done;
    }
    int64_t rows = vkt_tensor_numel(x) / x->shape[x->ndim - 1];
    vkt_tensor h = *x;
    uint64_t off = offset0;
    for (int l = 0; l < m->n_layers && !st; l++) {
        const vkt_hn_layer *L = &m->layers[l];
        saved_layer *S = &sv->l[l];
        vkt_tensor out;
        S->in = h;
        switch (L->kind) {
        case VKT_HN_LINEAR:
            st = tmp(s, &h, L->out, "hn linear", &out, err);
            if (!st)
                st =
                    vkt_op_linear_fwd(s, &h, &m->params[L->w].dev, &m->params[L->b].dev, &out, err);
            break;
        case VKT_HN_ACT:
            st = tmp(s, &h, L->out, "hn act", &out, err);
            if (!st) st = vkt_op_act_fwd(s, sv->act, sv->act_param, &h, &out, err);
            break;
        case VKT_HN_LAYERNORM:
            st = tmp(s, &h, L->out, "hn layernorm", &out, err);
            if (!st) st = vkt_step_tensor(s, VKT_F32, 1, &rows, "hn ln mean", &S->mean, err);
            if (!st) st = vkt_step_tensor(s, VKT_F32, 1, &rows, "hn ln rstd", &S->rstd, err);
            if (!st)
                st = vkt_op_layernorm_fwd(s, &h, &m->params[L->w].dev, &m->params[L->b].dev,
                                          VKT_HN_LN_EPS, &out, &S->mean, &S->rstd, err);
            break;
        case VKT_HN_DROPOUT:
            S->offset = off++;
            if (!dropout) { /* module.eval() / eval-case: dropout is the identity */
                out = h;
                break;
            }
            st = tmp(s, &h, L->out, "hn dropout", &out, err);
            if (!st) st = vkt_op_dropout_fwd(s, seed, S->offset, L->p, &h, &out, err);
            break;
        }
        h = out;
    }
    if (st) goto done;
    /* y = x + MLP(x)·mult */
    if ((st = tmp(s, x, x->shape[x->ndim - 1], "hn out", y, err))) goto done;
    st = vkt_op_binary_fwd(s, VKT_BINARY_ADD, 1.0f, mult, x, &h, y, err);
done:
    if (!st && saved)
        *saved = sv;
    else
        free(sv);
    return st;
}

vkt_status vkt_hn_module_bwd(vkt_step *s, const vkt_hn_module *m, const vkt_hn_options *o,
                             vkt_hn_module_saved *sv, const vkt_tensor *dy, vkt_tensor *dx,
                             vkt_grad_mode mode, vkt_err *err)
{
    (void)o;
    if (sv->m != m)
        return vkt_fail(err, VKT_ERR_INTERNAL,
                        "hypernetwork module: saved state of another module");
    vkt_status st = VKT_OK;
    vkt_tensor dh = *dy;
    if (sv->mult != 1.0f) {
        if ((st = tmp(s, dy, dy->shape[dy->ndim - 1], "hn d mult", &dh, err)) ||
            (st = vkt_op_scale_fwd(s, dy, sv->mult, 0.0f, &dh, err)))
            return st;
    }
    for (int l = m->n_layers - 1; l >= 0 && !st; l--) {
        const vkt_hn_layer *L = &m->layers[l];
        const saved_layer *S = &sv->l[l];
        const vkt_hn_param *W = L->w >= 0 ? &m->params[L->w] : NULL,
                           *B = L->b >= 0 ? &m->params[L->b] : NULL;
        if (W && (!W->grad.buf || !B->grad.buf))
            return vkt_fail(err, VKT_ERR_USAGE, "hypernetwork module: uploaded without gradients");
        vkt_tensor dprev;
        if (l == 0) { /* always the first Linear: its input is x */
            st = vkt_op_linear_bwd(s, &S->in, &W->dev, &dh, dx, mode, (vkt_tensor *)&W->grad,
                                   (vkt_tensor *)&B->grad, VKT_GRAD_ACCUMULATE, err);
            break;
        }
        if (L->kind == VKT_HN_DROPOUT && !sv->dropout) continue;
        if ((st = tmp(s, &S->in, L->in, "hn d layer", &dprev, err))) break;
        switch (L->kind) {
        case VKT_HN_LINEAR:
            st = vkt_op_linear_bwd(s, &S->in, &W->dev, &dh, &dprev, VKT_GRAD_OVERWRITE,
                                   (vkt_tensor *)&W->grad, (vkt_tensor *)&B->grad,
                                   VKT_GRAD_ACCUMULATE, err);
            break;
        case VKT_HN_ACT:
            st = vkt_op_act_bwd(s, sv->act, sv->act_param, &S->in, &dh, &dprev, VKT_GRAD_OVERWRITE,
                                err);
            break;
        case VKT_HN_LAYERNORM:
            st = vkt_op_layernorm_bwd(s, &S->in, &W->dev, &S->mean, &S->rstd, &dh, &dprev,
                                      VKT_GRAD_OVERWRITE, (vkt_tensor *)&W->grad,
                                      (vkt_tensor *)&B->grad, VKT_GRAD_ACCUMULATE, err);
            break;
        case VKT_HN_DROPOUT:
            st = vkt_op_dropout_bwd(s, sv->seed, S->offset, L->p, &dh, &dprev, VKT_GRAD_OVERWRITE,
                                    err);
            break;
        }
        dh = dprev;
    }
    /* the residual path: dx += dy */
    if (!st && dx) st = vkt_op_axpy(s, 1.0f, dy, 1.0f, dx, err);
    return st;
}

/* ---- the UNet hook ----------------------------------------------------------------------- */

typedef struct hook_rec {
    int attn; /* vkt_unet_attn_info.index */
    bool consumed;
    vkt_dtype dt;
    vkt_hn_module_saved *sv[HOOK_MAX_HN][2]; /* NULL where hns[j] has no module of this size */
} hook_rec;

struct vkt_hn_hook {
    vkt_unet_kv_hook kv;
    vkt_hypernetwork *hns[HOOK_MAX_HN]; /* borrowed */
    int n;
    vkt_hn_mode mode;
    float grad_scale; /* 0: by c's dtype (f16: VKT_UNET_F16_LOSS_SCALE) */
    uint64_t seed, stream, counter;
    hook_rec *recs;
    int n_recs, cap_recs;
};

static void forget(vkt_hn_hook *h)
{
    for (int r = 0; r < h->n_recs; r++)
        for (int j = 0; j < HOOK_MAX_HN; j++)
            for (int w = 0; w < 2; w++)
                free(h->recs[r].sv[j][w]);
    h->n_recs = 0;
    h->counter = 0;
}

void vkt_hn_hook_begin(vkt_hn_hook *h, uint64_t seed, uint64_t stream)
{
    forget(h);
    h->seed = seed;
    h->stream = stream;
}

static vkt_status cast_to(vkt_step *s, const vkt_tensor *x, vkt_dtype dt, const char *what,
                          vkt_tensor *y, vkt_err *err)
{
    vkt_status st = vkt_step_tensor(s, dt, x->ndim, x->shape, what, y, err);
    if (!st) st = vkt_op_cast(s, x, y, err);
    return st;
}

static vkt_status hook_fwd(void *user, vkt_step *s, const vkt_unet_attn_info *a,
                           const vkt_tensor *c, vkt_tensor *ck, vkt_tensor *cv, vkt_err *err)
{
    vkt_hn_hook *h = user;
    *ck = *cv = *c;
    vkt_hn_size *sz[HOOK_MAX_HN];
    bool any = false;
    for (int j = 0; j < h->n; j++)
        any |= (sz[j] = vkt_hn_find_size(h->hns[j], a->dim)) != NULL;
    if (!any) return VKT_OK; /* no module of this width: c_k = c_v = c, no backward call */
    const bool train = h->mode != VKT_HN_APPLY, drop = h->mode == VKT_HN_TRAIN;
    hook_rec *rec = NULL;
    if (train) {
        if (h->n_recs == h->cap_recs) {
            int cap = h->cap_recs ? 2 * h->cap_recs : 32;
            hook_rec *nr = vkt_realloc(h->recs, (size_t)cap * sizeof *nr);
            if (!nr) return vkt_fail(err, VKT_ERR_NOMEM, "hypernetwork hook");
            h->recs = nr;
            h->cap_recs = cap;
        }
        rec = &h->recs[h->n_recs++];
        memset(rec, 0, sizeof *rec);
        rec->attn = a->index;
        rec->dt = c->dtype;
    }
    vkt_status st = VKT_OK;
    vkt_tensor x = *c;
    if (c->dtype != VKT_F32 && (st = cast_to(s, c, VKT_F32, "hn c f32", &x, err))) return st;
    vkt_tensor cur[2] = {x, x};
    for (int j = 0; j < h->n && !st; j++) {
        if (!sz[j]) continue;
        float mult = train ? 1.0f : h->hns[j]->multiplier;
        for (int w = 0; w < 2 && !st; w++) {
            const vkt_hn_module *m = &sz[j]->mod[w];
            uint64_t off = (h->stream << 16) + h->counter;
            h->counter += (uint64_t)n_dropout(m);
            vkt_tensor y;
            st = vkt_hn_module_fwd(s, m, &h->hns[j]->opt, &cur[w], mult, drop, h->seed, off, &y,
                                   train ? &rec->sv[j][w] : NULL, err);
            if (!st) cur[w] = y;
        }
        if (train) sz[j]->used = true;
    }
    if (st) {
        vkt_err_prefix(err, "hypernetwork at %s", a->name);
        return st;
    }
    if (c->dtype != VKT_F32) {
        if ((st = cast_to(s, &cur[0], c->dtype, "hn c_k", ck, err)) ||
            (st = cast_to(s, &cur[1], c->dtype, "hn c_v", cv, err)))
            return st;
    } else {
        *ck = cur[0];
        *cv = cur[1];
    }
    return VKT_OK;
}

static vkt_status hook_bwd(void *user, vkt_step *s, const vkt_unet_attn_info *a,
                           const vkt_tensor *dck, const vkt_tensor *dcv, vkt_tensor *dc,
                           vkt_err *err)
{
    vkt_hn_hook *h = user;
    if (h->mode == VKT_HN_APPLY)
        return vkt_fail(err, VKT_ERR_USAGE, "hypernetwork hook in apply mode has no backward");
    hook_rec *rec = NULL;
    for (int r = h->n_recs - 1; r >= 0 && !rec; r--)
        if (h->recs[r].attn == a->index && !h->recs[r].consumed) rec = &h->recs[r];
    if (!rec)
        return vkt_fail(err, VKT_ERR_INTERNAL, "hypernetwork hook: no forward recorded for %s",
                        a->name);
    rec->consumed = true;
    int first = -1;
    for (int j = h->n - 1; j >= 0; j--)
        if (rec->sv[j][0]) first = j;
    vkt_status st = VKT_OK;
    vkt_tensor g[2] = {*dck, *dcv}, acc;
    const float S = h->grad_scale > 0    ? h->grad_scale
                    : rec->dt == VKT_F16 ? VKT_UNET_F16_LOSS_SCALE
                                         : 1.0f;
    if (rec->dt != VKT_F32 || S != 1.0f) { /* f32 copies without the loss scale */
        if ((st = cast_to(s, dck, VKT_F32, "hn d c_k f32", &g[0], err)) ||
            (st = cast_to(s, dcv, VKT_F32, "hn d c_v f32", &g[1], err)))
            return st;
        if (S != 1.0f && ((st = vkt_op_scale_fwd(s, &g[0], 1.0f / S, 0.0f, &g[0], err)) ||
                          (st = vkt_op_scale_fwd(s, &g[1], 1.0f / S, 0.0f, &g[1], err))))
            return st;
    }
    const bool direct = dc && dc->dtype == VKT_F32 && S == 1.0f;
    if (dc && !direct &&
        (st = vkt_step_tensor(s, VKT_F32, dc->ndim, dc->shape, "hn d c f32", &acc, err)))
        return st;
    for (int j = h->n - 1; j >= first && !st; j--)
        for (int w = 0; w < 2 && !st; w++) {
            vkt_hn_module_saved *sv = rec->sv[j][w];
            if (!sv) continue;
            const vkt_hn_options *o = &h->hns[j]->opt;
            if (j > first) { /* into the previous hypernetwork of the chain */
                vkt_tensor ng;
                st = vkt_step_tensor(s, VKT_F32, g[w].ndim, g[w].shape, "hn d chain", &ng, err);
                if (!st)
                    st = vkt_hn_module_bwd(s, sv->m, o, sv, &g[w], &ng, VKT_GRAD_OVERWRITE, err);
                g[w] = ng;
            } else if (!dc) {
                st = vkt_hn_module_bwd(s, sv->m, o, sv, &g[w], NULL, VKT_GRAD_OVERWRITE, err);
            } else if (direct) {
                st = vkt_hn_module_bwd(s, sv->m, o, sv, &g[w], dc, VKT_GRAD_ACCUMULATE, err);
            } else {
                st = vkt_hn_module_bwd(s, sv->m, o, sv, &g[w], &acc,
                                       w == 0 ? VKT_GRAD_OVERWRITE : VKT_GRAD_ACCUMULATE, err);
            }
        }
    if (!st && dc && !direct) { /* dc += S·acc in dc's dtype */
        vkt_tensor t;
        if (S != 1.0f) st = vkt_op_scale_fwd(s, &acc, S, 0.0f, &acc, err);
        if (!st) st = cast_to(s, &acc, dc->dtype, "hn d c", &t, err);
        if (!st) st = vkt_op_axpy(s, 1.0f, &t, 1.0f, dc, err);
    }
    return st;
}

vkt_status vkt_hn_hook_create(vkt_hypernetwork *const *hns, int n, vkt_hn_mode mode,
                              vkt_hn_hook **out, vkt_err *err)
{
    if (n < 1 || n > HOOK_MAX_HN)
        return vkt_fail(err, VKT_ERR_USAGE, "%d hypernetworks, expected 1..%d", n, HOOK_MAX_HN);
    for (int j = 0; j < n; j++) {
        if (!hns[j]->dev)
            return vkt_fail(err, VKT_ERR_USAGE, "hypernetwork %s is not uploaded", hns[j]->name);
        if (mode != VKT_HN_APPLY)
            for (int z = 0; z < hns[j]->n_sizes; z++)
                if (hns[j]->sizes[z].mod[0].n_params && !hns[j]->sizes[z].mod[0].params[0].grad.buf)
                    return vkt_fail(err, VKT_ERR_USAGE,
                                    "hypernetwork %s: training needs an upload with gradients",
                                    hns[j]->name);
    }
    vkt_hn_hook *h = vkt_calloc(1, sizeof *h);
    if (!h) return vkt_fail(err, VKT_ERR_NOMEM, "hypernetwork hook");
    for (int j = 0; j < n; j++)
        h->hns[j] = hns[j];
    h->n = n;
    h->mode = mode;
    h->kv = (vkt_unet_kv_hook){hook_fwd, hook_bwd, h};
    *out = h;
    return VKT_OK;
}

void vkt_hn_hook_destroy(vkt_hn_hook *h)
{
    if (!h) return;
    forget(h);
    free(h->recs);
    free(h);
}

const vkt_unet_kv_hook *vkt_hn_hook_unet(vkt_hn_hook *h)
{
    return &h->kv;
}

void vkt_hn_hook_set_grad_scale(vkt_hn_hook *h, float scale)
{
    h->grad_scale = scale;
}
