/* Restricted unpickler for torch.save streams. Nothing is executed: GLOBAL/STACK_GLOBAL only
 * resolve names in the fixed allowlist below, REDUCE/NEWOBJ/BUILD only apply the matching data
 * constructor, everything else fails with a message naming the global or opcode. Opcode
 * semantics from CPython Lib/pickletools.py; the allowlist mirrors the webui's
 * modules/safe.py RestrictedUnpickler (plus the Bool/Char/Short storages). Depends on base only. */
#include "io/pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/checked.h"
#include "base/fault.h"
#include "io/json_util.h"

enum gkind {
    G_ODICT,
    G_REBUILD_V2,
    G_REBUILD_PARAM,
    G_REBUILD_NUMPY,
    G_STORAGE,
    G_TORCH_DTYPE,
    G_PARAMDICT,
    G_NP_SCALAR,
    G_NP_RECONSTRUCT,
    G_NP_NDARRAY,
    G_NP_DTYPE,
    G_CODECS_ENCODE,
    G_LIGHTNING,
    G_SET,
};

static const struct allow {
    const char *module, *name;
    enum gkind kind;
    vkt_io_dtype dt;
    bool not_webui; /* vktrain reads it, the webui's safe loader refuses it */
} allowlist[] = {
    {"collections", "OrderedDict", G_ODICT, 0},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_V2, 0},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAM, 0},
    {"torch._utils", "_rebuild_device_tensor_from_numpy", G_REBUILD_NUMPY, 0},
    {"torch", "FloatStorage", G_STORAGE, VKT_IO_F32},
    {"torch", "HalfStorage", G_STORAGE, VKT_IO_F16},
    {"torch", "BFloat16Storage", G_STORAGE, VKT_IO_BF16},
    {"torch", "DoubleStorage", G_STORAGE, VKT_IO_F64},
    {"torch", "LongStorage", G_STORAGE, VKT_IO_I64},
    {"torch", "IntStorage", G_STORAGE, VKT_IO_I32},
    {"torch", "ShortStorage", G_STORAGE, VKT_IO_I16, true},
    {"torch", "CharStorage", G_STORAGE, VKT_IO_I8, true},
    {"torch", "ByteStorage", G_STORAGE, VKT_IO_U8},
    {"torch", "BoolStorage", G_STORAGE, VKT_IO_BOOL, true},
    {"torch", "float32", G_TORCH_DTYPE, VKT_IO_F32},
    {"torch", "float16", G_TORCH_DTYPE, VKT_IO_F16, true},
    {"torch", "bfloat16", G_TORCH_DTYPE, VKT_IO_BF16, true},
    {"torch", "float64", G_TORCH_DTYPE, VKT_IO_F64, true},
    {"torch.nn.modules.container", "ParameterDict", G_PARAMDICT, 0},
    {"numpy.core.multiarray", "scalar", G_NP_SCALAR, 0},
    {"numpy.core.multiarray", "_reconstruct", G_NP_RECONSTRUCT, 0},
    {"numpy", "ndarray", G_NP_NDARRAY, 0},
    {"numpy", "dtype", G_NP_DTYPE, 0},
    {"_codecs", "encode", G_CODECS_ENCODE, 0},
    {"pytorch_lightning.callbacks", "model_checkpoint", G_LIGHTNING, 0},
    {"pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint", G_LIGHTNING, 0},
    {"__builtin__", "set", G_SET, 0},
    {"builtins", "set", G_SET, 0, true},
};
#define N_ALLOW (sizeof allowlist / sizeof allowlist[0])

struct vkt_pickle {
    vkt_arena arena; /* every node, string and array */
    vkt_py *root;
    const struct allow *not_webui; /* first global the webui would refuse, or NULL */
};

typedef struct up {
    vkt_pickle *pk;
    const uint8_t *d;
    size_t n, pos, op_pos;
    const char *label;
    vkt_err *err;
    vkt_pickle_storage_fn resolve;
    void *ctx;
    vkt_py **stack; /* malloc'd */
    size_t sp, scap;
    size_t *marks; /* malloc'd */
    size_t nmarks, mcap;
    vkt_py **memo; /* malloc'd */
    size_t nmemo, n_puts;
    vkt_py *storages; /* DICT: key -> STORAGE node */
} up;


