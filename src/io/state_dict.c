/* Format-independent tensors-by-key view over safetensors and torch zip files. Depends on base
 * and the io readers. */
#define _GNU_SOURCE
#include "io/state_dict.h"

#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "base/file.h"
#include "io/safetensors.h"
#include "io/torch_file.h"
#include "io/zip.h"

typedef struct sd_entry {
    const char *name; /* borrowed from the reader */
    const vkt_tensor_data *t;
} sd_entry;

struct vkt_state_dict {
    vkt_file_format fmt;
    vkt_safetensors *st;
    vkt_torch *torch;
    sd_entry *ents;
    size_t n, skipped;
    size_t *by_name;
};

static int cmp_name(const void *a, const void *b, void *ctx)
{
    const sd_entry *e = ctx;
    return strcmp(e[*(const size_t *)a].name, e[*(const size_t *)b].name);
}

static vkt_status index_names(vkt_state_dict *sd, const char *path, vkt_err *err)
{
    sd->by_name = vkt_calloc(sd->n + 1, sizeof *sd->by_name);
    if (!sd->by_name) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < sd->n; i++) sd->by_name[i] = i;
    qsort_r(sd->by_name, sd->n, sizeof *sd->by_name, cmp_name, sd->ents);
    for (size_t i = 1; i < sd->n; i++)
        if (strcmp(sd->ents[sd->by_name[i - 1]].name, sd->ents[sd->by_name[i]].name) == 0)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\" appears twice", path, sd->ents[sd->by_name[i]].name);
    return VKT_OK;
}

static vkt_status from_torch(vkt_state_dict *sd, const char *path, vkt_err *err)
{
    const vkt_py *root = vkt_torch_root(sd->torch), *inner = vkt_py_get(root, "state_dict");
    if (inner && inner->kind == VKT_PY_DICT) root = inner;
    if (!root || root->kind != VKT_PY_DICT)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: holds a %s, not a dict of tensors", path,
                        root ? vkt_py_kind_name(root->kind) : "nothing");
    size_t n = vkt_py_len(root);
    sd->ents = vkt_calloc(n + 1, sizeof *sd->ents);
    if (!sd->ents) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *k = vkt_py_str(vkt_py_key(root, i));
        const vkt_tensor_data *t = vkt_py_tensor(vkt_py_value(root, i));
        if (!k || !t) {
            sd->skipped++;
            continue;
        }
        sd->ents[sd->n].name = k;
        sd->ents[sd->n].t = t;
        sd->n++;
    }
    return index_names(sd, path, err);
}

static vkt_status from_safetensors(vkt_state_dict *sd, const char *path, vkt_err *err)
{
    size_t n = vkt_safetensors_count(sd->st);
    sd->ents = vkt_calloc(n + 1, sizeof *sd->ents);
    if (!sd->ents) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        sd->ents[i].name = vkt_safetensors_name(sd->st, i);
        sd->ents[i].t = vkt_safetensors_at(sd->st, i);
    }
    sd->n = n;
    return index_names(sd, path, err);
}

vkt_status vkt_state_dict_open(const char *path, unsigned flags, vkt_state_dict **out, vkt_err *err)
{
    vkt_state_dict *sd = vkt_calloc(1, sizeof *sd);
    if (!sd) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    /* sniff the first bytes */
    uint8_t head[16] = {0};
    FILE *fp = fopen(path, "rb");
    size_t got = fp ? fread(head, 1, sizeof head, fp) : 0;
    if (fp) fclose(fp);
    vkt_status s;
    if (vkt_zip_is_zip(head, got)) {
        sd->fmt = VKT_FORMAT_TORCH;
        s = vkt_torch_open(path, (flags & VKT_STATE_DICT_SKIP_CRC) ? VKT_TORCH_SKIP_CRC : 0, &sd->torch, err);
        if (!s) s = from_torch(sd, path, err);
    } else if (vkt_torch_is_legacy(head, got)) { /* pre-1.6 torch.save: refused with a clear message */
        sd->fmt = VKT_FORMAT_TORCH;
        s = vkt_torch_open(path, 0, &sd->torch, err);
    } else {
        sd->fmt = VKT_FORMAT_SAFETENSORS;
        s = vkt_safetensors_open(path, &sd->st, err);
        if (!s) s = from_safetensors(sd, path, err);
    }
    if (s) {
        vkt_state_dict_close(sd);
        return s;
    }
    *out = sd;
    return VKT_OK;
}

void vkt_state_dict_close(vkt_state_dict *sd)
{
    if (!sd) return;
    vkt_safetensors_close(sd->st);
    vkt_torch_close(sd->torch);
    free(sd->ents);
    free(sd->by_name);
    free(sd);
}

vkt_file_format vkt_state_dict_format(const vkt_state_dict *sd) { return sd->fmt; }
const char *vkt_file_format_name(vkt_file_format f) { return f == VKT_FORMAT_TORCH ? "torch" : "safetensors"; }
size_t vkt_state_dict_count(const vkt_state_dict *sd) { return sd->n; }
const char *vkt_state_dict_name(const vkt_state_dict *sd, size_t i) { return i < sd->n ? sd->ents[i].name : NULL; }
const vkt_tensor_data *vkt_state_dict_at(const vkt_state_dict *sd, size_t i) { return i < sd->n ? sd->ents[i].t : NULL; }

const vkt_tensor_data *vkt_state_dict_find(const vkt_state_dict *sd, const char *key)
{
    size_t lo = 0, hi = sd->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const sd_entry *e = &sd->ents[sd->by_name[mid]];
        int c = strcmp(key, e->name);
        if (!c) return e->t;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *vkt_state_dict_meta(const vkt_state_dict *sd, const char *key)
{
    return sd->st ? vkt_safetensors_meta(sd->st, key) : NULL;
}

const vkt_py *vkt_state_dict_pickle_root(const vkt_state_dict *sd) { return sd->torch ? vkt_torch_root(sd->torch) : NULL; }
size_t vkt_state_dict_skipped(const vkt_state_dict *sd) { return sd->skipped; }
