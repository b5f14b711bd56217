/* `vktrain info FILE [--json]`: what a model, embedding, hypernetwork or optimizer-state file
 * is, read with the safe readers of src/io (nothing in the file is ever executed). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "io/hash.h"
#include "io/model_file.h"
#include "io/safetensors.h"
#include "io/torch_file.h"
#include "io/zip.h"

static const char *HELP =
    "usage: vktrain info FILE [--json] [--vae FILE] [--ema] [--no-hash]\n\n"
    "Describes a Stable Diffusion model (.safetensors, .ckpt or a diffusers folder: family, dims,\n"
    "heads, parameters per part, dtypes, hashes), a textual-inversion embedding (.pt, .bin,\n"
    ".safetensors), a hypernetwork (.pt) or an optimizer state (.pt.optim). Files are read with\n"
    "vktrain's restricted readers; a damaged or hostile file is reported and exits 1.\n\n"
    "options:\n"
    "  --json      one JSON document on stdout\n"
    "  --vae FILE  describe the model with this VAE instead of its own\n"
    "  --ema       use the checkpoint's model_ema.* weights as the UNet\n"
    "  --no-hash   skip the sha256 of the whole file (cached in $XDG_CACHE_HOME/vktrain/)\n\n"
    "example:\n  vktrain info v1-5-pruned-emaonly.safetensors\n";

/* "123,456,789" */
static const char *commas(long long v, char *buf, size_t n)
{
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%lld", v < 0 ? -v : v), k = 0;
    if (v < 0 && k < (int)n - 1) buf[k++] = '-';
    for (int i = 0; i < len && k < (int)n - 1; i++) {
        if (i && (len - i) % 3 == 0 && k < (int)n - 1) buf[k++] = ',';
        buf[k++] = tmp[i];
    }
    buf[k] = 0;
    return buf;
}

static const char *stem_of(const char *path, char *buf, size_t n)
{
    const char *b = strrchr(path, '/');
    snprintf(buf, n, "%s", b ? b + 1 : path);
    char *dot = strrchr(buf, '.'); /* webui: os.path.splitext of the name; "x.pt.optim" -> "x.pt" */
    if (dot && dot != buf) *dot = 0;
    return buf;
}

static cJSON *int_array(const int *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

/* ---- models ---- */

static cJSON *model_json(const vkt_model_file *mf)
{
    const vkt_sd_config *c = vkt_model_file_config(mf);
    const vkt_model_stats *s = vkt_model_file_stats(mf);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "model");
    cJSON_AddStringToObject(o, "format", vkt_model_file_format(mf));
    cJSON_AddStringToObject(o, "family", vkt_model_family_name(c->family));
    vkt_err why = {0};
    bool ok = vkt_model_file_supported(mf, &why) == VKT_OK;
    cJSON_AddBoolToObject(o, "supported", ok);
    if (!ok) cJSON_AddStringToObject(o, "unsupported_reason", why.msg);
    cJSON *p = cJSON_AddObjectToObject(o, "params");
    cJSON_AddNumberToObject(p, "text_encoder", (double)s->clip_params);
    cJSON_AddNumberToObject(p, "text_encoder_buffers", (double)s->clip_buffers);
    cJSON_AddNumberToObject(p, "unet", (double)s->unet_params);
    cJSON_AddNumberToObject(p, "vae", (double)s->vae_params);
    cJSON_AddNumberToObject(p, "other", (double)s->other_params);
    cJSON *n = cJSON_AddObjectToObject(o, "tensors");
    cJSON_AddNumberToObject(n, "text_encoder", (double)s->n_clip);
    cJSON_AddNumberToObject(n, "unet", (double)s->n_unet);
    cJSON_AddNumberToObject(n, "vae", (double)s->n_vae);
    cJSON_AddNumberToObject(n, "other", (double)s->n_other);
    cJSON_AddNumberToObject(n, "ema_ignored", (double)s->n_ema_ignored);
    cJSON *d = cJSON_AddObjectToObject(o, "dtypes");
    for (int i = 0; i < VKT_IO_DTYPE_COUNT; i++)
        if (s->n_by_dtype[i]) cJSON_AddNumberToObject(d, vkt_io_dtype_name((vkt_io_dtype)i), (double)s->n_by_dtype[i]);
    if (c->has_clip && c->clip_width) {
        cJSON *t = cJSON_AddObjectToObject(o, "text_encoder");
        cJSON_AddNumberToObject(t, "width", c->clip_width);
        cJSON_AddNumberToObject(t, "layers", c->clip_layers);
        cJSON_AddNumberToObject(t, "heads", c->clip_heads);
        cJSON_AddStringToObject(t, "heads_from", c->clip_heads_from);
        cJSON_AddNumberToObject(t, "mlp", c->clip_mlp);
        cJSON_AddNumberToObject(t, "vocab", c->clip_vocab);
        cJSON_AddNumberToObject(t, "positions", c->clip_positions);
    } else {
        cJSON_AddNullToObject(o, "text_encoder");
    }
    if (c->has_unet) {
        cJSON *u = cJSON_AddObjectToObject(o, "unet");
        cJSON_AddNumberToObject(u, "model_channels", c->unet_mc);
        cJSON_AddItemToObject(u, "channel_mult", int_array(c->unet_mult, c->unet_levels));
        cJSON_AddNumberToObject(u, "num_res_blocks", c->unet_res_blocks);
        int lv[VKT_SD_MAX_LEVELS], nl = 0;
        for (int l = 0; l < c->unet_levels; l++)
            if (c->unet_attn[l]) lv[nl++] = l;
        cJSON_AddItemToObject(u, "attention_levels", int_array(lv, nl));
        cJSON_AddNumberToObject(u, "transformer_depth", c->unet_depth);
        cJSON_AddNumberToObject(u, "context_dim", c->unet_context);
        cJSON_AddNumberToObject(u, "heads", c->unet_heads);
        cJSON_AddStringToObject(u, "heads_from", c->unet_heads_from);
        cJSON_AddNumberToObject(u, "time_embed_dim", c->unet_temb);
        cJSON_AddNumberToObject(u, "in_channels", c->unet_in_ch);
        cJSON_AddNumberToObject(u, "out_channels", c->unet_out_ch);
        cJSON_AddBoolToObject(u, "linear_proj", c->unet_linear_proj);
    } else {
        cJSON_AddNullToObject(o, "unet");
    }
    if (c->has_vae) {
        cJSON *v = cJSON_AddObjectToObject(o, "vae");
        cJSON_AddNumberToObject(v, "ch", c->vae_ch);
        cJSON_AddItemToObject(v, "ch_mult", int_array(c->vae_mult, c->vae_levels));
        cJSON_AddNumberToObject(v, "num_res_blocks", c->vae_res_blocks);
        cJSON_AddNumberToObject(v, "z_channels", c->vae_z);
        cJSON_AddNumberToObject(v, "embed_dim", c->vae_embed);
    } else {
        cJSON_AddNullToObject(o, "vae");
    }
    return o;
}

