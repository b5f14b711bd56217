/* Tensor descriptors and element conversion for file readers. Depends on base only. */
#include "io/tensor_data.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/checked.h"
#include "base/half.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[VKT_IO_DTYPE_COUNT] = {
    [VKT_IO_F64] = {"F64", 8},          [VKT_IO_F32] = {"F32", 4},
    [VKT_IO_F16] = {"F16", 2},          [VKT_IO_BF16] = {"BF16", 2},
    [VKT_IO_F8_E4M3] = {"F8_E4M3", 1},  [VKT_IO_F8_E5M2] = {"F8_E5M2", 1},
    [VKT_IO_I64] = {"I64", 8},          [VKT_IO_I32] = {"I32", 4},
    [VKT_IO_I16] = {"I16", 2},          [VKT_IO_I8] = {"I8", 1},
    [VKT_IO_U64] = {"U64", 8},          [VKT_IO_U32] = {"U32", 4},
    [VKT_IO_U16] = {"U16", 2},          [VKT_IO_U8] = {"U8", 1},
    [VKT_IO_BOOL] = {"BOOL", 1},
};

size_t vkt_io_dtype_size(vkt_io_dtype dt)
{
    return (unsigned)dt < VKT_IO_DTYPE_COUNT ? dtypes[dt].size : 0;
}

const char *vkt_io_dtype_name(vkt_io_dtype dt)
{
    return (unsigned)dt < VKT_IO_DTYPE_COUNT ? dtypes[dt].name : "?";
}

bool vkt_io_dtype_parse(const char *name, vkt_io_dtype *out)
{
    for (int i = 0; i < VKT_IO_DTYPE_COUNT; i++)
        if (strcmp(name, dtypes[i].name) == 0) {
            *out = (vkt_io_dtype)i;
            return true;
        }
    return false;
}

bool vkt_io_dtype_is_float(vkt_io_dtype dt)
{
    return dt == VKT_IO_F64 || dt == VKT_IO_F32 || dt == VKT_IO_F16 || dt == VKT_IO_BF16 ||
           dt == VKT_IO_F8_E4M3 || dt == VKT_IO_F8_E5M2;
}

size_t vkt_tensor_data_numel(const vkt_tensor_data *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

bool vkt_tensor_data_is_contiguous(const vkt_tensor_data *t)
{
    int64_t want = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->strides[i] != want) return false;
        want *= t->shape[i];
    }
    return true;
}

void vkt_tensor_data_set_contiguous(vkt_tensor_data *t)
{
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->strides[i] = s;
        s *= t->shape[i];
    }
}

