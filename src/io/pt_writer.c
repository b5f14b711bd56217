/* .pt writer: protocol-2 pickle in torch.save's shape (file-formats.md 3.2, "minimal writer
 * recipe") inside a STORED zip with 64-byte payload alignment. Depends on base, zlib (CRC-32). */
#define _POSIX_C_SOURCE 200809L
#include "io/pt_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/checked.h"
#include "base/fault.h"
#include "base/file.h"
#include "io/json_util.h"
#include "io/zip.h"

#define MAX_DEPTH 64

typedef enum { V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_DICT, V_ODICT, V_LIST, V_TUPLE, V_TENSOR } vkind;

struct vkt_pt_val {
    vkind kind;
    union {
        bool b;
        int64_t i;
        double f;
        const char *s;
        struct {
            vkt_pt_val **v; /* dicts: key, value, key, value, ... */
            size_t n, cap;
        } seq;
        struct {
            vkt_io_dtype dt;
            int ndim;
            int64_t shape[VKT_IO_MAX_DIMS];
            const void *data;
            size_t numel, bytes;
            bool requires_grad;
            long key; /* storage key in the current write, -1 before */
        } t;
    };
};

struct vkt_pt {
    vkt_arena arena;
    vkt_err first; /* first builder problem */
    bool failed;
    vkt_pt_val **tensors; /* storages of the current write, in key order (malloc'd) */
    size_t n_tensors, cap_tensors;
};

static void bfail(vkt_pt *b, vkt_status code, const char *msg)
{
    if (!b->failed) vkt_fail(&b->first, code, ".pt writer: %s", msg);
    b->failed = true;
}

vkt_status vkt_pt_create(vkt_pt **out, vkt_err *err)
{
    vkt_pt *b = vkt_calloc(1, sizeof *b);
    if (!b) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    vkt_arena_init(&b->arena, 1 << 14);
    *out = b;
    return VKT_OK;
}

void vkt_pt_destroy(vkt_pt *b)
{
    if (!b) return;
    vkt_arena_fini(&b->arena);
    free(b->tensors);
    free(b);
}

static vkt_pt_val *val(vkt_pt *b, vkind k)
{
    if (!b) return NULL;
    vkt_pt_val *v = vkt_arena_alloc(&b->arena, sizeof *v);
    if (!v) {
        bfail(b, VKT_ERR_NOMEM, "out of memory");
        return NULL;
    }
    v->kind = k;
    return v;
}