static void print_list(const cJSON *a)
{
    for (const cJSON *x = a ? a->child : NULL; x; x = x->next) printf("%s%d", x == a->child ? "" : ",", x->valueint);
}

static void model_text(const cJSON *o)
{
    char b1[32], b2[32];
    const cJSON *p = cJSON_GetObjectItem(o, "params"), *n = cJSON_GetObjectItem(o, "tensors");
    printf("family        %s%s\n", cJSON_GetStringValue(cJSON_GetObjectItem(o, "family")),
           cJSON_IsTrue(cJSON_GetObjectItem(o, "supported")) ? "" : " (not supported for training)");
    if (!cJSON_IsTrue(cJSON_GetObjectItem(o, "supported")))
        printf("              %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(o, "unsupported_reason")));
    const cJSON *t = cJSON_GetObjectItem(o, "text_encoder");
    printf("text encoder  %s params", commas((long long)cJSON_GetObjectItem(p, "text_encoder")->valuedouble, b1, sizeof b1));
    if (cJSON_GetObjectItem(p, "text_encoder_buffers")->valuedouble > 0)
        printf(" + %s-entry position_ids", commas((long long)cJSON_GetObjectItem(p, "text_encoder_buffers")->valuedouble, b2, sizeof b2));
    printf(" (%d tensors)\n", cJSON_GetObjectItem(n, "text_encoder")->valueint);
    if (cJSON_IsObject(t))
        printf("              width %d, %d layers, %d heads (%s), mlp %d, vocab %d, %d positions\n",
               cJSON_GetObjectItem(t, "width")->valueint, cJSON_GetObjectItem(t, "layers")->valueint,
               cJSON_GetObjectItem(t, "heads")->valueint, cJSON_GetStringValue(cJSON_GetObjectItem(t, "heads_from")),
               cJSON_GetObjectItem(t, "mlp")->valueint, cJSON_GetObjectItem(t, "vocab")->valueint,
               cJSON_GetObjectItem(t, "positions")->valueint);
    const cJSON *u = cJSON_GetObjectItem(o, "unet");
    printf("unet          %s params (%d tensors)\n", commas((long long)cJSON_GetObjectItem(p, "unet")->valuedouble, b1, sizeof b1),
           cJSON_GetObjectItem(n, "unet")->valueint);
    if (cJSON_IsObject(u)) {
        printf("              model_channels %d, mult ", cJSON_GetObjectItem(u, "model_channels")->valueint);
        print_list(cJSON_GetObjectItem(u, "channel_mult"));
        printf(", %d res blocks, attention at levels ", cJSON_GetObjectItem(u, "num_res_blocks")->valueint);
        print_list(cJSON_GetObjectItem(u, "attention_levels"));
        printf("\n              depth %d, context %d, %d heads (%s), time embed %d, in %d, out %d%s\n",
               cJSON_GetObjectItem(u, "transformer_depth")->valueint, cJSON_GetObjectItem(u, "context_dim")->valueint,
               cJSON_GetObjectItem(u, "heads")->valueint, cJSON_GetStringValue(cJSON_GetObjectItem(u, "heads_from")),
               cJSON_GetObjectItem(u, "time_embed_dim")->valueint, cJSON_GetObjectItem(u, "in_channels")->valueint,
               cJSON_GetObjectItem(u, "out_channels")->valueint,
               cJSON_IsTrue(cJSON_GetObjectItem(u, "linear_proj")) ? ", linear proj_in" : "");
    }
    const cJSON *v = cJSON_GetObjectItem(o, "vae");
    printf("vae           %s params (%d tensors)\n", commas((long long)cJSON_GetObjectItem(p, "vae")->valuedouble, b1, sizeof b1),
           cJSON_GetObjectItem(n, "vae")->valueint);
    if (cJSON_IsObject(v)) {
        printf("              ch %d, mult ", cJSON_GetObjectItem(v, "ch")->valueint);
        print_list(cJSON_GetObjectItem(v, "ch_mult"));
        printf(", %d res blocks, z %d\n", cJSON_GetObjectItem(v, "num_res_blocks")->valueint,
               cJSON_GetObjectItem(v, "z_channels")->valueint);
    }
    if (cJSON_GetObjectItem(n, "other")->valueint)
        printf("other         %d tensors, %s values (schedule buffers, ...)\n", cJSON_GetObjectItem(n, "other")->valueint,
               commas((long long)cJSON_GetObjectItem(p, "other")->valuedouble, b1, sizeof b1));
    if (cJSON_GetObjectItem(n, "ema_ignored")->valueint)
        printf("ema           %d model_ema tensors ignored (--ema uses them)\n", cJSON_GetObjectItem(n, "ema_ignored")->valueint);
    printf("dtypes       ");
    for (const cJSON *d = cJSON_GetObjectItem(o, "dtypes")->child; d; d = d->next) printf(" %s %d", d->string, d->valueint);
    printf("\n");
}

/* ---- embeddings, hypernetworks, optimizer states (pickled dicts) ---- */

static const char *str_or(const vkt_py *o, const char *dflt) { return vkt_py_str(o) ? vkt_py_str(o) : dflt; }

static void add_opt_int(cJSON *o, const char *k, const vkt_py *v)
{
    int64_t i;
    if (vkt_py_int(v, &i) && v->kind == VKT_PY_INT)
        cJSON_AddNumberToObject(o, k, (double)i);
    else
        cJSON_AddNullToObject(o, k);
}

/* A tensor of embedding vectors: [N, W] or [W]. */
static bool vec_shape(const vkt_tensor_data *t, int64_t *n, int64_t *w)
{
    if (!t || t->ndim < 1 || t->ndim > 2) return false;
    *w = t->shape[t->ndim - 1];
    *n = t->ndim == 2 ? t->shape[0] : 1;
    return true;
}

static cJSON *embedding_json(const char *layout, const char *name, const char *trigger, const vkt_tensor_data *t)
{
    cJSON *o = cJSON_CreateObject();
    int64_t n = 0, w = 0;
    vec_shape(t, &n, &w);
    cJSON_AddStringToObject(o, "kind", "embedding");
    cJSON_AddStringToObject(o, "layout", layout);
    add_str_or_null(o, "name", name);
    cJSON_AddStringToObject(o, "trigger", trigger);
    cJSON_AddNumberToObject(o, "vectors", (double)n);
    cJSON_AddNumberToObject(o, "width", (double)w);
    cJSON_AddStringToObject(o, "dtype", vkt_io_dtype_name(t->dtype));
    const char *model = w == 768 ? "SD 1.x" : w == 1024 ? "SD 2.x" : w == 2048 ? "SDXL" : "unknown";
    cJSON_AddStringToObject(o, "for_model", model);
    return o;
}

/* The webui's embedding rules (file-formats.md 4.2) over a pickled or safetensors dict. */
static cJSON *classify_embedding_py(const vkt_py *r, const char *trigger)
{
    const vkt_py *s2p = vkt_py_get(r, "string_to_param");
    if (s2p) {
        if (s2p->kind == VKT_PY_OBJECT) s2p = vkt_py_get(vkt_py_object_state(s2p), "_parameters");
        const vkt_tensor_data *t = vkt_py_tensor(vkt_py_value(s2p, 0));
        if (vkt_py_len(s2p) != 1 || !t || !vec_shape(t, &(int64_t){0}, &(int64_t){0})) return NULL;
        cJSON *o = embedding_json("webui", vkt_py_str(vkt_py_get(r, "name")), trigger, t);
        cJSON_AddStringToObject(o, "placeholder", str_or(vkt_py_key(s2p, 0), "?"));
        add_opt_int(o, "step", vkt_py_get(r, "step"));
        add_str_or_null(o, "sd_checkpoint", vkt_py_str(vkt_py_get(r, "sd_checkpoint")));
        add_str_or_null(o, "sd_checkpoint_name", vkt_py_str(vkt_py_get(r, "sd_checkpoint_name")));
        return o;
    }
    const vkt_tensor_data *g = vkt_py_tensor(vkt_py_get(r, "clip_g")), *l = vkt_py_tensor(vkt_py_get(r, "clip_l"));
    if (g && l) {
        cJSON *o = embedding_json("sdxl", NULL, trigger, g);
        int64_t n = 0, wg = 0, wl = 0;
        vec_shape(g, &n, &wg);
        vec_shape(l, &n, &wl);
        cJSON_ReplaceItemInObject(o, "width", cJSON_CreateNumber((double)(wg + wl)));
        cJSON_ReplaceItemInObject(o, "for_model", cJSON_CreateString("SDXL"));
        return o;
    }
    if (vkt_py_len(r) == 1 && vkt_py_tensor(vkt_py_value(r, 0))) {
        const char *k = vkt_py_str(vkt_py_key(r, 0));
        cJSON *o = embedding_json(k && strcmp(k, "emb_params") == 0 ? "kohya" : "diffusers", NULL, trigger,
                                  vkt_py_tensor(vkt_py_value(r, 0)));
        add_str_or_null(o, "key", k);
        return o;
    }
    return NULL;
}

/* Linear layer shapes of one hypernetwork module state dict. */
static cJSON *hn_module(const vkt_py *sd, int64_t *params)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < vkt_py_len(sd); i++) {
        const char *k = vkt_py_str(vkt_py_key(sd, i));
        const vkt_tensor_data *t = vkt_py_tensor(vkt_py_value(sd, i));
        if (!k || !t) continue;
        *params += (int64_t)vkt_tensor_data_numel(t);
        size_t kl = strlen(k);
        if (kl > 7 && strcmp(k + kl - 7, ".weight") == 0) {
            cJSON *l = cJSON_CreateObject();
            char nm[128];
            snprintf(nm, sizeof nm, "%.*s", (int)(kl - 7), k);
            cJSON_AddStringToObject(l, "name", nm);
            cJSON_AddStringToObject(l, "type", t->ndim == 2 ? "Linear" : t->ndim == 1 ? "LayerNorm" : "?");
            cJSON *sh = cJSON_AddArrayToObject(l, "shape");
            for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
            cJSON_AddItemToArray(a, l);
        }
    }
    return a;
}

