/* Every host allocation of the io readers and writers made to fail in turn (VKTRAIN_FAIL_ALLOC):
 * each attempt must end in VKT_ERR_NOMEM (or succeed once the failing call is past the last
 * allocation), never crash, and leak nothing (run under ASan/LSan in CI). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "base/file.h"
#include "io/model_file.h"
#include "io/pt_writer.h"
#include "io/safetensors.h"
#include "io/torch_file.h"
#include "testkit.h"

typedef vkt_status (*attempt_fn)(void *ctx, vkt_err *err);

/* Runs fn with allocation n failing, n = 1, 2, ... until a run succeeds untouched. */
static void sweep(const char *what, attempt_fn fn, void *ctx)
{
    int n, bad = 0;
    char env[32];
    for (n = 1; n < 5000; n++) {
        snprintf(env, sizeof env, "%d", n);
        setenv("VKTRAIN_FAIL_ALLOC", env, 1);
        vkt_fault_reset();
        vkt_err err = {0};
        vkt_status s = fn(ctx, &err);
        if (s == VKT_OK) break;
        if (s != VKT_ERR_NOMEM) {
            if (!bad++) fprintf(stderr, "%s: allocation %d failing gave %d: %s\n", what, n, s, err.msg);
        }
    }
    unsetenv("VKTRAIN_FAIL_ALLOC");
    vkt_fault_reset();
    TK_CHECK(n > 1 && n < 5000 && bad == 0, "%s: %d allocations swept, %d non-NOMEM errors", what, n - 1, bad);
}

static vkt_status open_torch(void *ctx, vkt_err *err)
{
    vkt_torch *t = NULL;
    vkt_status s = vkt_torch_open((const char *)ctx, 0, &t, err);
    vkt_torch_close(t);
    return s;
}

typedef struct buf {
    uint8_t *p;
    size_t n;
} buf;

static vkt_status open_st(void *ctx, vkt_err *err)
{
    buf *b = ctx;
    vkt_safetensors *st = NULL;
    vkt_status s = vkt_safetensors_open_memory(b->p, b->n, "mem", &st, err);
    vkt_safetensors_close(st);
    return s;
}

static vkt_status write_pt(void *ctx, vkt_err *err)
{
    (void)ctx;
    static const float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    vkt_pt *p = NULL;
    vkt_status s = vkt_pt_create(&p, err);
    if (s) return s;
    vkt_pt_val *r = vkt_pt_dict(p), *l = vkt_pt_list(p);
    for (int i = 0; i < 40; i++) vkt_pt_append(p, l, vkt_pt_int(p, i));
    vkt_pt_set_str(p, r, "l", l);
    vkt_pt_set_str(p, r, "t", vkt_pt_tensor(p, VKT_IO_F32, 2, (int64_t[]){2, 4}, v, true));
    vkt_pt_set_str(p, r, "u", vkt_pt_tensor(p, VKT_IO_F32, 1, (int64_t[]){8}, v, false));
    uint8_t *out = NULL;
    size_t n = 0;
    s = vkt_pt_write_memory(p, r, "x", &out, &n, err);
    free(out);
    vkt_pt_destroy(p);
    return s;
}

static vkt_status write_st(void *ctx, vkt_err *err)
{
    (void)ctx;
    static const float v[4] = {1, 2, 3, 4};
    vkt_safetensors_writer *w = NULL;
    vkt_status s = vkt_safetensors_writer_create(&w, err);
    for (int i = 0; !s && i < 70; i++) {
        char name[32];
        snprintf(name, sizeof name, "t%d", i);
        s = vkt_safetensors_writer_add(w, name, VKT_IO_F32, 1, (int64_t[]){4}, v, err);
    }
    if (!s) s = vkt_safetensors_writer_meta(w, "k", "v", err);
    uint8_t *out = NULL;
    size_t n = 0;
    if (!s) s = vkt_safetensors_writer_to_memory(w, &out, &n, err);
    free(out);
    vkt_safetensors_writer_destroy(w);
    return s;
}

static vkt_status open_model(void *ctx, vkt_err *err)
{
    vkt_model_file *mf = NULL;
    vkt_model_opts o = {.any_family = true};
    vkt_status s = vkt_model_file_open((const char *)ctx, &o, &mf, err);
    vkt_model_file_close(mf);
    return s;
}

int main(void)
{
    char path[2048];
    const char *files[] = {"values.pt", "hypernetwork.pt", "emb_paramdict.pt", "emb.pt.optim", "numpy_scalar.pt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "tests/data/torch/%s", files[i]);
        snprintf(path, sizeof path, "%s", tk_src(path));
        sweep(files[i], open_torch, path);
    }
    buf b = {0};
    vkt_err err = {0};
    { /* a file with one tensor of every dtype and metadata */
        static const uint8_t bytes[48];
        vkt_safetensors_writer *w = NULL;
        vkt_safetensors_writer_create(&w, &err);
        for (int d = 0; d < VKT_IO_DTYPE_COUNT; d++) {
            char name[32];
            snprintf(name, sizeof name, "t.%s", vkt_io_dtype_name((vkt_io_dtype)d));
            vkt_safetensors_writer_add(w, name, (vkt_io_dtype)d, 2, (int64_t[]){2, (int64_t)(8 / vkt_io_dtype_size((vkt_io_dtype)d))},
                                       bytes, &err);
        }
        vkt_safetensors_writer_meta(w, "k", "v", &err);
        TK_CHECK(vkt_safetensors_writer_to_memory(w, &b.p, &b.n, &err) == VKT_OK, "test file: %s", err.msg);
        vkt_safetensors_writer_destroy(w);
    }
    if (b.p) sweep("safetensors reader", open_st, &b);
    free(b.p);
    sweep(".pt writer", write_pt, NULL);
    sweep("safetensors writer", write_st, NULL);
    /* a model file: a .ckpt whose state_dict names SD keys (tiny shapes) */
    const char *dir = tk_tmpdir("io_faults");
    snprintf(path, sizeof path, "%s/m.ckpt", dir);
    vkt_pt *p = NULL;
    vkt_pt_create(&p, &err);
    static const uint16_t z[64];
    vkt_pt_val *r = vkt_pt_dict(p), *sd = vkt_pt_dict(p);
    const char *keys[] = {"model.diffusion_model.input_blocks.0.0.weight", "model.diffusion_model.out.2.weight",
                          "model.diffusion_model.time_embed.0.weight", "model.diffusion_model.input_blocks.1.0.in_layers.2.weight"};
    int64_t shapes[4][4] = {{2, 4, 1, 1}, {4, 2, 1, 1}, {8, 2}, {2, 2, 1, 1}};
    int nd[4] = {4, 4, 2, 4};
    for (int i = 0; i < 4; i++) vkt_pt_set_str(p, sd, keys[i], vkt_pt_tensor(p, VKT_IO_F16, nd[i], shapes[i], z, false));
    vkt_pt_set_str(p, r, "state_dict", sd);
    TK_CHECK(vkt_pt_write(p, r, path, &err) == VKT_OK, "write model: %s", err.msg);
    vkt_pt_destroy(p);
    sweep("model file", open_model, path);
    return tk_finish("io.faults");
}
