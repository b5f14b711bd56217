/* Tensor views over device buffers: {buffer, byte offset, dtype, shape}, always contiguous
 * row-major. A view never frees anything; vkt_tensor_alloc() makes a tensor that owns a whole
 * buffer of its own, released with vkt_tensor_free().
 *
 *   vkt_tensor x;
 *   vkt_tensor_alloc(dev, VKT_F32, 4, (int64_t[]){B, C, H, W}, "x", &x, &err);
 *   vkt_tensor_upload_f32(dev, &x, host, &err);   // converts to x.dtype
 *   ... vkt_tensor_free(dev, &x);
 */
#ifndef VKT_NN_TENSOR_H
#define VKT_NN_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/half.h" /* vkt_f32_to_f16 and the other scalar conversions */
#include "vk/cmd.h"
#include "vk/memory.h"

#define VKT_MAX_DIMS 5

typedef enum vkt_dtype { VKT_F32, VKT_F16, VKT_BF16, VKT_I32 } vkt_dtype;

typedef struct vkt_tensor {
    vkt_buffer *buf; /* borrowed (owned only when made by vkt_tensor_alloc) */
    size_t offset;   /* bytes; a multiple of 256 */
    vkt_dtype dtype;
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
} vkt_tensor;

size_t vkt_dtype_size(vkt_dtype dt);
const char *vkt_dtype_name(vkt_dtype dt); /* "f32", "f16", "bf16", "i32": shader variant suffix */

int64_t vkt_tensor_numel(const vkt_tensor *t);
size_t vkt_tensor_bytes(const vkt_tensor *t);
/* "[2,3,5]" into buf. */
const char *vkt_shape_str(const vkt_tensor *t, char *buf, size_t n);
bool vkt_shape_eq(const vkt_tensor *a, const vkt_tensor *b);

/* Allocates a device buffer of exactly this shape. */
vkt_status vkt_tensor_alloc(vkt_device *dev, vkt_dtype dt, int ndim, const int64_t *shape, const char *what,
                            vkt_tensor *out, vkt_err *err);
void vkt_tensor_free(vkt_device *dev, vkt_tensor *t); /* only for vkt_tensor_alloc'd tensors */

/* A view of the same bytes with another shape (same numel). */
vkt_tensor vkt_tensor_reshape(const vkt_tensor *t, int ndim, const int64_t *shape);

/* Host <-> device with conversion from/to float (f16/bf16 round to nearest even). Blocking. */
vkt_status vkt_tensor_upload_f32(vkt_device *dev, const vkt_tensor *t, const float *src, vkt_err *err);
vkt_status vkt_tensor_download_f32(vkt_device *dev, const vkt_tensor *t, float *dst, vkt_err *err);
vkt_status vkt_tensor_zero(vkt_device *dev, const vkt_tensor *t, vkt_err *err);

/* Bindings of the whole tensor for vkt_cmd_dispatch. */
vkt_bind vkt_tensor_bind_r(const vkt_tensor *t);
vkt_bind vkt_tensor_bind_w(const vkt_tensor *t);

#endif
