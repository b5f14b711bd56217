/* The SD1.x UNet: structure from the weight keys and shapes (spec §3.3 generic rule, §7),
 * forward and backward to the context from the blocks of models/unet_blocks. */
#include "models/unet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "nn/ops/act.h"
#include "nn/ops/cast.h"
#include "nn/ops/concat.h"
#include "nn/ops/conv2d.h"
#include "nn/ops/groupnorm.h"
#include "nn/ops/matmul.h"
#include "nn/ops/timestep.h"
#include "nn/ops/upsample.h"

#define MAX_BLOCKS 64     /* input or output blocks (SD1: 12 each) */
#define OUT_GN_EPS 1e-5f  /* out.0 (§3.4) */
#define MAX_PERIOD 10000.0

/* One input, middle or output block: [Res] [ST] [Down | Up] in that order. */
typedef struct ublock {
    bool has_res, has_down, has_up;
    vkt_unet_res res;
    vkt_unet_st *st;            /* owned; NULL: none */
    vkt_tensor conv_w, conv_b;  /* the Downsample `op` or Upsample `conv` */
    int64_t cin, cout;
} ublock;

struct vkt_unet {
    vkt_device *dev;
    vkt_weights *w;
    vkt_unet_config cfg;
    vkt_tensor freqs; /* f32 [mc/2]: timestep frequencies, owned */
    vkt_tensor te0_w, te0_b, te2_w, te2_b, conv_in_w, conv_in_b, out_g, out_b, out_w, out_cb;
    int n_in, n_out;
    ublock in[MAX_BLOCKS], mid[2], out[MAX_BLOCKS]; /* mid: Res+ST, Res */
    int64_t skip_ch[MAX_BLOCKS + 1]; /* channels of each skip tensor (hs[0] = conv_in output) */
    int first_st;                    /* first input block with a SpatialTransformer (n_in: none) */
    const char *attn_names[256];
    int down_factor; /* 2^(number of Downsamples) */
};

typedef struct bsaved {
    vkt_unet_res_saved res;
    vkt_unet_st_saved *st; /* malloc'd when the block has an ST */
    vkt_tensor y;          /* block output (input blocks: the skip tensor) */
} bsaved;

struct vkt_unet_saved {
    const vkt_unet_kv_hook *hook;
    vkt_unet_kv_hook hook_copy;
    bool have_hook;
    vkt_tensor context;
    int64_t B, H, W;
    bsaved in[MAX_BLOCKS], mid[2], out[MAX_BLOCKS];
    vkt_tensor skip[MAX_BLOCKS + 1]; /* hs[i]: conv_in output, then each input block's output */
    vkt_tensor out_h, out_m, out_r;  /* the head's GN input and statistics */
};

int vkt_unet_heads_from_meta(const char *value)
{
    if (!value || !*value) return VKT_UNET_DEFAULT_HEADS;
    char *end;
    long v = strtol(value, &end, 10);
    return (*end || v < 1 || v > 1024) ? VKT_UNET_DEFAULT_HEADS : (int)v;
}

static vkt_status get(vkt_unet *u, const vkt_weight_source *src, const char *key, int ndim, const int64_t *shape,
                      vkt_tensor *out, vkt_err *err)
{
    return vkt_weights_get(u->w, src, key, ndim, shape, out, err);
}

static int has(const vkt_weight_source *src, const char *fmt, int i, const char *rest)
{
    char k[160];
    snprintf(k, sizeof k, fmt, i, rest);
    return vkt_weight_exists(src, k);
}

static vkt_status load_st(vkt_unet *u, const vkt_weight_source *src, const char *prefix, int64_t c, int *attn,
                          vkt_unet_st **out, vkt_err *err)
{
    vkt_unet_st *t = vkt_calloc(1, sizeof *t);
    if (!t) return vkt_fail(err, VKT_ERR_NOMEM, "SpatialTransformer");
    vkt_status st = vkt_unet_st_load(u->w, src, prefix, c, u->cfg.ctx > 0 ? u->cfg.ctx : -1, u->cfg.heads, attn, t, err);
    if (st) {
        free(t);
        return st;
    }
    if (u->cfg.ctx <= 0) u->cfg.ctx = t->ctx;
    if (!u->cfg.depth) u->cfg.depth = t->depth;
    for (int d = 0; d < t->depth; d++) {
        if (t->blocks[d].attn1.index < 256) u->attn_names[t->blocks[d].attn1.index] = t->blocks[d].attn1.name;
        if (t->blocks[d].attn2.index < 256) u->attn_names[t->blocks[d].attn2.index] = t->blocks[d].attn2.name;
    }
    u->cfg.n_st++;
    *out = t;
    return VKT_OK;
}

