/* SD model files under original LDM names: single checkpoints, diffusers folders, VAE override,
 * family detection, dims from shapes (sd1-architecture.md sections 7 and 9). Diffusers renames
 * follow diffusers' scripts/convert_diffusers_to_original_stable_diffusion.py, generalised to
 * any number of levels and res blocks. Depends on base, cJSON and the io readers. */
#define _GNU_SOURCE
#include "io/model_file.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/arena.h"
#include "base/fault.h"
#include "base/file.h"
#include "io/state_dict.h"

#define MAX_SRC 4
#define CLIP_P "cond_stage_model.transformer.text_model."
#define UNET_P "model.diffusion_model."
#define VAE_P "first_stage_model."

typedef struct mentry {
    const char *name; /* arena */
    vkt_tensor_data t;
} mentry;

struct vkt_model_file {
    char label[1024];
    const char *format;
    vkt_state_dict *src[MAX_SRC];
    int n_src;
    vkt_arena arena;
    mentry *ents;
    size_t n, cap;
    vkt_sd_config cfg;
    vkt_model_stats stats;
    int cfg_clip_heads, cfg_unet_heads; /* from diffusers config.json, 0 when absent */
};

const char *vkt_model_family_name(vkt_model_family f)
{
    switch (f) {
    case VKT_FAMILY_SD1: return "SD 1.x";
    case VKT_FAMILY_SD1_INPAINT: return "SD 1.x inpainting";
    case VKT_FAMILY_SD1_OTHER_IN: return "SD 1.x with extra UNet inputs (e.g. instruct-pix2pix)";
    case VKT_FAMILY_SD2: return "SD 2.x";
    case VKT_FAMILY_SDXL: return "SDXL base";
    case VKT_FAMILY_SDXL_REFINER: return "SDXL refiner";
    case VKT_FAMILY_UNKNOWN: break;
    }
    return "unknown";
}

static bool starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* ---- the entry table ---- */

static vkt_status add(vkt_model_file *mf, const char *name, const vkt_tensor_data *t, vkt_err *err)
{
    if (mf->n == mf->cap) {
        size_t cap = mf->cap ? 2 * mf->cap : 1024;
        mentry *e = vkt_realloc(mf->ents, cap * sizeof *e);
        if (!e) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
        mf->ents = e;
        mf->cap = cap;
    }
    const char *nm = vkt_arena_strdup(&mf->arena, name);
    if (!nm) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    mf->ents[mf->n].name = nm;
    mf->ents[mf->n].t = *t;
    mf->n++;
    return VKT_OK;
}

static int cmp_ent(const void *a, const void *b)
{
    return strcmp(((const mentry *)a)->name, ((const mentry *)b)->name);
}

static mentry *lookup(const vkt_model_file *mf, const char *key)
{
    mentry k = {.name = key};
    return bsearch(&k, mf->ents, mf->n, sizeof *mf->ents, cmp_ent);
}

