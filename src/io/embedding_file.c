/* Textual-inversion embedding files: every form the webui's EmbeddingDatabase loads, the webui
 * .pt and kohya .safetensors writers, the JSON form images carry, the webui checksum.
 * Knows nothing of Vulkan. Every shape read from a file is bounded before anything is allocated.
 *
 * The three sources (pickle tree, safetensors, JSON) are first turned into one small tree of
 * `node`s (only the two levels the rules look at), then one function applies the webui's rules
 * (textual_inversion.py create_embedding_from_data, file-formats.md §4.2). */
#define _GNU_SOURCE
#include "io/embedding_file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/arena.h"
#include "base/checked.h"
#include "base/fault.h"
#include "base/file.h"
#include "base/pyfmt.h"
#include "io/embedding_image.h"
#include "io/json_util.h"
#include "io/pickle.h"
#include "io/pt_writer.h"
#include "io/safetensors.h"
#include "io/tensor_data.h"
#include "io/torch_file.h"

/* Largest embedding file read whole (an SD1 embedding is a few KiB; images up to the image
 * reader's own bound). */
#define MAX_FILE_BYTES ((size_t)256 << 20)

/* ---------------------------------------------------------------------------------------------
 * Names and small helpers. */

const char *vkt_embedding_file_layout_name(vkt_embedding_layout l)
{
    switch (l) {
    case VKT_EMB_LAYOUT_WEBUI:
        return "webui";
    case VKT_EMB_LAYOUT_SDXL:
        return "sdxl";
    case VKT_EMB_LAYOUT_KOHYA:
        return "kohya";
    case VKT_EMB_LAYOUT_DIFFUSERS:
        return "diffusers";
    }
    return "?";
}

const char *vkt_embedding_file_container_name(vkt_embedding_container c)
{
    switch (c) {
    case VKT_EMB_FILE_PT:
        return "pt";
    case VKT_EMB_FILE_SAFETENSORS:
        return "safetensors";
    case VKT_EMB_FILE_IMAGE_TEXT:
        return "image-text";
    case VKT_EMB_FILE_IMAGE_PIXELS:
        return "image-pixels";
    }
    return "?";
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = vkt_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

vkt_status vkt_embedding_file_set_str(char **field, const char *s, vkt_err *err)
{
    char *d = NULL;
    if (s && !(d = dupstr(s))) return vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
    free(*field);
    *field = d;
    return VKT_OK;
}

void vkt_embedding_file_destroy(vkt_embedding *e)
{
    if (!e) return;
    free(e->name);
    free(e->stored_name);
    free(e->vectors);
    free(e->vectors_g);
    free(e->sd_checkpoint);
    free(e->sd_checkpoint_name);
    free(e);
}

vkt_status vkt_embedding_file_new(const char *name, int n_vectors, int width, vkt_embedding **out,
                                  vkt_err *err)
{
    if (!name || !*name) return vkt_fail(err, VKT_ERR_USAGE, "embedding name is empty");
    if (n_vectors < 1 || n_vectors > VKT_EMBEDDING_MAX_VECTORS || width < 1 ||
        width > VKT_EMBEDDING_MAX_WIDTH || (int64_t)n_vectors * width > VKT_EMBEDDING_MAX_VALUES)
        return vkt_fail(err, VKT_ERR_USAGE, "embedding shape [%d, %d] out of range", n_vectors,
                        width);
    vkt_embedding *e = vkt_calloc(1, sizeof *e);
    if (!e || !(e->name = dupstr(name)) ||
        !(e->vectors = vkt_calloc((size_t)n_vectors * (size_t)width, sizeof(float)))) {
        vkt_embedding_file_destroy(e);
        return vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
    }
    e->n_vectors = n_vectors;
    e->width = width;
    e->has_step = true;
    e->step = 0;
    e->layout = VKT_EMB_LAYOUT_WEBUI;
    e->container = VKT_EMB_FILE_PT;
    *out = e;
    return VKT_OK;
}

int vkt_embedding_file_shape(const vkt_embedding *e)
{
    return e->width + e->width_g;
}

/* Python's os.path.splitext on the base name: the extension starts at the last '.', unless that
 * dot only belongs to the leading dots of the name (".pt" has no extension). */
static void split_name(const char *path, const char **base, const char **ext)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    const char *p = b;
    while (*p == '.')
        p++;
    *base = b;
    *ext = (dot && dot >= p) ? dot : b + strlen(b);
}