static cJSON *py_to_json(const vkt_py *v)
{
    double f;
    if (vkt_py_is_none(v) || !v) return cJSON_CreateNull();
    if (v->kind == VKT_PY_BOOL) return cJSON_CreateBool(v->b);
    if (vkt_py_float(v, &f)) return cJSON_CreateNumber(f);
    if (vkt_py_str(v)) return cJSON_CreateString(vkt_py_str(v));
    if (v->kind == VKT_PY_LIST || v->kind == VKT_PY_TUPLE) {
        cJSON *a = cJSON_CreateArray();
        for (size_t i = 0; i < vkt_py_len(v) && i < 64; i++) {
            const vkt_py *x = vkt_py_item(v, i);
            cJSON_AddItemToArray(a, x && (x->kind == VKT_PY_LIST || x->kind == VKT_PY_TUPLE) ? cJSON_CreateNull()
                                                                                             : py_to_json(x));
        }
        return a;
    }
    return cJSON_CreateString(vkt_py_kind_name(v->kind));
}

static cJSON *classify_hypernetwork(const vkt_py *r, const char *stem)
{
    cJSON *sizes = cJSON_CreateArray(), *mods = cJSON_CreateArray();
    int64_t params = 0;
    size_t n_sizes = 0;
    for (size_t i = 0; i < vkt_py_len(r); i++) {
        const vkt_py *k = vkt_py_key(r, i), *v = vkt_py_value(r, i);
        if (!k || k->kind != VKT_PY_INT) continue; /* only int keys count (webui) */
        if ((v->kind != VKT_PY_LIST && v->kind != VKT_PY_TUPLE) || vkt_py_len(v) != 2 ||
            vkt_py_item(v, 0)->kind != VKT_PY_DICT || vkt_py_item(v, 1)->kind != VKT_PY_DICT)
            continue;
        n_sizes++;
        cJSON_AddItemToArray(sizes, cJSON_CreateNumber((double)k->i));
        cJSON *m = cJSON_CreateObject();
        cJSON_AddNumberToObject(m, "size", (double)k->i);
        cJSON_AddItemToObject(m, "k", hn_module(vkt_py_item(v, 0), &params));
        cJSON_AddItemToObject(m, "v", hn_module(vkt_py_item(v, 1), &params));
        cJSON_AddItemToArray(mods, m);
    }
    if (!n_sizes) {
        cJSON_Delete(sizes);
        cJSON_Delete(mods);
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "hypernetwork");
    cJSON_AddStringToObject(o, "name", str_or(vkt_py_get(r, "name"), stem));
    cJSON_AddItemToObject(o, "sizes", sizes);
    cJSON_AddNumberToObject(o, "params", (double)params);
    const vkt_py *ls = vkt_py_get(r, "layer_structure");
    cJSON_AddItemToObject(o, "layer_structure", ls ? py_to_json(ls) : cJSON_CreateString("[1, 2, 1] (default)"));
    cJSON_AddItemToObject(o, "activation_func", py_to_json(vkt_py_get(r, "activation_func")));
    cJSON_AddItemToObject(o, "is_layer_norm", py_to_json(vkt_py_get(r, "is_layer_norm")));
    cJSON_AddItemToObject(o, "use_dropout", py_to_json(vkt_py_get(r, "use_dropout")));
    cJSON_AddItemToObject(o, "dropout_structure", py_to_json(vkt_py_get(r, "dropout_structure")));
    const vkt_py *ao = vkt_py_get(r, "activate_output");
    cJSON_AddItemToObject(o, "activate_output", ao ? py_to_json(ao) : cJSON_CreateBool(1)); /* webui default */
    add_opt_int(o, "step", vkt_py_get(r, "step"));
    add_str_or_null(o, "sd_checkpoint", vkt_py_str(vkt_py_get(r, "sd_checkpoint")));
    add_str_or_null(o, "sd_checkpoint_name", vkt_py_str(vkt_py_get(r, "sd_checkpoint_name")));
    cJSON_AddItemToObject(o, "modules", mods);
    return o;
}