static const vkt_tensor_data *T(const vkt_model_file *mf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const vkt_tensor_data *T(const vkt_model_file *mf, const char *fmt, ...)
{
    char key[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof key, fmt, ap);
    va_end(ap);
    mentry *e = lookup(mf, key);
    return e ? &e->t : NULL;
}

static bool any_prefix(const vkt_model_file *mf, const char *p)
{
    /* entries are sorted: the first name >= p decides */
    size_t lo = 0, hi = mf->n, n = strlen(p);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(mf->ents[mid].name, p) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < mf->n && strncmp(mf->ents[lo].name, p, n) == 0;
}

/* ---- renames ---- */

/* Old transformers layout: cond_stage_model.transformer.{embeddings,encoder,final_layer_norm}.*
 * without "text_model." (webui sd_models.py: the text_model insertion). */
static const char *fix_clip_name(const char *k, char *buf, size_t n)
{
    const char *p = "cond_stage_model.transformer.";
    if (!starts(k, p)) return k;
    const char *rest = k + strlen(p);
    if (starts(rest, "embeddings.") || starts(rest, "encoder.") || starts(rest, "final_layer_norm.")) {
        snprintf(buf, n, "%stext_model.%s", p, rest);
        return buf;
    }
    return k;
}

/* Renames the prefix `from` of *rest to `to` when it matches. */
static bool swap_prefix(const char **rest, const char *from, const char *to, char *out, size_t n)
{
    if (!starts(*rest, from)) return false;
    snprintf(out, n, "%s%s", to, *rest + strlen(from));
    *rest = out;
    return true;
}

static const char *unet_resnet_inner(const char *rest, char *buf, size_t n)
{
    static const char *map[][2] = {{"norm1.", "in_layers.0."},       {"conv1.", "in_layers.2."},
                                   {"norm2.", "out_layers.0."},      {"conv2.", "out_layers.3."},
                                   {"time_emb_proj.", "emb_layers.1."}, {"conv_shortcut.", "skip_connection."}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (swap_prefix(&rest, map[i][0], map[i][1], buf, n)) break;
    return rest;
}

typedef struct unet_layout {
    int res_blocks;                    /* per down level */
    bool up_attn[VKT_SD_MAX_LEVELS * 2]; /* up block i has attentions */
} unet_layout;

static bool small_idx(int v) { return v >= 0 && v < 64; }

/* diffusers UNet key -> original key (without the model.diffusion_model. prefix); NULL when the
 * key is not one a UNet2DConditionModel for SD1 has. */
static const char *unet_from_diffusers(const char *k, const unet_layout *L, char *out, size_t n)
{
    static const char *fixed[][2] = {
        {"time_embedding.linear_1.", "time_embed.0."}, {"time_embedding.linear_2.", "time_embed.2."},
        {"conv_in.", "input_blocks.0.0."},            {"conv_norm_out.", "out.0."},
        {"conv_out.", "out.2."},
    };
    char inner[400];
    int i, j, pos = 0, R = L->res_blocks;
    for (size_t f = 0; f < sizeof fixed / sizeof fixed[0]; f++)
        if (starts(k, fixed[f][0])) {
            snprintf(out, n, "%s%s", fixed[f][1], k + strlen(fixed[f][0]));
            return out;
        }
    if (sscanf(k, "down_blocks.%d.resnets.%d.%n", &i, &j, &pos) == 2 && pos && small_idx(i) && small_idx(j)) {
        snprintf(out, n, "input_blocks.%d.0.%s", (R + 1) * i + j + 1, unet_resnet_inner(k + pos, inner, sizeof inner));
        return out;
    }
    pos = 0;
    if (sscanf(k, "down_blocks.%d.attentions.%d.%n", &i, &j, &pos) == 2 && pos && small_idx(i) && small_idx(j)) {
        snprintf(out, n, "input_blocks.%d.1.%s", (R + 1) * i + j + 1, k + pos);
        return out;
    }
    pos = 0;
    if (sscanf(k, "down_blocks.%d.downsamplers.0.conv.%n", &i, &pos) == 1 && pos && small_idx(i)) {
        snprintf(out, n, "input_blocks.%d.0.op.%s", (R + 1) * (i + 1), k + pos);
        return out;
    }
    pos = 0;
    if (sscanf(k, "up_blocks.%d.resnets.%d.%n", &i, &j, &pos) == 2 && pos && small_idx(i) && small_idx(j)) {
        snprintf(out, n, "output_blocks.%d.0.%s", (R + 1) * i + j, unet_resnet_inner(k + pos, inner, sizeof inner));
        return out;
    }
    pos = 0;
    if (sscanf(k, "up_blocks.%d.attentions.%d.%n", &i, &j, &pos) == 2 && pos && small_idx(i) && small_idx(j)) {
        snprintf(out, n, "output_blocks.%d.1.%s", (R + 1) * i + j, k + pos);
        return out;
    }
    pos = 0;
    if (sscanf(k, "up_blocks.%d.upsamplers.0.%n", &i, &pos) == 1 && pos && small_idx(i)) {
        snprintf(out, n, "output_blocks.%d.%d.%s", (R + 1) * i + R, L->up_attn[i] ? 2 : 1, k + pos);
        return out;
    }
    if (starts(k, "mid_block.attentions.0.")) {
        snprintf(out, n, "middle_block.1.%s", k + strlen("mid_block.attentions.0."));
        return out;
    }
    pos = 0;
    if (sscanf(k, "mid_block.resnets.%d.%n", &j, &pos) == 1 && pos && (j == 0 || j == 1)) {
        snprintf(out, n, "middle_block.%d.%s", 2 * j, unet_resnet_inner(k + pos, inner, sizeof inner));
        return out;
    }
    return NULL;
}

/* diffusers AutoencoderKL key -> original key (without first_stage_model.); *to_conv is set when
 * a Linear attention weight must become a 1x1 conv. */
static const char *vae_from_diffusers(const char *k, int levels, char *out, size_t n, bool *to_conv)
{
    char inner[400], side[16];
    int i, j, pos = 0;
    *to_conv = false;
    const char *rest = k;
    if (starts(k, "encoder."))
        snprintf(side, sizeof side, "encoder."), rest = k + 8;
    else if (starts(k, "decoder."))
        snprintf(side, sizeof side, "decoder."), rest = k + 8;
    else
        return k; /* quant_conv, post_quant_conv */
    if (sscanf(rest, "down_blocks.%d.resnets.%d.%n", &i, &j, &pos) == 2 && pos && small_idx(i) && small_idx(j)) {
        const char *r = rest + pos;
        swap_prefix(&r, "conv_shortcut.", "nin_shortcut.", inner, sizeof inner);
        snprintf(out, n, "%sdown.%d.block.%d.%s", side, i, j, r);
        return out;
    }
    pos = 0;
    if (sscanf(rest, "down_blocks.%d.downsamplers.0.%n", &i, &pos) == 1 && pos && small_idx(i)) {
        snprintf(out, n, "%sdown.%d.downsample.%s", side, i, rest + pos);
        return out;
    }
    pos = 0;
    if (sscanf(rest, "up_blocks.%d.resnets.%d.%n", &i, &j, &pos) == 2 && pos && i < levels && small_idx(i) &&
        small_idx(j)) {
        const char *r = rest + pos;
        swap_prefix(&r, "conv_shortcut.", "nin_shortcut.", inner, sizeof inner);
        snprintf(out, n, "%sup.%d.block.%d.%s", side, levels - 1 - i, j, r);
        return out;
    }
    pos = 0;
    if (sscanf(rest, "up_blocks.%d.upsamplers.0.%n", &i, &pos) == 1 && pos && i < levels && small_idx(i)) {
        snprintf(out, n, "%sup.%d.upsample.%s", side, levels - 1 - i, rest + pos);
        return out;
    }
    pos = 0;
    if (sscanf(rest, "mid_block.resnets.%d.%n", &j, &pos) == 1 && pos && (j == 0 || j == 1)) {
        snprintf(out, n, "%smid.block_%d.%s", side, j + 1, rest + pos);
        return out;
    }
    if (starts(rest, "mid_block.attentions.0.")) {
        static const char *map[][2] = {{"group_norm.", "norm."}, {"query.", "q."},  {"key.", "k."},
                                       {"value.", "v."},         {"to_q.", "q."},   {"to_k.", "k."},
                                       {"to_v.", "v."},          {"proj_attn.", "proj_out."},
                                       {"to_out.0.", "proj_out."}};
        const char *r = rest + strlen("mid_block.attentions.0.");
        for (size_t m = 0; m < sizeof map / sizeof map[0]; m++)
            if (swap_prefix(&r, map[m][0], map[m][1], inner, sizeof inner)) {
                *to_conv = m > 0;
                break;
            }
        snprintf(out, n, "%smid.attn_1.%s", side, r);
        return out;
    }
    if (starts(rest, "conv_norm_out.")) {
        snprintf(out, n, "%snorm_out.%s", side, rest + strlen("conv_norm_out."));
        return out;
    }
    return k;
}

/* ---- sources ---- */

static vkt_status open_src(vkt_model_file *mf, const char *path, const vkt_model_opts *o, vkt_state_dict **out,
                           vkt_err *err)
{
    if (mf->n_src == MAX_SRC) return vkt_fail(err, VKT_ERR_INTERNAL, "too many model sources");
    vkt_status s = vkt_state_dict_open(path, o->skip_crc ? VKT_STATE_DICT_SKIP_CRC : 0, &mf->src[mf->n_src], err);
    if (s) return s;
    *out = mf->src[mf->n_src++];
    return VKT_OK;
}

static bool is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* First existing <dir>/<sub>/<name> among the candidates. */
static bool find_part(const char *dir, const char *sub, const char *const *names, char *out, size_t n)
{
    for (int i = 0; names[i]; i++) {
        snprintf(out, n, "%s/%s/%s", dir, sub, names[i]);
        if (is_file(out)) return true;
    }
    return false;
}

/* An int field of <dir>/<sub>/config.json, 0 when absent. */
static int config_int(const char *dir, const char *sub, const char *field)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/config.json", dir, sub);
    uint8_t *buf = NULL;
    size_t n = 0;
    int v = 0;
    if (vkt_read_file(path, 1 << 20, &buf, &n, NULL) != VKT_OK) return 0;
    cJSON *j = cJSON_ParseWithLength((const char *)buf, n);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, field);
    if (cJSON_IsNumber(f) && f->valuedouble >= 1 && f->valuedouble <= 1024 && f->valuedouble == (int)f->valuedouble)
        v = (int)f->valuedouble;
    cJSON_Delete(j);
    free(buf);
    return v;
}

