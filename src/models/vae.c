/* SD1.x VAE: loader (dims from shapes), encoder and decoder recorded as planned-step ops.
 * Structure and key names: ../shared/spec/sd1-architecture.md §4; LDM
 * ldm/modules/diffusionmodules/model.py (Encoder, Decoder, ResnetBlock, AttnBlock). */
#include "models/vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "nn/ops/binary.h"
#include "nn/ops/conv2d.h"
#include "nn/ops/groupnorm.h"
#include "nn/ops/posterior.h"
#include "nn/ops/spatial_attn.h"
#include "nn/ops/upsample.h"

#define GN_EPS 1e-6f

typedef struct conv {
    vkt_tensor w, b; /* [Cout, Cin, k, k], [Cout] */
} conv;

typedef struct norm {
    vkt_tensor w, b; /* [C] */
} norm;

typedef struct res_block { /* ResnetBlock(cin -> cout), no time embedding */
    int cin, cout;
    norm n1, n2;
    conv c1, c2;
    bool has_nin;
    conv nin; /* 1x1 shortcut when cin != cout */
} res_block;

typedef struct attn_block { /* AttnBlock(C): single head over H*W positions */
    int C;
    norm n;
    conv q, k, v, proj;
} attn_block;

typedef struct mid_block {
    res_block r1, r2;
    attn_block a;
} mid_block;

typedef struct level {
    res_block res[VKT_VAE_MAX_RES];
    int n_res;
    bool resample; /* encoder: Downsample after the blocks; decoder: Upsample */
    conv rs;
} level;

struct vkt_vae {
    vkt_vae_config cfg;
    vkt_weights *w; /* owned: every tensor below is a view into it */
    vkt_dtype dt;
    /* encoder */
    conv e_in;
    level enc[VKT_VAE_MAX_LEVELS];
    mid_block e_mid;
    norm e_norm;
    conv e_out;
    conv quant, post_quant;
    /* decoder; dec[i] is the key's up.i (processed from the last level down to 0) */
    conv d_in;
    mid_block d_mid;
    level dec[VKT_VAE_MAX_LEVELS];
    norm d_norm;
    conv d_out;
};

/* ------------------------------------------------------------------------------------------
 * loading
 * ------------------------------------------------------------------------------------------ */

typedef struct loader {
    vkt_weights *w;
    const vkt_weight_source *src;
} loader;

static vkt_status get(loader *L, const char *key, int ndim, const int64_t *shape, vkt_tensor *out, vkt_err *err)
{
    return vkt_weights_get(L->w, L->src, key, ndim, shape, out, err);
}

static bool has(const loader *L, const char *fmt, const char *p, int i)
{
    char key[160];
    snprintf(key, sizeof key, fmt, p, i);
    return vkt_weight_exists(L->src, key);
}

/* conv "<p>.weight" [cout, cin, k, k] (cout or cin -1: any, read back) and "<p>.bias" [cout]. */
static vkt_status load_conv(loader *L, const char *p, int64_t cout, int64_t cin, int64_t k, conv *c, vkt_err *err)
{
    char key[160];
    snprintf(key, sizeof key, "%s.weight", p);
    vkt_status st = get(L, key, 4, (int64_t[]){cout, cin, k, k}, &c->w, err);
    if (st) return st;
    snprintf(key, sizeof key, "%s.bias", p);
    return get(L, key, 1, (int64_t[]){c->w.shape[0]}, &c->b, err);
}

static vkt_status load_norm(loader *L, const char *p, int64_t C, norm *n, vkt_err *err)
{
    char key[160];
    snprintf(key, sizeof key, "%s.weight", p);
    vkt_status st = get(L, key, 1, (int64_t[]){C}, &n->w, err);
    if (st) return st;
    snprintf(key, sizeof key, "%s.bias", p);
    return get(L, key, 1, (int64_t[]){C}, &n->b, err);
}

static vkt_status check_groups(const vkt_weight_source *src, const char *p, int C, vkt_err *err)
{
    if (C % VKT_VAE_GROUPS == 0) return VKT_OK;
    return vkt_fail(err, VKT_ERR_FORMAT, "%s: %s%s: %d channels, not a multiple of the %d GroupNorm groups",
                    src->origin, src->prefix, p, C, VKT_VAE_GROUPS);
}