const char *vkt_tensor_data_shape_str(const vkt_tensor_data *t, char *buf, size_t n)
{
    size_t k = 0;
    if (!n) return buf;
    buf[0] = 0;
    k += (size_t)snprintf(buf + k, k < n ? n - k : 0, "[");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

/* The conversions live in base/half.c (one implementation for io/ and nn/). */
float vkt_io_f16_to_f32(uint16_t h) { return vkt_f16_to_f32(h); }
float vkt_io_bf16_to_f32(uint16_t h) { return vkt_bf16_to_f32(h); }
uint16_t vkt_io_f32_to_bf16(float f) { return vkt_f32_to_bf16(f); }
uint16_t vkt_io_f32_to_f16(float f) { return vkt_f32_to_f16(f); }

static float f8e4m3_to_f32(uint8_t b)
{
    /* OCP E4M3 "fn": bias 7, no infinities, S.1111.111 is NaN. */
    int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
    float v;
    if (e == 15 && m == 7) return NAN;
    if (e == 0)
        v = ldexpf((float)m / 8.0f, -6);
    else
        v = ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return s ? -v : v;
}

double vkt_tensor_data_get(const vkt_tensor_data *t, size_t i)
{
    /* row-major index -> element offset through the strides */
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        size_t n = (size_t)t->shape[d];
        off += (int64_t)(i % n) * t->strides[d];
        i /= n;
    }
    const uint8_t *p = t->data + (size_t)off * vkt_io_dtype_size(t->dtype);
    switch (t->dtype) {
    case VKT_IO_F64: {
        uint64_t u = vkt_rd_le64(p);
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    case VKT_IO_F32: {
        uint32_t u = vkt_rd_le32(p);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case VKT_IO_F16: return vkt_io_f16_to_f32(vkt_rd_le16(p));
    case VKT_IO_BF16: return vkt_io_bf16_to_f32(vkt_rd_le16(p));
    case VKT_IO_F8_E4M3: return f8e4m3_to_f32(p[0]);
    case VKT_IO_F8_E5M2: return vkt_io_f16_to_f32((uint16_t)(p[0] << 8));
    case VKT_IO_I64: return (double)(int64_t)vkt_rd_le64(p);
    case VKT_IO_I32: return (double)(int32_t)vkt_rd_le32(p);
    case VKT_IO_I16: return (double)(int16_t)vkt_rd_le16(p);
    case VKT_IO_I8: return (double)(int8_t)p[0];
    case VKT_IO_U64: return (double)vkt_rd_le64(p);
    case VKT_IO_U32: return (double)vkt_rd_le32(p);
    case VKT_IO_U16: return (double)vkt_rd_le16(p);
    case VKT_IO_U8: return (double)p[0];
    case VKT_IO_BOOL: return p[0] ? 1.0 : 0.0;
    case VKT_IO_DTYPE_COUNT: break;
    }
    return 0.0;
}

static vkt_status check_desc(const vkt_tensor_data *t, vkt_err *err)
{
    if ((unsigned)t->dtype >= VKT_IO_DTYPE_COUNT)
        return vkt_fail(err, VKT_ERR_INTERNAL, "tensor descriptor has dtype %d", (int)t->dtype);
    if (t->ndim < 0 || t->ndim > VKT_IO_MAX_DIMS)
        return vkt_fail(err, VKT_ERR_INTERNAL, "tensor descriptor has %d dims", t->ndim);
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] < 0 || t->strides[i] < 0)
            return vkt_fail(err, VKT_ERR_INTERNAL, "tensor descriptor has a negative size or stride");
    if (vkt_tensor_data_numel(t) && !t->data)
        return vkt_fail(err, VKT_ERR_INTERNAL, "tensor descriptor without data");
    return VKT_OK;
}

vkt_status vkt_tensor_data_to_f32(const vkt_tensor_data *t, float *dst, vkt_err *err)
{
    vkt_status st = check_desc(t, err);
    if (st) return st;
    size_t n = vkt_tensor_data_numel(t);
    if (vkt_tensor_data_is_contiguous(t)) {
        const uint8_t *p = t->data;
        switch (t->dtype) { /* fast paths for what model files hold */
        case VKT_IO_F32:
            for (size_t i = 0; i < n; i++) {
                uint32_t u = vkt_rd_le32(p + 4 * i);
                memcpy(&dst[i], &u, 4);
            }
            return VKT_OK;
        case VKT_IO_F16:
            for (size_t i = 0; i < n; i++) dst[i] = vkt_io_f16_to_f32(vkt_rd_le16(p + 2 * i));
            return VKT_OK;
        case VKT_IO_BF16:
            for (size_t i = 0; i < n; i++) dst[i] = vkt_io_bf16_to_f32(vkt_rd_le16(p + 2 * i));
            return VKT_OK;
        default: break;
        }
    }
    for (size_t i = 0; i < n; i++) dst[i] = (float)vkt_tensor_data_get(t, i);
    return VKT_OK;
}

vkt_status vkt_tensor_data_copy(const vkt_tensor_data *t, void *dst, vkt_err *err)
{
    vkt_status st = check_desc(t, err);
    if (st) return st;
    size_t n = vkt_tensor_data_numel(t), es = vkt_io_dtype_size(t->dtype);
    if (!n) return VKT_OK;
    if (vkt_tensor_data_is_contiguous(t)) {
        memcpy(dst, t->data, n * es);
        return VKT_OK;
    }
    uint8_t *out = dst;
    for (size_t i = 0; i < n; i++) {
        size_t k = i;
        int64_t off = 0;
        for (int d = t->ndim - 1; d >= 0; d--) {
            size_t s = (size_t)t->shape[d];
            off += (int64_t)(k % s) * t->strides[d];
            k /= s;
        }
        memcpy(out + i * es, t->data + (size_t)off * es, es);
    }
    return VKT_OK;
}