static vkt_status add_diffusers_vae(vkt_model_file *mf, const vkt_state_dict *sd, const char *label, vkt_err *err)
{
    int levels = 0, idx, pos;
    for (size_t i = 0; i < vkt_state_dict_count(sd); i++) {
        pos = 0;
        if (sscanf(vkt_state_dict_name(sd, i), "encoder.down_blocks.%d.%n", &idx, &pos) == 1 && pos && small_idx(idx) &&
            idx + 1 > levels)
            levels = idx + 1;
    }
    for (size_t i = 0; i < vkt_state_dict_count(sd); i++) {
        char buf[512], full[600];
        bool to_conv;
        const char *k = vae_from_diffusers(vkt_state_dict_name(sd, i), levels, buf, sizeof buf, &to_conv);
        vkt_tensor_data t = *vkt_state_dict_at(sd, i);
        if (to_conv && t.ndim == 2) { /* Linear [C, C] -> conv [C, C, 1, 1]: same bytes */
            t.ndim = 4;
            t.shape[2] = t.shape[3] = 1;
            t.strides[2] = t.strides[3] = 1;
        }
        snprintf(full, sizeof full, VAE_P "%s", k);
        vkt_status s = add(mf, full, &t, err);
        if (s) return s;
    }
    (void)label;
    return VKT_OK;
}

