/* UNet blocks and the whole UNet on the tiny model (generated in memory, seed 0) against the
 * golden data of tests/reference/make_golden.py, fp32 and (where the device stores f16) fp16.
 *
 *   test_unet resblock|st|unet|plan
 *
 * Error measure (spec eval-case.md): max |got - ref| / max |ref| per tensor; tolerances: fp32
 * forward 1e-4, gradients 1e-3; fp16 storage 1e-2 / 3e-2. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "io/safetensors.h"
#include "models/tiny_model.h"
#include "models/unet_blocks.h"
#include "nn/ops/act.h"
#include "testkit.h"

#define TOL_FWD_F32 1e-4
#define TOL_GRAD_F32 1e-3
#define TOL_FWD_F16 1e-2
#define TOL_GRAD_F16 3e-2

typedef struct env {
    vkt_device *dev;
    vkt_step *step;
    uint8_t *model_bytes;
    vkt_safetensors *model;
    vkt_weight_source src;
    vkt_safetensors *gold;
} env;

/* The UNet part of the deterministic tiny model (docs/tiny-model.md) as an in-memory file. */
static vkt_status make_model(env *e, const vkt_gen_config *cfg, vkt_err *err)
{
    vkt_gen_tensor *ts = NULL;
    uint32_t n = 0;
    vkt_safetensors_writer *w = NULL;
    float **vals = NULL;
    size_t size = 0;
    const char *pre = "model.diffusion_model.";
    vkt_status st = vkt_gen_keys(cfg, &ts, &n, err);
    if (!st) st = vkt_safetensors_writer_create(&w, err);
    if (!st && !(vals = vkt_calloc(n, sizeof *vals))) st = vkt_fail(err, VKT_ERR_NOMEM, "values");
    for (uint32_t i = 0; i < n && !st; i++) {
        if (strncmp(ts[i].key, pre, strlen(pre)) != 0) continue;
        if (!(vals[i] = vkt_malloc((size_t)vkt_gen_numel(&ts[i]) * sizeof(float)))) {
            st = vkt_fail(err, VKT_ERR_NOMEM, "%s", ts[i].key);
            break;
        }
        vkt_gen_values(0, &ts[i], vals[i]);
        st = vkt_safetensors_writer_add(w, ts[i].key, VKT_IO_F32, ts[i].ndim, ts[i].shape, vals[i], err);
    }
    char heads[16];
    snprintf(heads, sizeof heads, "%d", cfg->unet_heads);
    if (!st) st = vkt_safetensors_writer_meta(w, "vktrain.unet_heads", heads, err);
    if (!st) st = vkt_safetensors_writer_to_memory(w, &e->model_bytes, &size, err);
    if (!st) st = vkt_safetensors_open_memory(e->model_bytes, size, "tiny model", &e->model, err);
    if (!st) e->src = vkt_weight_source_safetensors(e->model, pre, "tiny model");
    vkt_safetensors_writer_destroy(w);
    for (uint32_t i = 0; vals && i < n; i++) free(vals[i]);
    free(vals);
    free(ts);
    return st;
}

static vkt_status env_init(env *e, const char *golden, vkt_err *err)
{
    memset(e, 0, sizeof *e);
    vkt_status st = vkt_device_create(&(vkt_device_opts){.validation = -1}, &e->dev, err);
    if (!st) st = vkt_step_create(e->dev, &e->step, err);
    if (!st) st = make_model(e, &VKT_GEN_TINY, err);
    if (!st && golden) {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/golden/%s", golden);
        st = vkt_safetensors_open(tk_src(rel), &e->gold, err);
    }
    return st;
}

static void env_fini(env *e)
{
    if (e->dev)
        TK_CHECK(vkt_device_validation_count(e->dev) == 0, "%u validation messages",
                 vkt_device_validation_count(e->dev));
    vkt_safetensors_close(e->gold);
    vkt_safetensors_close(e->model);
    free(e->model_bytes);
    vkt_step_destroy(e->step);
    vkt_device_destroy(e->dev);
}

/* Golden tensor `name` as floats (malloc'd) with its numel; NULL when missing. */
static float *gold_f32(env *e, const char *name, size_t *n, vkt_err *err)
{
    const vkt_tensor_data *t = vkt_safetensors_find(e->gold, name);
    if (!t) {
        vkt_fail(err, VKT_ERR_FORMAT, "golden tensor %s missing", name);
        return NULL;
    }
    size_t k = vkt_tensor_data_numel(t);
    float *v = vkt_malloc(k * sizeof *v);
    if (!v || vkt_tensor_data_to_f32(t, v, err)) {
        free(v);
        return NULL;
    }
    if (n) *n = k;
    return v;
}

/* A persistent device tensor holding golden tensor `name` (shape from the file). */
static vkt_status gold_tensor(env *e, const char *name, vkt_dtype dt, vkt_tensor *out, vkt_err *err)
{
    const vkt_tensor_data *t = vkt_safetensors_find(e->gold, name);
    if (!t) return vkt_fail(err, VKT_ERR_FORMAT, "golden tensor %s missing", name);
    int64_t shape[VKT_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) shape[i] = t->shape[i];
    float *v = gold_f32(e, name, NULL, err);
    if (!v) return err->code;
    vkt_status st = vkt_tensor_alloc(e->dev, dt, t->ndim, shape, name, out, err);
    if (!st) st = vkt_tensor_upload_f32(e->dev, out, v, err);
    free(v);
    return st;
}