/* The stem of path's base name into a malloc'd string. */
static char *stem_of(const char *path)
{
    const char *b, *x;
    split_name(path, &b, &x);
    size_t n = (size_t)(x - b);
    char *s = vkt_malloc(n + 1);
    if (s) {
        memcpy(s, b, n);
        s[n] = 0;
    }
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * The common tree. */

typedef enum nkind { NK_OTHER, NK_NONE, NK_INT, NK_STR, NK_TENSOR, NK_DICT } nkind;

typedef struct node node;
struct node {
    nkind kind;
    const char *type; /* for messages: "list", "float", "tuple", ... */
    int64_t i;
    const char *s;            /* NK_STR (borrowed) */
    const vkt_tensor_data *t; /* NK_TENSOR (borrowed) */
    bool requires_grad;       /* NK_TENSOR */
    bool plain_dict;          /* NK_DICT: a dict (not OrderedDict, ParameterDict) */
    size_t n;                 /* NK_DICT: entries */
    const char **keys;        /* NK_DICT: str keys, NULL for others */
    node *vals;               /* NK_DICT */
};

/* Value of str key k (the last one wins, as in a Python dict built from the stream). */
static const node *node_get(const node *d, const char *k)
{
    if (!d || d->kind != NK_DICT) return NULL;
    for (size_t i = d->n; i-- > 0;)
        if (d->keys[i] && strcmp(d->keys[i], k) == 0) return &d->vals[i];
    return NULL;
}

/* Pickle -> node, `depth` more levels of dicts. */
static bool from_py(vkt_arena *a, const vkt_py *o, int depth, node *out)
{
    memset(out, 0, sizeof *out);
    out->kind = NK_OTHER;
    out->type = o ? vkt_py_kind_name(o->kind) : "nothing";
    if (!o) return true;
    switch (o->kind) {
    case VKT_PY_NONE:
        out->kind = NK_NONE;
        return true;
    case VKT_PY_INT:
        out->kind = NK_INT;
        out->i = o->i;
        return true;
    case VKT_PY_STR:
        if ((out->s = vkt_py_str(o))) out->kind = NK_STR;
        return true;
    case VKT_PY_TENSOR:
        out->kind = NK_TENSOR;
        out->t = vkt_py_tensor(o);
        out->requires_grad = o->tensor.requires_grad;
        return true;
    case VKT_PY_OBJECT: {
        /* webui: getattr(param_dict, '_parameters', param_dict) for old ParameterDict files */
        const char *cls = vkt_py_class(o);
        out->type = cls ? cls : "object";
        const vkt_py *p = vkt_py_get(vkt_py_object_state(o), "_parameters");
        if (!p || p->kind != VKT_PY_DICT || depth <= 0) return true;
        if (!from_py(a, p, depth, out)) return false;
        out->plain_dict = false;
        out->type = cls ? cls : "object";
        return true;
    }
    case VKT_PY_DICT: {
        if (depth <= 0) return true;
        size_t n = vkt_py_len(o);
        out->kind = NK_DICT;
        out->type = vkt_py_class(o) ? vkt_py_class(o) : "dict";
        out->plain_dict = strcmp(out->type, "dict") == 0;
        out->n = n;
        size_t kb, vb;
        if (!vkt_mul_ok(n, sizeof *out->keys, &kb) || !vkt_mul_ok(n, sizeof *out->vals, &vb))
            return false;
        out->keys = vkt_arena_alloc(a, kb ? kb : 1);
        out->vals = vkt_arena_alloc(a, vb ? vb : 1);
        if (!out->keys || !out->vals) return false;
        for (size_t i = 0; i < n; i++) {
            out->keys[i] = vkt_py_str(vkt_py_key(o, i));
            if (!from_py(a, vkt_py_value(o, i), depth - 1, &out->vals[i])) return false;
        }
        return true;
    }
    default:
        return true;
    }
}

/* ---- JSON -> node (file-formats.md §4.3: {"TORCHTENSOR": nested lists} is a tensor) ---- */

/* Shape of a nested list of numbers; false when ragged, too deep or not numbers. */
static bool json_shape(const cJSON *j, int *ndim, int64_t *shape)
{
    int nd = 0;
    const cJSON *c = j;
    while (cJSON_IsArray(c)) {
        if (nd == VKT_IO_MAX_DIMS) return false;
        shape[nd++] = cJSON_GetArraySize(c);
        c = c->child;
        if (!c) break;
    }
    *ndim = nd;
    return true;
}

/* Walks j checking every list at depth d has shape[d] items and every leaf is a number, writing
 * the leaves in row-major order. */
static bool json_fill(const cJSON *j, int d, int ndim, const int64_t *shape, double *dst, size_t *k)
{
    if (d == ndim) {
        if (!cJSON_IsNumber(j)) return false;
        dst[(*k)++] = j->valuedouble;
        return true;
    }
    if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) != shape[d]) return false;
    for (const cJSON *c = j->child; c; c = c->next)
        if (!json_fill(c, d + 1, ndim, shape, dst, k)) return false;
    return true;
}