static vkt_status open_diffusers(vkt_model_file *mf, const char *dir, const vkt_model_opts *o, vkt_err *err)
{
    static const char *const unet_names[] = {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors",
                                             "diffusion_pytorch_model.bin", "diffusion_pytorch_model.fp16.bin", NULL};
    static const char *const te_names[] = {"model.safetensors", "model.fp16.safetensors", "pytorch_model.bin",
                                           "pytorch_model.fp16.bin", NULL};
    char path[1200];
    vkt_state_dict *sd;
    vkt_status s;
    mf->format = "diffusers";
    if (!find_part(dir, "unet", unet_names, path, sizeof path))
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: a folder without unet/diffusion_pytorch_model.{safetensors,bin}", dir);
    if ((s = open_src(mf, path, o, &sd, err))) return s;
    unet_layout L = {0};
    int idx, j, pos;
    for (size_t i = 0; i < vkt_state_dict_count(sd); i++) {
        const char *k = vkt_state_dict_name(sd, i);
        pos = 0;
        if (sscanf(k, "down_blocks.0.resnets.%d.%n", &j, &pos) == 1 && pos && small_idx(j) && j + 1 > L.res_blocks)
            L.res_blocks = j + 1;
        pos = 0;
        if (sscanf(k, "up_blocks.%d.attentions.%n", &idx, &pos) == 1 && pos && idx >= 0 &&
            idx < (int)(sizeof L.up_attn / sizeof L.up_attn[0]))
            L.up_attn[idx] = true;
    }
    for (size_t i = 0; i < vkt_state_dict_count(sd); i++) {
        char buf[512], full[600];
        const char *k = unet_from_diffusers(vkt_state_dict_name(sd, i), &L, buf, sizeof buf);
        if (!k)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: diffusers UNet key \"%s\" not understood (not SD 1.x?)", path,
                            vkt_state_dict_name(sd, i));
        vkt_tensor_data t = *vkt_state_dict_at(sd, i);
        snprintf(full, sizeof full, UNET_P "%s", k);
        if ((s = add(mf, full, &t, err))) return s;
    }
    if (find_part(dir, "text_encoder", te_names, path, sizeof path)) {
        if ((s = open_src(mf, path, o, &sd, err))) return s;
        for (size_t i = 0; i < vkt_state_dict_count(sd); i++) {
            char full[600];
            snprintf(full, sizeof full, "cond_stage_model.transformer.%s", vkt_state_dict_name(sd, i));
            if ((s = add(mf, full, vkt_state_dict_at(sd, i), err))) return s;
        }
        mf->cfg_clip_heads = config_int(dir, "text_encoder", "num_attention_heads");
    }
    /* diffusers' attention_head_dim is, for SD1, the number of heads (a known misnomer) */
    mf->cfg_unet_heads = config_int(dir, "unet", "attention_head_dim");
    if (!o->vae_path && find_part(dir, "vae", unet_names, path, sizeof path)) {
        if ((s = open_src(mf, path, o, &sd, err))) return s;
        if ((s = add_diffusers_vae(mf, sd, path, err))) return s;
    }
    return VKT_OK;
}

static vkt_status open_single(vkt_model_file *mf, const char *path, const vkt_model_opts *o, vkt_err *err)
{
    vkt_state_dict *sd;
    vkt_status s = open_src(mf, path, o, &sd, err);
    if (s) return s;
    mf->format = vkt_file_format_name(vkt_state_dict_format(sd));
    for (size_t i = 0; i < vkt_state_dict_count(sd); i++) {
        const char *k = vkt_state_dict_name(sd, i);
        if (starts(k, "model_ema.")) {
            mf->stats.n_ema_ignored++;
            continue;
        }
        char buf[512];
        if ((s = add(mf, fix_clip_name(k, buf, sizeof buf), vkt_state_dict_at(sd, i), err))) return s;
    }
    return VKT_OK;
}

/* --ema: replace every UNet weight by model_ema.<name relative to model., dots removed>. */
static vkt_status use_ema(vkt_model_file *mf, vkt_err *err)
{
    const vkt_state_dict *sd = mf->src[0];
    size_t used = 0;
    for (size_t i = 0; i < mf->n; i++) {
        if (!starts(mf->ents[i].name, UNET_P)) continue;
        char k[600] = "model_ema.";
        size_t n = strlen(k);
        for (const char *p = mf->ents[i].name + strlen("model."); *p && n + 1 < sizeof k; p++)
            if (*p != '.') k[n++] = *p;
        k[n] = 0;
        const vkt_tensor_data *t = vkt_state_dict_find(sd, k);
        if (!t) continue;
        mf->ents[i].t = *t;
        used++;
    }
    if (!used) return vkt_fail(err, VKT_ERR_FORMAT, "%s: no model_ema.* weights for the UNet (--ema)", mf->label);
    mf->stats.n_ema_ignored -= used;
    return VKT_OK;
}