/* ResnetBlock "<p>" with input width cin; its output width comes from conv1's shape. */
static vkt_status load_res(loader *L, const char *p, int cin, res_block *r, vkt_err *err)
{
    char q[160];
    vkt_status st;
    r->cin = cin;
    snprintf(q, sizeof q, "%s.norm1", p);
    if ((st = check_groups(L->src, q, cin, err)) || (st = load_norm(L, q, cin, &r->n1, err))) return st;
    snprintf(q, sizeof q, "%s.conv1", p);
    if ((st = load_conv(L, q, -1, cin, 3, &r->c1, err))) return st;
    r->cout = (int)r->c1.w.shape[0];
    snprintf(q, sizeof q, "%s.norm2", p);
    if ((st = check_groups(L->src, q, r->cout, err)) || (st = load_norm(L, q, r->cout, &r->n2, err))) return st;
    snprintf(q, sizeof q, "%s.conv2", p);
    if ((st = load_conv(L, q, r->cout, r->cout, 3, &r->c2, err))) return st;
    r->has_nin = r->cin != r->cout;
    if (r->has_nin) {
        snprintf(q, sizeof q, "%s.nin_shortcut", p);
        if ((st = load_conv(L, q, r->cout, r->cin, 1, &r->nin, err))) return st;
    }
    return VKT_OK;
}

static vkt_status load_attn(loader *L, const char *p, int C, attn_block *a, vkt_err *err)
{
    char q[160];
    vkt_status st;
    a->C = C;
    snprintf(q, sizeof q, "%s.norm", p);
    if ((st = load_norm(L, q, C, &a->n, err))) return st;
    static const char *names[4] = {"q", "k", "v", "proj_out"};
    conv *cs[4] = {&a->q, &a->k, &a->v, &a->proj};
    for (int i = 0; i < 4; i++) {
        snprintf(q, sizeof q, "%s.%s", p, names[i]);
        if ((st = load_conv(L, q, C, C, 1, cs[i], err))) return st;
    }
    return VKT_OK;
}

static vkt_status load_mid(loader *L, const char *p, int C, mid_block *m, vkt_err *err)
{
    char q[160];
    vkt_status st;
    snprintf(q, sizeof q, "%s.mid.block_1", p);
    if ((st = load_res(L, q, C, &m->r1, err))) return st;
    snprintf(q, sizeof q, "%s.mid.attn_1", p);
    if ((st = load_attn(L, q, m->r1.cout, &m->a, err))) return st;
    snprintf(q, sizeof q, "%s.mid.block_2", p);
    if ((st = load_res(L, q, m->r1.cout, &m->r2, err))) return st;
    if (m->r2.cout != C)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: %s%s: mid block maps %d to %d channels", L->src->origin,
                        L->src->prefix, p, C, m->r2.cout);
    return VKT_OK;
}

/* Number of "<p>.<i>.block.0.conv1.weight"-style entries: i = 0, 1, ... while fmt exists. */
static int count(const loader *L, const char *fmt, const char *p)
{
    int n = 0;
    while (n <= 64 && has(L, fmt, p, n)) n++;
    return n;
}