/* Returns false only on OOM; a malformed TORCHTENSOR becomes NK_OTHER with type saying why. */
static bool from_json(vkt_arena *a, const cJSON *j, int depth, node *out)
{
    memset(out, 0, sizeof *out);
    out->kind = NK_OTHER;
    if (cJSON_IsNull(j)) {
        out->kind = NK_NONE;
        out->type = "null";
    } else if (cJSON_IsString(j)) {
        out->kind = NK_STR;
        out->type = "str";
        out->s = j->valuestring;
    } else if (cJSON_IsNumber(j)) {
        double v = j->valuedouble;
        out->type = "float";
        if (v == floor(v) && fabs(v) <= 9007199254740992.0) {
            out->kind = NK_INT;
            out->type = "int";
            out->i = (int64_t)v;
        }
    } else if (cJSON_IsBool(j)) {
        out->type = "bool";
    } else if (cJSON_IsArray(j)) {
        out->type = "list";
    } else if (cJSON_IsObject(j)) {
        out->type = "dict";
        const cJSON *tt = NULL;
        size_t n = 0;
        for (const cJSON *c = j->child; c; c = c->next, n++)
            if (c->string && strcmp(c->string, "TORCHTENSOR") == 0) tt = c;
        if (tt) {
            /* webui EmbeddingDecoder: torch.from_numpy(np.array(d['TORCHTENSOR'])) */
            vkt_tensor_data *t = vkt_arena_alloc(a, sizeof *t);
            if (!t) return false;
            out->type = "malformed TORCHTENSOR (not a rectangular nested list of numbers)";
            if (!json_shape(tt, &t->ndim, t->shape)) return true;
            size_t numel = 1;
            for (int d = 0; d < t->ndim; d++)
                if (!vkt_mul_ok(numel, (size_t)t->shape[d], &numel)) return true;
            double *buf = vkt_arena_alloc(a, numel ? numel * sizeof(double) : 1);
            if (!buf) return false;
            size_t k = 0;
            if (!json_fill(tt, 0, t->ndim, t->shape, buf, &k) || k != numel) return true;
            t->dtype = VKT_IO_F64;
            t->data = (const uint8_t *)buf;
            t->bytes = numel * sizeof(double);
            vkt_tensor_data_set_contiguous(t);
            out->kind = NK_TENSOR;
            out->type = "tensor";
            out->t = t;
            return true;
        }
        if (depth <= 0) return true;
        out->kind = NK_DICT;
        out->plain_dict = true;
        out->n = n;
        out->keys = vkt_arena_alloc(a, n ? n * sizeof *out->keys : 1);
        out->vals = vkt_arena_alloc(a, n ? n * sizeof *out->vals : 1);
        if (!out->keys || !out->vals) return false;
        size_t i = 0;
        for (const cJSON *c = j->child; c; c = c->next, i++) {
            out->keys[i] = c->string;
            if (!from_json(a, c, depth - 1, &out->vals[i])) return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * The webui's rules. */

/* Checks that t is a float tensor of shape [N, W] (or [W] when allow_1d, read as [1, W]) within
 * the bounds, and converts it to a new float32 buffer. what names it in messages. */
static vkt_status take_vectors(const vkt_tensor_data *t, bool allow_1d, const char *file,
                               const char *what, float **out, int *n_out, int *w_out, vkt_err *err)
{
    char sh[96];
    if (!t) return vkt_fail(err, VKT_ERR_FORMAT, "%s: %s is not a tensor", file, what);
    vkt_tensor_data_shape_str(t, sh, sizeof sh);
    if (!vkt_io_dtype_is_float(t->dtype))
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: %s has dtype %s, expected a float tensor", file,
                        what, vkt_io_dtype_name(t->dtype));
    int64_t n, w;
    if (t->ndim == 2) {
        n = t->shape[0];
        w = t->shape[1];
    } else if (t->ndim == 1 && allow_1d) {
        n = 1;
        w = t->shape[0];
    } else {
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: %s has shape %s, expected [N, W]%s", file, what,
                        sh, allow_1d ? " or [W]" : "");
    }
    if (n < 1 || w < 1 || n > VKT_EMBEDDING_MAX_VECTORS || w > VKT_EMBEDDING_MAX_WIDTH ||
        n * w > VKT_EMBEDDING_MAX_VALUES)
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "%s: %s has shape %s: expected 1..%d vectors of width 1..%d, at most %d "
                        "values",
                        file, what, sh, VKT_EMBEDDING_MAX_VECTORS, VKT_EMBEDDING_MAX_WIDTH,
                        VKT_EMBEDDING_MAX_VALUES);
    float *v = vkt_malloc((size_t)n * (size_t)w * sizeof *v);
    if (!v) return vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
    vkt_status st = vkt_tensor_data_to_f32(t, v, err);
    if (st) {
        free(v);
        vkt_err_prefix(err, "%s: %s", file, what);
        return st;
    }
    *out = v;
    *n_out = (int)n;
    *w_out = (int)w;
    return VKT_OK;
}