static vkt_status override_vae(vkt_model_file *mf, const char *path, const vkt_model_opts *o, vkt_err *err)
{
    vkt_state_dict *sd;
    vkt_status s = open_src(mf, path, o, &sd, err);
    if (s) return s;
    /* drop the checkpoint's own VAE */
    size_t w = 0;
    for (size_t i = 0; i < mf->n; i++)
        if (!starts(mf->ents[i].name, VAE_P)) mf->ents[w++] = mf->ents[i];
    mf->n = w;
    bool prefixed = false, diffusers = false;
    for (size_t i = 0; i < vkt_state_dict_count(sd); i++) {
        const char *k = vkt_state_dict_name(sd, i);
        if (starts(k, VAE_P)) prefixed = true;
        if (starts(k, "encoder.down_blocks.") || starts(k, "decoder.up_blocks.")) diffusers = true;
    }
    if (diffusers && !prefixed) return add_diffusers_vae(mf, sd, path, err);
    size_t added = 0;
    for (size_t i = 0; i < vkt_state_dict_count(sd); i++) {
        const char *k = vkt_state_dict_name(sd, i);
        char full[600];
        if (prefixed) { /* a whole checkpoint: take its VAE part only */
            if (!starts(k, VAE_P)) continue;
            snprintf(full, sizeof full, "%s", k);
        } else {
            if (starts(k, "loss.") || starts(k, "model_ema.")) continue; /* webui sd_vae.py drops these */
            snprintf(full, sizeof full, VAE_P "%s", k);
        }
        if ((s = add(mf, full, vkt_state_dict_at(sd, i), err))) return s;
        added++;
    }
    if (!added) return vkt_fail(err, VKT_ERR_FORMAT, "%s: no VAE tensors in this file", path);
    return VKT_OK;
}

/* ---- detection and dims ---- */

static vkt_status bad_shape(const vkt_model_file *mf, const char *key, const vkt_tensor_data *t, const char *want,
                            vkt_err *err)
{
    char sh[96];
    if (!t) return vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\" is missing", mf->label, key);
    return vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\": shape %s, expected %s", mf->label, key,
                    vkt_tensor_data_shape_str(t, sh, sizeof sh), want);
}

static bool pos_int(const vkt_tensor_data *t, int d, int *out)
{
    if (!t || d >= t->ndim || t->shape[d] <= 0 || t->shape[d] > (1 << 24)) return false;
    *out = (int)t->shape[d];
    return true;
}

static int heads_meta(const vkt_model_file *mf, const char *key, bool *found)
{
    *found = false;
    for (int i = 0; i < mf->n_src; i++) {
        const char *v = vkt_state_dict_meta(mf->src[i], key);
        if (!v) continue;
        char *end;
        long h = strtol(v, &end, 10);
        *found = true;
        return (*end || h < 1 || h > 1024) ? -1 : (int)h;
    }
    return 0;
}

static vkt_status infer_clip(vkt_model_file *mf, vkt_err *err)
{
    vkt_sd_config *c = &mf->cfg;
    const char *k = CLIP_P "embeddings.token_embedding.weight";
    const vkt_tensor_data *t = T(mf, "%s", k);
    if (!t || t->ndim != 2 || !pos_int(t, 0, &c->clip_vocab) || !pos_int(t, 1, &c->clip_width))
        return bad_shape(mf, k, t, "[vocab, width]", err);
    k = CLIP_P "embeddings.position_embedding.weight";
    t = T(mf, "%s", k);
    if (!t || t->ndim != 2 || !pos_int(t, 0, &c->clip_positions) || t->shape[1] != c->clip_width)
        return bad_shape(mf, k, t, "[positions, width]", err);
    while (c->clip_layers < 1000 && T(mf, CLIP_P "encoder.layers.%d.self_attn.q_proj.weight", c->clip_layers))
        c->clip_layers++;
    if (!c->clip_layers) return bad_shape(mf, CLIP_P "encoder.layers.0.self_attn.q_proj.weight", NULL, "", err);
    k = CLIP_P "encoder.layers.0.mlp.fc1.weight";
    t = T(mf, "%s", k);
    if (!t || t->ndim != 2 || !pos_int(t, 0, &c->clip_mlp) || t->shape[1] != c->clip_width)
        return bad_shape(mf, k, t, "[mlp, width]", err);
    bool found;
    int h = heads_meta(mf, "vktrain.clip_heads", &found);
    c->clip_heads_from = "metadata";
    if (!found && mf->cfg_clip_heads) h = mf->cfg_clip_heads, c->clip_heads_from = "config.json";
    if (!found && !mf->cfg_clip_heads) h = c->clip_width / 64, c->clip_heads_from = "default";
    if (h <= 0 || c->clip_width % h)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: %d CLIP heads (%s) do not divide width %d", mf->label, h,
                        c->clip_heads_from, c->clip_width);
    c->clip_heads = h;
    return VKT_OK;
}