static cJSON *classify_optim(const vkt_py *r)
{
    const vkt_py *osd = vkt_py_get(r, "optimizer_state_dict");
    if (!osd || osd->kind != VKT_PY_DICT) return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "optimizer_state");
    const char *name = vkt_py_str(vkt_py_get(r, "optimizer_name"));
    cJSON_AddStringToObject(o, "for", name ? "hypernetwork" : "embedding");
    cJSON_AddStringToObject(o, "optimizer", name ? name : "AdamW");
    add_str_or_null(o, "hash", vkt_py_str(vkt_py_get(r, "hash")));
    const vkt_py *st = vkt_py_get(osd, "state"), *pg = vkt_py_item(vkt_py_get(osd, "param_groups"), 0);
    cJSON_AddNumberToObject(o, "param_states", (double)vkt_py_len(st));
    cJSON_AddItemToObject(o, "lr", py_to_json(vkt_py_get(pg, "lr")));
    cJSON_AddItemToObject(o, "weight_decay", py_to_json(vkt_py_get(pg, "weight_decay")));
    const vkt_py *s0 = vkt_py_value(st, 0), *step = vkt_py_get(s0, "step");
    const vkt_tensor_data *t = vkt_py_tensor(step);
    if (t && vkt_tensor_data_numel(t) == 1)
        cJSON_AddNumberToObject(o, "step", vkt_tensor_data_get(t, 0));
    else
        cJSON_AddItemToObject(o, "step", py_to_json(step));
    return o;
}