/* A metadata string (str -> copy; anything else -> NULL, as the webui only stores it). */
static vkt_status meta_str(const node *v, char **out, vkt_err *err)
{
    if (v && v->kind == NK_STR && !(*out = dupstr(v->s)))
        return vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
    return VKT_OK;
}

/* textual_inversion.py create_embedding_from_data(): root -> embedding. trigger is the stem. */
static vkt_status interpret(const node *root, const char *file, const char *trigger,
                            vkt_embedding_container container, vkt_embedding **out, vkt_err *err)
{
    vkt_status st = VKT_OK;
    vkt_embedding *e = NULL;
    if (root->kind != NK_DICT)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: holds a %s, expected an embedding dict", file,
                        root->type);
    if (!(e = vkt_calloc(1, sizeof *e))) return vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
    e->container = container;
    const node *s2p = node_get(root, "string_to_param");
    const node *g = node_get(root, "clip_g"), *l = node_get(root, "clip_l");
    if (s2p) {
        /* rule 1: string_to_param with exactly one entry */
        if (s2p->kind != NK_DICT) {
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: string_to_param is a %s, expected a dict", file,
                          s2p->type);
            goto done;
        }
        if (s2p->n != 1) {
            st = vkt_fail(err, VKT_ERR_FORMAT,
                          "%s: embedding file has multiple terms in it (string_to_param has %zu "
                          "entries, expected 1)",
                          file, s2p->n);
            goto done;
        }
        const node *v = &s2p->vals[0];
        if (v->kind != NK_TENSOR) {
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: string_to_param entry is a %s, not a tensor",
                          file, v->type);
            goto done;
        }
        if ((st = take_vectors(v->t, false, file, "string_to_param tensor", &e->vectors,
                               &e->n_vectors, &e->width, err)))
            goto done;
        e->requires_grad = v->requires_grad;
        e->layout = VKT_EMB_LAYOUT_WEBUI;
    } else if (g && l) {
        /* rule 2: SDXL; N = rows of clip_g, shape = W_g + W_l */
        if (g->kind != NK_TENSOR || l->kind != NK_TENSOR) {
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: clip_g/clip_l are %s/%s, expected tensors",
                          file, g->type, l->type);
            goto done;
        }
        int ng = 0;
        if ((st =
                 take_vectors(g->t, false, file, "clip_g", &e->vectors_g, &ng, &e->width_g, err)) ||
            (st = take_vectors(l->t, false, file, "clip_l", &e->vectors, &e->n_vectors, &e->width,
                               err)))
            goto done;
        if (ng != e->n_vectors) {
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: clip_g has %d vectors but clip_l %d", file, ng,
                          e->n_vectors);
            goto done;
        }
        e->layout = VKT_EMB_LAYOUT_SDXL;
    } else if (root->n > 0 && root->vals[0].kind == NK_TENSOR) {
        /* rule 3: one tensor ({"<token>": [W]} of diffusers, {"emb_params": [N, W]} of kohya) */
        if (root->n != 1) {
            st = vkt_fail(err, VKT_ERR_FORMAT,
                          "%s: embedding file has multiple terms in it (%zu entries, expected 1)",
                          file, root->n);
            goto done;
        }
        if ((st = take_vectors(root->vals[0].t, true, file, "the tensor", &e->vectors,
                               &e->n_vectors, &e->width, err)))
            goto done;
        e->requires_grad = root->vals[0].requires_grad;
        e->layout = root->keys[0] && strcmp(root->keys[0], "emb_params") == 0
                        ? VKT_EMB_LAYOUT_KOHYA
                        : VKT_EMB_LAYOUT_DIFFUSERS;
    } else {
        st = vkt_fail(err, VKT_ERR_FORMAT,
                      "%s: not a textual-inversion embedding (no string_to_param, no clip_g + "
                      "clip_l, no single tensor)",
                      file);
        goto done;
    }
    const node *step = node_get(root, "step");
    if (step && step->kind == NK_INT) {
        e->has_step = true;
        e->step = step->i;
    }
    if ((st = meta_str(node_get(root, "sd_checkpoint"), &e->sd_checkpoint, err)) ||
        (st = meta_str(node_get(root, "sd_checkpoint_name"), &e->sd_checkpoint_name, err)) ||
        (st = meta_str(node_get(root, "name"), &e->stored_name, err)))
        goto done;
    /* images register under the dict's name (webui: data.get('name', name)), files under the stem
     */
    bool image = container == VKT_EMB_FILE_IMAGE_TEXT || container == VKT_EMB_FILE_IMAGE_PIXELS;
    const char *nm = image && e->stored_name ? e->stored_name : trigger;
    if (!(e->name = dupstr(nm))) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
        goto done;
    }
    *out = e;
    e = NULL;
