/* SD model files: detection, dims from shapes, parameter counts and renames, on SD1.5-shaped key
 * sets (tests/golden/sd15-keys.tsv, sd15-diffusers-keys.tsv) written as sparse files, so the
 * 2 GB of zero weights cost no disk and are never read; the TINY key set from the models
 * generator; a .ckpt written by the .pt writer. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "io/json_util.h"
#include "io/model_file.h"
#include "io/pt_writer.h"
#include "models/tiny_model.h"
#include "testkit.h"

typedef struct row {
    char key[160];
    char part[16]; /* diffusers: unet / text_encoder / vae */
    vkt_io_dtype dt;
    int ndim;
    int64_t shape[4];
} row;

typedef struct rows {
    row *v;
    size_t n, cap;
} rows;

static row *push(rows *r)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 2048;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
    }
    memset(&r->v[r->n], 0, sizeof r->v[0]);
    return &r->v[r->n++];
}

static void parse_shape(row *w, char *s)
{
    for (char *tok = strtok(s, ","); tok && w->ndim < 4; tok = strtok(NULL, ",")) w->shape[w->ndim++] = atoll(tok);
}

static vkt_io_dtype dtype_for(const char *key)
{
    if (strstr(key, "position_ids")) return VKT_IO_I64;
    if (!strchr(key, '.')) return VKT_IO_F32; /* schedule buffers */
    return VKT_IO_F16;
}

/* sd15-keys.tsv: key, shape, role */
static rows load_tsv(void)
{
    rows r = {0};
    FILE *f = fopen(tk_src("tests/golden/sd15-keys.tsv"), "r");
    char line[1024];
    if (!f) return r;
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    while (fgets(line, sizeof line, f)) {
        char *k = strtok(line, "\t"), *s = strtok(NULL, "\t");
        if (!k || !s) continue;
        row *w = push(&r);
        snprintf(w->key, sizeof w->key, "%s", k);
        w->dt = dtype_for(k);
        parse_shape(w, s);
    }
    fclose(f);
    return r;
}

/* sd15-diffusers-keys.tsv: part, key, shape */
static rows load_diffusers_tsv(void)
{
    rows r = {0};
    FILE *f = fopen(tk_src("tests/golden/sd15-diffusers-keys.tsv"), "r");
    char line[1024];
    if (!f) return r;
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = strtok(line, "\t"), *k = strtok(NULL, "\t"), *s = strtok(NULL, "\t\n");
        if (!p || !k || !s) continue;
        row *w = push(&r);
        snprintf(w->part, sizeof w->part, "%s", p);
        snprintf(w->key, sizeof w->key, "%s", k);
        w->dt = dtype_for(k);
        parse_shape(w, s);
    }
    fclose(f);
    return r;
}

/* A safetensors file whose data is a hole: header written, size set with ftruncate. Only the
 * rows whose part matches (NULL = all) are written; metadata pairs in meta (NULL-terminated). */
static bool write_sparse(const char *path, const rows *r, const char *part, const char **meta)
{
    vkt_buf b = {0};
    vkt_buf_puts(&b, "{");
    bool first = true;
    if (meta && meta[0]) {
        vkt_buf_puts(&b, "\"__metadata__\":{");
        for (int i = 0; meta[i]; i += 2) {
            if (i) vkt_buf_puts(&b, ",");
            vkt_buf_json_str(&b, meta[i]);
            vkt_buf_puts(&b, ":");
            vkt_buf_json_str(&b, meta[i + 1]);
        }
        vkt_buf_puts(&b, "}");
        first = false;
    }
    size_t off = 0;
    for (size_t i = 0; i < r->n; i++) {
        const row *w = &r->v[i];
        if (part && strcmp(w->part, part) != 0) continue;
        size_t bytes = vkt_io_dtype_size(w->dt);
        for (int d = 0; d < w->ndim; d++) bytes *= (size_t)w->shape[d];
        vkt_buf_puts(&b, first ? "" : ",");
        first = false;
        vkt_buf_json_str(&b, w->key);
        vkt_buf_printf(&b, ":{\"dtype\":\"%s\",\"shape\":[", vkt_io_dtype_name(w->dt));
        for (int d = 0; d < w->ndim; d++) vkt_buf_printf(&b, "%s%lld", d ? "," : "", (long long)w->shape[d]);
        vkt_buf_printf(&b, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
        off += bytes;
    }
    vkt_buf_puts(&b, "}");
    while (!b.failed && b.len % 8) vkt_buf_puts(&b, " ");
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)b.len >> (8 * i));
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(len, 1, 8, f) == 8 && fwrite(b.data, 1, b.len, f) == b.len;
    if (f) ok = fflush(f) == 0 && ftruncate(fileno(f), (off_t)(8 + b.len + off)) == 0 && ok, fclose(f);
    vkt_buf_free(&b);
    return ok;
}