static vkt_status infer_unet(vkt_model_file *mf, vkt_err *err)
{
    vkt_sd_config *c = &mf->cfg;
    const char *k = UNET_P "input_blocks.0.0.weight";
    const vkt_tensor_data *t = T(mf, "%s", k);
    if (!t || t->ndim != 4 || !pos_int(t, 0, &c->unet_mc) || !pos_int(t, 1, &c->unet_in_ch))
        return bad_shape(mf, k, t, "[model_channels, in_channels, 3, 3]", err);
    k = UNET_P "out.2.weight";
    t = T(mf, "%s", k);
    if (!t || t->ndim != 4 || !pos_int(t, 0, &c->unet_out_ch) || t->shape[1] != c->unet_mc)
        return bad_shape(mf, k, t, "[out_channels, model_channels, 3, 3]", err);
    k = UNET_P "time_embed.0.weight";
    t = T(mf, "%s", k);
    if (!t || t->ndim != 2 || !pos_int(t, 0, &c->unet_temb) || t->shape[1] != c->unet_mc)
        return bad_shape(mf, k, t, "[time_embed, model_channels]", err);
    /* walk input_blocks: a Downsample ends a level */
    int level = 0, res[VKT_SD_MAX_LEVELS] = {0}, cur = c->unet_mc;
    for (int i = 1; i < 1000; i++) {
        if (T(mf, UNET_P "input_blocks.%d.0.op.weight", i)) {
            if (!res[level]) return vkt_fail(err, VKT_ERR_FORMAT, "%s: UNet level %d has no res blocks", mf->label, level);
            if (++level >= VKT_SD_MAX_LEVELS)
                return vkt_fail(err, VKT_ERR_FORMAT, "%s: more than %d UNet levels", mf->label, VKT_SD_MAX_LEVELS);
            continue;
        }
        char key[200];
        snprintf(key, sizeof key, UNET_P "input_blocks.%d.0.in_layers.2.weight", i);
        t = T(mf, "%s", key);
        if (!t) break;
        int cout;
        if (t->ndim != 4 || !pos_int(t, 0, &cout) || t->shape[1] != cur || cout % c->unet_mc)
            return bad_shape(mf, key, t, "[mult * model_channels, previous channels, 3, 3]", err);
        if (res[level] && cout != c->unet_mc * c->unet_mult[level])
            return bad_shape(mf, key, t, "the same width as the level's first res block", err);
        c->unet_mult[level] = cout / c->unet_mc;
        bool attn = T(mf, UNET_P "input_blocks.%d.1.proj_in.weight", i) != NULL;
        if (res[level] && attn != c->unet_attn[level])
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: UNet level %d mixes blocks with and without attention", mf->label,
                            level);
        c->unet_attn[level] = attn;
        res[level]++;
        cur = cout;
    }
    c->unet_levels = level + 1;
    c->unet_res_blocks = res[0];
    for (int l = 0; l < c->unet_levels; l++)
        if (res[l] != res[0])
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: UNet levels have %d and %d res blocks", mf->label, res[0], res[l]);
    if (!res[0]) return bad_shape(mf, UNET_P "input_blocks.1.0.in_layers.2.weight", NULL, "", err);
    /* transformer depth, context, projection kind: from the first attention block */
    const char *st = NULL;
    char stp[128];
    if (T(mf, UNET_P "middle_block.1.proj_in.weight")) {
        st = UNET_P "middle_block.1.";
    } else {
        for (int i = 1; i < 1000 && !st; i++)
            if (T(mf, UNET_P "input_blocks.%d.1.proj_in.weight", i)) {
                snprintf(stp, sizeof stp, UNET_P "input_blocks.%d.1.", i);
                st = stp;
            }
    }
    if (st) {
        while (c->unet_depth < 100 && T(mf, "%stransformer_blocks.%d.attn1.to_q.weight", st, c->unet_depth)) c->unet_depth++;
        char key[200];
        snprintf(key, sizeof key, "%stransformer_blocks.0.attn2.to_k.weight", st);
        t = T(mf, "%s", key);
        if (!t || t->ndim != 2 || !pos_int(t, 1, &c->unet_context)) return bad_shape(mf, key, t, "[width, context]", err);
        t = T(mf, "%sproj_in.weight", st);
        c->unet_linear_proj = t && t->ndim == 2;
    }
    bool found;
    int h = heads_meta(mf, "vktrain.unet_heads", &found);
    c->unet_heads_from = "metadata";
    if (!found && mf->cfg_unet_heads) h = mf->cfg_unet_heads, c->unet_heads_from = "config.json";
    if (!found && !mf->cfg_unet_heads) h = 8, c->unet_heads_from = "default";
    if (h <= 0) return vkt_fail(err, VKT_ERR_FORMAT, "%s: bad vktrain.unet_heads metadata", mf->label);
    for (int l = 0; l < c->unet_levels; l++)
        if (c->unet_attn[l] && (c->unet_mc * c->unet_mult[l]) % h)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: %d UNet heads (%s) do not divide width %d", mf->label, h,
                            c->unet_heads_from, c->unet_mc * c->unet_mult[l]);
    c->unet_heads = h;
    return VKT_OK;
}