static vkt_status load_res(vkt_unet *u, const vkt_weight_source *src, const char *prefix, int64_t cin, ublock *b,
                           vkt_err *err)
{
    vkt_status st = vkt_unet_res_load(u->w, src, prefix, cin, u->cfg.temb, &b->res, err);
    if (st) return st;
    b->has_res = true;
    b->cin = cin;
    b->cout = b->res.cout;
    return VKT_OK;
}

/* The structure walk of spec §3.3 / §7. */
static vkt_status load(vkt_unet *u, const vkt_weight_source *src, vkt_err *err)
{
    vkt_unet_config *c = &u->cfg;
    char p[160];
    int attn = 0, sp = 0; /* attention counter, skip stack depth */
    vkt_status st = get(u, src, "input_blocks.0.0.weight", 4, (int64_t[]){-1, -1, 3, 3}, &u->conv_in_w, err);
    if (st) return st;
    c->mc = u->conv_in_w.shape[0];
    c->in_ch = u->conv_in_w.shape[1];
    if (c->in_ch == 9)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: 9 input channels: an inpainting UNet (not supported)",
                        src->origin);
    if (c->mc % 2 || c->mc % VKT_UNET_GROUPS)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: model_channels %lld", src->origin, (long long)c->mc);
    st = get(u, src, "input_blocks.0.0.bias", 1, (int64_t[]){c->mc}, &u->conv_in_b, err);
    if (!st) st = get(u, src, "time_embed.0.weight", 2, (int64_t[]){-1, c->mc}, &u->te0_w, err);
    if (st) return st;
    c->temb = u->te0_w.shape[0];
    st = get(u, src, "time_embed.0.bias", 1, (int64_t[]){c->temb}, &u->te0_b, err);
    if (!st) st = get(u, src, "time_embed.2.weight", 2, (int64_t[]){c->temb, c->temb}, &u->te2_w, err);
    if (!st) st = get(u, src, "time_embed.2.bias", 1, (int64_t[]){c->temb}, &u->te2_b, err);
    if (st) return st;

    /* input blocks: Res [+ ST] per res block, a Downsample ends every level but the last */
    int64_t ch = c->mc;
    u->skip_ch[sp++] = ch;
    u->first_st = -1;
    int level = 0, res_in_level = 0;
    c->n_levels = 1;
    u->down_factor = 1;
    for (int i = 1;; i++) {
        if (u->n_in == MAX_BLOCKS) return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: too many input blocks", src->origin);
        ublock *b = &u->in[u->n_in];
        if (has(src, "input_blocks.%d.0.%s", i, "op.weight")) {
            snprintf(p, sizeof p, "input_blocks.%d.0.op.weight", i);
            st = get(u, src, p, 4, (int64_t[]){ch, ch, 3, 3}, &b->conv_w, err);
            snprintf(p, sizeof p, "input_blocks.%d.0.op.bias", i);
            if (!st) st = get(u, src, p, 1, (int64_t[]){ch}, &b->conv_b, err);
            if (st) return st;
            b->has_down = true;
            b->cin = b->cout = ch;
            if (level == 0) c->res_blocks = res_in_level;
            else if (res_in_level != c->res_blocks)
                return vkt_fail(err, VKT_ERR_FORMAT, "%s: level %d has %d res blocks, level 0 has %d", src->origin,
                                level, res_in_level, c->res_blocks);
            if (++level >= VKT_UNET_MAX_LEVELS)
                return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: more than %d levels", src->origin, VKT_UNET_MAX_LEVELS);
            res_in_level = 0;
            c->n_levels = level + 1;
            u->down_factor *= 2;
        } else if (has(src, "input_blocks.%d.0.%s", i, "in_layers.0.weight")) {
            snprintf(p, sizeof p, "input_blocks.%d.0.", i);
            if ((st = load_res(u, src, p, ch, b, err))) return st;
            ch = b->cout;
            if (ch % c->mc) return vkt_fail(err, VKT_ERR_FORMAT, "%s: %s: %lld channels", src->origin, p, (long long)ch);
            c->mults[level] = (int)(ch / c->mc);
            res_in_level++;
            if (has(src, "input_blocks.%d.1.%s", i, "proj_in.weight")) {
                snprintf(p, sizeof p, "input_blocks.%d.1.", i);
                if ((st = load_st(u, src, p, ch, &attn, &b->st, err))) return st;
                c->attn[level] = true;
                if (u->first_st < 0) u->first_st = u->n_in;
            }
        } else {
            break;
        }
        u->n_in++;
        if (sp > MAX_BLOCKS) return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: skip stack", src->origin);
        u->skip_ch[sp++] = ch;
    }
    if (level == 0) c->res_blocks = res_in_level;
    else if (res_in_level != c->res_blocks)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: last level has %d res blocks, level 0 has %d", src->origin,
                        res_in_level, c->res_blocks);
    if (u->first_st < 0) u->first_st = u->n_in;
    c->n_input = u->n_in + 1;

    /* middle: Res, ST, Res */
    if ((st = load_res(u, src, "middle_block.0.", ch, &u->mid[0], err))) return st;
    if ((st = load_st(u, src, "middle_block.1.", ch, &attn, &u->mid[0].st, err))) return st;
    if ((st = load_res(u, src, "middle_block.2.", ch, &u->mid[1], err))) return st;
    if (u->mid[0].cout != ch || u->mid[1].cout != ch)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: middle_block changes the width", src->origin);

    /* output blocks: concat(h, skip.pop()), Res [+ ST] [+ Upsample] */
    for (int o = 0; has(src, "output_blocks.%d.0.%s", o, "in_layers.0.weight"); o++) {
        if (o == MAX_BLOCKS) return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: too many output blocks", src->origin);
        if (sp == 0)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: output_blocks.%d has no skip connection left", src->origin, o);
        ublock *b = &u->out[o];
        int64_t skip = u->skip_ch[--sp];
        snprintf(p, sizeof p, "output_blocks.%d.0.", o);
        if ((st = load_res(u, src, p, ch + skip, b, err))) return st;
        ch = b->cout;
        for (int sub = 1; sub <= 2; sub++) {
            if (has(src, "output_blocks.%d.%s", o, sub == 1 ? "1.proj_in.weight" : "2.proj_in.weight")) {
                if (b->st || b->has_up)
                    return vkt_fail(err, VKT_ERR_FORMAT, "%s: output_blocks.%d.%d: unexpected transformer",
                                    src->origin, o, sub);
                snprintf(p, sizeof p, "output_blocks.%d.%d.", o, sub);
                if ((st = load_st(u, src, p, ch, &attn, &b->st, err))) return st;
            } else if (has(src, "output_blocks.%d.%s", o, sub == 1 ? "1.conv.weight" : "2.conv.weight")) {
                snprintf(p, sizeof p, "output_blocks.%d.%d.conv.weight", o, sub);
                st = get(u, src, p, 4, (int64_t[]){ch, ch, 3, 3}, &b->conv_w, err);
                snprintf(p, sizeof p, "output_blocks.%d.%d.conv.bias", o, sub);
                if (!st) st = get(u, src, p, 1, (int64_t[]){ch}, &b->conv_b, err);
                if (st) return st;
                b->has_up = true;
            }
        }
        u->n_out = o + 1;
    }
    if (sp != 0)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: %d skip connections not consumed by the output blocks", src->origin,
                        sp);
    c->n_output = u->n_out;
    st = get(u, src, "out.0.weight", 1, (int64_t[]){ch}, &u->out_g, err);
    if (!st) st = get(u, src, "out.0.bias", 1, (int64_t[]){ch}, &u->out_b, err);
    if (!st) st = get(u, src, "out.2.weight", 4, (int64_t[]){-1, ch, 3, 3}, &u->out_w, err);
    if (st) return st;
    c->out_ch = u->out_w.shape[0];
    st = get(u, src, "out.2.bias", 1, (int64_t[]){c->out_ch}, &u->out_cb, err);
    if (st) return st;
    if (ch % VKT_UNET_GROUPS)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: out.0: %lld channels", src->origin, (long long)ch);
    c->n_attn = attn;
    return VKT_OK;
}