static vkt_status load_all(vkt_vae *v, loader *L, vkt_err *err)
{
    vkt_vae_config *c = &v->cfg;
    const vkt_weight_source *src = L->src;
    char p[160];
    vkt_status st;

    /* encoder */
    if ((st = load_conv(L, "encoder.conv_in", -1, -1, 3, &v->e_in, err))) return st;
    c->ch = (int)v->e_in.w.shape[0];
    c->in_ch = (int)v->e_in.w.shape[1];
    c->n_levels = count(L, "%s.down.%d.block.0.conv1.weight", "encoder");
    c->enc_res = count(L, "%s.down.0.block.%d.conv1.weight", "encoder");
    if (c->n_levels < 1 || c->enc_res < 1)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: no %sencoder.down.0.block.0 (not a VAE?)", src->origin,
                        src->prefix);
    if (c->n_levels > VKT_VAE_MAX_LEVELS || c->enc_res > VKT_VAE_MAX_RES)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: VAE with %d levels of %d blocks (at most %d of %d)",
                        src->origin, c->n_levels, c->enc_res, VKT_VAE_MAX_LEVELS, VKT_VAE_MAX_RES);
    int C = c->ch, downs = 0;
    for (int i = 0; i < c->n_levels; i++) {
        level *lv = &v->enc[i];
        lv->n_res = c->enc_res;
        if (has(L, "%s.down.%d.attn.0.norm.weight", "encoder", i))
            return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: %sencoder.down.%d has attention (not an SD VAE)",
                            src->origin, src->prefix, i);
        for (int j = 0; j < lv->n_res; j++) {
            snprintf(p, sizeof p, "encoder.down.%d.block.%d", i, j);
            if ((st = load_res(L, p, C, &lv->res[j], err))) return st;
            C = lv->res[j].cout;
        }
        c->enc_ch[i] = C;
        lv->resample = has(L, "%s.down.%d.downsample.conv.weight", "encoder", i);
        if (lv->resample) {
            snprintf(p, sizeof p, "encoder.down.%d.downsample.conv", i);
            if ((st = load_conv(L, p, C, C, 3, &lv->rs, err))) return st;
            downs++;
        }
    }
    if ((st = load_mid(L, "encoder", C, &v->e_mid, err))) return st;
    if ((st = load_norm(L, "encoder.norm_out", C, &v->e_norm, err))) return st;
    if ((st = load_conv(L, "encoder.conv_out", -1, C, 3, &v->e_out, err))) return st;
    int64_t zz = v->e_out.w.shape[0]; /* 2 * z_channels (double_z) */
    if ((st = load_conv(L, "quant_conv", -1, zz, 1, &v->quant, err))) return st;
    if (v->quant.w.shape[0] % 2)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: %squant_conv.weight has %lld output channels, expected 2*embed",
                        src->origin, src->prefix, (long long)v->quant.w.shape[0]);
    c->embed = (int)(v->quant.w.shape[0] / 2);

    /* decoder */
    if ((st = load_conv(L, "post_quant_conv", -1, c->embed, 1, &v->post_quant, err))) return st;
    c->z = (int)v->post_quant.w.shape[0];
    if ((st = load_conv(L, "decoder.conv_in", -1, c->z, 3, &v->d_in, err))) return st;
    C = (int)v->d_in.w.shape[0];
    if ((st = load_mid(L, "decoder", C, &v->d_mid, err))) return st;
    int dec_levels = count(L, "%s.up.%d.block.0.conv1.weight", "decoder");
    c->dec_res = count(L, "%s.up.0.block.%d.conv1.weight", "decoder");
    if (dec_levels != c->n_levels || c->dec_res < 1 || c->dec_res > VKT_VAE_MAX_RES)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: %sdecoder has %d levels of %d blocks, encoder %d levels",
                        src->origin, src->prefix, dec_levels, c->dec_res, c->n_levels);
    int ups = 0;
    for (int i = c->n_levels - 1; i >= 0; i--) {
        level *lv = &v->dec[i];
        lv->n_res = c->dec_res;
        if (has(L, "%s.up.%d.attn.0.norm.weight", "decoder", i))
            return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: %sdecoder.up.%d has attention (not an SD VAE)",
                            src->origin, src->prefix, i);
        for (int j = 0; j < lv->n_res; j++) {
            snprintf(p, sizeof p, "decoder.up.%d.block.%d", i, j);
            if ((st = load_res(L, p, C, &lv->res[j], err))) return st;
            C = lv->res[j].cout;
        }
        c->dec_ch[i] = C;
        lv->resample = has(L, "%s.up.%d.upsample.conv.weight", "decoder", i);
        if (lv->resample) {
            snprintf(p, sizeof p, "decoder.up.%d.upsample.conv", i);
            if ((st = load_conv(L, p, C, C, 3, &lv->rs, err))) return st;
            ups++;
        }
    }
    if (ups != downs)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: %sVAE has %d downsamples but %d upsamples", src->origin,
                        src->prefix, downs, ups);
    if ((st = load_norm(L, "decoder.norm_out", C, &v->d_norm, err))) return st;
    if ((st = check_groups(src, "decoder.norm_out", C, err))) return st;
    if ((st = load_conv(L, "decoder.conv_out", -1, C, 3, &v->d_out, err))) return st;
    c->out_ch = (int)v->d_out.w.shape[0];
    c->factor = 1 << downs;
    return VKT_OK;
}