static vkt_status fail(up *u, vkt_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static vkt_status fail(up *u, vkt_status code, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vkt_fail(u->err, code, "%s: pickle offset %zu: %s", u->label, u->op_pos, msg);
}

static vkt_status oom(up *u) { return fail(u, VKT_ERR_NOMEM, "out of host memory"); }

static vkt_py *node(up *u, vkt_py_kind k)
{
    vkt_py *o = vkt_arena_alloc(&u->pk->arena, sizeof *o);
    if (o) o->kind = k;
    return o;
}

static char *adup(up *u, const uint8_t *p, size_t n)
{
    if (n == SIZE_MAX) return NULL;
    char *s = vkt_arena_alloc(&u->pk->arena, n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

/* ---- growable arrays in the arena (old copies are left behind: at most 2x waste) ---- */

static bool grow(up *u, vkt_py ***v, size_t *cap, size_t need)
{
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 4;
    while (c < need) {
        if (c > SIZE_MAX / 2 / sizeof(vkt_py *)) return false;
        c *= 2;
    }
    vkt_py **nv = vkt_arena_alloc(&u->pk->arena, c * sizeof *nv);
    if (!nv) return false;
    if (*v) memcpy(nv, *v, *cap * sizeof *nv);
    *v = nv;
    *cap = c;
    return true;
}

/* ---- dict with a hash index over str/int keys ---- */

static bool key_hashable(const vkt_py *k)
{
    return k->kind == VKT_PY_STR || k->kind == VKT_PY_INT || k->kind == VKT_PY_BOOL;
}

static uint64_t key_hash(const vkt_py *k)
{
    uint64_t h;
    if (k->kind == VKT_PY_STR) {
        h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < k->str.n; i++) h = (h ^ (uint8_t)k->str.s[i]) * 0x100000001b3ull;
    } else {
        h = (uint64_t)(k->kind == VKT_PY_BOOL ? (int64_t)k->b : k->i) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    return h;
}

static bool key_eq(const vkt_py *a, const vkt_py *b)
{
    if (a->kind == VKT_PY_STR || b->kind == VKT_PY_STR)
        return a->kind == b->kind && a->str.n == b->str.n && memcmp(a->str.s, b->str.s, a->str.n) == 0;
    int64_t x, y; /* Python: True == 1 as dict keys */
    if (vkt_py_int(a, &x) && vkt_py_int(b, &y)) return x == y;
    return a == b;
}

/* Index of key in d, or SIZE_MAX. Non-hashable keys are never found (they are not de-duplicated). */
static size_t dict_find(const vkt_py *d, const vkt_py *key)
{
    if (!key_hashable(key)) return SIZE_MAX;
    if (!d->dict.hash) {
        for (size_t i = d->dict.n; i-- > 0;)
            if (key_hashable(d->dict.k[i]) && key_eq(d->dict.k[i], key)) return i;
        return SIZE_MAX;
    }
    size_t mask = d->dict.hcap - 1;
    for (size_t h = (size_t)key_hash(key) & mask;; h = (h + 1) & mask) {
        uint32_t slot = d->dict.hash[h];
        if (!slot) return SIZE_MAX;
        if (key_eq(d->dict.k[slot - 1], key)) return slot - 1;
    }
}

static void hash_insert(vkt_py *d, size_t idx)
{
    size_t mask = d->dict.hcap - 1;
    size_t h = (size_t)key_hash(d->dict.k[idx]) & mask;
    while (d->dict.hash[h]) h = (h + 1) & mask;
    d->dict.hash[h] = (uint32_t)(idx + 1);
}

static vkt_status dict_set(up *u, vkt_py *d, vkt_py *k, vkt_py *v)
{
    size_t at = dict_find(d, k);
    if (at != SIZE_MAX) {
        d->dict.v[at] = v;
        return VKT_OK;
    }
    if (d->dict.n >= UINT32_MAX - 1) return fail(u, VKT_ERR_FORMAT, "dict too large");
    size_t cap = d->dict.cap;
    if (!grow(u, &d->dict.k, &cap, d->dict.n + 1)) return oom(u);
    cap = d->dict.cap;
    if (!grow(u, &d->dict.v, &cap, d->dict.n + 1)) return oom(u);
    d->dict.cap = cap;
    size_t idx = d->dict.n++;
    d->dict.k[idx] = k;
    d->dict.v[idx] = v;
    if (!key_hashable(k)) return VKT_OK;
    if (d->dict.n >= 8 && (d->dict.n * 2 > d->dict.hcap)) { /* (re)build the index at load <= 1/2 */
        size_t hc = 16;
        while (hc < d->dict.n * 4) hc *= 2;
        uint32_t *t = vkt_arena_alloc(&u->pk->arena, hc * sizeof *t);
        if (!t) return oom(u);
        d->dict.hash = t;
        d->dict.hcap = hc;
        for (size_t i = 0; i < d->dict.n; i++)
            if (key_hashable(d->dict.k[i])) hash_insert(d, i);
    } else if (d->dict.hash) {
        hash_insert(d, idx);
    }
    return VKT_OK;
}

/* ---- stack, marks, memo ---- */

static vkt_status push(up *u, vkt_py *o)
{
    if (!o) return oom(u);
    if (u->sp == u->scap) {
        size_t c = u->scap ? 2 * u->scap : 64;
        vkt_py **s = vkt_realloc(u->stack, c * sizeof *s);
        if (!s) return oom(u);
        u->stack = s;
        u->scap = c;
    }
    u->stack[u->sp++] = o;
    return VKT_OK;
}

static vkt_status pop(up *u, vkt_py **o)
{
    if (u->sp == 0 || (u->nmarks && u->marks[u->nmarks - 1] == u->sp))
        return fail(u, VKT_ERR_FORMAT, "stack underflow");
    *o = u->stack[--u->sp];
    return VKT_OK;
}

static vkt_status top(up *u, vkt_py **o)
{
    if (u->sp == 0 || (u->nmarks && u->marks[u->nmarks - 1] == u->sp))
        return fail(u, VKT_ERR_FORMAT, "stack underflow");
    *o = u->stack[u->sp - 1];
    return VKT_OK;
}

/* &u->stack[first], or NULL while the stack was never allocated (nothing pushed yet). */
static vkt_py **items_at(up *u, size_t first) { return u->stack ? u->stack + first : NULL; }

/* Pops back to the last MARK; the items are u->stack[*first .. u->sp_before). */
static vkt_status pop_mark(up *u, size_t *first, size_t *count)
{
    if (!u->nmarks) return fail(u, VKT_ERR_FORMAT, "no MARK on the stack");
    size_t m = u->marks[--u->nmarks];
    *first = m;
    *count = u->sp - m;
    u->sp = m;
    return VKT_OK;
}

static vkt_status memo_put(up *u, size_t idx)
{
    vkt_py *o;
    vkt_status s = top(u, &o);
    if (s) return s;
    /* picklers number memo entries densely; a far index would only be a way to make us allocate */
    if (idx > u->n_puts + 65536) return fail(u, VKT_ERR_FORMAT, "memo index %zu out of range", idx);
    if (idx >= u->nmemo) {
        size_t c = u->nmemo ? u->nmemo : 64;
        while (c <= idx) c *= 2;
        vkt_py **m = vkt_realloc(u->memo, c * sizeof *m);
        if (!m) return oom(u);
        memset(m + u->nmemo, 0, (c - u->nmemo) * sizeof *m);
        u->memo = m;
        u->nmemo = c;
    }
    u->memo[idx] = o;
    u->n_puts++;
    return VKT_OK;
}

static vkt_status memo_get(up *u, size_t idx)
{
    if (idx >= u->nmemo || !u->memo[idx]) return fail(u, VKT_ERR_FORMAT, "memo index %zu was never set", idx);
    return push(u, u->memo[idx]);
}

/* ---- containers: insertion freezes the item, mutation requires an unfrozen container ---- */

static vkt_status check_mutable(up *u, const vkt_py *c, const char *op)
{
    if (c->frozen)
        return fail(u, VKT_ERR_FORMAT, "%s changes a %s that is already inside another object (cycle?)", op,
                    vkt_py_kind_name(c->kind));
    return VKT_OK;
}

static vkt_status insert_check(up *u, const vkt_py *c, vkt_py *item)
{
    if (item == c) return fail(u, VKT_ERR_FORMAT, "a %s would contain itself", vkt_py_kind_name(c->kind));
    item->frozen = true;
    return VKT_OK;
}

static vkt_status seq_append(up *u, vkt_py *c, vkt_py *item)
{
    vkt_status s = insert_check(u, c, item);
    if (s) return s;
    if (!grow(u, &c->seq.v, &c->seq.cap, c->seq.n + 1)) return oom(u);
    c->seq.v[c->seq.n++] = item;
    return VKT_OK;
}

static vkt_py *make_seq(up *u, vkt_py_kind k, vkt_py **items, size_t n)
{
    vkt_py *t = node(u, k);
    if (!t) return NULL;
    if (n && !grow(u, &t->seq.v, &t->seq.cap, n)) return NULL;
    for (size_t i = 0; i < n; i++) {
        items[i]->frozen = true;
        t->seq.v[i] = items[i];
    }
    t->seq.n = n;
    return t;
}

static vkt_py *make_dict(up *u, const char *cls)
{
    vkt_py *d = node(u, VKT_PY_DICT);
    if (d) d->dict.cls = cls;
    return d;
}

static vkt_status add_items(up *u, vkt_py *c, vkt_py **items, size_t n, const char *op)
{
    vkt_status s = check_mutable(u, c, op);
    if (s) return s;
    if (c->kind == VKT_PY_DICT) {
        if (n % 2) return fail(u, VKT_ERR_FORMAT, "%s with an odd number of items", op);
        for (size_t i = 0; i < n; i += 2) {
            if ((s = insert_check(u, c, items[i])) || (s = insert_check(u, c, items[i + 1]))) return s;
            if ((s = dict_set(u, c, items[i], items[i + 1]))) return s;
        }
        return VKT_OK;
    }
    if (c->kind != VKT_PY_LIST && c->kind != VKT_PY_SET)
        return fail(u, VKT_ERR_FORMAT, "%s on a %s", op, vkt_py_kind_name(c->kind));
    for (size_t i = 0; i < n; i++)
        if ((s = seq_append(u, c, items[i]))) return s;
    return VKT_OK;
}

/* ---- constructors behind the allowlist ---- */

static const struct allow *allowed(const char *module, const char *name)
{
    for (size_t i = 0; i < N_ALLOW; i++)
        if (strcmp(allowlist[i].module, module) == 0 && strcmp(allowlist[i].name, name) == 0) return &allowlist[i];
    return NULL;
}

static vkt_status push_global(up *u, const char *module, const char *name)
{
    const struct allow *a = allowed(module, name);
    if (!a) return fail(u, VKT_ERR_FORMAT, "global %.80s.%.80s is not allowed (refused; nothing was run)", module, name);
    if (a->not_webui && !u->pk->not_webui) u->pk->not_webui = a;
    vkt_py *g = node(u, VKT_PY_GLOBAL);
    if (!g) return oom(u);
    g->global.module = a->module;
    g->global.name = a->name;
    g->global.id = (int)(a - allowlist);
    return push(u, g);
}

static bool tuple_ints(const vkt_py *t, int64_t *out, int max, int *n)
{
    if (!t || t->kind != VKT_PY_TUPLE || t->seq.n > (size_t)max) return false;
    for (size_t i = 0; i < t->seq.n; i++)
        if (t->seq.v[i]->kind != VKT_PY_INT) return false;
        else out[i] = t->seq.v[i]->i;
    *n = (int)t->seq.n;
    return true;
}

static const uint8_t empty_bytes[8];

static vkt_status rebuild_tensor(up *u, vkt_py *args, vkt_py **out)
{
    if (args->kind != VKT_PY_TUPLE || (args->seq.n != 6 && args->seq.n != 7))
        return fail(u, VKT_ERR_FORMAT, "_rebuild_tensor_v2 expects 6 or 7 arguments");
    vkt_py **a = args->seq.v;
    if (a[0]->kind != VKT_PY_STORAGE) return fail(u, VKT_ERR_FORMAT, "_rebuild_tensor_v2: argument 0 is not a storage");
    const vkt_py *st = a[0];
    int64_t off, size[VKT_IO_MAX_DIMS], stride[VKT_IO_MAX_DIMS];
    int nd = 0, ns = 0;
    if (a[1]->kind != VKT_PY_INT || (off = a[1]->i) < 0)
        return fail(u, VKT_ERR_FORMAT, "_rebuild_tensor_v2: bad storage offset");
    if (!tuple_ints(a[2], size, VKT_IO_MAX_DIMS, &nd) || !tuple_ints(a[3], stride, VKT_IO_MAX_DIMS, &ns) || nd != ns)
        return fail(u, VKT_ERR_FORMAT, "_rebuild_tensor_v2: size/stride must be int tuples of equal length <= %d",
                    VKT_IO_MAX_DIMS);
    if (a[4]->kind != VKT_PY_BOOL) return fail(u, VKT_ERR_FORMAT, "_rebuild_tensor_v2: requires_grad is not a bool");
    if (a[5]->kind != VKT_PY_DICT || a[5]->dict.n)
        return fail(u, VKT_ERR_FORMAT, "_rebuild_tensor_v2: tensors with backward hooks are refused");
    if (args->seq.n == 7 && a[6]->kind != VKT_PY_DICT && a[6]->kind != VKT_PY_NONE)
        return fail(u, VKT_ERR_FORMAT, "_rebuild_tensor_v2: bad metadata argument");
    size_t es = vkt_io_dtype_size(st->storage.dtype), numel = 1, span = 0, t;
    bool empty = false;
    for (int i = 0; i < nd; i++) {
        if (size[i] < 0 || stride[i] < 0)
            return fail(u, VKT_ERR_FORMAT, "_rebuild_tensor_v2: negative size or stride");
        if (size[i] == 0) empty = true;
    }
    for (int i = 0; i < nd && !empty; i++) {
        if (!vkt_mul_ok(numel, (size_t)size[i], &numel) || !vkt_mul_ok((size_t)(size[i] - 1), (size_t)stride[i], &t) ||
            !vkt_add_ok(span, t, &span))
            return fail(u, VKT_ERR_FORMAT, "_rebuild_tensor_v2: size overflows");
    }
    vkt_py *o = node(u, VKT_PY_TENSOR);
    if (!o) return oom(u);
    vkt_tensor_data *td = &o->tensor.t;
    td->dtype = st->storage.dtype;
    td->ndim = nd;
    for (int i = 0; i < nd; i++) td->shape[i] = size[i], td->strides[i] = stride[i];
    size_t last;
    if (empty) {
        if ((size_t)off > st->storage.numel)
            return fail(u, VKT_ERR_FORMAT, "storage \"%s\": offset %lld past its %zu elements", st->storage.key,
                        (long long)off, st->storage.numel);
        td->data = st->storage.data ? st->storage.data : empty_bytes;
        td->bytes = 0;
    } else {
        if (!vkt_add_ok((size_t)off, span, &last) || last >= st->storage.numel)
            return fail(u, VKT_ERR_FORMAT, "storage \"%s\": tensor view (offset %lld, last element %zu) outside its %zu elements",
                        st->storage.key, (long long)off, (size_t)off + span, st->storage.numel);
        td->data = st->storage.data + (size_t)off * es;
        td->bytes = (span + 1) * es;
    }
    o->tensor.requires_grad = a[4]->b;
    *out = o;
    return VKT_OK;
}

/* numpy dtype descriptor string of a numpy.dtype OBJECT ('f8', '<f4', ...), or NULL. */
static const char *np_descr(const vkt_py *dt)
{
    if (!dt || dt->kind != VKT_PY_OBJECT || !dt->object.args || dt->object.args->kind != VKT_PY_TUPLE ||
        !dt->object.args->seq.n)
        return NULL;
    return vkt_py_str(dt->object.args->seq.v[0]);
}

static vkt_status np_scalar(up *u, vkt_py *args, vkt_py **out)
{
    if (args->kind != VKT_PY_TUPLE || args->seq.n != 2 || args->seq.v[1]->kind != VKT_PY_BYTES)
        return fail(u, VKT_ERR_UNSUPPORTED, "numpy scalar with unexpected arguments");
    const char *d = np_descr(args->seq.v[0]);
    const vkt_py *b = args->seq.v[1];
    if (!d) return fail(u, VKT_ERR_UNSUPPORTED, "numpy scalar without a dtype");
    if (*d == '<' || *d == '|' || *d == '=') d++;
    vkt_io_dtype dt;
    static const struct {
        const char *np;
        vkt_io_dtype dt;
    } m[] = {{"f8", VKT_IO_F64}, {"f4", VKT_IO_F32}, {"f2", VKT_IO_F16}, {"i8", VKT_IO_I64}, {"i4", VKT_IO_I32},
             {"i2", VKT_IO_I16}, {"i1", VKT_IO_I8},  {"u1", VKT_IO_U8},  {"u2", VKT_IO_U16}, {"u4", VKT_IO_U32},
             {"u8", VKT_IO_U64}, {"b1", VKT_IO_BOOL}};
    size_t k = 0;
    for (; k < sizeof m / sizeof m[0]; k++)
        if (strcmp(d, m[k].np) == 0) break;
    if (k == sizeof m / sizeof m[0]) return fail(u, VKT_ERR_UNSUPPORTED, "numpy scalar of dtype %.16s", d);
    dt = m[k].dt;
    if (b->str.n != vkt_io_dtype_size(dt)) return fail(u, VKT_ERR_FORMAT, "numpy scalar: %zu bytes for %s", b->str.n, d);
    vkt_tensor_data td = {.dtype = dt, .ndim = 0, .data = (const uint8_t *)b->str.s, .bytes = b->str.n};
    double v = vkt_tensor_data_get(&td, 0);
    vkt_py *o;
    if (vkt_io_dtype_is_float(dt)) {
        o = node(u, VKT_PY_FLOAT);
        if (o) o->f = v;
    } else if (dt == VKT_IO_BOOL) {
        o = node(u, VKT_PY_BOOL);
        if (o) o->b = v != 0;
    } else {
        /* 64-bit values from their bytes: the double v would round them (and overflow int64) */
        uint64_t raw = b->str.n == 8 ? vkt_rd_le64((const uint8_t *)b->str.s) : 0;
        if (dt == VKT_IO_U64 && raw > (uint64_t)INT64_MAX)
            return fail(u, VKT_ERR_UNSUPPORTED, "numpy uint64 scalar above 2^63");
        o = node(u, VKT_PY_INT);
        if (o) o->i = (dt == VKT_IO_I64 || dt == VKT_IO_U64) ? (int64_t)raw : (int64_t)v;
    }
    if (!o) return oom(u);
    *out = o;
    return VKT_OK;
}

/* _codecs.encode(text, 'latin1'): how protocol-2 pickles carry bytes objects. */
static vkt_status codecs_encode(up *u, vkt_py *args, vkt_py **out)
{
    if (args->kind != VKT_PY_TUPLE || args->seq.n != 2 || args->seq.v[0]->kind != VKT_PY_STR ||
        args->seq.v[1]->kind != VKT_PY_STR ||
        (strcmp(args->seq.v[1]->str.s, "latin1") != 0 && strcmp(args->seq.v[1]->str.s, "latin-1") != 0))
        return fail(u, VKT_ERR_UNSUPPORTED, "_codecs.encode is allowed only as (str, 'latin1')");
    const vkt_py *s = args->seq.v[0];
    vkt_py *o = node(u, VKT_PY_BYTES);
    uint8_t *b = o ? vkt_arena_alloc(&u->pk->arena, s->str.n + 1) : NULL;
    if (!b) return oom(u);
    size_t n = 0;
    const uint8_t *p = (const uint8_t *)s->str.s;
    for (size_t i = 0; i < s->str.n;) { /* valid UTF-8 already; code points must be < 256 */
        if (p[i] < 0x80) {
            b[n++] = p[i++];
        } else if ((p[i] & 0xe0) == 0xc0 && p[i] <= 0xc3) {
            b[n++] = (uint8_t)(((p[i] & 0x1f) << 6) | (p[i + 1] & 0x3f));
            i += 2;
        } else {
            return fail(u, VKT_ERR_FORMAT, "_codecs.encode: character outside latin-1");
        }
    }
    o->str.s = (const char *)b;
    o->str.n = n;
    *out = o;
    return VKT_OK;
}

static vkt_status reduce(up *u, vkt_py *fn, vkt_py *args, vkt_py **out)
{
    if (fn->kind != VKT_PY_GLOBAL) return fail(u, VKT_ERR_FORMAT, "REDUCE on a %s (refused)", vkt_py_kind_name(fn->kind));
    if (args->kind != VKT_PY_TUPLE) return fail(u, VKT_ERR_FORMAT, "REDUCE arguments are not a tuple");
    args->frozen = true;
    const struct allow *a = &allowlist[fn->global.id];
    size_t na = args->seq.n;
    vkt_py **av = args->seq.v;
    vkt_status s;
    switch (a->kind) {
    case G_ODICT: {
        vkt_py *d = make_dict(u, "collections.OrderedDict");
        if (!d) return oom(u);
        if (na == 1 && (av[0]->kind == VKT_PY_LIST || av[0]->kind == VKT_PY_TUPLE)) {
            for (size_t i = 0; i < av[0]->seq.n; i++) {
                vkt_py *p = av[0]->seq.v[i];
                if ((p->kind != VKT_PY_TUPLE && p->kind != VKT_PY_LIST) || p->seq.n != 2)
                    return fail(u, VKT_ERR_FORMAT, "OrderedDict() from something other than pairs");
                if ((s = dict_set(u, d, p->seq.v[0], p->seq.v[1]))) return s;
            }
        } else if (na != 0) {
            return fail(u, VKT_ERR_FORMAT, "OrderedDict() with unexpected arguments");
        }
        *out = d;
        return VKT_OK;
    }
    case G_REBUILD_V2: return rebuild_tensor(u, args, out);
    case G_REBUILD_PARAM: {
        if (na != 3 || av[0]->kind != VKT_PY_TENSOR || av[1]->kind != VKT_PY_BOOL || av[2]->kind != VKT_PY_DICT ||
            av[2]->dict.n)
            return fail(u, VKT_ERR_FORMAT, "_rebuild_parameter expects (tensor, bool, empty hooks)");
        vkt_py *o = node(u, VKT_PY_TENSOR);
        if (!o) return oom(u);
        o->tensor = av[0]->tensor;
        o->tensor.requires_grad = av[1]->b;
        o->tensor.parameter = true;
        *out = o;
        return VKT_OK;
    }
    case G_SET: {
        vkt_py *o = node(u, VKT_PY_SET);
        if (!o) return oom(u);
        if (na == 1 && (av[0]->kind == VKT_PY_LIST || av[0]->kind == VKT_PY_TUPLE)) {
            for (size_t i = 0; i < av[0]->seq.n; i++)
                if ((s = seq_append(u, o, av[0]->seq.v[i]))) return s;
        } else if (na != 0) {
            return fail(u, VKT_ERR_FORMAT, "set() with unexpected arguments");
        }
        *out = o;
        return VKT_OK;
    }
    case G_CODECS_ENCODE: return codecs_encode(u, args, out);
    case G_NP_SCALAR: return np_scalar(u, args, out);
    case G_NP_DTYPE:
    case G_NP_RECONSTRUCT: {
        vkt_py *o = node(u, VKT_PY_OBJECT);
        if (!o) return oom(u);
        o->object.cls = a->kind == G_NP_DTYPE ? "numpy.dtype" : "numpy.ndarray";
        o->object.args = args;
        *out = o;
        return VKT_OK;
    }
    case G_REBUILD_NUMPY:
        return fail(u, VKT_ERR_UNSUPPORTED, "torch._utils._rebuild_device_tensor_from_numpy is not supported");
    default: break;
    }
    return fail(u, VKT_ERR_FORMAT, "global %s.%s cannot be called (refused)", a->module, a->name);
}

static vkt_status newobj(up *u, vkt_py *cls, vkt_py *args, vkt_py **out)
{
    if (cls->kind != VKT_PY_GLOBAL || allowlist[cls->global.id].kind != G_PARAMDICT)
        return fail(u, VKT_ERR_FORMAT, "NEWOBJ of %s is refused",
                    cls->kind == VKT_PY_GLOBAL ? allowlist[cls->global.id].name : vkt_py_kind_name(cls->kind));
    if (args->kind != VKT_PY_TUPLE) return fail(u, VKT_ERR_FORMAT, "NEWOBJ arguments are not a tuple");
    args->frozen = true;
    vkt_py *o = node(u, VKT_PY_OBJECT);
    if (!o) return oom(u);
    o->object.cls = "torch.nn.modules.container.ParameterDict";
    o->object.args = args;
    *out = o;
    return VKT_OK;
}

static vkt_status build(up *u, vkt_py *target, vkt_py *state)
{
    vkt_status s = check_mutable(u, target, "BUILD");
    if (s) return s;
    if ((s = insert_check(u, target, state))) return s;
    if (target->kind == VKT_PY_OBJECT && !target->object.state) {
        target->object.state = state;
        return VKT_OK;
    }
    if (target->kind == VKT_PY_DICT && !target->dict.attrs) { /* OrderedDict._metadata */
        target->dict.attrs = state;
        return VKT_OK;
    }
    return fail(u, VKT_ERR_FORMAT, "BUILD on a %s is refused", vkt_py_kind_name(target->kind));
}

static vkt_status persistent_load(up *u, vkt_py *pid, vkt_py **out)
{
    if (pid->kind != VKT_PY_TUPLE || pid->seq.n != 5 || !vkt_py_str(pid->seq.v[0]) ||
        strcmp(pid->seq.v[0]->str.s, "storage") != 0)
        return fail(u, VKT_ERR_FORMAT, "persistent id is not a ('storage', ...) tuple (refused)");
    vkt_py **a = pid->seq.v;
    if (a[1]->kind != VKT_PY_GLOBAL || allowlist[a[1]->global.id].kind != G_STORAGE)
        return fail(u, VKT_ERR_UNSUPPORTED, "persistent id with an unsupported storage type");
    if (a[2]->kind != VKT_PY_STR || a[3]->kind != VKT_PY_STR || a[4]->kind != VKT_PY_INT || a[4]->i < 0)
        return fail(u, VKT_ERR_FORMAT, "malformed storage reference");
    vkt_io_dtype dt = allowlist[a[1]->global.id].dt;
    size_t at = dict_find(u->storages, a[2]);
    if (at != SIZE_MAX) {
        vkt_py *old = u->storages->dict.v[at];
        if (old->storage.dtype != dt || old->storage.numel != (size_t)a[4]->i)
            return fail(u, VKT_ERR_FORMAT, "storage \"%s\" referenced with two different types or sizes",
                        a[2]->str.s);
        *out = old;
        return VKT_OK;
    }
    if (!u->resolve) return fail(u, VKT_ERR_FORMAT, "storage \"%s\" referenced but no storages are available", a[2]->str.s);
    const uint8_t *data = NULL;
    size_t size = 0, need;
    vkt_status s = u->resolve(u->ctx, a[2]->str.s, &data, &size, u->err);
    if (s) return s;
    if (!vkt_mul_ok((size_t)a[4]->i, vkt_io_dtype_size(dt), &need) || size < need)
        return fail(u, VKT_ERR_FORMAT, "storage \"%s\" holds %zu bytes, %lld %s elements need more", a[2]->str.s,
                    size, (long long)a[4]->i, vkt_io_dtype_name(dt));
    vkt_py *o = node(u, VKT_PY_STORAGE);
    if (!o) return oom(u);
    o->storage.dtype = dt;
    o->storage.key = a[2]->str.s;
    o->storage.data = data;
    o->storage.numel = (size_t)a[4]->i;
    o->frozen = true;
    if ((s = dict_set(u, u->storages, a[2], o))) return s;
    *out = o;
    return VKT_OK;
}

/* ---- the opcode loop ---- */

static bool need(up *u, size_t k) { return u->n - u->pos >= k; }

static vkt_status read_line(up *u, const char **s, size_t *len)
{
    const uint8_t *p = u->d + u->pos, *nl = memchr(p, '\n', u->n - u->pos);
    if (!nl || nl - p > 256) return fail(u, VKT_ERR_FORMAT, "unterminated or overlong text argument");
    *s = (const char *)p;
    *len = (size_t)(nl - p);
    u->pos += *len + 1;
    return VKT_OK;
}

static vkt_status push_str(up *u, vkt_py_kind k, size_t len)
{
    if (!need(u, len)) return fail(u, VKT_ERR_FORMAT, "string of %zu bytes runs past the end", len);
    const uint8_t *p = u->d + u->pos;
    if (k == VKT_PY_STR && !vkt_utf8_valid(p, len)) return fail(u, VKT_ERR_FORMAT, "string is not valid UTF-8");
    vkt_py *o = node(u, k);
    if (!o) return oom(u);
    o->str.s = adup(u, p, len);
    o->str.n = len;
    if (!o->str.s) return oom(u);
    u->pos += len;
    return push(u, o);
}

static vkt_status push_int(up *u, int64_t v)
{
    vkt_py *o = node(u, VKT_PY_INT);
    if (o) o->i = v;
    return push(u, o);
}

static vkt_status parse_decimal(up *u, size_t *out)
{
    const char *s;
    size_t len, v = 0;
    vkt_status st = read_line(u, &s, &len);
    if (st) return st;
    if (!len || len > 9) return fail(u, VKT_ERR_FORMAT, "bad memo index");
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return fail(u, VKT_ERR_FORMAT, "bad memo index");
        v = v * 10 + (size_t)(s[i] - '0');
    }
    *out = v;
    return VKT_OK;
}

static vkt_status run(up *u)
{
    vkt_status s = VKT_OK;
    for (;;) {
        if (!need(u, 1)) return fail(u, VKT_ERR_FORMAT, "pickle ends without STOP (truncated?)");
        u->op_pos = u->pos;
        uint8_t op = u->d[u->pos++];
        vkt_py *a = NULL, *b = NULL, *c = NULL;
        size_t first = 0, cnt = 0;
        switch (op) {
        case 0x80: /* PROTO */
            if (!need(u, 1)) return fail(u, VKT_ERR_FORMAT, "truncated PROTO");
            if (u->d[u->pos] < 2 || u->d[u->pos] > 5)
                return fail(u, VKT_ERR_UNSUPPORTED, "pickle protocol %u not supported", u->d[u->pos]);
            u->pos++;
            break;
        case 0x95: /* FRAME: a length hint only */
            if (!need(u, 8) || vkt_rd_le64(u->d + u->pos) > u->n - u->pos - 8)
                return fail(u, VKT_ERR_FORMAT, "bad FRAME length");
            u->pos += 8;
            break;
        case '.': /* STOP */
            if (u->sp != 1 || u->nmarks) return fail(u, VKT_ERR_FORMAT, "STOP with %zu items and %zu marks on the stack", u->sp, u->nmarks);
            u->pk->root = u->stack[0];
            return VKT_OK;
        case '(': /* MARK */
            if (u->nmarks == u->mcap) {
                size_t cap = u->mcap ? 2 * u->mcap : 32;
                size_t *m = vkt_realloc(u->marks, cap * sizeof *m);
                if (!m) return oom(u);
                u->marks = m;
                u->mcap = cap;
            }
            u->marks[u->nmarks++] = u->sp;
            break;
        case '0': s = pop(u, &a); break;                  /* POP */
        case '1': s = pop_mark(u, &first, &cnt); break;   /* POP_MARK */
        case '2': s = top(u, &a); if (!s) s = push(u, a); break; /* DUP */
        case 'N': s = push(u, node(u, VKT_PY_NONE)); break;
        case 0x88: case 0x89: /* NEWTRUE / NEWFALSE */
            a = node(u, VKT_PY_BOOL);
            if (a) a->b = op == 0x88;
            s = push(u, a);
            break;
        case 'J': /* BININT */
            if (!need(u, 4)) return fail(u, VKT_ERR_FORMAT, "truncated BININT");
            s = push_int(u, (int32_t)vkt_rd_le32(u->d + u->pos));
            u->pos += 4;
            break;
        case 'K': /* BININT1 */
            if (!need(u, 1)) return fail(u, VKT_ERR_FORMAT, "truncated BININT1");
            s = push_int(u, u->d[u->pos++]);
            break;
        case 'M': /* BININT2 */
            if (!need(u, 2)) return fail(u, VKT_ERR_FORMAT, "truncated BININT2");
            s = push_int(u, vkt_rd_le16(u->d + u->pos));
            u->pos += 2;
            break;
        case 0x8a: case 0x8b: { /* LONG1 / LONG4: little-endian two's complement */
            size_t len;
            if (op == 0x8a) {
                if (!need(u, 1)) return fail(u, VKT_ERR_FORMAT, "truncated LONG1");
                len = u->d[u->pos++];
            } else {
                if (!need(u, 4)) return fail(u, VKT_ERR_FORMAT, "truncated LONG4");
                len = vkt_rd_le32(u->d + u->pos);
                u->pos += 4;
            }
            if (!need(u, len)) return fail(u, VKT_ERR_FORMAT, "truncated LONG");
            if (len > 8) return fail(u, VKT_ERR_UNSUPPORTED, "integer wider than 64 bits");
            uint64_t v = 0;
            for (size_t i = 0; i < len; i++) v |= (uint64_t)u->d[u->pos + i] << (8 * i);
            if (len && len < 8 && (u->d[u->pos + len - 1] & 0x80)) v |= ~0ull << (8 * len);
            u->pos += len;
            s = push_int(u, (int64_t)v);
            break;
        }
        case 'G': { /* BINFLOAT: big-endian double */
            if (!need(u, 8)) return fail(u, VKT_ERR_FORMAT, "truncated BINFLOAT");
            uint64_t v = 0;
            for (int i = 0; i < 8; i++) v = (v << 8) | u->d[u->pos + i];
            u->pos += 8;
            a = node(u, VKT_PY_FLOAT);
            if (a) memcpy(&a->f, &v, 8);
            s = push(u, a);
            break;
        }
        case 'X': case 'T': case 'B': /* BINUNICODE, BINSTRING, BINBYTES: u32 length */
            if (!need(u, 4)) return fail(u, VKT_ERR_FORMAT, "truncated string length");
            cnt = vkt_rd_le32(u->d + u->pos);
            u->pos += 4;
            if (op == 'T' && cnt > INT32_MAX) return fail(u, VKT_ERR_FORMAT, "negative BINSTRING length");
            s = push_str(u, op == 'B' ? VKT_PY_BYTES : VKT_PY_STR, cnt);
            break;
        case 0x8c: case 'U': case 'C': /* SHORT_BINUNICODE, SHORT_BINSTRING, SHORT_BINBYTES */
            if (!need(u, 1)) return fail(u, VKT_ERR_FORMAT, "truncated string length");
            cnt = u->d[u->pos++];
            s = push_str(u, op == 'C' ? VKT_PY_BYTES : VKT_PY_STR, cnt);
            break;
        case 0x8d: case 0x8e: case 0x96: { /* BINUNICODE8, BINBYTES8, BYTEARRAY8 */
            if (!need(u, 8)) return fail(u, VKT_ERR_FORMAT, "truncated string length");
            uint64_t len = vkt_rd_le64(u->d + u->pos);
            u->pos += 8;
            if (len > u->n) return fail(u, VKT_ERR_FORMAT, "string of %llu bytes runs past the end", (unsigned long long)len);
            s = push_str(u, op == 0x8d ? VKT_PY_STR : VKT_PY_BYTES, (size_t)len);
            break;
        }
        case ')': s = push(u, make_seq(u, VKT_PY_TUPLE, NULL, 0)); break;
        case ']': s = push(u, node(u, VKT_PY_LIST)); break;
        case '}': s = push(u, make_dict(u, "dict")); break;
        case 0x8f: s = push(u, node(u, VKT_PY_SET)); break; /* EMPTY_SET */
        case 't': case 'l': case 0x91: /* TUPLE, LIST, FROZENSET from the mark */
            if ((s = pop_mark(u, &first, &cnt))) break;
            a = make_seq(u, op == 't' ? VKT_PY_TUPLE : op == 'l' ? VKT_PY_LIST : VKT_PY_SET, items_at(u, first), cnt);
            s = push(u, a);
            break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            size_t k = (size_t)(op - 0x84);
            if (u->sp < k || (u->nmarks && u->marks[u->nmarks - 1] > u->sp - k))
                return fail(u, VKT_ERR_FORMAT, "stack underflow");
            u->sp -= k;
            s = push(u, make_seq(u, VKT_PY_TUPLE, u->stack + u->sp, k));
            break;
        }
        case 'd': /* DICT from the mark */
            if ((s = pop_mark(u, &first, &cnt))) break;
            a = make_dict(u, "dict");
            if (!a) return oom(u);
            if ((s = add_items(u, a, items_at(u, first), cnt, "DICT"))) break;
            s = push(u, a);
            break;
        case 'a': /* APPEND */
            if ((s = pop(u, &b)) || (s = top(u, &a))) break;
            s = add_items(u, a, &b, 1, "APPEND");
            if (!s && a->kind == VKT_PY_DICT) s = fail(u, VKT_ERR_FORMAT, "APPEND on a dict");
            break;
        case 'e': case 0x90: /* APPENDS, ADDITEMS */
            if ((s = pop_mark(u, &first, &cnt)) || (s = top(u, &a))) break;
            if (a->kind == VKT_PY_DICT) return fail(u, VKT_ERR_FORMAT, "APPENDS on a dict");
            s = add_items(u, a, items_at(u, first), cnt, op == 'e' ? "APPENDS" : "ADDITEMS");
            break;
        case 's': /* SETITEM */
            if ((s = pop(u, &c)) || (s = pop(u, &b)) || (s = top(u, &a))) break;
            if (a->kind != VKT_PY_DICT) return fail(u, VKT_ERR_FORMAT, "SETITEM on a %s", vkt_py_kind_name(a->kind));
            {
                vkt_py *kv[2] = {b, c};
                s = add_items(u, a, kv, 2, "SETITEM");
            }
            break;
        case 'u': /* SETITEMS */
            if ((s = pop_mark(u, &first, &cnt)) || (s = top(u, &a))) break;
            if (a->kind != VKT_PY_DICT) return fail(u, VKT_ERR_FORMAT, "SETITEMS on a %s", vkt_py_kind_name(a->kind));
            s = add_items(u, a, items_at(u, first), cnt, "SETITEMS");
            break;
        case 'c': { /* GLOBAL module\nname\n */
            const char *m, *nm;
            size_t ml, nl;
            if ((s = read_line(u, &m, &ml)) || (s = read_line(u, &nm, &nl))) break;
            char mb[260], nb[260];
            memcpy(mb, m, ml);
            mb[ml] = 0;
            memcpy(nb, nm, nl);
            nb[nl] = 0;
            for (size_t i = 0; i < ml + nl; i++) {
                unsigned char ch = (unsigned char)(i < ml ? mb[i] : nb[i - ml]);
                if (ch < 0x20 || ch >= 0x7f) return fail(u, VKT_ERR_FORMAT, "GLOBAL name is not printable ASCII (refused)");
            }
            s = push_global(u, mb, nb);
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            if ((s = pop(u, &b)) || (s = pop(u, &a))) break;
            if (a->kind != VKT_PY_STR || b->kind != VKT_PY_STR)
                return fail(u, VKT_ERR_FORMAT, "STACK_GLOBAL with non-string names (refused)");
            s = push_global(u, a->str.s, b->str.s);
            break;
        case 'R': /* REDUCE */
            if ((s = pop(u, &b)) || (s = pop(u, &a))) break;
            if ((s = reduce(u, a, b, &c))) break;
            s = push(u, c);
            break;
        case 0x81: /* NEWOBJ */
            if ((s = pop(u, &b)) || (s = pop(u, &a))) break;
            if ((s = newobj(u, a, b, &c))) break;
            s = push(u, c);
            break;
        case 'b': /* BUILD */
            if ((s = pop(u, &b)) || (s = top(u, &a))) break;
            s = build(u, a, b);
            break;
        case 'Q': /* BINPERSID */
            if ((s = pop(u, &a)) || (s = persistent_load(u, a, &b))) break;
            s = push(u, b);
            break;
        case 'q': /* BINPUT */
            if (!need(u, 1)) return fail(u, VKT_ERR_FORMAT, "truncated BINPUT");
            s = memo_put(u, u->d[u->pos++]);
            break;
        case 'r': /* LONG_BINPUT */
            if (!need(u, 4)) return fail(u, VKT_ERR_FORMAT, "truncated LONG_BINPUT");
            s = memo_put(u, vkt_rd_le32(u->d + u->pos));
            u->pos += 4;
            break;
        case 0x94: s = memo_put(u, u->n_puts); break; /* MEMOIZE */
        case 'p': if (!(s = parse_decimal(u, &cnt))) s = memo_put(u, cnt); break; /* PUT */
        case 'h': /* BINGET */
            if (!need(u, 1)) return fail(u, VKT_ERR_FORMAT, "truncated BINGET");
            s = memo_get(u, u->d[u->pos++]);
            break;
        case 'j': /* LONG_BINGET */
            if (!need(u, 4)) return fail(u, VKT_ERR_FORMAT, "truncated LONG_BINGET");
            s = memo_get(u, vkt_rd_le32(u->d + u->pos));
            u->pos += 4;
            break;
        case 'g': if (!(s = parse_decimal(u, &cnt))) s = memo_get(u, cnt); break; /* GET */
        case 'i': return fail(u, VKT_ERR_FORMAT, "opcode INST (class instantiation) is refused");
        case 'o': return fail(u, VKT_ERR_FORMAT, "opcode OBJ (class instantiation) is refused");
        case 0x92: return fail(u, VKT_ERR_FORMAT, "opcode NEWOBJ_EX is refused");
        case 0x82: case 0x83: case 0x84: return fail(u, VKT_ERR_FORMAT, "extension-registry opcodes are refused");
        case 'P': return fail(u, VKT_ERR_FORMAT, "text persistent ids are refused");
        case 0x97: case 0x98: return fail(u, VKT_ERR_UNSUPPORTED, "out-of-band buffers are not supported");
        default:
            if (op >= 0x20 && op < 0x7f)
                return fail(u, VKT_ERR_UNSUPPORTED, "pickle opcode '%c' (0x%02x) not supported", op, op);
            return fail(u, VKT_ERR_UNSUPPORTED, "pickle opcode 0x%02x not supported", op);
        }
        if (s) return s;
    }
}

vkt_status vkt_pickle_load(const uint8_t *data, size_t n, const char *label, vkt_pickle_storage_fn resolve,
                           void *ctx, vkt_pickle **out, vkt_err *err)
{
    if (n > VKT_PICKLE_MAX_BYTES)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: pickle of %zu bytes exceeds the limit of %u", label, n,
                        VKT_PICKLE_MAX_BYTES);
    vkt_pickle *pk = vkt_calloc(1, sizeof *pk);
    if (!pk) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    vkt_arena_init(&pk->arena, 1 << 16);
    up u = {.pk = pk, .d = data, .n = n, .label = label ? label : "pickle", .err = err, .resolve = resolve, .ctx = ctx};
    vkt_status s;
    u.storages = make_dict(&u, "dict");
    if (!u.storages)
        s = oom(&u);
    else
        s = run(&u);
    free(u.stack);
    free(u.marks);
    free(u.memo);
    if (s) {
        vkt_pickle_free(pk);
        return s;
    }
    *out = pk;
    return VKT_OK;
}

const vkt_py *vkt_pickle_root(const vkt_pickle *pk) { return pk ? pk->root : NULL; }

bool vkt_pickle_webui_ok(const vkt_pickle *pk, char *why, size_t why_n)
{
    if (!pk->not_webui) return true;
    if (why && why_n) snprintf(why, why_n, "global %s.%s", pk->not_webui->module, pk->not_webui->name);
    return false;
}

void vkt_pickle_free(vkt_pickle *pk)
{
    if (!pk) return;
    vkt_arena_fini(&pk->arena);
    free(pk);
}

/* ---- walking ---- */

const char *vkt_py_kind_name(vkt_py_kind k)
{
    static const char *names[] = {"none", "bool", "int",  "float",   "str",    "bytes",  "tuple",
                                  "list", "dict", "set",  "tensor",  "storage", "global", "object"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

const vkt_py *vkt_py_get(const vkt_py *d, const char *key)
{
    if (!d || d->kind != VKT_PY_DICT || !key) return NULL;
    vkt_py k = {.kind = VKT_PY_STR, .str = {key, strlen(key)}};
    size_t at = dict_find(d, &k);
    return at == SIZE_MAX ? NULL : d->dict.v[at];
}

const vkt_py *vkt_py_get_int(const vkt_py *d, int64_t key)
{
    if (!d || d->kind != VKT_PY_DICT) return NULL;
    vkt_py k = {.kind = VKT_PY_INT, .i = key};
    size_t at = dict_find(d, &k);
    return at == SIZE_MAX ? NULL : d->dict.v[at];
}

size_t vkt_py_len(const vkt_py *o)
{
    if (!o) return 0;
    if (o->kind == VKT_PY_DICT) return o->dict.n;
    if (o->kind == VKT_PY_TUPLE || o->kind == VKT_PY_LIST || o->kind == VKT_PY_SET) return o->seq.n;
    return 0;
}

const vkt_py *vkt_py_item(const vkt_py *o, size_t i)
{
    if (!o || (o->kind != VKT_PY_TUPLE && o->kind != VKT_PY_LIST && o->kind != VKT_PY_SET) || i >= o->seq.n)
        return NULL;
    return o->seq.v[i];
}

const vkt_py *vkt_py_key(const vkt_py *d, size_t i)
{
    return d && d->kind == VKT_PY_DICT && i < d->dict.n ? d->dict.k[i] : NULL;
}

const vkt_py *vkt_py_value(const vkt_py *d, size_t i)
{
    return d && d->kind == VKT_PY_DICT && i < d->dict.n ? d->dict.v[i] : NULL;
}

const char *vkt_py_str(const vkt_py *o)
{
    return o && o->kind == VKT_PY_STR && strlen(o->str.s) == o->str.n ? o->str.s : NULL;
}

bool vkt_py_int(const vkt_py *o, int64_t *out)
{
    if (!o) return false;
    if (o->kind == VKT_PY_INT) *out = o->i;
    else if (o->kind == VKT_PY_BOOL) *out = o->b;
    else return false;
    return true;
}

bool vkt_py_float(const vkt_py *o, double *out)
{
    if (!o) return false;
    if (o->kind == VKT_PY_FLOAT) *out = o->f;
    else if (o->kind == VKT_PY_INT) *out = (double)o->i;
    else if (o->kind == VKT_PY_BOOL) *out = o->b;
    else return false;
    return true;
}

bool vkt_py_is_none(const vkt_py *o) { return o && o->kind == VKT_PY_NONE; }

const vkt_tensor_data *vkt_py_tensor(const vkt_py *o) { return o && o->kind == VKT_PY_TENSOR ? &o->tensor.t : NULL; }

const char *vkt_py_class(const vkt_py *o)
{
    if (!o) return NULL;
    if (o->kind == VKT_PY_DICT) return o->dict.cls;
    if (o->kind == VKT_PY_OBJECT) return o->object.cls;
    if (o->kind == VKT_PY_GLOBAL) return allowlist[o->global.id].name;
    return NULL;
}

const vkt_py *vkt_py_object_state(const vkt_py *o) { return o && o->kind == VKT_PY_OBJECT ? o->object.state : NULL; }
