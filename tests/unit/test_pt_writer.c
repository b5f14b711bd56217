/* .pt writer: reader(writer(x)) == x for every value kind, the zip layout the webui requires
 * (members, 64-byte alignment, CRC), and builder misuse reported at write time.
 * With `--write DIR` it writes the files tests/reference/check_pt_load.py loads with PyTorch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "io/pt_writer.h"
#include "io/torch_file.h"
#include "io/zip.h"
#include "testkit.h"

/* value k of every test tensor: exact in f16, bf16, f32 (check_pt_load.py uses the same) */
static double pattern(size_t k) { return (double)(k % 7) * 0.5 - 1.25; }

typedef struct bufs {
    float f32[2 * 8];
    uint16_t f16[6], bf16[6];
    double f64[3];
    int64_t i64[3];
    int32_t i32[3];
    uint8_t u8[4];
    float scalar;
    float hn[4][16 * 8]; /* hypernetwork weights, dim 8 */
    float hb[4][16];
    float m1[2 * 8], m2[2 * 8], step;
} bufs;

static void fill(bufs *b)
{
    for (size_t k = 0; k < 16; k++) b->f32[k] = (float)pattern(k);
    for (size_t k = 0; k < 6; k++) {
        b->f16[k] = vkt_io_f32_to_f16((float)pattern(k));
        b->bf16[k] = vkt_io_f32_to_bf16((float)pattern(k));
    }
    for (size_t k = 0; k < 3; k++) {
        b->f64[k] = pattern(k) / 3.0;
        b->i64[k] = (int64_t)k * 3000000000ll - 1;
        b->i32[k] = (int32_t)k * 100000 - 7;
    }
    for (size_t k = 0; k < 4; k++) b->u8[k] = (uint8_t)(k * 80);
    b->scalar = 42.5f;
    for (size_t m = 0; m < 4; m++) {
        for (size_t k = 0; k < 128; k++) b->hn[m][k] = (float)pattern(k + m);
        for (size_t k = 0; k < 16; k++) b->hb[m][k] = (float)pattern(k + 2 * m);
    }
    for (size_t k = 0; k < 16; k++) b->m1[k] = (float)pattern(k) * 0.001f, b->m2[k] = (float)pattern(k + 1) * 1e-6f;
    b->step = 3;
}

/* webui embedding (file-formats.md 4.1) */
static vkt_pt_val *embedding(vkt_pt *p, bufs *b)
{
    vkt_pt_val *r = vkt_pt_dict(p), *s2t = vkt_pt_dict(p), *s2p = vkt_pt_dict(p);
    vkt_pt_set_str(p, s2t, "*", vkt_pt_int(p, 265));
    vkt_pt_set_str(p, s2p, "*", vkt_pt_tensor(p, VKT_IO_F32, 2, (int64_t[]){2, 8}, b->f32, true));
    vkt_pt_set_str(p, r, "string_to_token", s2t);
    vkt_pt_set_str(p, r, "string_to_param", s2p);
    vkt_pt_set_str(p, r, "name", vkt_pt_str(p, "cat-500"));
    vkt_pt_set_str(p, r, "step", vkt_pt_int(p, 500));
    vkt_pt_set_str(p, r, "sd_checkpoint", vkt_pt_str(p, "abcdef0123"));
    vkt_pt_set_str(p, r, "sd_checkpoint_name", vkt_pt_str(p, "tiny"));
    return r;
}