vkt_status vkt_vae_load(vkt_device *dev, const vkt_weight_source *src, vkt_dtype dt, vkt_vae **out, vkt_err *err)
{
    vkt_vae *v = vkt_calloc(1, sizeof *v);
    if (!v) return vkt_fail(err, VKT_ERR_NOMEM, "VAE");
    v->dt = dt;
    vkt_status st = vkt_weights_create(dev, dt, &v->w, err);
    if (!st) {
        loader L = {v->w, src};
        st = load_all(v, &L, err);
    }
    if (st) {
        vkt_err_prefix(err, "loading the VAE");
        vkt_vae_destroy(v);
        return st;
    }
    *out = v;
    return VKT_OK;
}

void vkt_vae_destroy(vkt_vae *v)
{
    if (!v) return;
    vkt_weights_destroy(v->w);
    free(v);
}

const vkt_vae_config *vkt_vae_config_get(const vkt_vae *v) { return &v->cfg; }
vkt_dtype vkt_vae_dtype(const vkt_vae *v) { return v->dt; }
uint64_t vkt_vae_params(const vkt_vae *v) { return vkt_weights_params(v->w); }
uint64_t vkt_vae_weight_bytes(const vkt_vae *v) { return vkt_weights_bytes(v->w); }

int64_t vkt_vae_latent_side(const vkt_vae *v, int64_t px)
{
    if (px < 1) return 0;
    for (int i = 0; i < v->cfg.n_levels; i++)
        if (v->enc[i].resample) px = vkt_conv2d_out_size(px, 3, 2, 0, 1);
    return px;
}

/* ------------------------------------------------------------------------------------------
 * forward
 * ------------------------------------------------------------------------------------------ */

/* A new step tensor [B, C, H, W] in the VAE's dtype. */
static vkt_status act(vkt_step *s, const vkt_vae *v, int64_t B, int64_t C, int64_t H, int64_t W, const char *what,
                      vkt_tensor *out, vkt_err *err)
{
    return vkt_step_tensor(s, v->dt, 4, (int64_t[]){B, C, H, W}, what, out, err);
}

static vkt_status conv_fwd(vkt_step *s, const vkt_vae *v, const conv *c, const vkt_conv2d_params *p,
                           const vkt_tensor *x, const char *what, vkt_tensor *y, vkt_err *err)
{
    int64_t OH = vkt_conv2d_out_size(x->shape[2], c->w.shape[2], p->stride_h, p->pad_top, p->pad_bottom);
    int64_t OW = vkt_conv2d_out_size(x->shape[3], c->w.shape[3], p->stride_w, p->pad_left, p->pad_right);
    vkt_status st = act(s, v, x->shape[0], c->w.shape[0], OH, OW, what, y, err);
    return st ? st : vkt_op_conv2d_fwd(s, p, x, &c->w, &c->b, y, err);
}

static vkt_status conv3(vkt_step *s, const vkt_vae *v, const conv *c, const vkt_tensor *x, const char *what,
                        vkt_tensor *y, vkt_err *err)
{
    vkt_conv2d_params p = vkt_conv2d_std(1, 1);
    return conv_fwd(s, v, c, &p, x, what, y, err);
}

static vkt_status conv1(vkt_step *s, const vkt_vae *v, const conv *c, const vkt_tensor *x, const char *what,
                        vkt_tensor *y, vkt_err *err)
{
    vkt_conv2d_params p = vkt_conv2d_std(1, 0);
    return conv_fwd(s, v, c, &p, x, what, y, err);
}