/* Generic: what the tensors are, when nothing more specific fits. */
static cJSON *tensors_json(const char *kind, size_t n, const vkt_tensor_data *(*at)(const void *, size_t), const void *src)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", kind);
    size_t by[VKT_IO_DTYPE_COUNT] = {0};
    double params = 0;
    for (size_t i = 0; i < n; i++) {
        const vkt_tensor_data *t = at(src, i);
        by[t->dtype]++;
        params += (double)vkt_tensor_data_numel(t);
    }
    cJSON_AddNumberToObject(o, "count", (double)n);
    cJSON_AddNumberToObject(o, "params", params);
    cJSON *d = cJSON_AddObjectToObject(o, "dtypes");
    for (int i = 0; i < VKT_IO_DTYPE_COUNT; i++)
        if (by[i]) cJSON_AddNumberToObject(d, vkt_io_dtype_name((vkt_io_dtype)i), (double)by[i]);
    return o;
}

static const vkt_tensor_data *st_at(const void *s, size_t i) { return vkt_safetensors_at(s, i); }

/* A pickled dict that is none of the known kinds: its entries and tensors. */
static cJSON *pydict_json(const vkt_py *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "dict");
    size_t by[VKT_IO_DTYPE_COUNT] = {0}, n_t = 0;
    double params = 0;
    cJSON *keys = cJSON_CreateArray();
    for (size_t i = 0; i < vkt_py_len(r); i++) {
        const vkt_py *k = vkt_py_key(r, i), *v = vkt_py_value(r, i);
        const vkt_tensor_data *t = vkt_py_tensor(v);
        if (t) by[t->dtype]++, n_t++, params += (double)vkt_tensor_data_numel(t);
        if (i < 32) {
            char buf[200];
            int64_t ik;
            if (vkt_py_str(k))
                snprintf(buf, sizeof buf, "%s: %s", vkt_py_str(k), vkt_py_kind_name(v->kind));
            else if (vkt_py_int(k, &ik))
                snprintf(buf, sizeof buf, "%lld: %s", (long long)ik, vkt_py_kind_name(v->kind));
            else
                snprintf(buf, sizeof buf, "<%s>: %s", vkt_py_kind_name(k->kind), vkt_py_kind_name(v->kind));
            cJSON_AddItemToArray(keys, cJSON_CreateString(buf));
        }
    }
    cJSON_AddNumberToObject(o, "count", (double)n_t);
    cJSON_AddNumberToObject(o, "params", params);
    cJSON_AddNumberToObject(o, "entries", (double)vkt_py_len(r));
    cJSON *d = cJSON_AddObjectToObject(o, "dtypes");
    for (int i = 0; i < VKT_IO_DTYPE_COUNT; i++)
        if (by[i]) cJSON_AddNumberToObject(d, vkt_io_dtype_name((vkt_io_dtype)i), (double)by[i]);
    cJSON_AddItemToObject(o, "keys", keys);
    return o;
}

