/* docs/tiny-model.md in C. The Python twin is tests/reference/sd_ref.py; both must agree bit
 * for bit (checked against tests/golden checksums). */
#include "models/tiny_model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "io/safetensors.h"
#include "nn/tensor.h"
#include "models/schedule.h"

const vkt_gen_config VKT_GEN_TINY = {
    .name = "tiny", .clip_width = 128, .clip_layers = 2, .clip_heads = 4, .clip_mlp = 512, .vocab = 49408,
    .positions = 77, .mc = 32, .n_levels = 2, .mults = {1, 2}, .res_blocks = 1, .attn = {0, 1}, .unet_heads = 4,
    .depth = 1, .context = 128, .temb = 128, .in_ch = 4, .out_ch = 4, .vae_ch = 32, .vae_levels = 4,
    .vae_mults = {1, 2, 2, 2}, .vae_res = 1, .z = 4};

const vkt_gen_config VKT_GEN_SD15 = {
    .name = "sd15", .clip_width = 768, .clip_layers = 12, .clip_heads = 12, .clip_mlp = 3072, .vocab = 49408,
    .positions = 77, .mc = 320, .n_levels = 4, .mults = {1, 2, 4, 4}, .res_blocks = 2, .attn = {1, 1, 1, 0},
    .unet_heads = 8, .depth = 1, .context = 768, .temb = 1280, .in_ch = 4, .out_ch = 4, .vae_ch = 128,
    .vae_levels = 4, .vae_mults = {1, 2, 4, 4}, .vae_res = 2, .z = 4};

typedef struct keylist {
    vkt_gen_tensor *v;
    uint32_t n, cap;
    bool oom;
} keylist;

static void add(keylist *l, int ndim, const int64_t *shape, const char *fmt, ...)
{
    if (l->oom) return;
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 256;
        vkt_gen_tensor *nv = vkt_realloc(l->v, cap * sizeof *nv);
        if (!nv) { l->oom = true; return; }
        l->v = nv;
        l->cap = cap;
    }
    vkt_gen_tensor *t = &l->v[l->n++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->key, sizeof t->key, fmt, ap);
    va_end(ap);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
}

#define S1(a) 1, (int64_t[]){a}
#define S2(a, b) 2, (int64_t[]){a, b}
#define S4(a, b, c, d) 4, (int64_t[]){a, b, c, d}

static void lin(keylist *l, const char *p, int out, int in, bool bias)
{
    add(l, S2(out, in), "%s.weight", p);
    if (bias) add(l, S1(out), "%s.bias", p);
}
static void conv(keylist *l, const char *p, int out, int in, int k)
{
    add(l, S4(out, in, k, k), "%s.weight", p);
    add(l, S1(out), "%s.bias", p);
}
static void norm(keylist *l, const char *p, int c)
{
    add(l, S1(c), "%s.weight", p);
    add(l, S1(c), "%s.bias", p);
}