/* y = GroupNorm(32, eps 1e-6)(x), with SiLU fused into the same dispatch when silu. */
static vkt_status gn(vkt_step *s, const vkt_vae *v, const norm *n, const vkt_tensor *x, bool silu,
                     const char *what, vkt_tensor *y, vkt_err *err)
{
    vkt_tensor mean, rstd;
    int64_t ms[2] = {x->shape[0], VKT_VAE_GROUPS};
    vkt_status st = act(s, v, x->shape[0], x->shape[1], x->shape[2], x->shape[3], what, y, err);
    if (!st) st = vkt_step_tensor(s, VKT_F32, 2, ms, "gn mean", &mean, err);
    if (!st) st = vkt_step_tensor(s, VKT_F32, 2, ms, "gn rstd", &rstd, err);
    if (!st && silu) st = vkt_op_groupnorm_silu_fwd(s, x, &n->w, &n->b, VKT_VAE_GROUPS, GN_EPS, y, &mean, &rstd, err);
    else if (!st) st = vkt_op_groupnorm_fwd(s, x, &n->w, &n->b, VKT_VAE_GROUPS, GN_EPS, y, &mean, &rstd, err);
    return st;
}

/* out = shortcut(x) + conv2(SiLU(GN2(conv1(SiLU(GN1(x)))))) (dropout is 0). Live at the peak:
 * x, one normalised map and one conv output. */
static vkt_status res_fwd(vkt_step *s, const vkt_vae *v, const res_block *r, const vkt_tensor *x,
                          vkt_tensor *out, vkt_err *err)
{
    vkt_tensor h, h1, h2, sc;
    vkt_status st;
    if ((st = gn(s, v, &r->n1, x, true, "vae res norm1", &h, err))) return st;
    if ((st = conv3(s, v, &r->c1, &h, "vae res conv1", &h1, err))) return st;
    if ((st = gn(s, v, &r->n2, &h1, true, "vae res norm2", &h2, err))) return st;
    if ((st = conv3(s, v, &r->c2, &h2, "vae res out", out, err))) return st;
    if (!r->has_nin) return vkt_op_add_fwd(s, out, x, out, err);
    if ((st = conv1(s, v, &r->nin, x, "vae res shortcut", &sc, err))) return st;
    return vkt_op_add_fwd(s, out, &sc, out, err);
}

/* out = x + proj_out(attention(q, k, v)), q, k, v = 1x1 convs of GN(x); scale C^-1/2. */
static vkt_status attn_fwd(vkt_step *s, const vkt_vae *v, const attn_block *a, const vkt_tensor *x,
                           vkt_tensor *out, vkt_err *err)
{
    vkt_tensor h, q, k, vv, o;
    vkt_status st;
    if ((st = gn(s, v, &a->n, x, false, "vae attn norm", &h, err))) return st;
    if ((st = conv1(s, v, &a->q, &h, "vae attn q", &q, err))) return st;
    if ((st = conv1(s, v, &a->k, &h, "vae attn k", &k, err))) return st;
    if ((st = conv1(s, v, &a->v, &h, "vae attn v", &vv, err))) return st;
    if ((st = act(s, v, x->shape[0], x->shape[1], x->shape[2], x->shape[3], "vae attn o", &o, err))) return st;
    /* LDM AttnBlock: w_ = bmm(q, k) * int(c)**(-0.5) */
    if ((st = vkt_op_spatial_attn_fwd(s, &q, &k, &vv, (float)(1.0 / sqrt((double)a->C)), &o, err))) return st;
    if ((st = conv1(s, v, &a->proj, &o, "vae attn out", out, err))) return st;
    return vkt_op_add_fwd(s, out, x, out, err);
}

static vkt_status mid_fwd(vkt_step *s, const vkt_vae *v, const mid_block *m, const vkt_tensor *x,
                          vkt_tensor *out, vkt_err *err)
{
    vkt_tensor h1, h2;
    vkt_status st = res_fwd(s, v, &m->r1, x, &h1, err);
    if (!st) st = attn_fwd(s, v, &m->a, &h1, &h2, err);
    if (!st) st = res_fwd(s, v, &m->r2, &h2, out, err);
    return st;
}