static const vkt_sd_config SD15 = {
    .family = VKT_FAMILY_SD1, .has_clip = true, .has_unet = true, .has_vae = true,
    .clip_width = 768, .clip_layers = 12, .clip_heads = 12, .clip_mlp = 3072, .clip_vocab = 49408, .clip_positions = 77,
    .unet_in_ch = 4, .unet_out_ch = 4, .unet_mc = 320, .unet_levels = 4, .unet_mult = {1, 2, 4, 4},
    .unet_res_blocks = 2, .unet_attn = {1, 1, 1, 0}, .unet_depth = 1, .unet_context = 768, .unet_heads = 8,
    .unet_temb = 1280, .vae_ch = 128, .vae_levels = 4, .vae_mult = {1, 2, 4, 4}, .vae_res_blocks = 2, .vae_z = 4,
    .vae_embed = 4};

static bool same_dims(const vkt_sd_config *a, const vkt_sd_config *b)
{
    bool ok = a->clip_width == b->clip_width && a->clip_layers == b->clip_layers && a->clip_heads == b->clip_heads &&
              a->clip_mlp == b->clip_mlp && a->clip_vocab == b->clip_vocab && a->clip_positions == b->clip_positions &&
              a->unet_in_ch == b->unet_in_ch && a->unet_out_ch == b->unet_out_ch && a->unet_mc == b->unet_mc &&
              a->unet_levels == b->unet_levels && a->unet_res_blocks == b->unet_res_blocks &&
              a->unet_depth == b->unet_depth && a->unet_context == b->unet_context && a->unet_heads == b->unet_heads &&
              a->unet_temb == b->unet_temb && a->unet_linear_proj == b->unet_linear_proj && a->vae_ch == b->vae_ch &&
              a->vae_levels == b->vae_levels && a->vae_res_blocks == b->vae_res_blocks && a->vae_z == b->vae_z &&
              a->vae_embed == b->vae_embed;
    for (int l = 0; ok && l < a->unet_levels; l++)
        ok = a->unet_mult[l] == b->unet_mult[l] && a->unet_attn[l] == b->unet_attn[l];
    for (int l = 0; ok && l < a->vae_levels; l++) ok = a->vae_mult[l] == b->vae_mult[l];
    return ok;
}

static void check_sd15_counts(const vkt_model_file *mf, const char *what)
{
    const vkt_model_stats *s = vkt_model_file_stats(mf);
    TK_CHECK(s->unet_params == 859520964, "%s: UNet %lld", what, (long long)s->unet_params);
    TK_CHECK(s->clip_params == 123060480 && s->clip_buffers == 77, "%s: CLIP %lld + %lld", what,
             (long long)s->clip_params, (long long)s->clip_buffers);
    TK_CHECK(s->vae_params == 83653863, "%s: VAE %lld", what, (long long)s->vae_params);
    TK_CHECK(s->n_clip == 197 && s->n_unet == 686 && s->n_vae == 248, "%s: key counts %zu/%zu/%zu", what, s->n_clip,
             s->n_unet, s->n_vae);
}

static const char *tmp;