vkt_status vkt_unet_load(vkt_device *dev, const vkt_weight_source *src, vkt_dtype dt, int heads, vkt_unet **out,
                         vkt_err *err)
{
    vkt_unet *u = vkt_calloc(1, sizeof *u);
    if (!u) return vkt_fail(err, VKT_ERR_NOMEM, "UNet");
    u->dev = dev;
    u->cfg.heads = heads > 0 ? heads : VKT_UNET_DEFAULT_HEADS;
    vkt_status st = vkt_weights_create(dev, dt, &u->w, err);
    if (!st) st = load(u, src, err);
    if (!st) {
        int64_t half = u->cfg.mc / 2;
        float *f = vkt_malloc((size_t)half * sizeof *f);
        if (!f) st = vkt_fail(err, VKT_ERR_NOMEM, "timestep frequencies");
        if (!st) {
            vkt_timestep_freqs(half, MAX_PERIOD, f);
            st = vkt_tensor_alloc(dev, VKT_F32, 1, &half, "timestep freqs", &u->freqs, err);
            if (!st) st = vkt_tensor_upload_f32(dev, &u->freqs, f, err);
        }
        free(f);
    }
    if (st) {
        vkt_err_prefix(err, "loading the UNet");
        vkt_unet_destroy(u);
        return st;
    }
    *out = u;
    return VKT_OK;
}