static vkt_status infer_vae(vkt_model_file *mf, vkt_err *err)
{
    vkt_sd_config *c = &mf->cfg;
    const char *k = VAE_P "encoder.conv_in.weight";
    const vkt_tensor_data *t = T(mf, "%s", k);
    if (!t || t->ndim != 4 || !pos_int(t, 0, &c->vae_ch) || t->shape[1] != 3)
        return bad_shape(mf, k, t, "[ch, 3, 3, 3]", err);
    while (c->vae_levels < VKT_SD_MAX_LEVELS) {
        char key[200];
        snprintf(key, sizeof key, VAE_P "encoder.down.%d.block.0.conv1.weight", c->vae_levels);
        t = T(mf, "%s", key);
        if (!t) break;
        int out;
        if (t->ndim != 4 || !pos_int(t, 0, &out) || out % c->vae_ch)
            return bad_shape(mf, key, t, "[mult * ch, in, 3, 3]", err);
        c->vae_mult[c->vae_levels++] = out / c->vae_ch;
    }
    if (!c->vae_levels) return bad_shape(mf, VAE_P "encoder.down.0.block.0.conv1.weight", NULL, "", err);
    while (c->vae_res_blocks < 100 && T(mf, VAE_P "encoder.down.0.block.%d.conv1.weight", c->vae_res_blocks))
        c->vae_res_blocks++;
    k = VAE_P "decoder.conv_in.weight";
    t = T(mf, "%s", k);
    if (!t || t->ndim != 4 || !pos_int(t, 1, &c->vae_z)) return bad_shape(mf, k, t, "[width, z, 3, 3]", err);
    k = VAE_P "post_quant_conv.weight";
    t = T(mf, "%s", k);
    if (!t || t->ndim != 4 || t->shape[0] != c->vae_z || !pos_int(t, 1, &c->vae_embed))
        return bad_shape(mf, k, t, "[z, embed, 1, 1]", err);
    return VKT_OK;
}

static void count(vkt_model_file *mf)
{
    vkt_model_stats *s = &mf->stats;
    for (size_t i = 0; i < mf->n; i++) {
        const mentry *e = &mf->ents[i];
        int64_t n = (int64_t)vkt_tensor_data_numel(&e->t);
        s->n_by_dtype[e->t.dtype]++;
        size_t kl = strlen(e->name);
        if (starts(e->name, "cond_stage_model.") || starts(e->name, "conditioner.")) {
            if (kl >= 12 && strcmp(e->name + kl - 12, "position_ids") == 0)
                s->clip_buffers += n;
            else
                s->clip_params += n;
            s->n_clip++;
        } else if (starts(e->name, UNET_P)) {
            s->unet_params += n, s->n_unet++;
        } else if (starts(e->name, VAE_P)) {
            s->vae_params += n, s->n_vae++;
        } else {
            s->other_params += n, s->n_other++;
        }
    }
}

static vkt_status detect(vkt_model_file *mf, vkt_err *err)
{
    vkt_sd_config *c = &mf->cfg;
    c->has_unet = any_prefix(mf, UNET_P "input_blocks.");
    c->has_vae = any_prefix(mf, VAE_P "encoder.") || any_prefix(mf, VAE_P "decoder.");
    if (any_prefix(mf, "conditioner.embedders.")) {
        c->family = any_prefix(mf, "conditioner.embedders.1.") ? VKT_FAMILY_SDXL : VKT_FAMILY_SDXL_REFINER;
        c->has_clip = true;
    } else if (any_prefix(mf, "cond_stage_model.model.")) {
        c->family = VKT_FAMILY_SD2;
        c->has_clip = true;
    } else if (any_prefix(mf, "cond_stage_model.transformer.")) {
        c->family = VKT_FAMILY_SD1;
        c->has_clip = true;
    } else if (c->has_unet) { /* no text encoder: judge by the UNet */
        const vkt_tensor_data *pi = T(mf, UNET_P "middle_block.1.proj_in.weight");
        c->family = any_prefix(mf, UNET_P "label_emb.") ? VKT_FAMILY_SDXL
                    : pi && pi->ndim == 2               ? VKT_FAMILY_SD2
                                                        : VKT_FAMILY_SD1;
    }
    if (!c->has_unet && c->family == VKT_FAMILY_UNKNOWN)
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "%s: no UNet (model.diffusion_model.*) tensors: not a Stable Diffusion checkpoint%s", mf->label,
                        c->has_vae || any_prefix(mf, "encoder.") ? " (a VAE file? pass it with --vae)" : "");
    vkt_status s;
    if (c->has_unet && (s = infer_unet(mf, err))) return s;
    if (c->family == VKT_FAMILY_SD1 && c->unet_in_ch == 9) c->family = VKT_FAMILY_SD1_INPAINT;
    else if (c->family == VKT_FAMILY_SD1 && c->has_unet && c->unet_in_ch != 4) c->family = VKT_FAMILY_SD1_OTHER_IN;
    if (c->family == VKT_FAMILY_SD1 || c->family == VKT_FAMILY_SD1_INPAINT || c->family == VKT_FAMILY_SD1_OTHER_IN) {
        if (c->has_clip && (s = infer_clip(mf, err))) return s;
    }
    if (c->has_vae && (s = infer_vae(mf, err))) return s;
    return VKT_OK;
}