static bool model_like(const char *k)
{
    return strncmp(k, "model.diffusion_model.", 22) == 0 || strncmp(k, "cond_stage_model.", 17) == 0 ||
           strncmp(k, "first_stage_model.", 18) == 0 || strncmp(k, "conditioner.", 12) == 0;
}

/* ---- output ---- */

static void print_text(const char *path, const cJSON *o)
{
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(o, "kind"));
    char b[32];
    printf("file          %s\n", path);
    const cJSON *sz = cJSON_GetObjectItem(o, "size");
    printf("format        %s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "format")));
    if (sz) printf(", %s bytes", commas((long long)sz->valuedouble, b, sizeof b));
    printf("\n");
    const char *h = cJSON_GetStringValue(cJSON_GetObjectItem(o, "sha256"));
    if (h)
        printf("sha256        %s\n              short %s, model hash %s\n", h,
               cJSON_GetStringValue(cJSON_GetObjectItem(o, "short_hash")),
               cJSON_GetStringValue(cJSON_GetObjectItem(o, "model_hash")));
    if (strcmp(kind, "model") == 0) {
        printf("kind          Stable Diffusion model\n");
        model_text(o);
    } else if (strcmp(kind, "embedding") == 0) {
        const char *layout = cJSON_GetStringValue(cJSON_GetObjectItem(o, "layout"));
        printf("kind          textual-inversion embedding (%s layout)\n", layout);
        printf("trigger       %s (the file name)\n", cJSON_GetStringValue(cJSON_GetObjectItem(o, "trigger")));
        const char *nm = cJSON_GetStringValue(cJSON_GetObjectItem(o, "name"));
        if (nm) printf("name          %s\n", nm);
        printf("vectors       %d x %d (%s), for %s\n", cJSON_GetObjectItem(o, "vectors")->valueint,
               cJSON_GetObjectItem(o, "width")->valueint, cJSON_GetStringValue(cJSON_GetObjectItem(o, "dtype")),
               cJSON_GetStringValue(cJSON_GetObjectItem(o, "for_model")));
        const cJSON *step = cJSON_GetObjectItem(o, "step");
        if (cJSON_IsNumber(step)) printf("step          %d\n", step->valueint);
        const char *ck = cJSON_GetStringValue(cJSON_GetObjectItem(o, "sd_checkpoint"));
        const char *ckn = cJSON_GetStringValue(cJSON_GetObjectItem(o, "sd_checkpoint_name"));
        if (ck || ckn) printf("checkpoint    %s [%s]\n", ckn ? ckn : "?", ck ? ck : "?");
    } else if (strcmp(kind, "hypernetwork") == 0) {
        printf("kind          hypernetwork\n");
        printf("name          %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(o, "name")));
        printf("sizes        ");
        for (const cJSON *s = cJSON_GetObjectItem(o, "sizes")->child; s; s = s->next) printf(" %d", s->valueint);
        printf("\nparams        %s\n", commas((long long)cJSON_GetObjectItem(o, "params")->valuedouble, b, sizeof b));
        char *ls = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "layer_structure"));
        char *af = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "activation_func"));
        char *ds = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "dropout_structure"));
        printf("structure     layers %s, activation %s, layer norm %s, dropout %s, activate output %s\n", ls, af,
               cJSON_IsTrue(cJSON_GetObjectItem(o, "is_layer_norm")) ? "yes" : "no", ds,
               cJSON_IsTrue(cJSON_GetObjectItem(o, "activate_output")) ? "yes" : "no");
        free(ls), free(af), free(ds);
        for (const cJSON *m = cJSON_GetObjectItem(o, "modules")->child; m; m = m->next) {
            printf("module %-6d", cJSON_GetObjectItem(m, "size")->valueint);
            for (const cJSON *l = cJSON_GetObjectItem(m, "k")->child; l; l = l->next) {
                const cJSON *s = cJSON_GetObjectItem(l, "shape");
                printf(" %s", cJSON_GetStringValue(cJSON_GetObjectItem(l, "type")));
                if (cJSON_GetArraySize(s) == 2)
                    printf("(%d->%d)", cJSON_GetArrayItem(s, 1)->valueint, cJSON_GetArrayItem(s, 0)->valueint);
            }
            printf(" (k and v)\n");
        }
        const cJSON *step = cJSON_GetObjectItem(o, "step");
        if (cJSON_IsNumber(step)) printf("step          %d\n", step->valueint);
        const char *ck = cJSON_GetStringValue(cJSON_GetObjectItem(o, "sd_checkpoint"));
        const char *ckn = cJSON_GetStringValue(cJSON_GetObjectItem(o, "sd_checkpoint_name"));
        if (ck || ckn) printf("checkpoint    %s [%s]\n", ckn ? ckn : "?", ck ? ck : "?");
    } else if (strcmp(kind, "optimizer_state") == 0) {
        printf("kind          optimizer state (%s) for an %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(o, "optimizer")),
               cJSON_GetStringValue(cJSON_GetObjectItem(o, "for")));
        const char *hh = cJSON_GetStringValue(cJSON_GetObjectItem(o, "hash"));
        printf("pairs with    hash %s\n", hh ? hh : "(none)");
        char *lr = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "lr"));
        char *st = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "step"));
        printf("state         %d parameter states, lr %s, step %s\n", cJSON_GetObjectItem(o, "param_states")->valueint, lr, st);
        free(lr), free(st);
    } else {
        printf("kind          %s\n", strcmp(kind, "dict") == 0 ? "a dict (not a model, embedding, hypernetwork or "
                                                                    "optimizer state)" : kind);
        const cJSON *ent = cJSON_GetObjectItem(o, "entries");
        if (ent) printf("entries       %d\n", ent->valueint);
        for (const cJSON *k = cJSON_GetObjectItem(o, "keys") ? cJSON_GetObjectItem(o, "keys")->child : NULL; k; k = k->next)
            printf("              %s\n", k->valuestring);
        printf("tensors       %d, %s values\n", cJSON_GetObjectItem(o, "count")->valueint,
               commas((long long)cJSON_GetObjectItem(o, "params")->valuedouble, b, sizeof b));
        printf("dtypes       ");
        for (const cJSON *d = cJSON_GetObjectItem(o, "dtypes")->child; d; d = d->next) printf(" %s %d", d->string, d->valueint);
        printf("\n");
    }
}