static const char *P(const char *name)
{
    static char buf[4][2048];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

static void expect_fail(const char *path, const vkt_model_opts *o, vkt_status code, const char *want)
{
    vkt_err err = {0};
    vkt_model_file *mf = NULL;
    vkt_status s = vkt_model_file_open(path, o, &mf, &err);
    TK_CHECK(s == code && !mf && strstr(err.msg, want), "%s: want %d \"%s\", got %d \"%s\"", path, code, want, s,
             err.msg);
    vkt_model_file_close(mf);
}

static void test_sd15(rows *r)
{
    vkt_err err = {0};
    vkt_model_file *mf = NULL;
    /* A: the original layout, every key of sd15-keys.tsv */
    TK_CHECK(write_sparse(P("sd15.safetensors"), r, NULL, NULL), "write sd15");
    TK_CHECK(vkt_model_file_open(P("sd15.safetensors"), NULL, &mf, &err) == VKT_OK, "open sd15: %s", err.msg);
    if (mf) {
        const vkt_sd_config *c = vkt_model_file_config(mf);
        TK_CHECK(c->family == VKT_FAMILY_SD1 && same_dims(c, &SD15), "SD1.5 dims");
        TK_CHECK(strcmp(c->unet_heads_from, "default") == 0 && strcmp(c->clip_heads_from, "default") == 0, "heads");
        check_sd15_counts(mf, "sd15");
        const vkt_model_stats *s = vkt_model_file_stats(mf);
        TK_CHECK(s->other_params == 12000 && s->n_other == 12, "12 schedule buffers");
        TK_CHECK(s->n_by_dtype[VKT_IO_F16] == 1130 && s->n_by_dtype[VKT_IO_I64] == 1 && s->n_by_dtype[VKT_IO_F32] == 12,
                 "dtype counts");
        TK_CHECK(vkt_model_file_count(mf) == 1143 && strcmp(vkt_model_file_format(mf), "safetensors") == 0, "1143 keys");
        const vkt_tensor_data *t = NULL;
        TK_CHECK(vkt_model_file_get(mf, "model.diffusion_model.out.2.weight", 4, (int64_t[]){4, 320, 3, 3}, &t, &err) ==
                     VKT_OK && t && t->dtype == VKT_IO_F16,
                 "get");
        TK_CHECK(vkt_model_file_get(mf, "model.diffusion_model.out.2.weight", 4, (int64_t[]){4, 321, 3, 3}, &t, &err) ==
                         VKT_ERR_FORMAT &&
                     strstr(err.msg, "tensor \"model.diffusion_model.out.2.weight\": shape [4,320,3,3], expected [4,321,3,3]"),
                 "shape message: %s", err.msg);
        TK_CHECK(vkt_model_file_get(mf, "nope", 1, (int64_t[]){1}, &t, &err) == VKT_ERR_FORMAT &&
                     strstr(err.msg, "tensor \"nope\" is missing"),
                 "missing message");
        vkt_model_file_close(mf);
    }
    /* B: old text-encoder names + EMA copies of the UNet */
    rows b = {0};
    for (size_t i = 0; i < r->n; i++) {
        row *w = push(&b);
        *w = r->v[i];
        const char *tm = "cond_stage_model.transformer.text_model.";
        if (strncmp(w->key, tm, strlen(tm)) == 0)
            snprintf(w->key, sizeof w->key, "cond_stage_model.transformer.%s", r->v[i].key + strlen(tm));
        if (strncmp(r->v[i].key, "model.diffusion_model.", 22) == 0) {
            row *e = push(&b);
            *e = r->v[i];
            e->dt = VKT_IO_F32; /* distinguishable from the F16 weights */
            char *o = e->key + snprintf(e->key, sizeof e->key, "model_ema.");
            for (const char *p = r->v[i].key + 6; *p; p++)
                if (*p != '.') *o++ = *p;
            *o = 0;
        }
    }
    row *dec = push(&b);
    snprintf(dec->key, sizeof dec->key, "model_ema.decay");
    dec->dt = VKT_IO_F32;
    TK_CHECK(write_sparse(P("old.safetensors"), &b, NULL, NULL), "write old");
    mf = NULL;
    TK_CHECK(vkt_model_file_open(P("old.safetensors"), NULL, &mf, &err) == VKT_OK, "old names: %s", err.msg);
    if (mf) {
        check_sd15_counts(mf, "old names");
        TK_CHECK(vkt_model_file_stats(mf)->n_ema_ignored == 687, "687 model_ema keys ignored (%zu)",
                 vkt_model_file_stats(mf)->n_ema_ignored);
        TK_CHECK(vkt_model_file_find(mf, "cond_stage_model.transformer.text_model.final_layer_norm.bias"), "renamed");
        TK_CHECK(vkt_model_file_find(mf, "model.diffusion_model.out.2.weight")->dtype == VKT_IO_F16, "non-EMA UNet");
        vkt_model_file_close(mf);
    }
    vkt_model_opts ema = {.ema = true};
    mf = NULL;
    TK_CHECK(vkt_model_file_open(P("old.safetensors"), &ema, &mf, &err) == VKT_OK, "--ema: %s", err.msg);
    if (mf) {
        check_sd15_counts(mf, "ema");
        TK_CHECK(vkt_model_file_find(mf, "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight")
                         ->dtype == VKT_IO_F32,
                 "EMA weights used for the UNet");
        TK_CHECK(vkt_model_file_stats(mf)->n_ema_ignored == 1, "only model_ema.decay left over");
        vkt_model_file_close(mf);
    }
    expect_fail(P("sd15.safetensors"), &ema, VKT_ERR_FORMAT, "no model_ema.* weights");
    free(b.v);

    /* C..E: families that must be recognised and refused */
    rows c = {0};
    for (size_t i = 0; i < r->n; i++) *push(&c) = r->v[i];
    for (size_t i = 0; i < c.n; i++)
        if (strcmp(c.v[i].key, "model.diffusion_model.input_blocks.0.0.weight") == 0) c.v[i].shape[1] = 9;
    write_sparse(P("inpaint.safetensors"), &c, NULL, NULL);
    expect_fail(P("inpaint.safetensors"), NULL, VKT_ERR_UNSUPPORTED, "SD 1.x inpainting model: not supported");
    vkt_model_opts any = {.any_family = true};
    mf = NULL;
    TK_CHECK(vkt_model_file_open(P("inpaint.safetensors"), &any, &mf, &err) == VKT_OK &&
                 vkt_model_file_config(mf)->family == VKT_FAMILY_SD1_INPAINT && vkt_model_file_config(mf)->unet_in_ch == 9,
             "inpainting opens with any_family: %s", err.msg);
    TK_CHECK(mf && vkt_model_file_supported(mf, &err) == VKT_ERR_UNSUPPORTED, "but is not supported");
    vkt_model_file_close(mf);
    const char *fam_keys[][3] = {{"cond_stage_model.model.ln_final.weight", NULL, "SD 2.x model: not supported"},
                                 {"conditioner.embedders.0.transformer.text_model.final_layer_norm.weight",
                                  "conditioner.embedders.1.model.ln_final.weight", "SDXL base model: not supported"},
                                 {"conditioner.embedders.0.model.ln_final.weight", NULL, "SDXL refiner model: not supported"}};
    for (int f = 0; f < 3; f++) {
        rows d = {0};
        for (size_t i = 0; i < r->n; i++)
            if (strncmp(r->v[i].key, "cond_stage_model.", 17) != 0) *push(&d) = r->v[i];
        for (int k = 0; k < 2 && fam_keys[f][k]; k++) {
            row *w = push(&d);
            snprintf(w->key, sizeof w->key, "%s", fam_keys[f][k]);
            w->dt = VKT_IO_F16;
            w->ndim = 1;
            w->shape[0] = 1024;
        }
        write_sparse(P("fam.safetensors"), &d, NULL, NULL);
        expect_fail(P("fam.safetensors"), NULL, VKT_ERR_UNSUPPORTED, fam_keys[f][2]);
        free(d.v);
    }
    /* a UNet with no text encoder: judged SD1 by its UNet, but incomplete */
    rows u = {0};
    for (size_t i = 0; i < r->n; i++)
        if (strncmp(r->v[i].key, "model.", 6) == 0) *push(&u) = r->v[i];
    write_sparse(P("unet.safetensors"), &u, NULL, NULL);
    expect_fail(P("unet.safetensors"), NULL, VKT_ERR_FORMAT, "the text encoder is missing");
    free(u.v);
    free(c.v);

    /* VAE alone, as a model and as --vae (first_stage_model.-relative keys) */
    rows v = {0};
    for (size_t i = 0; i < r->n; i++)
        if (strncmp(r->v[i].key, "first_stage_model.", 18) == 0) {
            row *w = push(&v);
            *w = r->v[i];
            snprintf(w->key, sizeof w->key, "%s", r->v[i].key + 18);
            w->dt = VKT_IO_F32;
        }
    row *loss = push(&v); /* webui drops loss.* from VAE files */
    snprintf(loss->key, sizeof loss->key, "loss.logvar");
    loss->dt = VKT_IO_F32;
    write_sparse(P("vae.safetensors"), &v, NULL, NULL);
    expect_fail(P("vae.safetensors"), NULL, VKT_ERR_FORMAT, "not a Stable Diffusion checkpoint (a VAE file? pass it with --vae)");
    rows nv = {0};
    for (size_t i = 0; i < r->n; i++)
        if (strncmp(r->v[i].key, "first_stage_model.", 18) != 0) *push(&nv) = r->v[i];
    write_sparse(P("novae.safetensors"), &nv, NULL, NULL);
    expect_fail(P("novae.safetensors"), NULL, VKT_ERR_FORMAT, "the VAE is missing from this checkpoint (pass one with --vae)");
    vkt_model_opts withvae = {.vae_path = P("vae.safetensors")};
    mf = NULL;
    TK_CHECK(vkt_model_file_open(P("novae.safetensors"), &withvae, &mf, &err) == VKT_OK, "--vae: %s", err.msg);
    if (mf) {
        check_sd15_counts(mf, "--vae");
        TK_CHECK(vkt_model_file_find(mf, "first_stage_model.decoder.conv_in.weight")->dtype == VKT_IO_F32, "VAE from the file");
        TK_CHECK(!vkt_model_file_find(mf, "first_stage_model.loss.logvar"), "loss.* dropped");
        vkt_model_file_close(mf);
    }
    mf = NULL;
    TK_CHECK(vkt_model_file_open(P("sd15.safetensors"), &withvae, &mf, &err) == VKT_OK, "--vae replaces: %s", err.msg);
    if (mf) {
        check_sd15_counts(mf, "--vae replacing");
        TK_CHECK(vkt_model_file_find(mf, "first_stage_model.encoder.conv_in.weight")->dtype == VKT_IO_F32, "replaced");
        vkt_model_file_close(mf);
    }
    free(v.v);
    free(nv.v);
}

static void test_diffusers(rows *orig)
{
    rows r = load_diffusers_tsv();
    TK_CHECK(r.n == 1131, "sd15-diffusers-keys.tsv rows: %zu", r.n);
    char dir[2100];
    snprintf(dir, sizeof dir, "%s/sd15-diffusers", tmp);
    const char *parts[][2] = {{"unet", "diffusion_pytorch_model.safetensors"}, {"text_encoder", "model.safetensors"},
                              {"vae", "diffusion_pytorch_model.safetensors"}};
    vkt_err err = {0};
    for (int i = 0; i < 3; i++) {
        char sub[2200], path[2300];
        snprintf(sub, sizeof sub, "%s/%s", dir, parts[i][0]);
        vkt_mkdirs(sub, &err);
        snprintf(path, sizeof path, "%s/%s", sub, parts[i][1]);
        TK_CHECK(write_sparse(path, &r, parts[i][0], NULL), "write %s", path);
    }
    char cfg[2300];
    snprintf(cfg, sizeof cfg, "%s/unet/config.json", dir);
    const char *ucfg = "{\"attention_head_dim\": 8, \"cross_attention_dim\": 768}";
    vkt_write_file(cfg, ucfg, strlen(ucfg), &err);
    snprintf(cfg, sizeof cfg, "%s/text_encoder/config.json", dir);
    const char *tcfg = "{\"num_attention_heads\": 12}";
    vkt_write_file(cfg, tcfg, strlen(tcfg), &err);
    vkt_model_file *mf = NULL;
    TK_CHECK(vkt_model_file_open(dir, NULL, &mf, &err) == VKT_OK, "diffusers folder: %s", err.msg);
    if (mf) {
        const vkt_sd_config *c = vkt_model_file_config(mf);
        TK_CHECK(same_dims(c, &SD15), "diffusers dims");
        TK_CHECK(strcmp(c->unet_heads_from, "config.json") == 0 && strcmp(c->clip_heads_from, "config.json") == 0,
                 "heads from config.json");
        check_sd15_counts(mf, "diffusers");
        TK_CHECK(strcmp(vkt_model_file_format(mf), "diffusers") == 0, "format");
        /* exactly the original key set and shapes (no schedule buffers in diffusers) */
        size_t matched = 0, want = 0;
        for (size_t i = 0; i < orig->n; i++) {
            if (!strchr(orig->v[i].key, '.')) continue;
            want++;
            const vkt_tensor_data *t = vkt_model_file_find(mf, orig->v[i].key);
            bool ok = t && t->ndim == orig->v[i].ndim;
            for (int d = 0; ok && d < t->ndim; d++) ok = t->shape[d] == orig->v[i].shape[d];
            if (ok) matched++;
            else TK_CHECK(0, "diffusers: %s missing or misshaped", orig->v[i].key);
        }
        TK_CHECK(matched == want && vkt_model_file_count(mf) == want, "%zu/%zu original keys, %zu total", matched, want,
                 vkt_model_file_count(mf));
        const vkt_tensor_data *q = vkt_model_file_find(mf, "first_stage_model.decoder.mid.attn_1.q.weight");
        TK_CHECK(q && q->ndim == 4 && vkt_tensor_data_is_contiguous(q), "Linear to_q became a 1x1 conv");
        vkt_model_file_close(mf);
    }
    /* a diffusers VAE given with --vae */
    char vpath[2300];
    snprintf(vpath, sizeof vpath, "%s/vae/diffusion_pytorch_model.safetensors", dir);
    vkt_model_opts o = {.vae_path = vpath};
    mf = NULL;
    TK_CHECK(vkt_model_file_open(P("novae.safetensors"), &o, &mf, &err) == VKT_OK, "--vae diffusers: %s", err.msg);
    if (mf) check_sd15_counts(mf, "--vae diffusers");
    vkt_model_file_close(mf);
    snprintf(cfg, sizeof cfg, "%s/unet/diffusion_pytorch_model.safetensors", dir);
    unlink(cfg);
    expect_fail(dir, NULL, VKT_ERR_FORMAT, "a folder without unet/");
    free(r.v);
}

/* The TINY key set from the models generator, with head counts in metadata, as .safetensors and
 * as a torch .ckpt with a state_dict wrapper (vocab cut to 1000 to keep the file small). */
static void test_tiny(void)
{
    vkt_err err = {0};
    vkt_gen_config g = VKT_GEN_TINY;
    g.vocab = 1000;
    vkt_gen_tensor *ts = NULL;
    uint32_t n = 0;
    TK_CHECK(vkt_gen_keys(&g, &ts, &n, &err) == VKT_OK, "gen keys");
    rows r = {0};
    size_t max_bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        row *w = push(&r);
        snprintf(w->key, sizeof w->key, "%s", ts[i].key);
        w->dt = ts[i].is_i64 ? VKT_IO_I64 : VKT_IO_F32;
        w->ndim = ts[i].ndim;
        size_t bytes = 8;
        for (int d = 0; d < w->ndim; d++) w->shape[d] = ts[i].shape[d], bytes *= (size_t)ts[i].shape[d];
        if (bytes > max_bytes) max_bytes = bytes;
    }
    vkt_sd_config want = {.clip_width = g.clip_width, .clip_layers = g.clip_layers, .clip_heads = g.clip_heads,
                          .clip_mlp = g.clip_mlp, .clip_vocab = g.vocab, .clip_positions = g.positions,
                          .unet_in_ch = g.in_ch, .unet_out_ch = g.out_ch, .unet_mc = g.mc, .unet_levels = g.n_levels,
                          .unet_res_blocks = g.res_blocks, .unet_depth = g.depth, .unet_context = g.context,
                          .unet_heads = g.unet_heads, .unet_temb = g.temb, .vae_ch = g.vae_ch,
                          .vae_levels = g.vae_levels, .vae_res_blocks = g.vae_res, .vae_z = g.z, .vae_embed = g.z};
    for (int l = 0; l < g.n_levels; l++) want.unet_mult[l] = g.mults[l], want.unet_attn[l] = g.attn[l];
    for (int l = 0; l < g.vae_levels; l++) want.vae_mult[l] = g.vae_mults[l];
    const char *meta[] = {"vktrain.unet_heads", "4", "vktrain.clip_heads", "4", NULL};
    write_sparse(P("tiny.safetensors"), &r, NULL, meta);
    vkt_model_file *mf = NULL;
    TK_CHECK(vkt_model_file_open(P("tiny.safetensors"), NULL, &mf, &err) == VKT_OK, "tiny: %s", err.msg);
    if (mf) {
        TK_CHECK(same_dims(vkt_model_file_config(mf), &want), "TINY dims from shapes");
        TK_CHECK(strcmp(vkt_model_file_config(mf)->unet_heads_from, "metadata") == 0, "heads from metadata");
        vkt_model_file_close(mf);
    }
    const char *bad[] = {"vktrain.unet_heads", "5", NULL};
    write_sparse(P("tiny-bad.safetensors"), &r, NULL, bad);
    expect_fail(P("tiny-bad.safetensors"), NULL, VKT_ERR_FORMAT, "5 UNet heads (metadata) do not divide width 64");

    /* .ckpt: {"state_dict": {...}, "global_step": 1} through the .pt writer */
    void *zeros = calloc(1, max_bytes);
    vkt_pt *p = NULL;
    vkt_pt_create(&p, &err);
    vkt_pt_val *root = vkt_pt_dict(p), *sd = vkt_pt_ordered_dict(p);
    for (size_t i = 0; i < r.n; i++)
        vkt_pt_set_str(p, sd, r.v[i].key, vkt_pt_tensor(p, r.v[i].dt == VKT_IO_I64 ? VKT_IO_I64 : VKT_IO_F16,
                                                        r.v[i].ndim, r.v[i].shape, zeros, false));
    vkt_pt_set_str(p, root, "state_dict", sd);
    vkt_pt_set_str(p, root, "global_step", vkt_pt_int(p, 1));
    TK_CHECK(vkt_pt_write(p, root, P("tiny.ckpt"), &err) == VKT_OK, "write ckpt: %s", err.msg);
    vkt_pt_destroy(p);
    free(zeros);
    mf = NULL;
    TK_CHECK(vkt_model_file_open(P("tiny.ckpt"), NULL, &mf, &err) == VKT_OK, "tiny.ckpt: %s", err.msg);
    if (mf) {
        want.clip_heads = 2, want.unet_heads = 8; /* no metadata in a .ckpt: SD1 defaults W/64 and 8 */
        TK_CHECK(same_dims(vkt_model_file_config(mf), &want), "TINY dims from a .ckpt");
        TK_CHECK(strcmp(vkt_model_file_format(mf), "torch") == 0, "format torch");
        TK_CHECK(vkt_model_file_count(mf) == n, "%zu keys", vkt_model_file_count(mf));
        vkt_model_file_close(mf);
    }
    free(ts);
    free(r.v);
}