void vkt_unet_destroy(vkt_unet *u)
{
    if (!u) return;
    for (int i = 0; i < MAX_BLOCKS; i++) {
        free(u->in[i].st);
        free(u->out[i].st);
    }
    free(u->mid[0].st);
    if (u->freqs.buf) vkt_tensor_free(u->dev, &u->freqs);
    vkt_weights_destroy(u->w);
    free(u);
}

const vkt_unet_config *vkt_unet_get_config(const vkt_unet *u) { return &u->cfg; }
uint64_t vkt_unet_weight_bytes(const vkt_unet *u) { return vkt_weights_bytes(u->w) + vkt_tensor_bytes(&u->freqs); }
vkt_dtype vkt_unet_dtype(const vkt_unet *u) { return vkt_weights_dtype(u->w); }
const char *vkt_unet_attn_name(const vkt_unet *u, int i)
{
    return i >= 0 && i < u->cfg.n_attn && i < 256 ? u->attn_names[i] : NULL;
}

void vkt_unet_saved_destroy(vkt_unet_saved *sv)
{
    if (!sv) return;
    for (int i = 0; i < MAX_BLOCKS; i++) {
        free(sv->in[i].st);
        free(sv->out[i].st);
    }
    for (int i = 0; i < 2; i++) free(sv->mid[i].st);
    free(sv);
}

/* ------------------------------------------------------------------------------------------ */
/* forward */

static vkt_status tmp4(vkt_step *s, vkt_dtype dt, int64_t B, int64_t C, int64_t H, int64_t W, const char *what,
                       vkt_tensor *out, vkt_err *err)
{
    return vkt_unet_tmp(s, dt, 4, (int64_t[]){B, C, H, W}, what, out, err);
}

static vkt_status tmp2(vkt_step *s, vkt_dtype dt, int64_t B, int64_t C, const char *what, vkt_tensor *out,
                       vkt_err *err)
{
    return vkt_unet_tmp(s, dt, 2, (int64_t[]){B, C}, what, out, err);
}