/* webui hypernetwork (file-formats.md 6), size 8, layer structure [1, 2, 1] */
static vkt_pt_val *hypernetwork(vkt_pt *p, bufs *b)
{
    vkt_pt_val *r = vkt_pt_dict(p), *pair = vkt_pt_list(p);
    for (int m = 0; m < 2; m++) {
        vkt_pt_val *sd = vkt_pt_ordered_dict(p);
        vkt_pt_set_str(p, sd, "linear.0.weight", vkt_pt_tensor(p, VKT_IO_F32, 2, (int64_t[]){16, 8}, b->hn[2 * m], true));
        vkt_pt_set_str(p, sd, "linear.0.bias", vkt_pt_tensor(p, VKT_IO_F32, 1, (int64_t[]){16}, b->hb[2 * m], true));
        vkt_pt_set_str(p, sd, "linear.1.weight", vkt_pt_tensor(p, VKT_IO_F32, 2, (int64_t[]){8, 16}, b->hn[2 * m + 1], true));
        vkt_pt_set_str(p, sd, "linear.1.bias", vkt_pt_tensor(p, VKT_IO_F32, 1, (int64_t[]){8}, b->hb[2 * m + 1], true));
        vkt_pt_append(p, pair, sd);
    }
    vkt_pt_set_int(p, r, 8, pair);
    vkt_pt_set_str(p, r, "step", vkt_pt_int(p, 3));
    vkt_pt_set_str(p, r, "name", vkt_pt_str(p, "hn"));
    vkt_pt_val *ls = vkt_pt_list(p);
    vkt_pt_append(p, ls, vkt_pt_float(p, 1.0));
    vkt_pt_append(p, ls, vkt_pt_float(p, 2.0));
    vkt_pt_append(p, ls, vkt_pt_float(p, 1.0));
    vkt_pt_set_str(p, r, "layer_structure", ls);
    vkt_pt_set_str(p, r, "activation_func", vkt_pt_str(p, "linear"));
    vkt_pt_set_str(p, r, "is_layer_norm", vkt_pt_bool(p, false));
    vkt_pt_set_str(p, r, "sd_checkpoint", vkt_pt_none(p));
    vkt_pt_set_str(p, r, "activate_output", vkt_pt_bool(p, false));
    return r;
}

/* every value kind and every dtype the writer allows */
static vkt_pt_val *values(vkt_pt *p, bufs *b)
{
    vkt_pt_val *r = vkt_pt_dict(p);
    vkt_pt_set_str(p, r, "f32", vkt_pt_tensor(p, VKT_IO_F32, 2, (int64_t[]){4, 4}, b->f32, false));
    vkt_pt_set_str(p, r, "f16", vkt_pt_tensor(p, VKT_IO_F16, 2, (int64_t[]){2, 3}, b->f16, false));
    vkt_pt_set_str(p, r, "bf16", vkt_pt_tensor(p, VKT_IO_BF16, 1, (int64_t[]){6}, b->bf16, false));
    vkt_pt_set_str(p, r, "f64", vkt_pt_tensor(p, VKT_IO_F64, 1, (int64_t[]){3}, b->f64, false));
    vkt_pt_set_str(p, r, "i64", vkt_pt_tensor(p, VKT_IO_I64, 1, (int64_t[]){3}, b->i64, false));
    vkt_pt_set_str(p, r, "i32", vkt_pt_tensor(p, VKT_IO_I32, 1, (int64_t[]){3}, b->i32, false));
    vkt_pt_set_str(p, r, "u8", vkt_pt_tensor(p, VKT_IO_U8, 2, (int64_t[]){2, 2}, b->u8, false));
    vkt_pt_set_str(p, r, "scalar", vkt_pt_tensor(p, VKT_IO_F32, 0, NULL, &b->scalar, false));
    vkt_pt_set_str(p, r, "empty", vkt_pt_tensor(p, VKT_IO_F32, 2, (int64_t[]){0, 5}, NULL, false));
    vkt_pt_val *shared = vkt_pt_tensor(p, VKT_IO_F32, 1, (int64_t[]){3}, b->f32, false);
    vkt_pt_set_str(p, r, "shared_a", shared);
    vkt_pt_set_str(p, r, "shared_b", shared);
    int64_t ints[] = {0, 1, 255, 256, 65535, 65536, -1, -129, INT32_MAX, (int64_t)INT32_MAX + 1, INT32_MIN,
                      (int64_t)INT32_MIN - 1, INT64_MAX, INT64_MIN, 1ll << 40};
    vkt_pt_val *il = vkt_pt_list(p);
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) vkt_pt_append(p, il, vkt_pt_int(p, ints[i]));
    vkt_pt_set_str(p, r, "ints", il);
    vkt_pt_val *fl = vkt_pt_tuple(p);
    vkt_pt_append(p, fl, vkt_pt_float(p, 0.1));
    vkt_pt_append(p, fl, vkt_pt_float(p, -1e-300));
    vkt_pt_append(p, fl, vkt_pt_float(p, INFINITY));
    vkt_pt_set_str(p, r, "floats", fl);
    vkt_pt_set_str(p, r, "empty_tuple", vkt_pt_tuple(p));
    vkt_pt_set_str(p, r, "empty_list", vkt_pt_list(p));
    vkt_pt_set_str(p, r, "empty_dict", vkt_pt_dict(p));
    vkt_pt_set_str(p, r, "unicode", vkt_pt_str(p, "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \"quoted\"\n"));
    vkt_pt_set_str(p, r, "none", vkt_pt_none(p));
    vkt_pt_set_str(p, r, "yes", vkt_pt_bool(p, true));
    vkt_pt_val *big = vkt_pt_dict(p); /* more than one SETITEMS batch */
    for (int i = 0; i < 2500; i++) vkt_pt_set_int(p, big, i, vkt_pt_int(p, i * 2));
    vkt_pt_set_str(p, r, "big_dict", big);
    vkt_pt_val *bl = vkt_pt_list(p); /* more than one APPENDS batch */
    for (int i = 0; i < 2001; i++) vkt_pt_append(p, bl, vkt_pt_int(p, -i));
    vkt_pt_set_str(p, r, "big_list", bl);
    return r;
}

