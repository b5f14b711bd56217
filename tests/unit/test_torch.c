/* PyTorch zip checkpoints: files written by torch.save (tests/reference/make_torch_fixtures.py)
 * read back value for value; hostile pickles refused by name; the zip reader's bounds. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/checked.h"
#include "base/file.h"
#include "io/pickle.h"
#include "io/safetensors.h"
#include "io/state_dict.h"
#include "io/torch_file.h"
#include "io/zip.h"
#include "testkit.h"

static vkt_torch *open_fixture(const char *name, vkt_err *err)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/data/torch/%s", name);
    vkt_torch *t = NULL;
    if (vkt_torch_open(tk_src(rel), 0, &t, err) != VKT_OK) return NULL;
    return t;
}

static bool tensor_is(const vkt_py *o, vkt_io_dtype dt, int ndim, const int64_t *shape, const double *vals)
{
    const vkt_tensor_data *t = vkt_py_tensor(o);
    if (!t || t->dtype != dt || t->ndim != ndim) return false;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i]) return false;
    size_t n = vkt_tensor_data_numel(t);
    for (size_t i = 0; i < n; i++)
        if (vkt_tensor_data_get(t, i) != vals[i]) return false;
    return true;
}

static void test_values(void)
{
    vkt_err err = {0};
    vkt_torch *t = open_fixture("values.pt", &err);
    TK_CHECK(t, "values.pt: %s", err.msg);
    if (!t) return;
    const vkt_py *r = vkt_torch_root(t);
    TK_CHECK(r && r->kind == VKT_PY_DICT && vkt_py_len(r) == 27, "root dict of 27 (got %zu)", vkt_py_len(r));
    TK_CHECK(tensor_is(vkt_py_get(r, "f32"), VKT_IO_F32, 1, (int64_t[]){3}, (double[]){1.5, -2.0, 3.25}), "f32");
    TK_CHECK(tensor_is(vkt_py_get(r, "f16"), VKT_IO_F16, 1, (int64_t[]){3}, (double[]){1.0, -0.5, 65504.0}), "f16");
    TK_CHECK(tensor_is(vkt_py_get(r, "bf16"), VKT_IO_BF16, 1, (int64_t[]){3}, (double[]){1.0, -3.0, 0.15625}), "bf16");
    TK_CHECK(tensor_is(vkt_py_get(r, "f64"), VKT_IO_F64, 1, (int64_t[]){2}, (double[]){1e-300, -2.5}), "f64");
    TK_CHECK(tensor_is(vkt_py_get(r, "i64"), VKT_IO_I64, 1, (int64_t[]){2}, (double[]){-1099511627776.0, 7}), "i64");
    TK_CHECK(tensor_is(vkt_py_get(r, "i32"), VKT_IO_I32, 1, (int64_t[]){2}, (double[]){-5, 1073741824.0}), "i32");
    TK_CHECK(tensor_is(vkt_py_get(r, "i16"), VKT_IO_I16, 1, (int64_t[]){2}, (double[]){-300, 300}), "i16");
    TK_CHECK(tensor_is(vkt_py_get(r, "i8"), VKT_IO_I8, 1, (int64_t[]){2}, (double[]){-128, 127}), "i8");
    TK_CHECK(tensor_is(vkt_py_get(r, "u8"), VKT_IO_U8, 1, (int64_t[]){2}, (double[]){0, 255}), "u8");
    TK_CHECK(tensor_is(vkt_py_get(r, "bool"), VKT_IO_BOOL, 1, (int64_t[]){3}, (double[]){1, 0, 1}), "bool");
    TK_CHECK(tensor_is(vkt_py_get(r, "scalar"), VKT_IO_F32, 0, NULL, (double[]){2.5}), "0-d");
    TK_CHECK(tensor_is(vkt_py_get(r, "empty"), VKT_IO_F32, 2, (int64_t[]){0, 3}, NULL), "empty");
    double base[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    TK_CHECK(tensor_is(vkt_py_get(r, "base"), VKT_IO_F32, 2, (int64_t[]){3, 4}, base), "base");
    TK_CHECK(tensor_is(vkt_py_get(r, "transposed"), VKT_IO_F32, 2, (int64_t[]){4, 3},
                       (double[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}),
             "transposed view shares the storage");
    TK_CHECK(tensor_is(vkt_py_get(r, "slice"), VKT_IO_F32, 2, (int64_t[]){2, 2}, (double[]){5, 6, 9, 10}),
             "slice view with offset");
    const vkt_py *pm = vkt_py_get(r, "param");
    TK_CHECK(tensor_is(pm, VKT_IO_F32, 2, (int64_t[]){1, 2}, (double[]){0.25, -0.75}) && pm->tensor.parameter &&
                 pm->tensor.requires_grad,
             "Parameter");
    float f[12];
    TK_CHECK(vkt_tensor_data_to_f32(vkt_py_tensor(vkt_py_get(r, "transposed")), f, &err) == VKT_OK && f[1] == 4 &&
                 f[3] == 1,
             "strided to_f32");
    int64_t i;
    double x;
    TK_CHECK(vkt_py_int(vkt_py_get(r, "int"), &i) && i == 7, "int");
    TK_CHECK(vkt_py_int(vkt_py_get(r, "neg"), &i) && i == -123456789012, "negative LONG1");
    TK_CHECK(vkt_py_int(vkt_py_get(r, "big"), &i) && i == (int64_t)1 << 62, "2^62");
    TK_CHECK(vkt_py_float(vkt_py_get(r, "float"), &x) && x == 0.1, "float");
    TK_CHECK(vkt_py_get(r, "true") && vkt_py_get(r, "true")->kind == VKT_PY_BOOL && vkt_py_get(r, "true")->b, "bool");
    TK_CHECK(vkt_py_is_none(vkt_py_get(r, "none")), "None");
    TK_CHECK(vkt_py_str(vkt_py_get(r, "str")) && strcmp(vkt_py_str(vkt_py_get(r, "str")), "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c") == 0,
             "unicode str");
    const vkt_py *b = vkt_py_get(r, "bytes");
    TK_CHECK(b && b->kind == VKT_PY_BYTES && b->str.n == 3 && memcmp(b->str.s, "\x00\x01\xff", 3) == 0,
             "bytes (via _codecs.encode)");
    const vkt_py *tu = vkt_py_get(r, "tuple");
    TK_CHECK(tu && tu->kind == VKT_PY_TUPLE && vkt_py_len(tu) == 2 && vkt_py_float(vkt_py_item(tu, 1), &x) && x == 0.999,
             "tuple");
    const vkt_py *l = vkt_py_get(r, "list");
    TK_CHECK(vkt_py_int(vkt_py_item(vkt_py_item(vkt_py_item(l, 1), 1), 0), &i) && i == 3, "nested list");
    TK_CHECK(vkt_py_str(vkt_py_get_int(r, 768)) && strcmp(vkt_py_str(vkt_py_get_int(r, 768)), "int key") == 0,
             "int key");
    TK_CHECK(!vkt_py_get(r, "768") && !vkt_py_get(r, "missing"), "absent keys");
    char why[128];
    TK_CHECK(!vkt_torch_webui_ok(t, why, sizeof why) && strstr(why, "Storage"), "webui refuses Bool/Char/Short (%s)",
             why);
    vkt_torch_close(t);
}

static void test_webui_files(void)
{
    vkt_err err = {0};
    int64_t i;
    double x;
    vkt_torch *t = open_fixture("emb_webui.pt", &err);
    TK_CHECK(t, "emb_webui.pt: %s", err.msg);
    if (t) {
        const vkt_py *r = vkt_torch_root(t);
        double v[16];
        for (int k = 0; k < 16; k++) v[k] = k / 8.0 - 1;
        TK_CHECK(tensor_is(vkt_py_get(vkt_py_get(r, "string_to_param"), "*"), VKT_IO_F32, 2, (int64_t[]){2, 8}, v),
                 "vectors");
        TK_CHECK(vkt_py_int(vkt_py_get(vkt_py_get(r, "string_to_token"), "*"), &i) && i == 265, "token");
        TK_CHECK(strcmp(vkt_py_str(vkt_py_get(r, "name")), "cat") == 0, "name");
        TK_CHECK(vkt_py_int(vkt_py_get(r, "step"), &i) && i == 100, "step");
        TK_CHECK(strcmp(vkt_py_str(vkt_py_get(r, "sd_checkpoint")), "abcdef0123") == 0, "sd_checkpoint");
        TK_CHECK(strcmp(vkt_torch_prefix(t), "emb_webui") == 0, "folder name from the file name");
        char why[128] = "";
        TK_CHECK(vkt_torch_webui_ok(t, why, sizeof why), "torch 1.13 embedding passes the webui check: %s", why);
        vkt_torch_close(t);
    }
    t = open_fixture("ckpt_like.ckpt", &err);
    TK_CHECK(t, "ckpt_like.ckpt: %s", err.msg);
    if (t) {
        const vkt_py *r = vkt_torch_root(t), *sd = vkt_py_get(r, "state_dict");
        TK_CHECK(sd && strcmp(vkt_py_class(sd), "collections.OrderedDict") == 0 && vkt_py_len(sd) == 4, "state_dict");
        TK_CHECK(vkt_py_tensor(vkt_py_get(sd, "model.0.weight")) &&
                     vkt_py_tensor(vkt_py_get(sd, "model.0.weight"))->shape[1] == 3,
                 "weight [2,3]");
        TK_CHECK(sd && sd->dict.attrs && vkt_py_get(sd->dict.attrs, "_metadata"), "_metadata kept from BUILD");
        TK_CHECK(vkt_py_int(vkt_py_get(r, "global_step"), &i) && i == 5, "global_step");
        vkt_torch_close(t);
    }
    t = open_fixture("hypernetwork.pt", &err);
    TK_CHECK(t, "hypernetwork.pt: %s", err.msg);
    if (t) {
        const vkt_py *r = vkt_torch_root(t), *m = vkt_py_get_int(r, 8);
        TK_CHECK(m && m->kind == VKT_PY_LIST && vkt_py_len(m) == 2, "size 8 -> [k, v]");
        const vkt_tensor_data *w = vkt_py_tensor(vkt_py_get(vkt_py_item(m, 1), "linear.1.weight"));
        TK_CHECK(w && w->shape[0] == 8 && w->shape[1] == 16, "linear.1.weight [8,16]");
        TK_CHECK(vkt_py_float(vkt_py_item(vkt_py_get(r, "layer_structure"), 1), &x) && x == 2.0, "layer_structure");
        char why[128];
        TK_CHECK(vkt_torch_webui_ok(t, why, sizeof why), "torch 1.13 file passes the webui check: %s", why);
        vkt_torch_close(t);
    }
    t = open_fixture("emb.pt.optim", &err);
    TK_CHECK(t, "emb.pt.optim: %s", err.msg);
    if (t) {
        const vkt_py *o = vkt_py_get(vkt_torch_root(t), "optimizer_state_dict");
        const vkt_py *st0 = vkt_py_get_int(vkt_py_get(o, "state"), 0);
        TK_CHECK(tensor_is(vkt_py_get(st0, "step"), VKT_IO_F32, 0, NULL, (double[]){1.0}), "step is a 0-d tensor");
        TK_CHECK(vkt_py_tensor(vkt_py_get(st0, "exp_avg_sq")), "exp_avg_sq");
        const vkt_py *pg = vkt_py_item(vkt_py_get(o, "param_groups"), 0);
        TK_CHECK(vkt_py_float(vkt_py_get(pg, "lr"), &x) && x == 0.005, "lr");
        TK_CHECK(vkt_py_float(vkt_py_item(vkt_py_get(pg, "betas"), 1), &x) && x == 0.999, "betas");
        TK_CHECK(vkt_py_is_none(vkt_py_get(pg, "foreach")), "foreach None");
        TK_CHECK(strcmp(vkt_py_str(vkt_py_get(vkt_torch_root(t), "hash")), "9f20") == 0, "hash");
        vkt_torch_close(t);
    }
    t = open_fixture("emb_paramdict.pt", &err);
    TK_CHECK(t, "emb_paramdict.pt: %s", err.msg);
    if (t) {
        const vkt_py *pd = vkt_py_get(vkt_torch_root(t), "string_to_param");
        TK_CHECK(pd && pd->kind == VKT_PY_OBJECT && strcmp(vkt_py_class(pd), "torch.nn.modules.container.ParameterDict") == 0,
                 "ParameterDict object");
        const vkt_py *p = vkt_py_get(vkt_py_get(vkt_py_object_state(pd), "_parameters"), "*");
        TK_CHECK(tensor_is(p, VKT_IO_F32, 2, (int64_t[]){1, 4}, (double[]){0.5, 0.5, 0.5, 0.5}), "its parameter");
        TK_CHECK(vkt_py_tensor(vkt_py_get(vkt_py_get(vkt_torch_root(t), "string_to_token"), "*")), "tensor token");
        vkt_torch_close(t);
    }
    t = open_fixture("numpy_scalar.pt", &err);
    TK_CHECK(t, "numpy_scalar.pt: %s", err.msg);
    if (t) {
        TK_CHECK(vkt_py_float(vkt_py_get(vkt_torch_root(t), "x"), &x) && x == 1.5, "numpy float64 scalar");
        TK_CHECK(vkt_py_int(vkt_py_get(vkt_torch_root(t), "n"), &i) && i == -3, "numpy int64 scalar");
        vkt_torch_close(t);
    }
    t = open_fixture("protocol4.pt", &err);
    TK_CHECK(t, "protocol4.pt: %s", err.msg);
    if (t) {
        TK_CHECK(tensor_is(vkt_py_get(vkt_torch_root(t), "w"), VKT_IO_F32, 1, (int64_t[]){2}, (double[]){1, 2}),
                 "protocol 4 tensor");
        vkt_torch_close(t);
    }
}

static void refused(const char *file, vkt_status code, const char *want)
{
    vkt_err err = {0};
    vkt_torch *t = open_fixture(file, &err);
    TK_CHECK(!t && err.code == code && strstr(err.msg, want), "%s: want \"%s\", got \"%s\"", file, want, err.msg);
    vkt_torch_close(t);
}

static void test_hostile_files(void)
{
    refused("legacy.pt", VKT_ERR_UNSUPPORTED, "legacy (pre-1.6) PyTorch format, not supported: re-save it");
    refused("evil_os_system.pt", VKT_ERR_FORMAT, "global posix.system is not allowed");
    refused("evil_eval.pt", VKT_ERR_FORMAT, "global __builtin__.eval is not allowed");
    refused("evil_popen.pt", VKT_ERR_FORMAT, "global commands.Popen is not allowed");
    refused("evil_nested_pickle.pt", VKT_ERR_FORMAT, "global pickle.loads is not allowed");
    refused("evil_torch_load.pt", VKT_ERR_FORMAT, "global torch.serialization.load is not allowed");
}

/* One API over both formats; the format is sniffed from the content, not the name. */
static void test_state_dict(void)
{
    vkt_err err = {0};
    vkt_state_dict *sd = NULL;
    TK_CHECK(vkt_state_dict_open(tk_src("tests/data/torch/ckpt_like.ckpt"), 0, &sd, &err) == VKT_OK, "ckpt: %s", err.msg);
    if (sd) {
        TK_CHECK(vkt_state_dict_format(sd) == VKT_FORMAT_TORCH && vkt_state_dict_count(sd) == 4, "state_dict unwrapped");
        const vkt_tensor_data *t = vkt_state_dict_find(sd, "model.1.weight");
        TK_CHECK(t && t->ndim == 1 && t->shape[0] == 2, "LayerNorm weight");
        TK_CHECK(!vkt_state_dict_meta(sd, "x") && vkt_state_dict_pickle_root(sd), "torch: no metadata, a pickle root");
        vkt_state_dict_close(sd);
    }
    sd = NULL;
    TK_CHECK(vkt_state_dict_open(tk_src("tests/data/torch/values.pt"), 0, &sd, &err) == VKT_OK, "values: %s", err.msg);
    if (sd) {
        TK_CHECK(vkt_state_dict_count(sd) == 16 && vkt_state_dict_skipped(sd) == 11, "16 tensors, 11 other entries (%zu, %zu)",
                 vkt_state_dict_count(sd), vkt_state_dict_skipped(sd));
        vkt_state_dict_close(sd);
    }
    TK_CHECK(vkt_state_dict_open(tk_src("tests/data/torch/legacy.pt"), 0, &sd, &err) == VKT_ERR_UNSUPPORTED &&
                 strstr(err.msg, "legacy"),
             "legacy: %s", err.msg);
    /* a safetensors header of exactly 128 bytes starts with byte 0x80, like a pickle */
    vkt_safetensors_writer *w = NULL;
    vkt_safetensors_writer_create(&w, &err);
    float one = 1;
    vkt_safetensors_writer_add(w, "w", VKT_IO_F32, 0, NULL, &one, &err);
    char pad[128] = {0};
    bool found = false;
    for (int len = 0; len < 120 && !found; len++) {
        memset(pad, 'x', (size_t)len);
        pad[len] = 0;
        vkt_safetensors_writer_meta(w, "pad", pad, &err);
        uint8_t *b = NULL;
        size_t n = 0;
        vkt_safetensors_writer_to_memory(w, &b, &n, &err);
        found = b && b[0] == 0x80;
        free(b);
    }
    TK_CHECK(found, "made a header of length 0x80");
    char path[2100];
    snprintf(path, sizeof path, "%s/h128.safetensors", tk_tmpdir("state_dict"));
    TK_CHECK(vkt_safetensors_writer_write(w, path, &err) == VKT_OK, "write");
    vkt_safetensors_writer_destroy(w);
    sd = NULL;
    TK_CHECK(vkt_state_dict_open(path, 0, &sd, &err) == VKT_OK && vkt_state_dict_format(sd) == VKT_FORMAT_SAFETENSORS &&
                 vkt_state_dict_find(sd, "w") && vkt_state_dict_meta(sd, "pad"),
             "header length 0x80 is still safetensors: %s", err.msg);
    vkt_state_dict_close(sd);
}

int main(void)
{
    test_state_dict();
    test_values();
    test_webui_files();
    test_hostile_files();
    return tk_finish("io.torch");
}
