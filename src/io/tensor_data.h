/* Tensor descriptors shared by every file reader (safetensors, torch zip pickles): dtype, shape,
 * strides and a borrowed pointer into the file's bytes, plus conversion to float32.
 * Knows nothing of Vulkan; depends on base only.
 *
 *   const vkt_tensor_data *t = vkt_safetensors_find(st, "model.diffusion_model.out.2.bias");
 *   float *host = malloc(vkt_tensor_data_numel(t) * sizeof(float));
 *   if (vkt_tensor_data_to_f32(t, host, &err) != VKT_OK) ...
 */
#ifndef VKT_IO_TENSOR_DATA_H
#define VKT_IO_TENSOR_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define VKT_IO_MAX_DIMS 8

/* Element types found in model files. Sizes in bytes: vkt_io_dtype_size(). */
typedef enum vkt_io_dtype {
    VKT_IO_F64,
    VKT_IO_F32,
    VKT_IO_F16,
    VKT_IO_BF16,
    VKT_IO_F8_E4M3,
    VKT_IO_F8_E5M2,
    VKT_IO_I64,
    VKT_IO_I32,
    VKT_IO_I16,
    VKT_IO_I8,
    VKT_IO_U64,
    VKT_IO_U32,
    VKT_IO_U16,
    VKT_IO_U8,
    VKT_IO_BOOL,
    VKT_IO_DTYPE_COUNT
} vkt_io_dtype;

/* Bytes per element (1, 2, 4 or 8). */
size_t vkt_io_dtype_size(vkt_io_dtype dt);
/* safetensors spelling: "F32", "BF16", "BOOL", ... Never NULL ("?" for out-of-range values). */
const char *vkt_io_dtype_name(vkt_io_dtype dt);
/* Parses a safetensors dtype name (exact, upper case). False when unknown. */
bool vkt_io_dtype_parse(const char *name, vkt_io_dtype *out);
/* True for F64, F32, F16, BF16, F8_*. */
bool vkt_io_dtype_is_float(vkt_io_dtype dt);

/* A tensor inside a file. `data` points at element 0 (storage offset already applied); it is
 * borrowed from the reader that made the descriptor and may be unaligned (read it with memcpy or
 * the helpers below). Elements are little-endian. strides are in elements; a contiguous
 * row-major tensor has strides[i] = prod(shape[i+1..]). `bytes` is the extent from `data` that
 * the view touches (numel * size for a contiguous tensor; 0 when numel is 0). */
typedef struct vkt_tensor_data {
    vkt_io_dtype dtype;
    int ndim; /* 0 = scalar (one element) */
    int64_t shape[VKT_IO_MAX_DIMS];
    int64_t strides[VKT_IO_MAX_DIMS];
    const uint8_t *data; /* borrowed */
    size_t bytes;
} vkt_tensor_data;

/* Product of the shape (1 for a scalar). Readers guarantee it does not overflow. */
size_t vkt_tensor_data_numel(const vkt_tensor_data *t);
/* True when strides are row-major contiguous (dims of size 1 may have any stride). */
bool vkt_tensor_data_is_contiguous(const vkt_tensor_data *t);
/* Sets strides to the row-major contiguous ones for t->shape. */
void vkt_tensor_data_set_contiguous(vkt_tensor_data *t);
/* "[320,4,3,3]" into buf (truncated to n); returns buf. */
const char *vkt_tensor_data_shape_str(const vkt_tensor_data *t, char *buf, size_t n);

/* Converts every element, in row-major order, to float32 (F64 rounds; integers and bools convert
 * by value). dst holds numel floats. Fails only for an invalid descriptor. */
vkt_status vkt_tensor_data_to_f32(const vkt_tensor_data *t, float *dst, vkt_err *err);
/* Copies the elements in row-major order without conversion into dst (numel * size bytes). */
vkt_status vkt_tensor_data_copy(const vkt_tensor_data *t, void *dst, vkt_err *err);
/* Element i (row-major index) as double. i < numel. */
double vkt_tensor_data_get(const vkt_tensor_data *t, size_t i);

/* Scalar conversions (exact; NaN stays NaN). */
float vkt_io_f16_to_f32(uint16_t h);
float vkt_io_bf16_to_f32(uint16_t h);
/* Round to nearest even. */
uint16_t vkt_io_f32_to_f16(float f);
uint16_t vkt_io_f32_to_bf16(float f);

#endif