vkt_status vkt_model_file_supported(const vkt_model_file *mf, vkt_err *err)
{
    const vkt_sd_config *c = &mf->cfg;
    if (c->family != VKT_FAMILY_SD1)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: %s model: not supported (vktrain trains SD 1.x only)", mf->label,
                        vkt_model_family_name(c->family));
    if (!c->has_clip || !c->has_unet || !c->has_vae)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: the %s is missing from this checkpoint%s", mf->label,
                        !c->has_clip ? "text encoder" : !c->has_unet ? "UNet" : "VAE",
                        !c->has_vae && c->has_clip && c->has_unet ? " (pass one with --vae)" : "");
    if (c->unet_linear_proj)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: UNet with linear proj_in: not an SD 1.x layout", mf->label);
    return VKT_OK;
}

vkt_status vkt_model_file_open(const char *path, const vkt_model_opts *opts, vkt_model_file **out, vkt_err *err)
{
    vkt_model_opts none = {0};
    const vkt_model_opts *o = opts ? opts : &none;
    vkt_model_file *mf = vkt_calloc(1, sizeof *mf);
    if (!mf) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    vkt_arena_init(&mf->arena, 1 << 16);
    snprintf(mf->label, sizeof mf->label, "%s", path);
    vkt_status s;
    if (is_dir(path)) {
        s = open_diffusers(mf, path, o, err);
        if (!s && o->ema) s = vkt_fail(err, VKT_ERR_USAGE, "%s: --ema needs a single checkpoint file", path);
    } else {
        s = open_single(mf, path, o, err);
    }
    if (!s) qsort(mf->ents, mf->n, sizeof *mf->ents, cmp_ent);
    if (!s && o->ema) s = use_ema(mf, err);
    if (!s && o->vae_path) {
        s = override_vae(mf, o->vae_path, o, err);
        if (!s) qsort(mf->ents, mf->n, sizeof *mf->ents, cmp_ent);
    }
    for (size_t i = 1; !s && i < mf->n; i++)
        if (strcmp(mf->ents[i - 1].name, mf->ents[i].name) == 0)
            s = vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\" appears twice (old and new key names?)", path,
                         mf->ents[i].name);
    if (!s) s = detect(mf, err);
    if (!s) count(mf);
    if (!s && !o->any_family) s = vkt_model_file_supported(mf, err);
    if (s) {
        vkt_model_file_close(mf);
        return s;
    }
    *out = mf;
    return VKT_OK;
}

void vkt_model_file_close(vkt_model_file *mf)
{
    if (!mf) return;
    for (int i = 0; i < mf->n_src; i++) vkt_state_dict_close(mf->src[i]);
    vkt_arena_fini(&mf->arena);
    free(mf->ents);
    free(mf);
}

const vkt_sd_config *vkt_model_file_config(const vkt_model_file *mf) { return &mf->cfg; }

int vkt_sd_config_pixel_multiple(const vkt_sd_config *c)
{
    if (c->vae_levels < 1 || c->unet_levels < 1) return 8;
    return (1 << (c->vae_levels - 1)) << (c->unet_levels - 1);
}
const vkt_model_stats *vkt_model_file_stats(const vkt_model_file *mf) { return &mf->stats; }
const char *vkt_model_file_format(const vkt_model_file *mf) { return mf->format; }
size_t vkt_model_file_count(const vkt_model_file *mf) { return mf->n; }
const char *vkt_model_file_name(const vkt_model_file *mf, size_t i) { return i < mf->n ? mf->ents[i].name : NULL; }
const vkt_tensor_data *vkt_model_file_tensor(const vkt_model_file *mf, size_t i) { return i < mf->n ? &mf->ents[i].t : NULL; }

const vkt_tensor_data *vkt_model_file_find(const vkt_model_file *mf, const char *key)
{
    mentry *e = lookup(mf, key);
    return e ? &e->t : NULL;
}

vkt_status vkt_model_file_get(const vkt_model_file *mf, const char *key, int ndim, const int64_t *shape,
                              const vkt_tensor_data **out, vkt_err *err)
{
    const vkt_tensor_data *t = vkt_model_file_find(mf, key);
    bool ok = t && t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok) {
        vkt_tensor_data want = {.ndim = ndim};
        for (int i = 0; i < ndim && i < VKT_IO_MAX_DIMS; i++) want.shape[i] = shape[i];
        char ws[96];
        return bad_shape(mf, key, t, vkt_tensor_data_shape_str(&want, ws, sizeof ws), err);
    }
    *out = t;
    return VKT_OK;
}