/* Res [ST] [Down | Up] of one block on h; *y the block's output. */
static vkt_status block_fwd(vkt_step *s, const ublock *b, const vkt_tensor *h, const vkt_tensor *emb_act,
                            const vkt_tensor *context, const vkt_unet_kv_hook *hook, bsaved *sv, vkt_tensor *y,
                            vkt_err *err)
{
    vkt_status st = VKT_OK;
    vkt_tensor cur = *h;
    const vkt_dtype dt = h->dtype;
    if (b->has_res) st = vkt_unet_res_fwd(s, &b->res, &cur, emb_act, &cur, &sv->res, err);
    if (!st && b->st) {
        if (!(sv->st = vkt_malloc(sizeof *sv->st))) return vkt_fail(err, VKT_ERR_NOMEM, "saved activations");
        st = vkt_unet_st_fwd(s, b->st, &cur, context, hook, &cur, sv->st, err);
    }
    if (!st && b->has_down) {
        const int64_t B = cur.shape[0], C = cur.shape[1];
        const int64_t oh = vkt_conv2d_out_size(cur.shape[2], 3, 2, 1, 1), ow = vkt_conv2d_out_size(cur.shape[3], 3, 2, 1, 1);
        vkt_tensor d;
        const vkt_conv2d_params p = vkt_conv2d_std(2, 1);
        st = tmp4(s, dt, B, C, oh, ow, "downsample", &d, err);
        if (!st) st = vkt_op_conv2d_fwd(s, &p, &cur, &b->conv_w, &b->conv_b, &d, err);
        cur = d;
    }
    if (!st && b->has_up) {
        const int64_t B = cur.shape[0], C = cur.shape[1], H2 = cur.shape[2] * 2, W2 = cur.shape[3] * 2;
        vkt_tensor u2, o;
        const vkt_conv2d_params p = vkt_conv2d_std(1, 1);
        st = tmp4(s, dt, B, C, H2, W2, "upsample", &u2, err);
        if (!st) st = vkt_op_upsample_fwd(s, &cur, &u2, err);
        if (!st) st = tmp4(s, dt, B, C, H2, W2, "upsample conv", &o, err);
        if (!st) st = vkt_op_conv2d_fwd(s, &p, &u2, &b->conv_w, &b->conv_b, &o, err);
        cur = o;
    }
    if (!st) sv->y = *y = cur;
    return st;
}