static vkt_status describe(const char *path, const vkt_model_opts *mo, cJSON **out, vkt_err *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return vkt_fail(err, VKT_ERR_IO, "%s: no such file or folder", path);
    char stem[512];
    stem_of(path, stem, sizeof stem);
    if (S_ISDIR(sb.st_mode) || mo->vae_path || mo->ema) {
        vkt_model_file *mf = NULL;
        vkt_status s = vkt_model_file_open(path, mo, &mf, err);
        if (s) return s;
        *out = model_json(mf);
        vkt_model_file_close(mf);
        return VKT_OK;
    }
    uint8_t head[16] = {0};
    FILE *fp = fopen(path, "rb");
    size_t got = fp ? fread(head, 1, sizeof head, fp) : 0;
    if (fp) fclose(fp);
    bool model = false;
    vkt_status s = VKT_OK;
    if (vkt_zip_is_zip(head, got) || vkt_torch_is_legacy(head, got)) {
        vkt_torch *t = NULL;
        if ((s = vkt_torch_open(path, 0, &t, err))) return s;
        const vkt_py *r = vkt_torch_root(t);
        if (!r || r->kind != VKT_PY_DICT) {
            s = vkt_fail(err, VKT_ERR_FORMAT, "%s: holds a %s, not a dict", path, r ? vkt_py_kind_name(r->kind) : "nothing");
        } else if (vkt_py_get(r, "state_dict")) {
            model = true;
        } else {
            for (size_t i = 0; i < vkt_py_len(r) && !model; i++)
                model = vkt_py_str(vkt_py_key(r, i)) && model_like(vkt_py_str(vkt_py_key(r, i)));
            if (!model && !(*out = classify_optim(r)) && !(*out = classify_embedding_py(r, stem)) &&
                !(*out = classify_hypernetwork(r, stem)))
                *out = pydict_json(r);
        }
        if (!s && !model) cJSON_AddStringToObject(*out, "format", "torch");
        vkt_torch_close(t);
    } else {
        vkt_safetensors *st = NULL;
        if ((s = vkt_safetensors_open(path, &st, err))) return s;
        size_t n = vkt_safetensors_count(st);
        for (size_t i = 0; i < n && !model; i++) model = model_like(vkt_safetensors_name(st, i));
        if (!model) {
            const vkt_tensor_data *g = vkt_safetensors_find(st, "clip_g"), *l = vkt_safetensors_find(st, "clip_l");
            if (g && l && n == 2) {
                *out = embedding_json("sdxl", NULL, stem, g);
                cJSON_ReplaceItemInObject(*out, "width", cJSON_CreateNumber((double)(g->shape[g->ndim - 1] + l->shape[l->ndim - 1])));
                cJSON_ReplaceItemInObject(*out, "for_model", cJSON_CreateString("SDXL"));
            } else if (n == 1 && vkt_safetensors_at(st, 0)->ndim >= 1 && vkt_safetensors_at(st, 0)->ndim <= 2) {
                const char *k = vkt_safetensors_name(st, 0);
                *out = embedding_json(strcmp(k, "emb_params") == 0 ? "kohya" : "diffusers", NULL, stem,
                                      vkt_safetensors_at(st, 0));
                cJSON_AddStringToObject(*out, "key", k);
            } else {
                bool vae = vkt_safetensors_find(st, "encoder.conv_in.weight") && vkt_safetensors_find(st, "decoder.conv_in.weight");
                *out = tensors_json(vae ? "vae" : "tensors", n, st_at, st);
            }
            cJSON_AddStringToObject(*out, "format", "safetensors");
        }
        vkt_safetensors_close(st);
    }
    if (s) return s;
    if (model) {
        vkt_model_file *mf = NULL;
        if ((s = vkt_model_file_open(path, mo, &mf, err))) return s;
        *out = model_json(mf);
        vkt_model_file_close(mf);
    }
    return VKT_OK;
}

