/* Shared setup of the tiny-model tests: see tiny_fixture.h. */
#include "tiny_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "testkit.h"

vkt_status tk_device_open(vkt_device **dev, vkt_step **step, vkt_err *err)
{
    vkt_status st = vkt_device_create(&(vkt_device_opts){.validation = -1}, dev, err);
    if (!st && step) st = vkt_step_create(*dev, step, err);
    return st;
}

void tk_device_close(vkt_device *dev, vkt_step *step)
{
    if (dev)
        TK_CHECK(vkt_device_validation_count(dev) == 0, "%u validation messages", vkt_device_validation_count(dev));
    vkt_step_destroy(step);
    vkt_device_destroy(dev);
}

vkt_status tk_tiny_model(const char *prefix, tk_tiny_edit_fn edit, void *user, uint8_t **bytes,
                         vkt_safetensors **model, vkt_err *err)
{
    vkt_gen_tensor *ts = NULL;
    uint32_t n = 0;
    vkt_safetensors_writer *w = NULL;
    float **vals = NULL;
    size_t size = 0;
    vkt_status st = vkt_gen_keys(&VKT_GEN_TINY, &ts, &n, err);
    if (!st) st = vkt_safetensors_writer_create(&w, err);
    if (!st && !(vals = vkt_calloc(n, sizeof *vals))) st = vkt_fail(err, VKT_ERR_NOMEM, "values");
    for (uint32_t i = 0; i < n && !st; i++) {
        if (ts[i].is_i64) continue;
        if (prefix && strncmp(ts[i].key, prefix, strlen(prefix)) != 0) continue;
        if (edit && !edit(&ts[i], user)) continue;
        if (!(vals[i] = vkt_malloc((size_t)vkt_gen_numel(&ts[i]) * sizeof(float)))) {
            st = vkt_fail(err, VKT_ERR_NOMEM, "%s", ts[i].key);
            break;
        }
        vkt_gen_values(0, &ts[i], vals[i]);
        st = vkt_safetensors_writer_add(w, ts[i].key, VKT_IO_F32, ts[i].ndim, ts[i].shape, vals[i], err);
    }
    char heads[16];
    snprintf(heads, sizeof heads, "%d", VKT_GEN_TINY.unet_heads);
    if (!st) st = vkt_safetensors_writer_meta(w, "vktrain.unet_heads", heads, err);
    if (!st) st = vkt_safetensors_writer_to_memory(w, bytes, &size, err);
    if (!st) st = vkt_safetensors_open_memory(*bytes, size, "tiny model", model, err);
    vkt_safetensors_writer_destroy(w);
    for (uint32_t i = 0; vals && i < n; i++) free(vals[i]);
    free(vals);
    free(ts);
    return st;
}

vkt_status tk_tiny_unet(tk_tiny *e, tk_tiny_edit_fn edit, void *user, vkt_err *err)
{
    vkt_status st = tk_tiny_model(TK_TINY_UNET_PREFIX, edit, user, &e->model_bytes, &e->model, err);
    if (!st) e->src = vkt_weight_source_safetensors(e->model, TK_TINY_UNET_PREFIX, "tiny model");
    return st;
}

vkt_status tk_tiny_init(tk_tiny *e, bool model, const char *golden, vkt_err *err)
{
    memset(e, 0, sizeof *e);
    vkt_status st = tk_device_open(&e->dev, &e->step, err);
    if (!st && model) st = tk_tiny_unet(e, NULL, NULL, err);
    if (!st && golden) {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/golden/%s", golden);
        st = vkt_safetensors_open(tk_src(rel), &e->gold, err);
    }
    return st;
}

void tk_tiny_fini(tk_tiny *e)
{
    vkt_safetensors_close(e->gold);
    vkt_safetensors_close(e->model);
    free(e->model_bytes);
    tk_device_close(e->dev, e->step);
}

float *tk_st_f32(vkt_safetensors *st, const char *name, size_t *n, vkt_err *err)
{
    const vkt_tensor_data *t = vkt_safetensors_find(st, name);
    if (!t) {
        vkt_fail(err, VKT_ERR_FORMAT, "golden tensor %s missing", name);
        return NULL;
    }
    size_t k = vkt_tensor_data_numel(t);
    float *v = vkt_malloc((k ? k : 1) * sizeof *v);
    if (!v) vkt_fail(err, VKT_ERR_NOMEM, "%s: %zu floats", name, k);
    if (!v || vkt_tensor_data_to_f32(t, v, err)) {
        free(v);
        return NULL;
    }
    if (n) *n = k;
    return v;
}

vkt_status tk_st_upload(vkt_device *dev, vkt_safetensors *st, const char *name, vkt_dtype dt, vkt_tensor *out,
                        vkt_err *err)
{
    const vkt_tensor_data *t = vkt_safetensors_find(st, name);
    if (!t) return vkt_fail(err, VKT_ERR_FORMAT, "golden tensor %s missing", name);
    int64_t shape[VKT_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) shape[i] = t->shape[i];
    float *v = tk_st_f32(st, name, NULL, err);
    if (!v) return err->code;
    vkt_status s = vkt_tensor_alloc(dev, dt, t->ndim, shape, name, out, err);
    if (!s) s = vkt_tensor_upload_f32(dev, out, v, err);
    free(v);
    return s;
}