/* Compares step tensor t (after the step ran) with golden `name`: max|d| / max|ref| <= tol. */
static void compare(env *e, const char *what, const vkt_tensor *t, const char *name, double tol)
{
    vkt_err err = {0};
    size_t n = 0;
    float *ref = gold_f32(e, name, &n, &err);
    vkt_tensor r = vkt_step_resolve(e->step, t);
    float *got = vkt_malloc(n * sizeof *got);
    TK_CHECK(ref && got && (size_t)vkt_tensor_numel(&r) == n, "%s: %s: %s", what, name, err.msg);
    if (!ref || !got || (size_t)vkt_tensor_numel(&r) != n) goto done;
    TK_CHECK(vkt_tensor_download_f32(e->dev, &r, got, &err) == VKT_OK, "%s: download: %s", what, err.msg);
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= md)) md = d; /* NaN propagates */
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    double rel = md / (mr > 0 ? mr : 1);
    printf("  %-28s %-14s err %.3e (tol %.0e)\n", what, name, rel, tol);
    TK_CHECK(rel <= tol, "%s: %s error %.3e > %.0e", what, name, rel, tol);
done:
    free(ref);
    free(got);
}

static void free_all(env *e, vkt_tensor *ts, int n)
{
    for (int i = 0; i < n; i++)
        if (ts[i].buf) vkt_tensor_free(e->dev, &ts[i]);
}

/* ------------------------------------------------------------------------------------------ */

/* One ResBlock golden: out, grad_x, grad_emb for the file's x, emb, grad_out. */
static void resblock_case(const char *file, const char *prefix, vkt_dtype dt)
{
    env e;
    vkt_err err = {0};
    vkt_weights *w = NULL;
    vkt_tensor in[3] = {{0}}; /* x, emb, grad_out */
    const bool f16 = dt == VKT_F16;
    vkt_status st = env_init(&e, file, &err);
    if (!st && f16 && !vkt_step_dtype_ok(e.step, VKT_F16)) {
        printf("%s: no f16 storage on this device, fp16 case skipped\n", file);
        goto done;
    }
    vkt_unet_res r;
    if (!st) st = vkt_weights_create(e.dev, dt, &w, &err);
    if (!st) st = vkt_unet_res_load(w, &e.src, prefix, -1, 128, &r, &err);
    if (!st) st = gold_tensor(&e, "x", dt, &in[0], &err);
    if (!st) st = gold_tensor(&e, "emb", dt, &in[1], &err);
    if (!st) st = gold_tensor(&e, "grad_out", dt, &in[2], &err);
    vkt_tensor ea, y, dx, dea, demb;
    vkt_unet_res_saved sv;
    if (!st) st = vkt_step_begin_planned(e.step, &err);
    if (!st) st = vkt_unet_tmp(e.step, dt, 2, in[1].shape, "emb act", &ea, &err);
    if (!st) st = vkt_op_act_fwd(e.step, VKT_ACT_SILU, 0, &in[1], &ea, &err);
    if (!st) st = vkt_unet_res_fwd(e.step, &r, &in[0], &ea, &y, &sv, &err);
    if (!st) st = vkt_unet_tmp(e.step, dt, 4, in[0].shape, "dx", &dx, &err);
    if (!st) st = vkt_unet_tmp(e.step, dt, 2, in[1].shape, "d emb act", &dea, &err);
    if (!st) st = vkt_unet_tmp(e.step, dt, 2, in[1].shape, "d emb", &demb, &err);
    if (!st) st = vkt_unet_res_bwd(e.step, &r, &sv, &in[2], &dx, VKT_GRAD_OVERWRITE, &dea, VKT_GRAD_OVERWRITE, &err);
    if (!st) st = vkt_op_act_bwd(e.step, VKT_ACT_SILU, 0, &in[1], &dea, &demb, VKT_GRAD_OVERWRITE, &err);
    if (!st) st = vkt_step_keep(e.step, &y, &err);
    if (!st) st = vkt_step_keep(e.step, &dx, &err);
    if (!st) st = vkt_step_keep(e.step, &demb, &err);
    if (!st) st = vkt_step_run(e.step, &err);
    TK_CHECK(st == VKT_OK, "%s: %s", file, err.msg);
    if (!st) {
        char what[64];
        snprintf(what, sizeof what, "%s %s", prefix, f16 ? "fp16" : "fp32");
        compare(&e, what, &y, "out", f16 ? TOL_FWD_F16 : TOL_FWD_F32);
        compare(&e, what, &dx, "grad_x", f16 ? TOL_GRAD_F16 : TOL_GRAD_F32);
        compare(&e, what, &demb, "grad_emb", f16 ? TOL_GRAD_F16 : TOL_GRAD_F32);
    }
done:
    free_all(&e, in, 3);
    vkt_weights_destroy(w);
    env_fini(&e);
}

static void test_resblock(void)
{
    for (int f16 = 0; f16 < 2; f16++) {
        vkt_dtype dt = f16 ? VKT_F16 : VKT_F32;
        resblock_case("block_unet_resblock.safetensors", "input_blocks.3.0.", dt);
        resblock_case("block_unet_resblock_out1.safetensors", "output_blocks.1.0.", dt);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_unet resblock|st|unet|plan\n");
        return 2;
    }
    if (!strcmp(argv[1], "resblock")) test_resblock();
    else {
        fprintf(stderr, "test_unet: unknown test %s\n", argv[1]);
        return 2;
    }
    return tk_finish(argv[1]);
}