/* AdamW state as the webui writes <embedding>.pt.optim (file-formats.md 5) */
static vkt_pt_val *optim(vkt_pt *p, bufs *b)
{
    vkt_pt_val *r = vkt_pt_dict(p), *osd = vkt_pt_dict(p), *state = vkt_pt_dict(p), *s0 = vkt_pt_dict(p);
    vkt_pt_set_str(p, s0, "step", vkt_pt_tensor(p, VKT_IO_F32, 0, NULL, &b->step, false));
    vkt_pt_set_str(p, s0, "exp_avg", vkt_pt_tensor(p, VKT_IO_F32, 2, (int64_t[]){2, 8}, b->m1, false));
    vkt_pt_set_str(p, s0, "exp_avg_sq", vkt_pt_tensor(p, VKT_IO_F32, 2, (int64_t[]){2, 8}, b->m2, false));
    vkt_pt_set_int(p, state, 0, s0);
    vkt_pt_val *pg = vkt_pt_dict(p), *betas = vkt_pt_tuple(p), *params = vkt_pt_list(p), *pgs = vkt_pt_list(p);
    vkt_pt_set_str(p, pg, "lr", vkt_pt_float(p, 0.005));
    vkt_pt_append(p, betas, vkt_pt_float(p, 0.9));
    vkt_pt_append(p, betas, vkt_pt_float(p, 0.999));
    vkt_pt_set_str(p, pg, "betas", betas);
    vkt_pt_set_str(p, pg, "eps", vkt_pt_float(p, 1e-8));
    vkt_pt_set_str(p, pg, "weight_decay", vkt_pt_float(p, 0.0));
    vkt_pt_set_str(p, pg, "amsgrad", vkt_pt_bool(p, false));
    vkt_pt_set_str(p, pg, "foreach", vkt_pt_none(p));
    vkt_pt_set_str(p, pg, "maximize", vkt_pt_bool(p, false));
    vkt_pt_set_str(p, pg, "capturable", vkt_pt_bool(p, false));
    vkt_pt_append(p, params, vkt_pt_int(p, 0));
    vkt_pt_set_str(p, pg, "params", params);
    vkt_pt_append(p, pgs, pg);
    vkt_pt_set_str(p, osd, "state", state);
    vkt_pt_set_str(p, osd, "param_groups", pgs);
    vkt_pt_set_str(p, r, "hash", vkt_pt_str(p, "9f20"));
    vkt_pt_set_str(p, r, "optimizer_state_dict", osd);
    return r;
}

static bool tensor_is(const vkt_py *o, vkt_io_dtype dt, int ndim, const int64_t *shape, size_t pat_off)
{
    const vkt_tensor_data *t = vkt_py_tensor(o);
    if (!t || t->dtype != dt || t->ndim != ndim) return false;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i]) return false;
    for (size_t i = 0; i < vkt_tensor_data_numel(t); i++)
        if (vkt_tensor_data_get(t, i) != (double)(float)pattern(i + pat_off)) return false;
    return true;
}