/* `--write DIR`: SD1.5-shaped sparse files for tests/e2e/info.sh (kept, not checked here). */
static int write_files(const char *dir)
{
    vkt_err err = {0};
    if (vkt_mkdirs(dir, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    tmp = dir;
    rows r = load_tsv();
    if (r.n != 1143) return fprintf(stderr, "sd15-keys.tsv not found (VKT_SOURCE_DIR?)\n"), 1;
    bool ok = write_sparse(P("sd15.safetensors"), &r, NULL, NULL);
    for (size_t i = 0; i < r.n; i++)
        if (strcmp(r.v[i].key, "model.diffusion_model.input_blocks.0.0.weight") == 0) r.v[i].shape[1] = 9;
    ok = ok && write_sparse(P("inpaint.safetensors"), &r, NULL, NULL);
    rows d = load_diffusers_tsv();
    const char *parts[][2] = {{"unet", "diffusion_pytorch_model.safetensors"}, {"text_encoder", "model.safetensors"},
                              {"vae", "diffusion_pytorch_model.safetensors"}};
    for (int i = 0; i < 3 && ok; i++) {
        char sub[2200], path[2300];
        snprintf(sub, sizeof sub, "%s/sd15-diffusers/%s", dir, parts[i][0]);
        ok = vkt_mkdirs(sub, &err) == VKT_OK;
        snprintf(path, sizeof path, "%s/%s", sub, parts[i][1]);
        ok = ok && write_sparse(path, &d, parts[i][0], NULL);
    }
    free(r.v);
    free(d.v);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0) return write_files(argv[2]);
    tmp = tk_tmpdir("model_file");
    static char tmpbuf[2048];
    snprintf(tmpbuf, sizeof tmpbuf, "%s", tmp);
    tmp = tmpbuf;
    rows r = load_tsv();
    TK_CHECK(r.n == 1143, "sd15-keys.tsv rows: %zu", r.n);
    test_sd15(&r);
    test_diffusers(&r);
    test_tiny();
    free(r.v);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp); /* the sparse files would look like 10 GB to du */
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return tk_finish("io.model_file");
}
