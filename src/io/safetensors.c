/* safetensors reader and writer. Knows nothing of Vulkan; every offset, length and shape read
 * from a file is bounded by the file size with checked arithmetic before it is used. Checks
 * follow the reference implementation (huggingface/safetensors, lib.rs: validate()). */
#define _GNU_SOURCE
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/checked.h"
#include "base/fault.h"
#include "base/file.h"
#include "io/json_util.h"

typedef struct entry {
    const char *name; /* in the arena */
    vkt_tensor_data t;
    size_t begin, end; /* relative to the data buffer */
} entry;

struct vkt_safetensors {
    vkt_mmap map; /* owned when opened from a path */
    const uint8_t *base;
    size_t size, data_off;
    char label[256]; /* file name for messages */
    vkt_arena arena; /* names, metadata strings */
    entry *ents;     /* owned, header order */
    size_t n;
    size_t *by_name; /* owned: indices sorted by name */
    const char **meta_k, **meta_v;
    size_t n_meta;
};

/* ---- reader ---- */

static int cmp_name(const void *a, const void *b, void *ctx)
{
    const entry *e = ctx;
    return strcmp(e[*(const size_t *)a].name, e[*(const size_t *)b].name);
}

static int cmp_range(const void *a, const void *b, void *ctx)
{
    const entry *e = ctx;
    const entry *x = &e[*(const size_t *)a], *y = &e[*(const size_t *)b];
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* A JSON number that is an exact non-negative integer below 2^53 (doubles are exact there). */
static bool json_uint(const cJSON *j, size_t *out)
{
    if (!cJSON_IsNumber(j)) return false;
    double d = j->valuedouble;
    if (!isfinite(d) || d < 0 || d != floor(d) || d >= 9007199254740992.0) return false;
    if (d > (double)SIZE_MAX) return false;
    *out = (size_t)d;
    return true;
}

static vkt_status parse_entry(vkt_safetensors *st, const cJSON *j, entry *e, size_t data_len,
                              vkt_err *err)
{
    const char *nm = e->name, *lb = st->label;
    if (!cJSON_IsObject(j))
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\": header entry is not an object", lb, nm);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(j, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(j, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
    if (!cJSON_IsString(jd))
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\": missing dtype", lb, nm);
    if (!vkt_io_dtype_parse(jd->valuestring, &e->t.dtype))
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\": unsupported dtype \"%.32s\"", lb, nm,
                        jd->valuestring);
    if (!cJSON_IsArray(js))
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\": missing shape", lb, nm);
    int nd = cJSON_GetArraySize(js);
    if (nd > VKT_IO_MAX_DIMS)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\": %d dims, at most %d supported", lb, nm,
                        nd, VKT_IO_MAX_DIMS);
    e->t.ndim = nd;
    size_t numel = 1, bytes;
    bool overflow = false;
    int k = 0;
    for (const cJSON *d = js->child; d; d = d->next, k++) {
        size_t v;
        if (!json_uint(d, &v))
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\": shape[%d] is not a non-negative integer",
                            lb, nm, k);
        e->t.shape[k] = (int64_t)v;
        if (!vkt_mul_ok(numel, v, &numel)) overflow = true;
    }
    /* a zero dim makes the product 0 even after an overflowing prefix */
    for (int i = 0; i < nd; i++)
        if (e->t.shape[i] == 0) numel = 0, overflow = false;
    if (overflow || !vkt_mul_ok(numel, vkt_io_dtype_size(e->t.dtype), &bytes))
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\": shape too large (size overflows)", lb, nm);
    size_t b, en;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || !json_uint(jo->child, &b) ||
        !json_uint(jo->child->next, &en))
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\": data_offsets must be two non-negative integers",
                        lb, nm);
    if (b > en)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%zu, %zu] end before begin", lb,
                        nm, b, en);
    if (en > data_len)
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "%s: tensor \"%s\": data_offsets [%zu, %zu] past the end of the data (%zu bytes)", lb,
                        nm, b, en, data_len);
    if (en - b != bytes)
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "%s: tensor \"%s\": %s x %zu elements needs %zu bytes, data_offsets give %zu", lb, nm,
                        vkt_io_dtype_name(e->t.dtype), numel, bytes, en - b);
    e->begin = b;
    e->end = en;
    e->t.bytes = bytes;
    e->t.data = st->base + st->data_off + b;
    vkt_tensor_data_set_contiguous(&e->t);
    return VKT_OK;
}

