/* safetensors reader and writer. The reader maps the file and checks every header field against
 * it before handing out tensor descriptors that point into the map. Knows nothing of Vulkan.
 *
 *   vkt_safetensors *st;
 *   if (vkt_safetensors_open("model.safetensors", &st, &err)) return err.code;
 *   for (size_t i = 0; i < vkt_safetensors_count(st); i++)
 *       printf("%s\n", vkt_safetensors_name(st, i));
 *   const vkt_tensor_data *t = vkt_safetensors_find(st, "first_stage_model.quant_conv.bias");
 *   const char *heads = vkt_safetensors_meta(st, "vktrain.unet_heads");   // NULL if absent
 *   vkt_safetensors_close(st);
 *
 *   vkt_safetensors_writer *w;
 *   vkt_safetensors_writer_create(&w, &err);
 *   vkt_safetensors_writer_add(w, "emb_params", VKT_IO_F32, 2, (int64_t[]){1, 768}, vec, &err);
 *   vkt_safetensors_writer_meta(w, "name", "cat", &err);
 *   vkt_safetensors_writer_write(w, "cat.safetensors", &err);   // temp file, then rename
 *   vkt_safetensors_writer_destroy(w);
 */
#ifndef VKT_IO_SAFETENSORS_H
#define VKT_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "io/tensor_data.h"

/* Largest header accepted (the reference implementation's limit). */
#define VKT_SAFETENSORS_MAX_HEADER 100000000u

typedef struct vkt_safetensors vkt_safetensors;

/* Maps path and validates it: header length bounded by the file and by
 * VKT_SAFETENSORS_MAX_HEADER, UTF-8 JSON object, known dtypes, non-negative integer shapes of at
 * most VKT_IO_MAX_DIMS dims, numel * dtype size == end - begin (overflow-checked), ranges tiling
 * the data buffer exactly (no hole, overlap or trailing byte), unique names, string-only
 * __metadata__. Fails with VKT_ERR_IO / VKT_ERR_FORMAT and a message naming the tensor. */
vkt_status vkt_safetensors_open(const char *path, vkt_safetensors **out, vkt_err *err);
/* Same checks on a caller's buffer, which must outlive the result (borrowed). `name` is used in
 * messages. */
vkt_status vkt_safetensors_open_memory(const uint8_t *data, size_t size, const char *name,
                                       vkt_safetensors **out, vkt_err *err);
/* Unmaps and frees; every descriptor from st becomes invalid. NULL is a no-op. */
void vkt_safetensors_close(vkt_safetensors *st);

/* Tensors in header order. */
size_t vkt_safetensors_count(const vkt_safetensors *st);
const char *vkt_safetensors_name(const vkt_safetensors *st, size_t i);
const vkt_tensor_data *vkt_safetensors_at(const vkt_safetensors *st, size_t i);
/* Tensor by exact name; NULL when absent. O(log n). */
const vkt_tensor_data *vkt_safetensors_find(const vkt_safetensors *st, const char *name);

/* __metadata__ entries (header order); value by key or NULL. */
size_t vkt_safetensors_meta_count(const vkt_safetensors *st);
const char *vkt_safetensors_meta_key(const vkt_safetensors *st, size_t i);
const char *vkt_safetensors_meta(const vkt_safetensors *st, const char *key);

/* Size of the whole file / of the data buffer / offset where data starts. */
size_t vkt_safetensors_file_size(const vkt_safetensors *st);
size_t vkt_safetensors_data_offset(const vkt_safetensors *st);

/* Writer. Tensors are laid out in the order added; the header lists __metadata__ first, then
 * the tensors in that order, as compact JSON padded with spaces so the data starts on a multiple
 * of 8 bytes. */
typedef struct vkt_safetensors_writer vkt_safetensors_writer;

vkt_status vkt_safetensors_writer_create(vkt_safetensors_writer **out, vkt_err *err);
void vkt_safetensors_writer_destroy(vkt_safetensors_writer *w);
/* Adds a contiguous row-major tensor. `data` (numel * dtype size bytes, little-endian) is
 * borrowed until vkt_safetensors_writer_write() returns. Fails on a duplicate name, the name
 * "__metadata__", non-UTF-8 text, a bad shape or ndim > VKT_IO_MAX_DIMS. */
vkt_status vkt_safetensors_writer_add(vkt_safetensors_writer *w, const char *name, vkt_io_dtype dt,
                                      int ndim, const int64_t *shape, const void *data,
                                      vkt_err *err);
/* Adds (or replaces) a __metadata__ string entry; both strings are copied. */
vkt_status vkt_safetensors_writer_meta(vkt_safetensors_writer *w, const char *key,
                                       const char *value, vkt_err *err);
/* Writes path.tmp, then renames it to path. */
vkt_status vkt_safetensors_writer_write(vkt_safetensors_writer *w, const char *path, vkt_err *err);
/* Same bytes into a malloc'd buffer (caller frees). */
vkt_status vkt_safetensors_writer_to_memory(vkt_safetensors_writer *w, uint8_t **out,
                                            size_t *out_n, vkt_err *err);

#endif