static void clip_keys(keylist *l, const vkt_gen_config *c)
{
    const char *pre = "cond_stage_model.transformer.text_model";
    int W = c->clip_width;
    char p[160];
    add(l, S2(c->vocab, W), "%s.embeddings.token_embedding.weight", pre);
    add(l, S2(c->positions, W), "%s.embeddings.position_embedding.weight", pre);
    for (int i = 0; i < c->clip_layers; i++) {
        const char *proj[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        for (int k = 0; k < 4; k++) {
            snprintf(p, sizeof p, "%s.encoder.layers.%d.self_attn.%s", pre, i, proj[k]);
            lin(l, p, W, W, true);
        }
        snprintf(p, sizeof p, "%s.encoder.layers.%d.layer_norm1", pre, i);
        norm(l, p, W);
        snprintf(p, sizeof p, "%s.encoder.layers.%d.mlp.fc1", pre, i);
        lin(l, p, c->clip_mlp, W, true);
        snprintf(p, sizeof p, "%s.encoder.layers.%d.mlp.fc2", pre, i);
        lin(l, p, W, c->clip_mlp, true);
        snprintf(p, sizeof p, "%s.encoder.layers.%d.layer_norm2", pre, i);
        norm(l, p, W);
    }
    snprintf(p, sizeof p, "%s.final_layer_norm", pre);
    norm(l, p, W);
    add(l, S2(1, c->positions), "%s.embeddings.position_ids", pre);
    l->v[l->n - 1].is_i64 = !l->oom;
}

static void resblock(keylist *l, const char *p, int cin, int cout, int temb)
{
    char q[200];
    snprintf(q, sizeof q, "%s.in_layers.0", p); norm(l, q, cin);
    snprintf(q, sizeof q, "%s.in_layers.2", p); conv(l, q, cout, cin, 3);
    snprintf(q, sizeof q, "%s.emb_layers.1", p); lin(l, q, cout, temb, true);
    snprintf(q, sizeof q, "%s.out_layers.0", p); norm(l, q, cout);
    snprintf(q, sizeof q, "%s.out_layers.3", p); conv(l, q, cout, cout, 3);
    if (cin != cout) { snprintf(q, sizeof q, "%s.skip_connection", p); conv(l, q, cout, cin, 1); }
}

static void transformer(keylist *l, const char *p, int C, int ctx, int depth)
{
    char q[200];
    snprintf(q, sizeof q, "%s.norm", p); norm(l, q, C);
    snprintf(q, sizeof q, "%s.proj_in", p); conv(l, q, C, C, 1);
    for (int d = 0; d < depth; d++) {
        const char *attn[2] = {"attn1", "attn2"};
        for (int a = 0; a < 2; a++) {
            int kv = a == 0 ? C : ctx;
            snprintf(q, sizeof q, "%s.transformer_blocks.%d.%s.to_q", p, d, attn[a]); lin(l, q, C, C, false);
            snprintf(q, sizeof q, "%s.transformer_blocks.%d.%s.to_k", p, d, attn[a]); lin(l, q, C, kv, false);
            snprintf(q, sizeof q, "%s.transformer_blocks.%d.%s.to_v", p, d, attn[a]); lin(l, q, C, kv, false);
            snprintf(q, sizeof q, "%s.transformer_blocks.%d.%s.to_out.0", p, d, attn[a]); lin(l, q, C, C, true);
        }
        snprintf(q, sizeof q, "%s.transformer_blocks.%d.ff.net.0.proj", p, d); lin(l, q, 8 * C, C, true);
        snprintf(q, sizeof q, "%s.transformer_blocks.%d.ff.net.2", p, d); lin(l, q, C, 4 * C, true);
        for (int k = 1; k <= 3; k++) {
            snprintf(q, sizeof q, "%s.transformer_blocks.%d.norm%d", p, d, k);
            norm(l, q, C);
        }
    }
    snprintf(q, sizeof q, "%s.proj_out", p); conv(l, q, C, C, 1);
}

static void unet_keys(keylist *l, const vkt_gen_config *c)
{
    const char *pre = "model.diffusion_model";
    char p[160];
    snprintf(p, sizeof p, "%s.time_embed.0", pre); lin(l, p, c->temb, c->mc, true);
    snprintf(p, sizeof p, "%s.time_embed.2", pre); lin(l, p, c->temb, c->temb, true);
    snprintf(p, sizeof p, "%s.input_blocks.0.0", pre); conv(l, p, c->mc, c->in_ch, 3);
    int skips[64], n_skip = 0, ch = c->mc, blk = 1;
    skips[n_skip++] = ch;
    for (int lv = 0; lv < c->n_levels; lv++) {
        for (int r = 0; r < c->res_blocks; r++, blk++) {
            int out = c->mc * c->mults[lv];
            snprintf(p, sizeof p, "%s.input_blocks.%d.0", pre, blk); resblock(l, p, ch, out, c->temb);
            ch = out;
            if (c->attn[lv]) { snprintf(p, sizeof p, "%s.input_blocks.%d.1", pre, blk); transformer(l, p, ch, c->context, c->depth); }
            skips[n_skip++] = ch;
        }
        if (lv != c->n_levels - 1) {
            snprintf(p, sizeof p, "%s.input_blocks.%d.0.op", pre, blk++); conv(l, p, ch, ch, 3);
            skips[n_skip++] = ch;
        }
    }
    snprintf(p, sizeof p, "%s.middle_block.0", pre); resblock(l, p, ch, ch, c->temb);
    snprintf(p, sizeof p, "%s.middle_block.1", pre); transformer(l, p, ch, c->context, c->depth);
    snprintf(p, sizeof p, "%s.middle_block.2", pre); resblock(l, p, ch, ch, c->temb);
    blk = 0;
    for (int lv = c->n_levels - 1; lv >= 0; lv--) {
        for (int r = 0; r <= c->res_blocks; r++, blk++) {
            int out = c->mc * c->mults[lv], cin = ch + skips[--n_skip];
            snprintf(p, sizeof p, "%s.output_blocks.%d.0", pre, blk); resblock(l, p, cin, out, c->temb);
            ch = out;
            int sub = 1;
            if (c->attn[lv]) { snprintf(p, sizeof p, "%s.output_blocks.%d.1", pre, blk); transformer(l, p, ch, c->context, c->depth); sub = 2; }
            if (lv && r == c->res_blocks) { snprintf(p, sizeof p, "%s.output_blocks.%d.%d.conv", pre, blk, sub); conv(l, p, ch, ch, 3); }
        }
    }
    snprintf(p, sizeof p, "%s.out.0", pre); norm(l, p, ch);
    snprintf(p, sizeof p, "%s.out.2", pre); conv(l, p, c->out_ch, ch, 3);
}

static void vae_res(keylist *l, const char *p, int cin, int cout)
{
    char q[200];
    snprintf(q, sizeof q, "%s.norm1", p); norm(l, q, cin);
    snprintf(q, sizeof q, "%s.conv1", p); conv(l, q, cout, cin, 3);
    snprintf(q, sizeof q, "%s.norm2", p); norm(l, q, cout);
    snprintf(q, sizeof q, "%s.conv2", p); conv(l, q, cout, cout, 3);
    if (cin != cout) { snprintf(q, sizeof q, "%s.nin_shortcut", p); conv(l, q, cout, cin, 1); }
}

static void vae_mid(keylist *l, const char *p, int C)
{
    char q[200];
    snprintf(q, sizeof q, "%s.mid.block_1", p); vae_res(l, q, C, C);
    const char *n[4] = {"q", "k", "v", "proj_out"};
    snprintf(q, sizeof q, "%s.mid.attn_1.norm", p); norm(l, q, C);
    for (int i = 0; i < 4; i++) { snprintf(q, sizeof q, "%s.mid.attn_1.%s", p, n[i]); conv(l, q, C, C, 1); }
    snprintf(q, sizeof q, "%s.mid.block_2", p); vae_res(l, q, C, C);
}

static void vae_keys(keylist *l, const vkt_gen_config *c)
{
    char p[160];
    const char *e = "first_stage_model.encoder", *d = "first_stage_model.decoder";
    snprintf(p, sizeof p, "%s.conv_in", e); conv(l, p, c->vae_ch, 3, 3);
    int ch = c->vae_ch;
    for (int lv = 0; lv < c->vae_levels; lv++) {
        int out = c->vae_ch * c->vae_mults[lv];
        for (int r = 0; r < c->vae_res; r++) {
            snprintf(p, sizeof p, "%s.down.%d.block.%d", e, lv, r); vae_res(l, p, ch, out);
            ch = out;
        }
        if (lv != c->vae_levels - 1) { snprintf(p, sizeof p, "%s.down.%d.downsample.conv", e, lv); conv(l, p, ch, ch, 3); }
    }
    vae_mid(l, e, ch);
    snprintf(p, sizeof p, "%s.norm_out", e); norm(l, p, ch);
    snprintf(p, sizeof p, "%s.conv_out", e); conv(l, p, 2 * c->z, ch, 3);
    ch = c->vae_ch * c->vae_mults[c->vae_levels - 1];
    snprintf(p, sizeof p, "%s.conv_in", d); conv(l, p, ch, c->z, 3);
    vae_mid(l, d, ch);
    for (int lv = c->vae_levels - 1; lv >= 0; lv--) {
        int out = c->vae_ch * c->vae_mults[lv];
        for (int r = 0; r <= c->vae_res; r++) {
            snprintf(p, sizeof p, "%s.up.%d.block.%d", d, lv, r); vae_res(l, p, ch, out);
            ch = out;
        }
        if (lv != 0) { snprintf(p, sizeof p, "%s.up.%d.upsample.conv", d, lv); conv(l, p, ch, ch, 3); }
    }
    snprintf(p, sizeof p, "%s.norm_out", d); norm(l, p, ch);
    snprintf(p, sizeof p, "%s.conv_out", d); conv(l, p, 3, ch, 3);
    conv(l, "first_stage_model.quant_conv", 2 * c->z, 2 * c->z, 1);
    conv(l, "first_stage_model.post_quant_conv", c->z, c->z, 1);
}

vkt_status vkt_gen_keys(const vkt_gen_config *c, vkt_gen_tensor **out, uint32_t *n, vkt_err *err)
{
    keylist l = {0};
    clip_keys(&l, c);
    unet_keys(&l, c);
    vae_keys(&l, c);
    for (int i = 0; i < 12; i++) add(&l, S1(VKT_SCHED_T), "%s", vkt_schedule_buffer_names[i]);
    if (l.oom) {
        free(l.v);
        return vkt_fail(err, VKT_ERR_NOMEM, "model key list");
    }
    *out = l.v;
    *n = l.n;
    return VKT_OK;
}

int64_t vkt_gen_numel(const vkt_gen_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

uint64_t vkt_fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

void vkt_gen_values(uint64_t seed, const vkt_gen_tensor *t, float *out)
{
    int64_t n = vkt_gen_numel(t);
    if (t->is_i64) return;
    if (!strchr(t->key, '.')) { /* schedule buffer */
        double tmp[VKT_SCHED_T];
        vkt_schedule local;
        vkt_schedule_init(&local, 0.00085, 0.012);
        if (vkt_schedule_buffer(&local, t->key, tmp) == 0)
            for (int i = 0; i < VKT_SCHED_T && i < n; i++) out[i] = (float)tmp[i];
        return;
    }
    uint64_t state = seed ^ vkt_fnv1a64(t->key);
    int kind; /* 0 embedding, 1 weight, 2 norm gamma, 3 bias */
    float scale = 0.0f;
    if (ends_with(t->key, ".bias")) kind = 3;
    else if (t->ndim == 1) kind = 2;
    else if (strstr(t->key, "embedding")) kind = 0, scale = 0.05f;
    else {
        int64_t fan_in = 1;
        for (int i = 1; i < t->ndim; i++) fan_in *= t->shape[i];
        kind = 1;
        scale = (float)(1.0 / sqrt((double)fan_in));
    }
    const float tenth = 0.1f;
    for (int64_t i = 0; i < n; i++) {
        state += 0x9E3779B97F4A7C15ull;
        uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        float u = (float)(z >> 40) * 0x1p-23f - 1.0f; /* exact; the build forbids FMA contraction */
        float v;
        switch (kind) {
        case 2: v = 1.0f + tenth * u; break;
        case 3: v = tenth * u; break;
        default: v = u * scale; break;
        }
        out[i] = v;
    }
}

vkt_status vkt_gen_write(const vkt_gen_config *cfg, uint64_t seed, bool fp16, const char *path, vkt_err *err)
{
    vkt_gen_tensor *ts = NULL;
    uint32_t n = 0;
    void **bufs = NULL;
    vkt_safetensors_writer *w = NULL;
    vkt_status st = vkt_gen_keys(cfg, &ts, &n, err);
    if (!st) st = vkt_safetensors_writer_create(&w, err);
    if (!st && !(bufs = vkt_calloc(n, sizeof *bufs))) st = vkt_fail(err, VKT_ERR_NOMEM, "tensor list");
    for (uint32_t i = 0; i < n && !st; i++) {
        size_t numel = (size_t)vkt_gen_numel(&ts[i]);
        if (ts[i].is_i64) {
            int64_t *ids = vkt_malloc(numel * sizeof *ids);
            if (!(bufs[i] = ids)) { st = vkt_fail(err, VKT_ERR_NOMEM, "%s", ts[i].key); break; }
            for (size_t k = 0; k < numel; k++) ids[k] = (int64_t)k;
            st = vkt_safetensors_writer_add(w, ts[i].key, VKT_IO_I64, ts[i].ndim, ts[i].shape, ids, err);
            continue;
        }
        float *v = vkt_malloc(numel * sizeof *v);
        if (!(bufs[i] = v)) { st = vkt_fail(err, VKT_ERR_NOMEM, "%s: %zu floats", ts[i].key, numel); break; }
        vkt_gen_values(seed, &ts[i], v);
        if (fp16) { /* convert in place into the first half of the buffer */
            uint16_t *h = (uint16_t *)v;
            for (size_t k = 0; k < numel; k++) h[k] = vkt_f32_to_f16(v[k]);
        }
        st = vkt_safetensors_writer_add(w, ts[i].key, fp16 ? VKT_IO_F16 : VKT_IO_F32, ts[i].ndim, ts[i].shape, v, err);
    }
    char heads[16], gen[64];
    snprintf(heads, sizeof heads, "%d", cfg->unet_heads);
    if (!st) st = vkt_safetensors_writer_meta(w, "vktrain.unet_heads", heads, err);
    snprintf(heads, sizeof heads, "%d", cfg->clip_heads);
    if (!st) st = vkt_safetensors_writer_meta(w, "vktrain.clip_heads", heads, err);
    snprintf(gen, sizeof gen, "vktrain-tiny-v1 seed=%llu config=%s", (unsigned long long)seed, cfg->name);
    if (!st) st = vkt_safetensors_writer_meta(w, "vktrain.generator", gen, err);
    if (!st) st = vkt_safetensors_writer_write(w, path, err);
    vkt_safetensors_writer_destroy(w);
    for (uint32_t i = 0; bufs && i < n; i++) free(bufs[i]);
    free(bufs);
    free(ts);
    return st;
}