static vkt_status parse_meta(vkt_safetensors *st, const cJSON *j, vkt_err *err)
{
    if (!cJSON_IsObject(j))
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: __metadata__ is not an object", st->label);
    size_t n = (size_t)cJSON_GetArraySize(j);
    st->meta_k = vkt_arena_alloc(&st->arena, n * sizeof *st->meta_k + 1);
    st->meta_v = vkt_arena_alloc(&st->arena, n * sizeof *st->meta_v + 1);
    if (!st->meta_k || !st->meta_v) return vkt_fail(err, VKT_ERR_NOMEM, "%s: out of memory", st->label);
    for (const cJSON *m = j->child; m; m = m->next) {
        if (!cJSON_IsString(m))
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: __metadata__ \"%.64s\" is not a string", st->label,
                            m->string);
        for (size_t i = 0; i < st->n_meta; i++)
            if (strcmp(st->meta_k[i], m->string) == 0)
                return vkt_fail(err, VKT_ERR_FORMAT, "%s: __metadata__ key \"%.64s\" appears twice", st->label,
                                m->string);
        const char *k = vkt_arena_strdup(&st->arena, m->string);
        const char *v = vkt_arena_strdup(&st->arena, m->valuestring);
        if (!k || !v) return vkt_fail(err, VKT_ERR_NOMEM, "%s: out of memory", st->label);
        st->meta_k[st->n_meta] = k;
        st->meta_v[st->n_meta++] = v;
    }
    return VKT_OK;
}

static vkt_status parse(vkt_safetensors *st, vkt_err *err)
{
    vkt_status s = VKT_OK;
    cJSON *root = NULL;
    size_t *by_range = NULL;
    const char *lb = st->label;
    if (st->size < 8)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors file", lb, st->size);
    uint64_t n_header = vkt_rd_le64(st->base);
    if (n_header > VKT_SAFETENSORS_MAX_HEADER)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: header length %llu exceeds the limit of %u bytes", lb,
                        (unsigned long long)n_header, VKT_SAFETENSORS_MAX_HEADER);
    if (n_header > st->size - 8)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: header length %llu but the file has only %zu bytes", lb,
                        (unsigned long long)n_header, st->size);
    const uint8_t *h = st->base + 8;
    size_t hn = (size_t)n_header;
    st->data_off = 8 + hn;
    size_t data_len = st->size - st->data_off;
    if (hn < 2 || h[0] != '{')
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: header does not start with '{' (not a safetensors file?)", lb);
    if (memchr(h, 0, hn) || !vkt_utf8_valid(h, hn))
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: header is not valid UTF-8 text", lb);
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts((const char *)h, hn, &end, 0);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= (const char *)h && at <= (const char *)h + hn ? (size_t)(at - (const char *)h) : 0;
        s = vkt_fail(err, VKT_ERR_FORMAT, "%s: header is not valid JSON (near byte %zu)", lb, 8 + off);
        goto done;
    }
    for (const char *p = end; p && p < (const char *)h + hn; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            s = vkt_fail(err, VKT_ERR_FORMAT, "%s: trailing bytes after the JSON header", lb);
            goto done;
        }
    if (!cJSON_IsObject(root)) {
        s = vkt_fail(err, VKT_ERR_FORMAT, "%s: header is not a JSON object", lb);
        goto done;
    }
    size_t n_items = (size_t)cJSON_GetArraySize(root);
    st->ents = vkt_calloc(n_items ? n_items : 1, sizeof *st->ents);
    st->by_name = vkt_calloc(n_items ? n_items : 1, sizeof *st->by_name);
    by_range = vkt_calloc(n_items ? n_items : 1, sizeof *by_range);
    if (!st->ents || !st->by_name || !by_range) {
        s = vkt_fail(err, VKT_ERR_NOMEM, "%s: out of memory for %zu header entries", lb, n_items);
        goto done;
    }
    bool have_meta = false;
    for (const cJSON *j = root->child; j; j = j->next) {
        if (strcmp(j->string, "__metadata__") == 0) {
            if (have_meta) {
                s = vkt_fail(err, VKT_ERR_FORMAT, "%s: __metadata__ appears twice", lb);
                goto done;
            }
            have_meta = true;
            if ((s = parse_meta(st, j, err))) goto done;
            continue;
        }
        entry *e = &st->ents[st->n];
        e->name = vkt_arena_strdup(&st->arena, j->string);
        if (!e->name) {
            s = vkt_fail(err, VKT_ERR_NOMEM, "%s: out of memory", lb);
            goto done;
        }
        if ((s = parse_entry(st, j, e, data_len, err))) goto done;
        st->by_name[st->n] = st->n;
        by_range[st->n] = st->n;
        st->n++;
    }
    qsort_r(st->by_name, st->n, sizeof *st->by_name, cmp_name, st->ents);
    for (size_t i = 1; i < st->n; i++)
        if (strcmp(st->ents[st->by_name[i - 1]].name, st->ents[st->by_name[i]].name) == 0) {
            s = vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\" appears twice in the header", lb,
                         st->ents[st->by_name[i]].name);
            goto done;
        }
    /* Sorted by offset the ranges must tile the data buffer exactly. */
    qsort_r(by_range, st->n, sizeof *by_range, cmp_range, st->ents);
    size_t expect = 0;
    const char *prev = NULL;
    for (size_t i = 0; i < st->n; i++) {
        const entry *e = &st->ents[by_range[i]];
        if (e->begin < expect) {
            s = vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%zu, %zu] overlap tensor \"%s\"",
                         lb, e->name, e->begin, e->end, prev ? prev : "?");
            goto done;
        }
        if (e->begin > expect) {
            s = vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%zu, %zu] leave a hole at %zu",
                         lb, e->name, e->begin, e->end, expect);
            goto done;
        }
        expect = e->end;
        prev = e->name;
    }
    if (expect != data_len) {
        s = vkt_fail(err, VKT_ERR_FORMAT, "%s: %zu trailing bytes after the last tensor", lb, data_len - expect);
        goto done;
    }
