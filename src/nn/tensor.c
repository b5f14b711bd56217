/* Tensor views, shape helpers and host conversions. */
#include "nn/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "base/fault.h"

size_t vkt_dtype_size(vkt_dtype dt) { return dt == VKT_F16 || dt == VKT_BF16 ? 2 : 4; }

const char *vkt_dtype_name(vkt_dtype dt)
{
    switch (dt) {
    case VKT_F32: return "f32";
    case VKT_F16: return "f16";
    case VKT_BF16: return "bf16";
    case VKT_I32: return "i32";
    }
    return "?";
}

int64_t vkt_tensor_numel(const vkt_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t vkt_tensor_bytes(const vkt_tensor *t) { return (size_t)vkt_tensor_numel(t) * vkt_dtype_size(t->dtype); }

const char *vkt_shape_str(const vkt_tensor *t, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

bool vkt_shape_eq(const vkt_tensor *a, const vkt_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

vkt_status vkt_tensor_alloc(vkt_device *dev, vkt_dtype dt, int ndim, const int64_t *shape, const char *what,
                            vkt_tensor *out, vkt_err *err)
{
    if (ndim < 1 || ndim > VKT_MAX_DIMS) return vkt_fail(err, VKT_ERR_INTERNAL, "%s: %d dims", what, ndim);
    vkt_tensor t = {.dtype = dt, .ndim = ndim};
    size_t bytes = vkt_dtype_size(dt);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || !vkt_mul_ok(bytes, (size_t)shape[i], &bytes))
            return vkt_fail(err, VKT_ERR_SHAPE, "%s: bad shape", what);
        t.shape[i] = shape[i];
    }
    bytes = (bytes + 3) & ~(size_t)3; /* whole 32-bit words: f16 shaders access pairs */
    vkt_status st = vkt_buffer_create(dev, bytes ? bytes : 4, VKT_MEM_DEVICE, what, &t.buf, err);
    if (st) return st;
    *out = t;
    return VKT_OK;
}

void vkt_tensor_free(vkt_device *dev, vkt_tensor *t)
{
    if (!t) return;
    vkt_buffer_destroy(dev, t->buf);
    t->buf = NULL;
}

vkt_tensor vkt_tensor_reshape(const vkt_tensor *t, int ndim, const int64_t *shape)
{
    vkt_tensor r = *t;
    r.ndim = ndim;
    for (int i = 0; i < ndim; i++) r.shape[i] = shape[i];
    return r;
}

vkt_status vkt_tensor_upload_f32(vkt_device *dev, const vkt_tensor *t, const float *src, vkt_err *err)
{
    size_t n = (size_t)vkt_tensor_numel(t), bytes = vkt_tensor_bytes(t);
    if (t->dtype == VKT_F32 || t->dtype == VKT_I32) return vkt_buffer_upload(dev, t->buf, t->offset, src, bytes, err);
    uint16_t *tmp = vkt_malloc((bytes + 3) & ~(size_t)3);
    if (!tmp) return vkt_fail(err, VKT_ERR_NOMEM, "upload conversion (%zu bytes)", bytes);
    for (size_t i = 0; i < n; i++) tmp[i] = t->dtype == VKT_F16 ? vkt_f32_to_f16(src[i]) : vkt_f32_to_bf16(src[i]);
    if (n & 1) tmp[n] = 0;
    vkt_status st = vkt_buffer_upload(dev, t->buf, t->offset, tmp, (bytes + 3) & ~(size_t)3, err);
    free(tmp);
    return st;
}

vkt_status vkt_tensor_download_f32(vkt_device *dev, const vkt_tensor *t, float *dst, vkt_err *err)
{
    size_t n = (size_t)vkt_tensor_numel(t), bytes = vkt_tensor_bytes(t);
    if (t->dtype == VKT_F32 || t->dtype == VKT_I32) return vkt_buffer_download(dev, t->buf, t->offset, dst, bytes, err);
    size_t padded = (bytes + 3) & ~(size_t)3;
    if (t->offset + padded > t->buf->size) padded = bytes; /* odd tail at the very end of the buffer */
    uint16_t *tmp = vkt_malloc(padded + 4);
    if (!tmp) return vkt_fail(err, VKT_ERR_NOMEM, "download conversion (%zu bytes)", bytes);
    vkt_status st = vkt_buffer_download(dev, t->buf, t->offset, tmp, (padded + 3) & ~(size_t)3, err);
    for (size_t i = 0; !st && i < n; i++) dst[i] = t->dtype == VKT_F16 ? vkt_f16_to_f32(tmp[i]) : vkt_bf16_to_f32(tmp[i]);
    free(tmp);
    return st;
}

vkt_status vkt_tensor_zero(vkt_device *dev, const vkt_tensor *t, vkt_err *err)
{
    return vkt_buffer_zero(dev, t->buf, t->offset, (vkt_tensor_bytes(t) + 3) & ~(size_t)3, err);
}

vkt_bind vkt_tensor_bind_r(const vkt_tensor *t) { return VKT_BIND_R(t->buf, t->offset, vkt_tensor_bytes(t)); }
vkt_bind vkt_tensor_bind_w(const vkt_tensor *t) { return VKT_BIND_W(t->buf, t->offset, vkt_tensor_bytes(t)); }