done:
    vkt_embedding_file_destroy(e);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Readers. */

static vkt_status read_pt(const uint8_t *data, size_t n, const char *file, const char *stem,
                          vkt_embedding **out, vkt_err *err)
{
    vkt_torch *t = NULL;
    vkt_arena a;
    vkt_arena_init(&a, 4096);
    node root;
    vkt_status st = vkt_torch_open_memory(data, n, file, 0, &t, err);
    if (st) goto done;
    if (!from_py(&a, vkt_torch_root(t), 2, &root)) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
        goto done;
    }
    st = interpret(&root, file, stem, VKT_EMB_FILE_PT, out, err);
done:
    vkt_arena_fini(&a);
    vkt_torch_close(t);
    return st;
}

static vkt_status read_safetensors(const uint8_t *data, size_t n, const char *file,
                                   const char *stem, vkt_embedding **out, vkt_err *err)
{
    vkt_safetensors *s = NULL;
    vkt_arena a;
    vkt_arena_init(&a, 4096);
    vkt_status st = vkt_safetensors_open_memory(data, n, file, &s, err);
    if (st) goto done;
    /* safetensors.torch.load_file: a plain dict of tensors in header order; metadata ignored */
    size_t cnt = vkt_safetensors_count(s);
    node root = {.kind = NK_DICT, .type = "dict", .plain_dict = true, .n = cnt};
    root.keys = vkt_arena_alloc(&a, (cnt ? cnt : 1) * sizeof *root.keys);
    root.vals = vkt_arena_alloc(&a, (cnt ? cnt : 1) * sizeof *root.vals);
    if (!root.keys || !root.vals) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
        goto done;
    }
    for (size_t i = 0; i < cnt; i++) {
        root.keys[i] = vkt_safetensors_name(s, i);
        root.vals[i] = (node){.kind = NK_TENSOR, .type = "tensor", .t = vkt_safetensors_at(s, i)};
    }
    st = interpret(&root, file, stem, VKT_EMB_FILE_SAFETENSORS, out, err);
done:
    vkt_arena_fini(&a);
    vkt_safetensors_close(s);
    return st;
}