int vkt_cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false, hash = true;
    vkt_model_opts mo = {.any_family = true};
    for (int i = 1; i < argc; i++) {
        const char *v;
        bool missing;
        if (vkt_cli_is_help(argv[i])) {
            fputs(HELP, stdout);
            return 0;
        }
        if (vkt_cli_flag(argv, i, "--json")) json = true;
        else if (vkt_cli_flag(argv, i, "--ema")) mo.ema = true;
        else if (vkt_cli_flag(argv, i, "--no-hash")) hash = false;
        else if (vkt_cli_opt(argc, argv, &i, "--vae", &v, &missing)) {
            if (missing) return vkt_cli_usage("info", "--vae needs a file");
            mo.vae_path = v;
        } else if (argv[i][0] == '-') {
            return vkt_cli_usage("info", "unknown option \"%s\"", argv[i]);
        } else if (!path) {
            path = argv[i];
        } else {
            return vkt_cli_usage("info", "one file at a time");
        }
    }
    if (!path) return vkt_cli_usage("info", "missing FILE");
    vkt_err err = {0};
    cJSON *o = NULL;
    vkt_status s = describe(path, &mo, &o, &err);
    if (s) {
        cJSON_Delete(o);
        return vkt_cli_fail(&err);
    }
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
        cJSON_AddNumberToObject(o, "size", (double)sb.st_size);
        vkt_file_hash fh;
        if (hash && vkt_hash_file(path, true, &fh, &err) == VKT_OK) {
            cJSON_AddStringToObject(o, "sha256", fh.sha256);
            char shorth[13];
            snprintf(shorth, sizeof shorth, "%.*s", strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "kind")), "model") ? 12 : 10,
                     fh.sha256);
            cJSON_AddStringToObject(o, "short_hash", shorth);
            cJSON_AddStringToObject(o, "model_hash", fh.model_hash);
        }
    }
    cJSON_AddStringToObject(o, "file", path);
    if (json) {
        char *txt = cJSON_Print(o);
        printf("%s\n", txt);
        free(txt);
    } else {
        print_text(path, o);
    }
    cJSON_Delete(o);
    return 0;
}