done:
    cJSON_Delete(root);
    free(by_range);
    return s;
}

static vkt_status open_common(vkt_safetensors *st, const char *name, vkt_safetensors **out, vkt_err *err)
{
    snprintf(st->label, sizeof st->label, "%s", name ? name : "safetensors");
    vkt_status s = parse(st, err);
    if (s) {
        vkt_safetensors_close(st);
        return s;
    }
    *out = st;
    return VKT_OK;
}

vkt_status vkt_safetensors_open_memory(const uint8_t *data, size_t size, const char *name,
                                       vkt_safetensors **out, vkt_err *err)
{
    vkt_safetensors *st = vkt_calloc(1, sizeof *st);
    if (!st) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    vkt_arena_init(&st->arena, 16384);
    st->base = data;
    st->size = size;
    return open_common(st, name, out, err);
}

vkt_status vkt_safetensors_open(const char *path, vkt_safetensors **out, vkt_err *err)
{
    vkt_safetensors *st = vkt_calloc(1, sizeof *st);
    if (!st) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    vkt_arena_init(&st->arena, 16384);
    vkt_status s = vkt_mmap_open(path, &st->map, err);
    if (s) {
        free(st);
        return s;
    }
    st->base = st->map.data;
    st->size = st->map.size;
    return open_common(st, path, out, err);
}

void vkt_safetensors_close(vkt_safetensors *st)
{
    if (!st) return;
    vkt_mmap_close(&st->map);
    vkt_arena_fini(&st->arena);
    free(st->ents);
    free(st->by_name);
    free(st);
}

size_t vkt_safetensors_count(const vkt_safetensors *st) { return st->n; }
const char *vkt_safetensors_name(const vkt_safetensors *st, size_t i) { return i < st->n ? st->ents[i].name : NULL; }
const vkt_tensor_data *vkt_safetensors_at(const vkt_safetensors *st, size_t i)
{
    return i < st->n ? &st->ents[i].t : NULL;
}