static vkt_status from_json_as(const char *json, size_t n, const char *file, const char *stem,
                               vkt_embedding_container container, vkt_embedding **out, vkt_err *err)
{
    vkt_arena a;
    vkt_arena_init(&a, 1 << 16);
    vkt_status st = VKT_OK;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(json, n, &end, 0);
    node root;
    if (!j) {
        size_t off = end && end >= json ? (size_t)(end - json) : 0;
        st = vkt_fail(err, VKT_ERR_FORMAT, "%s: embedding JSON is malformed near byte %zu", file,
                      off);
        goto done;
    }
    if (!from_json(&a, j, 2, &root)) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
        goto done;
    }
    st = interpret(&root, file, stem, container, out, err);
done:
    cJSON_Delete(j);
    vkt_arena_fini(&a);
    return st;
}

vkt_status vkt_embedding_file_from_json(const char *json, size_t n, const char *filename,
                                        vkt_embedding **out, vkt_err *err)
{
    char *stem = stem_of(filename);
    if (!stem) return vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
    vkt_status st = from_json_as(json, n, filename, stem, VKT_EMB_FILE_IMAGE_TEXT, out, err);
    free(stem);
    return st;
}

vkt_status vkt_embedding_file_read_memory(const uint8_t *data, size_t n, const char *filename,
                                          vkt_embedding **out, vkt_err *err)
{
    const char *base, *ext;
    split_name(filename, &base, &ext);
    vkt_status st = VKT_OK;
    char *stem = stem_of(filename), *json = NULL;
    if (!stem) return vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
    vkt_embedding *e = NULL;
    if (strcasecmp(ext, ".pt") == 0 || strcasecmp(ext, ".bin") == 0) {
        st = read_pt(data, n, filename, stem, &e, err);
    } else if (strcasecmp(ext, ".safetensors") == 0) {
        st = read_safetensors(data, n, filename, stem, &e, err);
    } else if (strcasecmp(ext, ".png") == 0 || strcasecmp(ext, ".webp") == 0 ||
               strcasecmp(ext, ".jxl") == 0 || strcasecmp(ext, ".avif") == 0) {
        /* webui: an image whose stem has a second extension ".preview" is a preview picture */
        const char *b2, *x2;
        split_name(stem, &b2, &x2);
        if (strcasecmp(x2, ".preview") == 0) goto done;
        if (strcasecmp(ext, ".jxl") == 0 || strcasecmp(ext, ".avif") == 0) {
            st = vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: %s images are not supported", filename,
                          ext + 1);
            goto done;
        }
        size_t jn = 0;
        vkt_embedding_container how;
        if ((st = vkt_embedding_image_extract(data, n, filename, &json, &jn, &how, err)) || !json)
            goto done;
        st = from_json_as(json, jn, filename, stem, how, &e, err);
    }
done:
    if (!st) {
        *out = e; /* NULL: not an embedding the webui would load */
        e = NULL;
    }
    vkt_embedding_file_destroy(e);
    free(json);
    free(stem);
    return st;
}

/* The extensions the webui's load_from_file() looks at. */
static bool known_ext(const char *path)
{
    static const char *exts[] = {".pt", ".bin", ".safetensors", ".png", ".webp", ".jxl", ".avif"};
    const char *base, *ext;
    split_name(path, &base, &ext);
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++)
        if (strcasecmp(ext, exts[i]) == 0) return true;
    return false;
}

