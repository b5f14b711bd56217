/* Restricted unpickler: turns the pickle stream of a torch.save file into a tree of plain data
 * (None, bool, int, float, str, bytes, tuple, list, dict, set) and tensors. Nothing is ever
 * executed or imported: a GLOBAL is looked up in a fixed allowlist of data constructors
 * (collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter, the torch
 * storage classes, a few numpy/lightning names the webui also allows) and anything else fails
 * with an error naming it. Knows nothing of Vulkan or of zip files.
 *
 *   vkt_pickle *pk;
 *   if (vkt_pickle_load(bytes, n, "x.pt", resolve, ctx, &pk, &err)) return err.code;
 *   const vkt_py *root = vkt_pickle_root(pk);
 *   const vkt_py *v = vkt_py_get(vkt_py_get(root, "string_to_param"), "*");
 *   const vkt_tensor_data *t = vkt_py_tensor(v);          // NULL if v is not a tensor
 *   vkt_pickle_free(pk);
 *
 * The tree is acyclic (a container cannot be changed after it was put into another one) but
 * may share nodes (pickle memo); walkers should bound their work. Every node lives until
 * vkt_pickle_free.
 */
#ifndef VKT_IO_PICKLE_H
#define VKT_IO_PICKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "io/tensor_data.h"

/* Largest pickle stream accepted (torch's data.pkl for SD1.5 is about 100 KiB). */
#define VKT_PICKLE_MAX_BYTES (256u << 20)

typedef enum vkt_py_kind {
    VKT_PY_NONE,
    VKT_PY_BOOL,
    VKT_PY_INT,
    VKT_PY_FLOAT,
    VKT_PY_STR,   /* UTF-8 */
    VKT_PY_BYTES,
    VKT_PY_TUPLE,
    VKT_PY_LIST,
    VKT_PY_DICT,  /* dict or collections.OrderedDict (see cls) */
    VKT_PY_SET,   /* set or frozenset */
    VKT_PY_TENSOR,
    VKT_PY_STORAGE,
    VKT_PY_GLOBAL, /* an allowlisted class or function used as a value (e.g. a dict key) */
    VKT_PY_OBJECT, /* an allowlisted class instance: cls + state from BUILD (ParameterDict, numpy) */
} vkt_py_kind;

typedef struct vkt_py vkt_py;
struct vkt_py {
    vkt_py_kind kind;
    bool frozen; /* internal: already inside another container */
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *s; /* NUL-terminated; may also hold NUL bytes (n is the length) */
            size_t n;
        } str;
        struct {
            vkt_py **v;
            size_t n, cap;
        } seq; /* TUPLE, LIST, SET */
        struct {
            vkt_py **k, **v;
            size_t n, cap;
            uint32_t *hash; /* internal index of STR/INT keys */
            size_t hcap;
            const char *cls; /* "dict" or "collections.OrderedDict" */
            vkt_py *attrs;   /* state set by BUILD (OrderedDict._metadata) or NULL */
        } dict;
        struct {
            vkt_tensor_data t;
            bool requires_grad, parameter;
        } tensor;
        struct {
            vkt_io_dtype dtype;
            const char *key;
            const uint8_t *data;
            size_t numel;
        } storage;
        struct {
            const char *module, *name;
            int id; /* internal allowlist row */
        } global;
        struct {
            const char *cls; /* "module.name" */
            vkt_py *args;    /* NEWOBJ/REDUCE arguments (a tuple) */
            vkt_py *state;   /* BUILD state or NULL */
        } object;
    };
};

/* Resolves a persistent id ('storage', <type>, key, location, numel): returns the raw bytes of
 * storage `key` (borrowed; must outlive the pickle). Return non-OK with err set to refuse. */
typedef vkt_status (*vkt_pickle_storage_fn)(void *ctx, const char *key, const uint8_t **data,
                                            size_t *size, vkt_err *err);

typedef struct vkt_pickle vkt_pickle;

/* Unpickles data[0..n). label prefixes messages (which also give the byte offset of the
 * opcode). resolve may be NULL, then any storage reference fails. Out-parameter set only on
 * success. Errors: VKT_ERR_FORMAT (malformed, refused global, limit exceeded),
 * VKT_ERR_UNSUPPORTED (allowed but unimplemented construct), VKT_ERR_NOMEM. */
vkt_status vkt_pickle_load(const uint8_t *data, size_t n, const char *label,
                           vkt_pickle_storage_fn resolve, void *ctx, vkt_pickle **out, vkt_err *err);
const vkt_py *vkt_pickle_root(const vkt_pickle *pk);
/* False when the stream used a global that vktrain reads but the webui's safe loader refuses
 * (Bool/Char/Short storages, torch dtypes other than float32, builtins.set); why gets its name. */
bool vkt_pickle_webui_ok(const vkt_pickle *pk, char *why, size_t why_n);
void vkt_pickle_free(vkt_pickle *pk);

/* ---- walking the tree (all NULL-safe: a NULL node gives NULL / 0 / false) ---- */

/* "none", "bool", "int", ..., "tensor", "object". */
const char *vkt_py_kind_name(vkt_py_kind k);
/* Value of a str key in a dict (last one wins, as in Python); NULL when absent or not a dict. */
const vkt_py *vkt_py_get(const vkt_py *dict, const char *key);
/* Value of an int key in a dict. */
const vkt_py *vkt_py_get_int(const vkt_py *dict, int64_t key);
/* Items of a tuple/list/set, or entries of a dict. */
size_t vkt_py_len(const vkt_py *o);
/* Item i of a tuple/list/set; NULL when out of range. */
const vkt_py *vkt_py_item(const vkt_py *o, size_t i);
/* Key / value of dict entry i (insertion order). */
const vkt_py *vkt_py_key(const vkt_py *dict, size_t i);
const vkt_py *vkt_py_value(const vkt_py *dict, size_t i);
/* The string of a STR node without NUL bytes, else NULL. */
const char *vkt_py_str(const vkt_py *o);
/* Numbers: an INT or BOOL as int64; INT, BOOL or FLOAT as double. False when not a number. */
bool vkt_py_int(const vkt_py *o, int64_t *out);
bool vkt_py_float(const vkt_py *o, double *out);
bool vkt_py_is_none(const vkt_py *o);
/* The descriptor of a TENSOR node, else NULL. */
const vkt_tensor_data *vkt_py_tensor(const vkt_py *o);
/* "collections.OrderedDict", "torch.nn.modules.container.ParameterDict", ... for DICT, OBJECT
 * and GLOBAL nodes; NULL otherwise. */
const char *vkt_py_class(const vkt_py *o);
/* For an OBJECT: its BUILD state (e.g. the __dict__ of a ParameterDict). */
const vkt_py *vkt_py_object_state(const vkt_py *o);

#endif