const vkt_tensor_data *vkt_safetensors_find(const vkt_safetensors *st, const char *name)
{
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const entry *e = &st->ents[st->by_name[mid]];
        int c = strcmp(name, e->name);
        if (!c) return &e->t;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

size_t vkt_safetensors_meta_count(const vkt_safetensors *st) { return st->n_meta; }
const char *vkt_safetensors_meta_key(const vkt_safetensors *st, size_t i) { return i < st->n_meta ? st->meta_k[i] : NULL; }
const char *vkt_safetensors_meta(const vkt_safetensors *st, const char *key)
{
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_k[i], key) == 0) return st->meta_v[i];
    return NULL;
}

size_t vkt_safetensors_file_size(const vkt_safetensors *st) { return st->size; }
size_t vkt_safetensors_data_offset(const vkt_safetensors *st) { return st->data_off; }

/* ---- writer ---- */

typedef struct wentry {
    char *name; /* owned */
    vkt_io_dtype dtype;
    int ndim;
    int64_t shape[VKT_IO_MAX_DIMS];
    const void *data; /* borrowed */
    size_t bytes;
} wentry;

struct vkt_safetensors_writer {
    wentry *ents;
    size_t n, cap;
    char **meta; /* owned pairs: key, value, key, value ... */
    size_t n_meta, cap_meta;
};

vkt_status vkt_safetensors_writer_create(vkt_safetensors_writer **out, vkt_err *err)
{
    vkt_safetensors_writer *w = vkt_calloc(1, sizeof *w);
    if (!w) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    *out = w;
    return VKT_OK;
}

void vkt_safetensors_writer_destroy(vkt_safetensors_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->ents[i].name);
    for (size_t i = 0; i < 2 * w->n_meta; i++) free(w->meta[i]);
    free(w->ents);
    free(w->meta);
    free(w);
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = vkt_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

vkt_status vkt_safetensors_writer_add(vkt_safetensors_writer *w, const char *name, vkt_io_dtype dt,
                                      int ndim, const int64_t *shape, const void *data, vkt_err *err)
{
    if (strcmp(name, "__metadata__") == 0 || !vkt_utf8_valid((const uint8_t *)name, strlen(name)))
        return vkt_fail(err, VKT_ERR_USAGE, "safetensors writer: bad tensor name \"%.64s\"", name);
    if ((unsigned)dt >= VKT_IO_DTYPE_COUNT || ndim < 0 || ndim > VKT_IO_MAX_DIMS)
        return vkt_fail(err, VKT_ERR_USAGE, "safetensors writer: tensor \"%s\": bad dtype or ndim", name);
    size_t bytes = vkt_io_dtype_size(dt);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || !vkt_mul_ok(bytes, (size_t)shape[i], &bytes))
            return vkt_fail(err, VKT_ERR_USAGE, "safetensors writer: tensor \"%s\": bad shape", name);
    if (bytes && !data)
        return vkt_fail(err, VKT_ERR_USAGE, "safetensors writer: tensor \"%s\": no data", name);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->ents[i].name, name) == 0)
            return vkt_fail(err, VKT_ERR_USAGE, "safetensors writer: tensor \"%s\" added twice", name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        wentry *e = vkt_realloc(w->ents, cap * sizeof *e);
        if (!e) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
        w->ents = e;
        w->cap = cap;
    }
    wentry *e = &w->ents[w->n];
    memset(e, 0, sizeof *e);
    e->name = dupstr(name);
    if (!e->name) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    e->dtype = dt;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->data = data;
    e->bytes = bytes;
    w->n++;
    return VKT_OK;
}