vkt_status vkt_embedding_file_read(const char *path, vkt_embedding **out, vkt_err *err)
{
    vkt_mmap m = {0};
    if (!known_ext(path)) {
        *out = NULL; /* webui: other files are not looked at */
        return VKT_OK;
    }
    vkt_status st = vkt_mmap_open(path, &m, err);
    if (st) return st;
    if (m.size > MAX_FILE_BYTES)
        st = vkt_fail(err, VKT_ERR_FORMAT, "%s: %zu bytes, more than an embedding file may have",
                      path, m.size);
    else
        st = vkt_embedding_file_read_memory(m.data ? m.data : (const uint8_t *)"", m.size, path,
                                            out, err);
    vkt_mmap_close(&m);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Writers. */

vkt_status vkt_embedding_file_checksum(const float *v, size_t n, char out[5], vkt_err *err)
{
    /* webui Embedding.checksum(): const_hash(vec.reshape(-1) * 100) & 0xffff, where
     * r = (r * 281 ^ int(x) * 997) & 0xFFFFFFFF over the float32 products. Only the low 32 bits
     * of int(x) * 997 survive the mask, so the Python integers can be replaced by uint64 math. */
    uint64_t r = 0;
    for (size_t i = 0; i < n; i++) {
        float p = v[i] * 100.0f; /* float32 product, as the tensor multiply */
        if (!isfinite(p))
            return vkt_fail(err, VKT_ERR_NUMERIC,
                            "checksum: value %zu is %g (the webui's checksum needs finite values)",
                            i, (double)v[i]);
        uint64_t iv;
        /* int() truncates toward zero; a float32 of magnitude >= 2^62 is a multiple of 2^32,
         * so its low 32 bits are 0 */
        if (fabsf(p) >= 4611686018427387904.0f)
            iv = 0;
        else
            iv = (uint64_t)(int64_t)p;
        r = ((r * 281u) ^ (iv * 997u)) & 0xFFFFFFFFu;
    }
    snprintf(out, 5, "%04x", (unsigned)(r & 0xFFFFu));
    return VKT_OK;
}

/* Builds the webui dict (textual_inversion.py Embedding.save()). */
static vkt_status build_pt(vkt_pt *b, const vkt_embedding *e, vkt_pt_val **root, vkt_err *err)
{
    if (e->vectors_g)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED,
                        "%s: SDXL embeddings are written as .safetensors only", e->name);
    if (e->n_vectors < 1 || e->width < 1 || !e->vectors)
        return vkt_fail(err, VKT_ERR_USAGE, "%s: empty embedding", e->name);
    vkt_pt_val *r = vkt_pt_dict(b), *s2t = vkt_pt_dict(b), *s2p = vkt_pt_dict(b);
    vkt_pt_set_str(b, s2t, "*", vkt_pt_int(b, 265));
    vkt_pt_set_str(b, s2p, "*",
                   vkt_pt_tensor(b, VKT_IO_F32, 2, (int64_t[]){e->n_vectors, e->width}, e->vectors,
                                 e->requires_grad));
    vkt_pt_set_str(b, r, "string_to_token", s2t);
    vkt_pt_set_str(b, r, "string_to_param", s2p);
    const char *name = e->stored_name ? e->stored_name : e->name;
    vkt_pt_set_str(b, r, "name", name ? vkt_pt_str(b, name) : vkt_pt_none(b));
    vkt_pt_set_str(b, r, "step", e->has_step ? vkt_pt_int(b, e->step) : vkt_pt_none(b));
    vkt_pt_set_str(b, r, "sd_checkpoint",
                   e->sd_checkpoint ? vkt_pt_str(b, e->sd_checkpoint) : vkt_pt_none(b));
    vkt_pt_set_str(b, r, "sd_checkpoint_name",
                   e->sd_checkpoint_name ? vkt_pt_str(b, e->sd_checkpoint_name) : vkt_pt_none(b));
    *root = r;
    return VKT_OK;
}

vkt_status vkt_embedding_file_write_pt_memory(const vkt_embedding *e, const char *folder,
                                              uint8_t **out, size_t *out_n, vkt_err *err)
{
    vkt_pt *b = NULL;
    vkt_pt_val *root = NULL;
    vkt_status st = vkt_pt_create(&b, err);
    if (!st && !(st = build_pt(b, e, &root, err)))
        st = vkt_pt_write_memory(b, root, folder, out, out_n, err);
    vkt_pt_destroy(b);
    return st;
}

vkt_status vkt_embedding_file_write_pt(const vkt_embedding *e, const char *path, vkt_err *err)
{
    vkt_pt *b = NULL;
    vkt_pt_val *root = NULL;
    vkt_status st = vkt_pt_create(&b, err);
    if (!st && !(st = build_pt(b, e, &root, err))) st = vkt_pt_write(b, root, path, err);
    vkt_pt_destroy(b);
    return st;
}