/* The archive layout the webui requires, then the unpickled values. */
static void check_layout(const uint8_t *buf, size_t n, const char *folder, size_t n_storages)
{
    vkt_err err = {0};
    vkt_zip *z = NULL;
    TK_CHECK(vkt_zip_open(buf, n, "w", &z, &err) == VKT_OK, "zip: %s", err.msg);
    if (!z) return;
    TK_CHECK(vkt_zip_count(z) == n_storages + 2, "%zu members (want %zu)", vkt_zip_count(z), n_storages + 2);
    char want[256];
    snprintf(want, sizeof want, "%s/data.pkl", folder);
    TK_CHECK(strcmp(vkt_zip_entry_at(z, 0)->name, want) == 0, "first member %s", want);
    snprintf(want, sizeof want, "%s/version", folder);
    const vkt_zip_entry *v = vkt_zip_find(z, want);
    const uint8_t *p;
    size_t pn;
    TK_CHECK(v && vkt_zip_read(z, v, true, &p, &pn, &err) == VKT_OK && pn == 2 && memcmp(p, "3\n", 2) == 0, "version 3");
    for (size_t i = 0; i < vkt_zip_count(z); i++) {
        const vkt_zip_entry *e = vkt_zip_entry_at(z, i);
        TK_CHECK(e->method == 0 && e->data_off % 64 == 0, "%s stored, 64-byte aligned (at %llu)", e->name,
                 (unsigned long long)e->data_off);
        TK_CHECK(vkt_zip_read(z, e, true, &p, &pn, &err) == VKT_OK, "CRC of %s: %s", e->name, err.msg);
    }
    vkt_zip_close(z);
}