/* Downsample of encoder level i: zero-pad right and bottom by one, 3x3 stride 2, no padding. */
static vkt_status down_fwd(vkt_step *s, const vkt_vae *v, const level *lv, const vkt_tensor *x, vkt_tensor *out,
                           vkt_err *err)
{
    vkt_conv2d_params p = {.stride_h = 2, .stride_w = 2, .pad_bottom = 1, .pad_right = 1};
    return conv_fwd(s, v, &lv->rs, &p, x, "vae enc downsample", out, err);
}

/* Upsample of decoder level i: nearest x2, then 3x3 conv. */
static vkt_status up_fwd(vkt_step *s, const vkt_vae *v, const level *lv, const vkt_tensor *x, vkt_tensor *out,
                         vkt_err *err)
{
    vkt_tensor t;
    vkt_status st = act(s, v, x->shape[0], x->shape[1], 2 * x->shape[2], 2 * x->shape[3], "vae dec upsample", &t, err);
    if (!st) st = vkt_op_upsample_fwd(s, x, &t, err);
    if (!st) st = conv3(s, v, &lv->rs, &t, "vae dec upsample conv", out, err);
    return st;
}

static vkt_status check_io(vkt_step *s, const vkt_vae *v, const char *what, const vkt_tensor *t,
                           const int64_t *want, vkt_err *err)
{
    char a[96];
    if (!s->planned) return vkt_fail(err, VKT_ERR_USAGE, "VAE: %s: needs a planned step (vkt_step_begin_planned)", what);
    bool ok = t->ndim == 4 && t->dtype == v->dt;
    for (int i = 0; ok && i < 4; i++) ok = want[i] < 0 ? t->shape[i] >= 1 : t->shape[i] == want[i];
    if (ok) return VKT_OK;
    char w[96];
    int k = snprintf(w, sizeof w, "[");
    for (int i = 0; i < 4; i++)
        k += want[i] < 0 ? snprintf(w + k, sizeof w - (size_t)k, "%s*", i ? "," : "")
                         : snprintf(w + k, sizeof w - (size_t)k, "%s%lld", i ? "," : "", (long long)want[i]);
    snprintf(w + k, sizeof w - (size_t)k, "]");
    return vkt_fail(err, VKT_ERR_SHAPE, "VAE: %s is %s %s, expected %s %s", what, vkt_dtype_name(t->dtype),
                    vkt_shape_str(t, a, sizeof a), vkt_dtype_name(v->dt), w);
}

vkt_status vkt_vae_encode(vkt_step *s, const vkt_vae *v, const vkt_tensor *image, vkt_tensor *mean,
                          vkt_tensor *logvar, vkt_err *err)
{
    const vkt_vae_config *c = &v->cfg;
    vkt_status st = check_io(s, v, "image", image, (int64_t[]){-1, c->in_ch, -1, -1}, err);
    if (st) return st;
    int64_t B = image->shape[0];
    int64_t want[4] = {B, c->embed, vkt_vae_latent_side(v, image->shape[2]), vkt_vae_latent_side(v, image->shape[3])};
    if (want[2] < 1 || want[3] < 1) {
        char a[96];
        return vkt_fail(err, VKT_ERR_SHAPE, "VAE: image %s too small to encode", vkt_shape_str(image, a, sizeof a));
    }
    if ((st = check_io(s, v, "mean", mean, want, err)) || (st = check_io(s, v, "logvar", logvar, want, err)))
        return st;

    vkt_tensor h, t;
    if ((st = conv3(s, v, &v->e_in, image, "vae enc conv_in", &h, err))) return st;
    for (int i = 0; i < c->n_levels; i++) {
        const level *lv = &v->enc[i];
        for (int j = 0; j < lv->n_res; j++) {
            if ((st = res_fwd(s, v, &lv->res[j], &h, &t, err))) return st;
            h = t;
        }
        if (lv->resample) {
            if ((st = down_fwd(s, v, lv, &h, &t, err))) return st;
            h = t;
        }
    }
    if ((st = mid_fwd(s, v, &v->e_mid, &h, &t, err))) return st;
    if ((st = gn(s, v, &v->e_norm, &t, true, "vae enc norm_out", &h, err))) return st;
    if ((st = conv3(s, v, &v->e_out, &h, "vae enc conv_out", &t, err))) return st;
    if ((st = conv1(s, v, &v->quant, &t, "vae moments", &h, err))) return st;
    return vkt_op_posterior_fwd(s, &h, mean, logvar, err);
}