vkt_status vkt_embedding_file_write_safetensors(const vkt_embedding *e, const char *path,
                                                vkt_err *err)
{
    vkt_safetensors_writer *w = NULL;
    vkt_status st = vkt_safetensors_writer_create(&w, err);
    if (st) return st;
    if (e->vectors_g) {
        /* the webui's SDXL layout: N = rows of clip_g */
        if (!(st = vkt_safetensors_writer_add(w, "clip_g", VKT_IO_F32, 2,
                                              (int64_t[]){e->n_vectors, e->width_g}, e->vectors_g,
                                              err)))
            st = vkt_safetensors_writer_add(w, "clip_l", VKT_IO_F32, 2,
                                            (int64_t[]){e->n_vectors, e->width}, e->vectors, err);
    } else {
        st = vkt_safetensors_writer_add(w, "emb_params", VKT_IO_F32, 2,
                                        (int64_t[]){e->n_vectors, e->width}, e->vectors, err);
    }
    if (!st) st = vkt_safetensors_writer_write(w, path, err);
    vkt_safetensors_writer_destroy(w);
    return st;
}

/* ---- JSON form (Python json.dumps, default settings) ---- */

/* json.dumps string with ensure_ascii: \" \\ \n \r \t \b \f, other controls and every non-ASCII
 * character as \uXXXX (UTF-16 surrogate pairs above U+FFFF). s is valid UTF-8. */
static void json_str_ascii(vkt_buf *b, const char *s)
{
    vkt_buf_puts(b, "\"");
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c < 0x80) {
            p++;
            vkt_buf_pyjson_byte(b, (unsigned char)c);
            continue;
        }
        int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        uint32_t cp = c & (len == 4 ? 0x07 : len == 3 ? 0x0F : 0x1F);
        for (int k = 1; k < len && p[k]; k++)
            cp = (cp << 6) | (p[k] & 0x3F);
        for (int k = 0; k < len && *p; k++)
            p++;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            vkt_buf_printf(b, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
        } else {
            vkt_buf_printf(b, "\\u%04x", cp);
        }
    }
    vkt_buf_puts(b, "\"");
}

static void json_opt_str(vkt_buf *b, const char *s)
{
    if (s)
        json_str_ascii(b, s);
    else
        vkt_buf_puts(b, "null");
}

vkt_status vkt_embedding_file_to_json(const vkt_embedding *e, char **out, size_t *out_n,
                                      vkt_err *err)
{
    if (e->vectors_g)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: SDXL embeddings have no webui image form",
                        e->name);
    const char *name = e->stored_name ? e->stored_name : e->name;
    const char *strs[3] = {name, e->sd_checkpoint, e->sd_checkpoint_name};
    for (int k = 0; k < 3; k++)
        if (strs[k] && !vkt_utf8_valid((const uint8_t *)strs[k], strlen(strs[k])))
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: a string field is not valid UTF-8", e->name);
    vkt_buf b = {0};
    /* the dict of Embedding.save(), tensors as EmbeddingEncoder writes them */
    vkt_buf_puts(&b, "{\"string_to_token\": {\"*\": 265}, \"string_to_param\": {\"*\": "
                     "{\"TORCHTENSOR\": [");
    char num[VKT_PYFMT_FLOAT_MAX];
    for (int i = 0; i < e->n_vectors; i++) {
        vkt_buf_puts(&b, i ? ", [" : "[");
        for (int j = 0; j < e->width; j++) {
            vkt_pyfmt_float_json((double)e->vectors[(size_t)i * (size_t)e->width + (size_t)j], num);
            if (j) vkt_buf_puts(&b, ", ");
            vkt_buf_puts(&b, num);
        }
        vkt_buf_puts(&b, "]");
    }
    vkt_buf_puts(&b, "]}}, \"name\": ");
    json_opt_str(&b, name);
    vkt_buf_puts(&b, ", \"step\": ");
    if (e->has_step)
        vkt_buf_printf(&b, "%lld", (long long)e->step);
    else
        vkt_buf_puts(&b, "null");
    vkt_buf_puts(&b, ", \"sd_checkpoint\": ");
    json_opt_str(&b, e->sd_checkpoint);
    vkt_buf_puts(&b, ", \"sd_checkpoint_name\": ");
    json_opt_str(&b, e->sd_checkpoint_name);
    vkt_buf_puts(&b, "}");
    vkt_buf_append(&b, "", 1);
    if (b.failed) {
        vkt_buf_free(&b);
        return vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
    }
    *out = (char *)b.data;
    *out_n = b.len - 1;
    return VKT_OK;
}