vkt_pt_val *vkt_pt_none(vkt_pt *b) { return val(b, V_NONE); }
vkt_pt_val *vkt_pt_bool(vkt_pt *b, bool x)
{
    vkt_pt_val *v = val(b, V_BOOL);
    if (v) v->b = x;
    return v;
}
vkt_pt_val *vkt_pt_int(vkt_pt *b, int64_t x)
{
    vkt_pt_val *v = val(b, V_INT);
    if (v) v->i = x;
    return v;
}
vkt_pt_val *vkt_pt_float(vkt_pt *b, double x)
{
    vkt_pt_val *v = val(b, V_FLOAT);
    if (v) v->f = x;
    return v;
}
vkt_pt_val *vkt_pt_str(vkt_pt *b, const char *s)
{
    if (!s || !vkt_utf8_valid((const uint8_t *)s, strlen(s))) {
        if (b) bfail(b, VKT_ERR_USAGE, "string is not UTF-8");
        return NULL;
    }
    vkt_pt_val *v = val(b, V_STR);
    if (v && !(v->s = vkt_arena_strdup(&b->arena, s))) {
        bfail(b, VKT_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return v;
}
vkt_pt_val *vkt_pt_dict(vkt_pt *b) { return val(b, V_DICT); }
vkt_pt_val *vkt_pt_ordered_dict(vkt_pt *b) { return val(b, V_ODICT); }
vkt_pt_val *vkt_pt_list(vkt_pt *b) { return val(b, V_LIST); }
vkt_pt_val *vkt_pt_tuple(vkt_pt *b) { return val(b, V_TUPLE); }

vkt_pt_val *vkt_pt_tensor(vkt_pt *b, vkt_io_dtype dt, int ndim, const int64_t *shape, const void *data,
                          bool requires_grad)
{
    if (!b) return NULL;
    if (dt != VKT_IO_F32 && dt != VKT_IO_F16 && dt != VKT_IO_BF16 && dt != VKT_IO_F64 && dt != VKT_IO_I64 &&
        dt != VKT_IO_I32 && dt != VKT_IO_U8) {
        bfail(b, VKT_ERR_USAGE, "tensor dtype not loadable by the webui");
        return NULL;
    }
    if (ndim < 0 || ndim > VKT_IO_MAX_DIMS) {
        bfail(b, VKT_ERR_USAGE, "tensor with too many dims");
        return NULL;
    }
    size_t numel = 1, bytes;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || !vkt_mul_ok(numel, (size_t)shape[i], &numel)) {
            bfail(b, VKT_ERR_USAGE, "bad tensor shape");
            return NULL;
        }
    if (!vkt_mul_ok(numel, vkt_io_dtype_size(dt), &bytes) || (bytes && !data)) {
        bfail(b, VKT_ERR_USAGE, "tensor without data");
        return NULL;
    }
    vkt_pt_val *v = val(b, V_TENSOR);
    if (!v) return NULL;
    v->t.dt = dt;
    v->t.ndim = ndim;
    for (int i = 0; i < ndim; i++) v->t.shape[i] = shape[i];
    v->t.data = data;
    v->t.numel = numel;
    v->t.bytes = bytes;
    v->t.requires_grad = requires_grad;
    v->t.key = -1;
    return v;
}

static bool seq_push(vkt_pt *b, vkt_pt_val *c, vkt_pt_val *x)
{
    if (c->seq.n == c->seq.cap) {
        size_t cap = c->seq.cap ? 2 * c->seq.cap : 8;
        vkt_pt_val **nv = vkt_arena_alloc(&b->arena, cap * sizeof *nv);
        if (!nv) {
            bfail(b, VKT_ERR_NOMEM, "out of memory");
            return false;
        }
        if (c->seq.n) memcpy(nv, c->seq.v, c->seq.n * sizeof *nv);
        c->seq.v = nv;
        c->seq.cap = cap;
    }
    c->seq.v[c->seq.n++] = x;
    return true;
}

static bool same_key(const vkt_pt_val *a, const vkt_pt_val *k)
{
    if (a->kind == V_STR && k->kind == V_STR) return strcmp(a->s, k->s) == 0;
    if (a->kind == V_INT && k->kind == V_INT) return a->i == k->i;
    return a == k;
}

void vkt_pt_set(vkt_pt *b, vkt_pt_val *d, vkt_pt_val *k, vkt_pt_val *v)
{
    if (!b) return;
    if (!d || !k || !v) {
        bfail(b, VKT_ERR_USAGE, "set with a missing dict, key or value");
        return;
    }
    if (d->kind != V_DICT && d->kind != V_ODICT) {
        bfail(b, VKT_ERR_USAGE, "set on something other than a dict");
        return;
    }
    if (k->kind != V_STR && k->kind != V_INT && k->kind != V_BOOL && k->kind != V_NONE && k->kind != V_FLOAT &&
        k->kind != V_TUPLE) {
        bfail(b, VKT_ERR_USAGE, "unhashable dict key");
        return;
    }
    for (size_t i = 0; i < d->seq.n; i += 2)
        if (same_key(d->seq.v[i], k)) {
            bfail(b, VKT_ERR_USAGE, "dict key set twice");
            return;
        }
    if (seq_push(b, d, k)) seq_push(b, d, v);
}

void vkt_pt_set_str(vkt_pt *b, vkt_pt_val *d, const char *key, vkt_pt_val *v)
{
    vkt_pt_set(b, d, vkt_pt_str(b, key), v);
}

void vkt_pt_set_int(vkt_pt *b, vkt_pt_val *d, int64_t key, vkt_pt_val *v) { vkt_pt_set(b, d, vkt_pt_int(b, key), v); }

void vkt_pt_append(vkt_pt *b, vkt_pt_val *s, vkt_pt_val *v)
{
    if (!b) return;
    if (!s || !v || (s->kind != V_LIST && s->kind != V_TUPLE)) {
        bfail(b, VKT_ERR_USAGE, "append needs a list or tuple and a value");
        return;
    }
    seq_push(b, s, v);
}

/* ---- pickling ---- */

static void op(vkt_buf *o, uint8_t c) { vkt_buf_append(o, &c, 1); }

static void emit_global(vkt_buf *o, const char *module, const char *name)
{
    op(o, 'c');
    vkt_buf_puts(o, module);
    op(o, '\n');
    vkt_buf_puts(o, name);
    op(o, '\n');
}

static void emit_int(vkt_buf *o, int64_t v)
{
    uint8_t b[9];
    if (v >= 0 && v < 256) {
        op(o, 'K');
        op(o, (uint8_t)v);
    } else if (v >= 0 && v < 65536) {
        op(o, 'M');
        vkt_wr_le16(b, (uint16_t)v);
        vkt_buf_append(o, b, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        op(o, 'J');
        vkt_wr_le32(b, (uint32_t)(int32_t)v);
        vkt_buf_append(o, b, 4);
    } else { /* LONG1: shortest little-endian two's complement */
        int n = 8;
        uint64_t u = (uint64_t)v;
        while (n > 1) {
            uint8_t top = (uint8_t)(u >> (8 * (n - 1))), next = (uint8_t)(u >> (8 * (n - 2)));
            if ((top == 0 && !(next & 0x80)) || (top == 0xff && (next & 0x80)))
                n--;
            else
                break;
        }
        op(o, 0x8a);
        op(o, (uint8_t)n);
        for (int i = 0; i < n; i++) op(o, (uint8_t)(u >> (8 * i)));
    }
}

static void emit_str(vkt_buf *o, const char *s)
{
    uint8_t b[4];
    size_t n = strlen(s);
    op(o, 'X');
    vkt_wr_le32(b, (uint32_t)n);
    vkt_buf_append(o, b, 4);
    vkt_buf_append(o, s, n);
}

static const char *storage_name(vkt_io_dtype dt)
{
    switch (dt) {
    case VKT_IO_F32: return "FloatStorage";
    case VKT_IO_F16: return "HalfStorage";
    case VKT_IO_BF16: return "BFloat16Storage";
    case VKT_IO_F64: return "DoubleStorage";
    case VKT_IO_I64: return "LongStorage";
    case VKT_IO_I32: return "IntStorage";
    default: return "ByteStorage";
    }
}

static void emit_empty_odict(vkt_buf *o)
{
    emit_global(o, "collections", "OrderedDict");
    op(o, ')');
    op(o, 'R');
}

static vkt_status emit(vkt_pt *b, vkt_buf *o, vkt_pt_val *v, int depth, vkt_err *err)
{
    if (depth > MAX_DEPTH)
        return vkt_fail(err, VKT_ERR_USAGE, ".pt writer: values nested deeper than %d (a container inside itself?)",
                        MAX_DEPTH);
    vkt_status s;
    switch (v->kind) {
    case V_NONE: op(o, 'N'); break;
    case V_BOOL: op(o, v->b ? 0x88 : 0x89); break;
    case V_INT: emit_int(o, v->i); break;
    case V_FLOAT: {
        uint64_t u;
        memcpy(&u, &v->f, 8);
        op(o, 'G');
        for (int i = 7; i >= 0; i--) op(o, (uint8_t)(u >> (8 * i))); /* big-endian */
        break;
    }
    case V_STR: emit_str(o, v->s); break;
    case V_DICT:
    case V_ODICT:
        if (v->kind == V_DICT)
            op(o, '}');
        else
            emit_empty_odict(o);
        for (size_t i = 0; i < v->seq.n; i += 2) {
            if (i % 2000 == 0) op(o, '('); /* torch/pickle batch 1000 items per SETITEMS */
            if ((s = emit(b, o, v->seq.v[i], depth + 1, err)) || (s = emit(b, o, v->seq.v[i + 1], depth + 1, err)))
                return s;
            if (i % 2000 == 1998 || i + 2 == v->seq.n) op(o, 'u');
        }
        break;
    case V_LIST:
        op(o, ']');
        for (size_t i = 0; i < v->seq.n; i++) {
            if (i % 1000 == 0) op(o, '(');
            if ((s = emit(b, o, v->seq.v[i], depth + 1, err))) return s;
            if (i % 1000 == 999 || i + 1 == v->seq.n) op(o, 'e');
        }
        break;
    case V_TUPLE:
        op(o, '(');
        for (size_t i = 0; i < v->seq.n; i++)
            if ((s = emit(b, o, v->seq.v[i], depth + 1, err))) return s;
        op(o, 't');
        break;
    case V_TENSOR: {
        if (v->t.key < 0) {
            if (b->n_tensors == b->cap_tensors) {
                size_t cap = b->cap_tensors ? 2 * b->cap_tensors : 16;
                vkt_pt_val **nt = vkt_realloc(b->tensors, cap * sizeof *nt);
                if (!nt) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
                b->tensors = nt;
                b->cap_tensors = cap;
            }
            v->t.key = (long)b->n_tensors;
            b->tensors[b->n_tensors++] = v;
        }
        char key[32];
        snprintf(key, sizeof key, "%ld", v->t.key);
        emit_global(o, "torch._utils", "_rebuild_tensor_v2");
        op(o, '(');
        op(o, '(');
        emit_str(o, "storage");
        emit_global(o, "torch", storage_name(v->t.dt));
        emit_str(o, key);
        emit_str(o, "cpu");
        emit_int(o, (int64_t)v->t.numel);
        op(o, 't');
        op(o, 'Q');
        emit_int(o, 0); /* storage offset */
        op(o, '(');
        for (int i = 0; i < v->t.ndim; i++) emit_int(o, v->t.shape[i]);
        op(o, 't');
        op(o, '(');
        int64_t stride = 1, strides[VKT_IO_MAX_DIMS];
        for (int i = v->t.ndim - 1; i >= 0; i--) {
            strides[i] = stride;
            stride *= v->t.shape[i];
        }
        for (int i = 0; i < v->t.ndim; i++) emit_int(o, strides[i]);
        op(o, 't');
        op(o, v->t.requires_grad ? 0x88 : 0x89);
        emit_empty_odict(o); /* backward hooks */
        op(o, 't');
        op(o, 'R');
        break;
    }
    }
    return VKT_OK;
}

static vkt_status write_zip(vkt_pt *b, const vkt_pt_val *root, const char *folder, FILE *fp, vkt_err *err)
{
    vkt_status s = VKT_OK;
    vkt_buf pkl = {0};
    vkt_zip_writer *zw = NULL;
    if (b->failed) {
        if (err) *err = b->first;
        return b->first.code;
    }
    if (!root) return vkt_fail(err, VKT_ERR_USAGE, ".pt writer: no root value");
    b->n_tensors = 0;
    op(&pkl, 0x80);
    op(&pkl, 2);
    s = emit(b, &pkl, (vkt_pt_val *)root, 0, err);
    op(&pkl, '.');
    if (s) goto done;
    if (pkl.failed) {
        s = vkt_fail(err, VKT_ERR_NOMEM, ".pt writer: out of memory");
        goto done;
    }
    if ((s = vkt_zip_writer_create(fp, 64, &zw, err))) goto done;
    char name[600];
    snprintf(name, sizeof name, "%s/data.pkl", folder);
    if ((s = vkt_zip_writer_add(zw, name, pkl.data, pkl.len, err))) goto done;
    for (size_t i = 0; i < b->n_tensors; i++) {
        snprintf(name, sizeof name, "%s/data/%zu", folder, i);
        if ((s = vkt_zip_writer_add(zw, name, b->tensors[i]->t.data, b->tensors[i]->t.bytes, err))) goto done;
    }
    snprintf(name, sizeof name, "%s/version", folder);
    if ((s = vkt_zip_writer_add(zw, name, "3\n", 2, err))) goto done;
    s = vkt_zip_writer_finish(zw, err);
done:
    for (size_t i = 0; i < b->n_tensors; i++) b->tensors[i]->t.key = -1;
    b->n_tensors = 0;
    vkt_zip_writer_destroy(zw);
    vkt_buf_free(&pkl);
    return s;
}

/* torch.save's folder name: the file name without its last extension; "archive" when that
 * would not be a safe single path component. */
static void folder_of(const char *path, char *out, size_t n)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, n, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
    bool ok = out[0] && strcmp(out, "..") != 0 && strcmp(out, ".") != 0 && strlen(out) < 200;
    for (const char *p = out; *p && ok; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\' || *p == ':') ok = false;
    if (!ok) snprintf(out, n, "archive");
}

vkt_status vkt_pt_write(vkt_pt *b, const vkt_pt_val *root, const char *path, vkt_err *err)
{
    char folder[256];
    folder_of(path, folder, sizeof folder);
    vkt_atomic_file f;
    vkt_status s = vkt_atomic_open(&f, path, err);
    if (s) return s;
    if ((s = write_zip(b, root, folder, f.fp, err))) {
        vkt_atomic_abort(&f);
        vkt_err_prefix(err, "%s", path);
        return s;
    }
    return vkt_atomic_commit(&f, err);
}

vkt_status vkt_pt_write_memory(vkt_pt *b, const vkt_pt_val *root, const char *folder, uint8_t **out, size_t *out_n,
                               vkt_err *err)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *fp = open_memstream(&buf, &n);
    if (!fp) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    vkt_status s = write_zip(b, root, folder, fp, err);
    if (fclose(fp) != 0 && !s) s = vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    if (s) {
        free(buf);
        return s;
    }
    *out = (uint8_t *)buf;
    *out_n = n;
    return VKT_OK;
}