vkt_status vkt_vae_decode(vkt_step *s, const vkt_vae *v, const vkt_tensor *latent, vkt_tensor *image,
                          vkt_err *err)
{
    const vkt_vae_config *c = &v->cfg;
    vkt_status st = check_io(s, v, "latent", latent, (int64_t[]){-1, c->embed, -1, -1}, err);
    if (st) return st;
    int64_t B = latent->shape[0], H = latent->shape[2], W = latent->shape[3];
    if (H * c->factor > 65535 || W * c->factor > 65535)
        return vkt_fail(err, VKT_ERR_SHAPE, "VAE: latent %lldx%lld too large", (long long)H, (long long)W);
    if ((st = check_io(s, v, "image", image, (int64_t[]){B, c->out_ch, H * c->factor, W * c->factor}, err)))
        return st;

    vkt_tensor h, t;
    /* x = decoder(post_quant_conv(latent / scale)) */
    if ((st = act(s, v, B, c->embed, H, W, "vae unscaled latent", &t, err))) return st;
    if ((st = vkt_op_scale_fwd(s, latent, 1.0f / VKT_VAE_SCALE, 0.0f, &t, err))) return st;
    if ((st = conv1(s, v, &v->post_quant, &t, "vae post_quant", &h, err))) return st;
    if ((st = conv3(s, v, &v->d_in, &h, "vae dec conv_in", &t, err))) return st;
    if ((st = mid_fwd(s, v, &v->d_mid, &t, &h, err))) return st;
    for (int i = c->n_levels - 1; i >= 0; i--) {
        const level *lv = &v->dec[i];
        for (int j = 0; j < lv->n_res; j++) {
            if ((st = res_fwd(s, v, &lv->res[j], &h, &t, err))) return st;
            h = t;
        }
        if (lv->resample) {
            if ((st = up_fwd(s, v, lv, &h, &t, err))) return st;
            h = t;
        }
    }
    if ((st = gn(s, v, &v->d_norm, &h, true, "vae dec norm_out", &t, err))) return st;
    vkt_conv2d_params p = vkt_conv2d_std(1, 1);
    return vkt_op_conv2d_fwd(s, &p, &t, &v->d_out.w, &v->d_out.b, image, err);
}

/* True when name is exactly fmt with two ints (or one) filled in. */
static bool match2(const char *name, const char *fmt, int *a, int *b)
{
    int n = -1;
    if (b) sscanf(name, fmt, a, b, &n);
    else sscanf(name, fmt, a, &n);
    return n >= 0 && name[n] == '\0';
}

vkt_status vkt_vae_block_fwd(vkt_step *s, const vkt_vae *v, const char *block, const vkt_tensor *x,
                             vkt_tensor *out, vkt_err *err)
{
    const vkt_vae_config *c = &v->cfg;
    int i = -1, j = -1;
    const res_block *r = NULL;
    const attn_block *a = NULL;
    const level *down = NULL, *up = NULL;
    bool enc = !strncmp(block, "encoder.", 8), dec = !strncmp(block, "decoder.", 8);
    const mid_block *m = enc ? &v->e_mid : &v->d_mid;
    if (enc && match2(block, "encoder.down.%d.block.%d%n", &i, &j)) {
        if (i >= 0 && i < c->n_levels && j >= 0 && j < v->enc[i].n_res) r = &v->enc[i].res[j];
    } else if (dec && match2(block, "decoder.up.%d.block.%d%n", &i, &j)) {
        if (i >= 0 && i < c->n_levels && j >= 0 && j < v->dec[i].n_res) r = &v->dec[i].res[j];
    } else if (enc && match2(block, "encoder.down.%d.downsample%n", &i, NULL)) {
        if (i >= 0 && i < c->n_levels && v->enc[i].resample) down = &v->enc[i];
    } else if (dec && match2(block, "decoder.up.%d.upsample%n", &i, NULL)) {
        if (i >= 0 && i < c->n_levels && v->dec[i].resample) up = &v->dec[i];
    } else if ((enc || dec) && !strcmp(block + 8, "mid.block_1")) {
        r = &m->r1;
    } else if ((enc || dec) && !strcmp(block + 8, "mid.block_2")) {
        r = &m->r2;
    } else if ((enc || dec) && !strcmp(block + 8, "mid.attn_1")) {
        a = &m->a;
    }
    if (!r && !a && !down && !up) return vkt_fail(err, VKT_ERR_USAGE, "VAE: no block \"%s\"", block);
    int64_t cin = r ? r->cin : a ? a->C : down ? down->rs.w.shape[1] : up->rs.w.shape[1];
    vkt_status st = check_io(s, v, block, x, (int64_t[]){-1, cin, -1, -1}, err);
    if (st) return st;
    if (r) return res_fwd(s, v, r, x, out, err);
    if (a) return attn_fwd(s, v, a, x, out, err);
    if (down) return down_fwd(s, v, down, x, out, err);
    return up_fwd(s, v, up, x, out, err);
}