vkt_status vkt_safetensors_writer_meta(vkt_safetensors_writer *w, const char *key, const char *value,
                                       vkt_err *err)
{
    if (!vkt_utf8_valid((const uint8_t *)key, strlen(key)) ||
        !vkt_utf8_valid((const uint8_t *)value, strlen(value)))
        return vkt_fail(err, VKT_ERR_USAGE, "safetensors writer: metadata is not UTF-8");
    char *v = dupstr(value);
    if (!v) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[2 * i], key) == 0) {
            free(w->meta[2 * i + 1]);
            w->meta[2 * i + 1] = v;
            return VKT_OK;
        }
    if (w->n_meta == w->cap_meta) {
        size_t cap = w->cap_meta ? 2 * w->cap_meta : 8;
        char **m = vkt_realloc(w->meta, 2 * cap * sizeof *m);
        if (!m) {
            free(v);
            return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
        }
        w->meta = m;
        w->cap_meta = cap;
    }
    char *k = dupstr(key);
    if (!k) {
        free(v);
        return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    }
    w->meta[2 * w->n_meta] = k;
    w->meta[2 * w->n_meta + 1] = v;
    w->n_meta++;
    return VKT_OK;
}

/* Header JSON (with the 8-byte length in front and the space padding) into b. */
static vkt_status build_header(const vkt_safetensors_writer *w, vkt_buf *b, vkt_err *err)
{
    vkt_buf_append(b, "\0\0\0\0\0\0\0\0", 8);
    vkt_buf_puts(b, "{");
    bool first = true;
    if (w->n_meta) {
        vkt_buf_puts(b, "\"__metadata__\":{");
        for (size_t i = 0; i < w->n_meta; i++) {
            if (i) vkt_buf_puts(b, ",");
            vkt_buf_json_str(b, w->meta[2 * i]);
            vkt_buf_puts(b, ":");
            vkt_buf_json_str(b, w->meta[2 * i + 1]);
        }
        vkt_buf_puts(b, "}");
        first = false;
    }
    size_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        const wentry *e = &w->ents[i];
        if (!first) vkt_buf_puts(b, ",");
        first = false;
        vkt_buf_json_str(b, e->name);
        vkt_buf_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", vkt_io_dtype_name(e->dtype));
        for (int d = 0; d < e->ndim; d++) vkt_buf_printf(b, "%s%lld", d ? "," : "", (long long)e->shape[d]);
        vkt_buf_printf(b, "],\"data_offsets\":[%zu,%zu]}", off, off + e->bytes);
        off += e->bytes;
    }
    vkt_buf_puts(b, "}");
    while (!b->failed && b->len % 8) vkt_buf_puts(b, " ");
    if (b->failed) return vkt_fail(err, VKT_ERR_NOMEM, "safetensors writer: out of memory for the header");
    vkt_wr_le64(b->data, (uint64_t)(b->len - 8));
    return VKT_OK;
}

vkt_status vkt_safetensors_writer_write(vkt_safetensors_writer *w, const char *path, vkt_err *err)
{
    vkt_buf b = {0};
    vkt_atomic_file f;
    vkt_status s = build_header(w, &b, err);
    if (s) goto done;
    if ((s = vkt_atomic_open(&f, path, err))) goto done;
    bool ok = fwrite(b.data, 1, b.len, f.fp) == b.len;
    for (size_t i = 0; ok && i < w->n; i++)
        if (w->ents[i].bytes) ok = fwrite(w->ents[i].data, 1, w->ents[i].bytes, f.fp) == w->ents[i].bytes;
    if (!ok) {
        vkt_atomic_abort(&f);
        s = vkt_fail(err, VKT_ERR_IO, "%s: write failed", path);
        goto done;
    }
    s = vkt_atomic_commit(&f, err);
done:
    vkt_buf_free(&b);
    return s;
}

vkt_status vkt_safetensors_writer_to_memory(vkt_safetensors_writer *w, uint8_t **out, size_t *out_n,
                                            vkt_err *err)
{
    vkt_buf b = {0};
    vkt_status s = build_header(w, &b, err);
    if (s) goto done;
    for (size_t i = 0; i < w->n; i++) vkt_buf_append(&b, w->ents[i].data, w->ents[i].bytes);
    if (b.failed) {
        s = vkt_fail(err, VKT_ERR_NOMEM, "safetensors writer: out of memory");
        goto done;
    }
    *out = b.data;
    *out_n = b.len;
    b.data = NULL;
done:
    vkt_buf_free(&b);
    return s;
}