static void test_roundtrip(void)
{
    bufs b;
    fill(&b);
    vkt_err err = {0};
    vkt_pt *p = NULL;
    TK_CHECK(vkt_pt_create(&p, &err) == VKT_OK, "create");
    uint8_t *buf = NULL;
    size_t n = 0;
    int64_t i;
    double x;

    TK_CHECK(vkt_pt_write_memory(p, embedding(p, &b), "cat", &buf, &n, &err) == VKT_OK, "embedding: %s", err.msg);
    check_layout(buf, n, "cat", 1);
    vkt_torch *t = NULL;
    TK_CHECK(vkt_torch_open_memory(buf, n, "emb", 0, &t, &err) == VKT_OK, "reopen: %s", err.msg);
    if (t) {
        const vkt_py *r = vkt_torch_root(t);
        const vkt_py *v = vkt_py_get(vkt_py_get(r, "string_to_param"), "*");
        TK_CHECK(tensor_is(v, VKT_IO_F32, 2, (int64_t[]){2, 8}, 0) && v->tensor.requires_grad, "vectors");
        TK_CHECK(vkt_py_int(vkt_py_get(vkt_py_get(r, "string_to_token"), "*"), &i) && i == 265, "token");
        TK_CHECK(strcmp(vkt_py_str(vkt_py_get(r, "name")), "cat-500") == 0, "name");
        TK_CHECK(vkt_py_key(r, 0) && strcmp(vkt_py_str(vkt_py_key(r, 0)), "string_to_token") == 0 &&
                     strcmp(vkt_py_str(vkt_py_key(r, 5)), "sd_checkpoint_name") == 0,
                 "key order kept");
        char why[128] = "";
        TK_CHECK(vkt_torch_webui_ok(t, why, sizeof why), "webui rules: %s", why);
        TK_CHECK(strcmp(vkt_torch_prefix(t), "cat") == 0, "folder");
    }
    vkt_torch_close(t);
    free(buf);

    TK_CHECK(vkt_pt_write_memory(p, hypernetwork(p, &b), "hn", &buf, &n, &err) == VKT_OK, "hn: %s", err.msg);
    check_layout(buf, n, "hn", 8);
    t = NULL;
    TK_CHECK(vkt_torch_open_memory(buf, n, "hn", 0, &t, &err) == VKT_OK, "reopen hn: %s", err.msg);
    if (t) {
        const vkt_py *r = vkt_torch_root(t), *pair = vkt_py_get_int(r, 8);
        TK_CHECK(vkt_py_len(pair) == 2, "pair");
        const vkt_py *sd = vkt_py_item(pair, 1);
        TK_CHECK(strcmp(vkt_py_class(sd), "collections.OrderedDict") == 0, "OrderedDict");
        TK_CHECK(tensor_is(vkt_py_get(sd, "linear.1.weight"), VKT_IO_F32, 2, (int64_t[]){8, 16}, 3), "weight");
        TK_CHECK(vkt_py_float(vkt_py_item(vkt_py_get(r, "layer_structure"), 1), &x) && x == 2.0, "layer_structure");
        TK_CHECK(vkt_py_is_none(vkt_py_get(r, "sd_checkpoint")), "None");
    }
    vkt_torch_close(t);
    free(buf);

    TK_CHECK(vkt_pt_write_memory(p, values(p, &b), "archive", &buf, &n, &err) == VKT_OK, "values: %s", err.msg);
    check_layout(buf, n, "archive", 10);
    t = NULL;
    TK_CHECK(vkt_torch_open_memory(buf, n, "values", 0, &t, &err) == VKT_OK, "reopen values: %s", err.msg);
    if (t) {
        const vkt_py *r = vkt_torch_root(t);
        TK_CHECK(tensor_is(vkt_py_get(r, "f32"), VKT_IO_F32, 2, (int64_t[]){4, 4}, 0), "f32");
        TK_CHECK(tensor_is(vkt_py_get(r, "f16"), VKT_IO_F16, 2, (int64_t[]){2, 3}, 0), "f16");
        TK_CHECK(tensor_is(vkt_py_get(r, "bf16"), VKT_IO_BF16, 1, (int64_t[]){6}, 0), "bf16");
        const vkt_tensor_data *td = vkt_py_tensor(vkt_py_get(r, "f64"));
        TK_CHECK(td && td->dtype == VKT_IO_F64 && vkt_tensor_data_get(td, 2) == pattern(2) / 3.0, "f64");
        td = vkt_py_tensor(vkt_py_get(r, "i64"));
        TK_CHECK(td && td->dtype == VKT_IO_I64 && vkt_tensor_data_get(td, 2) == 5999999999.0, "i64");
        td = vkt_py_tensor(vkt_py_get(r, "i32"));
        TK_CHECK(td && td->dtype == VKT_IO_I32 && vkt_tensor_data_get(td, 0) == -7, "i32");
        td = vkt_py_tensor(vkt_py_get(r, "u8"));
        TK_CHECK(td && td->dtype == VKT_IO_U8 && vkt_tensor_data_get(td, 3) == 240, "u8");
        td = vkt_py_tensor(vkt_py_get(r, "scalar"));
        TK_CHECK(td && td->ndim == 0 && vkt_tensor_data_get(td, 0) == 42.5, "0-d");
        td = vkt_py_tensor(vkt_py_get(r, "empty"));
        TK_CHECK(td && td->ndim == 2 && vkt_tensor_data_numel(td) == 0, "empty");
        TK_CHECK(vkt_py_tensor(vkt_py_get(r, "shared_a"))->data == vkt_py_tensor(vkt_py_get(r, "shared_b"))->data,
                 "a value used twice shares one storage");
        int64_t ints[] = {0, 1, 255, 256, 65535, 65536, -1, -129, INT32_MAX, (int64_t)INT32_MAX + 1, INT32_MIN,
                          (int64_t)INT32_MIN - 1, INT64_MAX, INT64_MIN, 1ll << 40};
        const vkt_py *il = vkt_py_get(r, "ints");
        bool ok = vkt_py_len(il) == sizeof ints / sizeof ints[0];
        for (size_t k = 0; ok && k < vkt_py_len(il); k++) ok = vkt_py_int(vkt_py_item(il, k), &i) && i == ints[k];
        TK_CHECK(ok, "ints round trip");
        const vkt_py *fl = vkt_py_get(r, "floats");
        TK_CHECK(fl && fl->kind == VKT_PY_TUPLE && vkt_py_float(vkt_py_item(fl, 0), &x) && x == 0.1 &&
                     vkt_py_float(vkt_py_item(fl, 1), &x) && x == -1e-300 && vkt_py_float(vkt_py_item(fl, 2), &x) &&
                     isinf(x),
                 "floats");
        TK_CHECK(vkt_py_get(r, "empty_tuple")->kind == VKT_PY_TUPLE && vkt_py_len(vkt_py_get(r, "empty_tuple")) == 0,
                 "()");
        TK_CHECK(strcmp(vkt_py_str(vkt_py_get(r, "unicode")), "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \"quoted\"\n") == 0,
                 "unicode");
        const vkt_py *bd = vkt_py_get(r, "big_dict");
        TK_CHECK(vkt_py_len(bd) == 2500 && vkt_py_int(vkt_py_get_int(bd, 2499), &i) && i == 4998, "2500-entry dict");
        const vkt_py *bl = vkt_py_get(r, "big_list");
        TK_CHECK(vkt_py_len(bl) == 2001 && vkt_py_int(vkt_py_item(bl, 2000), &i) && i == -2000, "2001-item list");
        char why[128] = "";
        TK_CHECK(vkt_torch_webui_ok(t, why, sizeof why), "webui rules: %s", why);
    }
    vkt_torch_close(t);
    free(buf);

    TK_CHECK(vkt_pt_write_memory(p, optim(p, &b), "emb.pt", &buf, &n, &err) == VKT_OK, "optim: %s", err.msg);
    t = NULL;
    TK_CHECK(vkt_torch_open_memory(buf, n, "optim", 0, &t, &err) == VKT_OK, "reopen optim: %s", err.msg);
    if (t) {
        const vkt_py *pg = vkt_py_item(vkt_py_get(vkt_py_get(vkt_torch_root(t), "optimizer_state_dict"), "param_groups"), 0);
        TK_CHECK(vkt_py_float(vkt_py_get(pg, "eps"), &x) && x == 1e-8, "eps");
    }
    vkt_torch_close(t);
    free(buf);
    vkt_pt_destroy(p);

    /* builder misuse surfaces at write time */
    struct {
        const char *what, *want;
    } misuse[] = {{"dup", "dict key set twice"}, {"dtype", "not loadable by the webui"}, {"cycle", "nested deeper"},
                  {"set-on-list", "set on something other than a dict"}, {"utf8", "not UTF-8"}};
    for (size_t k = 0; k < sizeof misuse / sizeof misuse[0]; k++) {
        vkt_pt_create(&p, &err);
        vkt_pt_val *r = vkt_pt_dict(p);
        if (k == 0) {
            vkt_pt_set_str(p, r, "a", vkt_pt_none(p));
            vkt_pt_set_str(p, r, "a", vkt_pt_none(p));
        } else if (k == 1) {
            vkt_pt_set_str(p, r, "b", vkt_pt_tensor(p, VKT_IO_BOOL, 1, (int64_t[]){1}, "x", false));
        } else if (k == 2) {
            vkt_pt_val *l = vkt_pt_list(p);
            vkt_pt_append(p, l, l);
            vkt_pt_set_str(p, r, "l", l);
        } else if (k == 3) {
            vkt_pt_set_str(p, vkt_pt_list(p), "x", vkt_pt_none(p));
        } else {
            vkt_pt_set_str(p, r, "bad\xff", vkt_pt_none(p));
        }
        buf = NULL;
        vkt_status s = vkt_pt_write_memory(p, r, "x", &buf, &n, &err);
        TK_CHECK(s != VKT_OK && !buf && strstr(err.msg, misuse[k].want), "%s: %s", misuse[k].what, err.msg);
        vkt_pt_destroy(p);
    }
}

/* Files for tests/reference/check_pt_load.py. */
static int write_files(const char *dir)
{
    bufs b;
    fill(&b);
    vkt_err err = {0};
    vkt_pt *p = NULL;
    char path[1024];
    struct {
        const char *name;
        vkt_pt_val *(*make)(vkt_pt *, bufs *);
    } files[] = {{"emb.pt", embedding}, {"hn.pt", hypernetwork}, {"values.pt", values}, {"emb.pt.optim", optim}};
    if (vkt_mkdirs(dir, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        if (vkt_pt_create(&p, &err)) return 1;
        snprintf(path, sizeof path, "%s/%s", dir, files[k].name);
        vkt_status s = vkt_pt_write(p, files[k].make(p, &b), path, &err);
        vkt_pt_destroy(p);
        if (s) return fprintf(stderr, "%s\n", err.msg), 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0) return write_files(argv[2]);
    test_roundtrip();
    return tk_finish("io.pt_writer");
}