/* ------------------------------------------------------------------------------------------
 * latents and images
 * ------------------------------------------------------------------------------------------ */

static const char *sampling_names[3] = {"once", "deterministic", "random"};

const char *vkt_latent_sampling_name(vkt_latent_sampling m)
{
    return (unsigned)m < 3 ? sampling_names[m] : "?";
}

bool vkt_latent_sampling_parse(const char *name, vkt_latent_sampling *out)
{
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, sampling_names[i])) {
            *out = (vkt_latent_sampling)i;
            return true;
        }
    return false;
}

vkt_status vkt_vae_latent(vkt_step *s, vkt_latent_sampling m, const vkt_tensor *mean, const vkt_tensor *logvar,
                          const vkt_tensor *noise, vkt_tensor *z, vkt_err *err)
{
    if ((unsigned)m > VKT_LATENT_RANDOM) return vkt_fail(err, VKT_ERR_USAGE, "latent sampling %d unknown", (int)m);
    if (m == VKT_LATENT_DETERMINISTIC) noise = NULL;
    else if (!noise)
        return vkt_fail(err, VKT_ERR_USAGE, "latent sampling \"%s\" needs noise", vkt_latent_sampling_name(m));
    return vkt_op_posterior_sample(s, mean, logvar, noise, VKT_VAE_SCALE, z, err);
}

vkt_status vkt_vae_latent_host(vkt_latent_sampling m, size_t n, const float *mean, const float *logvar,
                               const float *noise, float *out, vkt_err *err)
{
    if ((unsigned)m > VKT_LATENT_RANDOM) return vkt_fail(err, VKT_ERR_USAGE, "latent sampling %d unknown", (int)m);
    if (m != VKT_LATENT_DETERMINISTIC && !noise)
        return vkt_fail(err, VKT_ERR_USAGE, "latent sampling \"%s\" needs noise", vkt_latent_sampling_name(m));
    for (size_t i = 0; i < n; i++) {
        /* ldm DiagonalGaussianDistribution.sample(), then scale_factor * z */
        float x = m == VKT_LATENT_DETERMINISTIC ? mean[i] : mean[i] + expf(0.5f * logvar[i]) * noise[i];
        out[i] = VKT_VAE_SCALE * x;
    }
    return VKT_OK;
}

void vkt_vae_to_rgb8(const float *image, int64_t H, int64_t W, uint8_t *rgb)
{
    /* webui sd_samplers_common.single_sample_to_image: x * 0.5 + 0.5, clamp(0, 1), 255. * x,
     * astype(np.uint8) (truncation; numpy keeps float32). */
    int64_t S = H * W;
    for (int c = 0; c < 3; c++)
        for (int64_t i = 0; i < S; i++) {
            float x = image[c * S + i] * 0.5f + 0.5f;
            x = x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; /* NaN stays NaN here and becomes 0 below */
            float y = 255.0f * x;
            rgb[i * 3 + c] = y >= 0.0f ? (uint8_t)y : 0;
        }
}
