/* Weight store: one device tensor per model tensor, uploaded from the file's map. */
#include "models/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"

struct vkt_weights {
    vkt_device *dev;
    vkt_dtype dt;
    vkt_tensor *ts; /* owned tensors */
    uint32_t n, cap;
    vkt_buffer *placeholder; /* owned: what shapes-only tensors point at */
    uint64_t bytes, params;
};

static const vkt_tensor_data *find_st(void *user, const char *key)
{
    return vkt_safetensors_find((vkt_safetensors *)user, key);
}

vkt_weight_source vkt_weight_source_safetensors(vkt_safetensors *st, const char *prefix, const char *origin)
{
    vkt_weight_source s = {.find = find_st, .user = st, .origin = origin};
    snprintf(s.prefix, sizeof s.prefix, "%s", prefix ? prefix : "");
    return s;
}

static const vkt_tensor_data *find_mf(void *user, const char *key)
{
    return vkt_model_file_find((vkt_model_file *)user, key);
}

vkt_weight_source vkt_weight_source_model_file(vkt_model_file *mf, const char *prefix, const char *origin)
{
    vkt_weight_source s = {.find = find_mf, .user = mf, .origin = origin};
    snprintf(s.prefix, sizeof s.prefix, "%s", prefix ? prefix : "");
    return s;
}

vkt_status vkt_weights_create(vkt_device *dev, vkt_dtype dt, vkt_weights **out, vkt_err *err)
{
    vkt_weights *w = vkt_calloc(1, sizeof *w);
    if (!w) return vkt_fail(err, VKT_ERR_NOMEM, "weights");
    w->dev = dev;
    w->dt = dt;
    *out = w;
    return VKT_OK;
}

void vkt_weights_destroy(vkt_weights *w)
{
    if (!w) return;
    for (uint32_t i = 0; i < w->n; i++) vkt_tensor_free(w->dev, &w->ts[i]);
    free(w->ts);
    vkt_buffer_destroy(w->dev, w->placeholder);
    free(w);
}

int vkt_weight_exists(const vkt_weight_source *src, const char *key)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", src->prefix, key);
    return src->find(src->user, full) != NULL;
}

static vkt_status load(vkt_weights *w, const vkt_weight_source *src, const char *key, int ndim, const int64_t *shape,
                       vkt_dtype dt, vkt_tensor *out, vkt_err *err)
{
    char full[256], got[96], want[96];
    snprintf(full, sizeof full, "%s%s", src->prefix, key);
    const vkt_tensor_data *td = src->find(src->user, full);
    if (!td) return vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\" is missing", src->origin, full);
    bool ok = td->ndim == ndim && vkt_io_dtype_is_float(td->dtype);
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] < 0 || td->shape[i] == shape[i];
    if (!ok) {
        int k = snprintf(want, sizeof want, "[");
        for (int i = 0; i < ndim; i++) {
            if (shape[i] < 0) k += snprintf(want + k, sizeof want - (size_t)k, "%s*", i ? "," : "");
            else k += snprintf(want + k, sizeof want - (size_t)k, "%s%lld", i ? "," : "", (long long)shape[i]);
        }
        snprintf(want + k, sizeof want - (size_t)k, "]");
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: tensor \"%s\": %s %s, expected float %s", src->origin, full,
                        vkt_io_dtype_name(td->dtype), vkt_tensor_data_shape_str(td, got, sizeof got), want);
    }
    if (src->shapes_only) {
        if (!w->placeholder) {
            vkt_status st = vkt_buffer_create(w->dev, 256, VKT_MEM_DEVICE, "shapes-only weights", &w->placeholder, err);
            if (st) return st;
        }
        vkt_tensor t = {.buf = w->placeholder, .dtype = dt, .ndim = ndim ? ndim : 1, .shape = {1}};
        for (int i = 0; i < ndim; i++) t.shape[i] = td->shape[i];
        w->bytes += vkt_tensor_bytes(&t);
        w->params += vkt_tensor_data_numel(td);
        *out = t;
        return VKT_OK;
    }
    if (w->n == w->cap) {
        uint32_t cap = w->cap ? w->cap * 2 : 128;
        vkt_tensor *nt = vkt_realloc(w->ts, cap * sizeof *nt);
        if (!nt) return vkt_fail(err, VKT_ERR_NOMEM, "weights table");
        w->ts = nt;
        w->cap = cap;
    }
    size_t numel = vkt_tensor_data_numel(td);
    float *host = vkt_malloc((numel ? numel : 1) * sizeof *host);
    if (!host) return vkt_fail(err, VKT_ERR_NOMEM, "%s: %zu floats", full, numel);
    vkt_tensor t;
    int64_t shp[VKT_MAX_DIMS];
    int nd = ndim ? ndim : 1;
    for (int i = 0; i < ndim; i++) shp[i] = td->shape[i];
    if (!ndim) shp[0] = 1;
    vkt_status st = vkt_tensor_data_to_f32(td, host, err);
    if (!st) st = vkt_tensor_alloc(w->dev, dt, nd, shp, key, &t, err);
    if (!st) {
        st = vkt_tensor_upload_f32(w->dev, &t, host, err);
        if (st) vkt_tensor_free(w->dev, &t);
    }
    free(host);
    if (st) {
        vkt_err_prefix(err, "loading %s", full);
        return st;
    }
    w->ts[w->n++] = t;
    w->bytes += vkt_tensor_bytes(&t);
    w->params += numel;
    *out = t;
    return VKT_OK;
}

vkt_status vkt_weights_get(vkt_weights *w, const vkt_weight_source *src, const char *key, int ndim,
                           const int64_t *shape, vkt_tensor *out, vkt_err *err)
{
    return load(w, src, key, ndim, shape, w->dt, out, err);
}

vkt_status vkt_weights_get_f32(vkt_weights *w, const vkt_weight_source *src, const char *key, int ndim,
                               const int64_t *shape, vkt_tensor *out, vkt_err *err)
{
    return load(w, src, key, ndim, shape, VKT_F32, out, err);
}

uint64_t vkt_weights_bytes(const vkt_weights *w) { return w->bytes; }
uint64_t vkt_weights_params(const vkt_weights *w) { return w->params; }
vkt_dtype vkt_weights_dtype(const vkt_weights *w) { return w->dt; }