vkt_status vkt_unet_fwd(vkt_unet *u, vkt_step *s, const vkt_tensor *x, const vkt_tensor *t, const vkt_tensor *context,
                        const vkt_unet_kv_hook *hook, vkt_tensor *eps, vkt_unet_saved **saved, vkt_err *err)
{
    const vkt_unet_config *c = &u->cfg;
    const vkt_dtype dt = vkt_weights_dtype(u->w);
    char s1[96], s2[96];
    if (x->ndim != 4 || x->shape[1] != c->in_ch || x->dtype != dt || x->shape[2] % u->down_factor ||
        x->shape[3] % u->down_factor)
        return vkt_fail(err, VKT_ERR_SHAPE, "UNet: x %s %s, expected [B, %lld, H, W] %s with H, W divisible by %d",
                        vkt_shape_str(x, s1, sizeof s1), vkt_dtype_name(x->dtype), (long long)c->in_ch,
                        vkt_dtype_name(dt), u->down_factor);
    const int64_t B = x->shape[0], H = x->shape[2], W = x->shape[3];
    if (t->ndim != 1 || t->shape[0] != B || (t->dtype != VKT_I32 && t->dtype != VKT_F32))
        return vkt_fail(err, VKT_ERR_SHAPE, "UNet: t %s %s, expected i32 or f32 [%lld]", vkt_shape_str(t, s1, sizeof s1),
                        vkt_dtype_name(t->dtype), (long long)B);
    if (context->ndim != 3 || context->shape[0] != B || context->shape[2] != c->ctx || context->dtype != dt)
        return vkt_fail(err, VKT_ERR_SHAPE, "UNet: context %s %s, expected [%lld, T, %lld] %s",
                        vkt_shape_str(context, s2, sizeof s2), vkt_dtype_name(context->dtype), (long long)B,
                        (long long)c->ctx, vkt_dtype_name(dt));
    vkt_unet_saved *sv = vkt_calloc(1, sizeof *sv);
    if (!sv) return vkt_fail(err, VKT_ERR_NOMEM, "UNet saved activations");
    sv->B = B;
    sv->H = H;
    sv->W = W;
    sv->context = *context;
    if (hook) {
        sv->hook_copy = *hook;
        sv->hook = &sv->hook_copy;
    }
    const vkt_unet_kv_hook *hk = sv->hook;
    vkt_tensor temb0, e1, emb, emb_act, h;
    /* time embedding: emb = time_embed.2(SiLU(time_embed.0(timestep_embedding(t)))); the
     * ResBlocks read SiLU(emb) */
    vkt_status st = tmp2(s, VKT_F32, B, c->mc, "temb0", &temb0, err);
    if (!st) st = vkt_op_timestep_fwd(s, t, &u->freqs, (float)MAX_PERIOD, true, &temb0, err);
    if (!st && dt != VKT_F32) { /* the sinusoids are f32; the MLP runs in the weights' dtype */
        vkt_tensor t16;
        st = tmp2(s, dt, B, c->mc, "temb0 cast", &t16, err);
        if (!st) st = vkt_op_cast(s, &temb0, &t16, err);
        temb0 = t16;
    }
    if (!st) st = tmp2(s, dt, B, c->temb, "temb1", &e1, err);
    if (!st) st = vkt_op_linear_fwd(s, &temb0, &u->te0_w, &u->te0_b, &e1, err);
    if (!st) st = vkt_op_act_fwd(s, VKT_ACT_SILU, 0.0f, &e1, &e1, err);
    if (!st) st = tmp2(s, dt, B, c->temb, "emb", &emb, err);
    if (!st) st = vkt_op_linear_fwd(s, &e1, &u->te2_w, &u->te2_b, &emb, err);
    if (!st) st = tmp2(s, dt, B, c->temb, "silu(emb)", &emb_act, err);
    if (!st) st = vkt_op_act_fwd(s, VKT_ACT_SILU, 0.0f, &emb, &emb_act, err);
    /* input side: every block's output is a skip tensor */
    if (!st) st = tmp4(s, dt, B, c->mc, H, W, "conv_in", &h, err);
    if (!st) {
        const vkt_conv2d_params p = vkt_conv2d_std(1, 1);
        st = vkt_op_conv2d_fwd(s, &p, x, &u->conv_in_w, &u->conv_in_b, &h, err);
    }
    if (!st) sv->skip[0] = h;
    for (int i = 0; i < u->n_in && !st; i++) {
        st = block_fwd(s, &u->in[i], &h, &emb_act, context, hk, &sv->in[i], &h, err);
        sv->skip[i + 1] = h;
    }
    /* middle */
    for (int m = 0; m < 2 && !st; m++) st = block_fwd(s, &u->mid[m], &h, &emb_act, context, hk, &sv->mid[m], &h, err);
    /* output side: h = cat([h, skip.pop()]) first */
    for (int o = 0, sp = u->n_in; o < u->n_out && !st; o++, sp--) {
        const vkt_tensor *skip = &sv->skip[sp];
        vkt_tensor cat;
        if (skip->shape[2] != h.shape[2] || skip->shape[3] != h.shape[3]) {
            st = vkt_fail(err, VKT_ERR_INTERNAL, "UNet: output_blocks.%d: skip size differs", o);
            break;
        }
        st = tmp4(s, dt, B, h.shape[1] + skip->shape[1], h.shape[2], h.shape[3], "skip concat", &cat, err);
        if (!st) st = vkt_op_concat_fwd(s, 1, &h, skip, &cat, err);
        if (!st) st = block_fwd(s, &u->out[o], &cat, &emb_act, context, hk, &sv->out[o], &h, err);
    }
    /* head: out.2(SiLU(out.0(h))) */
    vkt_tensor a, y;
    if (!st) {
        sv->out_h = h;
        st = tmp4(s, dt, B, h.shape[1], H, W, "out norm", &a, err);
    }
    if (!st) st = tmp2(s, VKT_F32, B, VKT_UNET_GROUPS, "out gn mean", &sv->out_m, err);
    if (!st) st = tmp2(s, VKT_F32, B, VKT_UNET_GROUPS, "out gn rstd", &sv->out_r, err);
    if (!st) st = vkt_op_groupnorm_silu_fwd(s, &h, &u->out_g, &u->out_b, VKT_UNET_GROUPS, OUT_GN_EPS, &a,
                                            &sv->out_m, &sv->out_r, err);
    if (!st) st = tmp4(s, dt, B, c->out_ch, H, W, "eps", &y, err);
    if (!st) {
        const vkt_conv2d_params p = vkt_conv2d_std(1, 1);
        st = vkt_op_conv2d_fwd(s, &p, &a, &u->out_w, &u->out_cb, &y, err);
    }
    if (st) {
        vkt_unet_saved_destroy(sv);
        return st;
    }
    *eps = y;
    if (saved) *saved = sv;
    else vkt_unet_saved_destroy(sv);
    return VKT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* backward */

/* Block backward: dy is d of the block output; dx (by mode) d of its input, or NULL when no
 * gradient below the block is needed (then only the ST's context gradient is recorded). */
static vkt_status block_bwd(vkt_step *s, const ublock *b, const bsaved *sv, const vkt_unet_kv_hook *hook,
                            const vkt_tensor *dy, vkt_tensor *dx, vkt_grad_mode mode, vkt_tensor *dcontext,
                            vkt_err *err)
{
    vkt_status st = VKT_OK;
    vkt_tensor cur = *dy;
    const vkt_dtype dt = dy->dtype;
    if (b->has_up) { /* conv(nearest 2x(h)) */
        const int64_t B = dy->shape[0], C = dy->shape[1], H2 = dy->shape[2], W2 = dy->shape[3];
        vkt_tensor du, dh;
        const vkt_conv2d_params p = vkt_conv2d_std(1, 1);
        st = tmp4(s, dt, B, C, H2, W2, "d upsample", &du, err);
        if (!st) st = vkt_op_conv2d_bwd_dx(s, &p, &cur, &b->conv_w, &du, VKT_GRAD_OVERWRITE, err);
        if (!st) st = tmp4(s, dt, B, C, H2 / 2, W2 / 2, "d upsample in", &dh, err);
        if (!st) st = vkt_op_upsample_bwd(s, &du, &dh, VKT_GRAD_OVERWRITE, err);
        cur = dh;
    }
    if (b->has_down) {
        const vkt_conv2d_params p = vkt_conv2d_std(2, 1);
        if (!st && dx) st = vkt_op_conv2d_bwd_dx(s, &p, &cur, &b->conv_w, dx, mode, err);
        return st;
    }
    if (!st && b->st) {
        /* the ST's input is the Res output (x of its saved struct) */
        vkt_tensor dr;
        const vkt_tensor *xs = &sv->st->x;
        if (!dx) return vkt_unet_st_bwd(s, b->st, sv->st, hook, &cur, NULL, VKT_GRAD_OVERWRITE, dcontext, err);
        st = vkt_unet_tmp(s, dt, 4, xs->shape, "d st in", &dr, err);
        if (!st) st = vkt_unet_st_bwd(s, b->st, sv->st, hook, &cur, &dr, VKT_GRAD_OVERWRITE, dcontext, err);
        cur = dr;
    }
    if (!st && b->has_res && dx)
        st = vkt_unet_res_bwd(s, &b->res, &sv->res, &cur, dx, mode, NULL, VKT_GRAD_OVERWRITE, err);
    return st;
}

vkt_status vkt_unet_bwd(vkt_unet *u, vkt_step *s, vkt_unet_saved *sv, const vkt_tensor *deps, vkt_tensor *dcontext,
                        vkt_grad_mode mode, vkt_err *err)
{
    const vkt_dtype dt = vkt_weights_dtype(u->w);
    const int64_t B = sv->B, H = sv->H, W = sv->W;
    vkt_status st = VKT_OK;
    char s1[96];
    if (deps->ndim != 4 || deps->shape[0] != B || deps->shape[1] != u->cfg.out_ch || deps->shape[2] != H ||
        deps->shape[3] != W || deps->dtype != dt)
        return vkt_fail(err, VKT_ERR_SHAPE, "UNet bwd: deps %s, expected [%lld, %lld, %lld, %lld] %s",
                        vkt_shape_str(deps, s1, sizeof s1), (long long)B, (long long)u->cfg.out_ch, (long long)H,
                        (long long)W, vkt_dtype_name(dt));
    if (dcontext && ((st = vkt_check_same_shape("UNet bwd", "dcontext", dcontext, &sv->context, err)))) return st;
    if (dcontext && mode == VKT_GRAD_OVERWRITE) st = vkt_unet_zero(s, dcontext, err);
    const vkt_unet_kv_hook *hk = sv->hook;
    /* Gradients are needed down to the input of the first SpatialTransformer: skip tensors below
     * it (and conv_in) get none. */
    const int need = u->first_st; /* input block index; skip[i] needs a gradient when i > need */
    vkt_tensor dskip[MAX_BLOCKS + 1];
    memset(dskip, 0, sizeof dskip);
    /* head */
    vkt_tensor da, dh;
    const vkt_tensor *h = &sv->out_h;
    st = st ? st : tmp4(s, dt, B, h->shape[1], H, W, "d out norm", &da, err);
    if (!st) {
        const vkt_conv2d_params p = vkt_conv2d_std(1, 1);
        st = vkt_op_conv2d_bwd_dx(s, &p, deps, &u->out_w, &da, VKT_GRAD_OVERWRITE, err);
    }
    if (!st) st = tmp4(s, dt, B, h->shape[1], H, W, "d out h", &dh, err);
    if (!st) st = vkt_unet_gn_silu_bwd(s, h, &u->out_g, &u->out_b, OUT_GN_EPS, &sv->out_m, &sv->out_r, &da, &dh,
                                       VKT_GRAD_OVERWRITE, err);
    /* output side, last block first: split d cat into d h and d skip */
    for (int o = u->n_out - 1; o >= 0 && !st; o--) {
        const int sp = u->n_in - o; /* skip index this block consumed */
        const ublock *b = &u->out[o];
        const vkt_tensor *skip = &sv->skip[sp];
        const int64_t hc = b->cin - skip->shape[1];
        vkt_tensor dcat, dprev;
        st = tmp4(s, dt, B, b->cin, skip->shape[2], skip->shape[3], "d skip concat", &dcat, err);
        if (!st) st = block_bwd(s, b, &sv->out[o], hk, &dh, &dcat, VKT_GRAD_OVERWRITE, dcontext, err);
        if (!st) st = tmp4(s, dt, B, hc, skip->shape[2], skip->shape[3], "d h", &dprev, err);
        if (!st && sp > need) st = tmp4(s, dt, B, skip->shape[1], skip->shape[2], skip->shape[3], "d skip", &dskip[sp], err);
        if (!st) st = vkt_op_concat_bwd(s, 1, &dcat, &dprev, VKT_GRAD_OVERWRITE, sp > need ? &dskip[sp] : NULL,
                                        VKT_GRAD_OVERWRITE, err);
        dh = dprev;
    }
    /* middle: its input is the last skip tensor */
    vkt_tensor dm;
    if (!st) st = tmp4(s, dt, B, dh.shape[1], dh.shape[2], dh.shape[3], "d middle", &dm, err);
    if (!st) st = block_bwd(s, &u->mid[1], &sv->mid[1], hk, &dh, &dm, VKT_GRAD_OVERWRITE, dcontext, err);
    if (!st) st = block_bwd(s, &u->mid[0], &sv->mid[0], hk, &dm, u->n_in > need ? &dskip[u->n_in] : NULL,
                            VKT_GRAD_ACCUMULATE, dcontext, err);
    /* input side, last block first: block i maps skip[i] to skip[i + 1] */
    for (int i = u->n_in - 1; i >= need && !st; i--)
        st = block_bwd(s, &u->in[i], &sv->in[i], hk, &dskip[i + 1], i > need ? &dskip[i] : NULL, VKT_GRAD_ACCUMULATE,
                       dcontext, err);
    return st;
}
