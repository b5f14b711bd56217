/* Writer for PyTorch .pt files that the webui's safe loader accepts: a zip with exactly
 * <dir>/data.pkl, <dir>/data/<n> and <dir>/version ("3\n"), STORED with correct CRC-32s and
 * payloads on 64-byte boundaries like torch.save, and a protocol-2 pickle that uses only
 * collections.OrderedDict, torch._utils._rebuild_tensor_v2 and torch.<T>Storage (no byteorder
 * member, no memo). Knows nothing of Vulkan.
 *
 *   vkt_pt *b; vkt_pt_create(&b, &err);
 *   vkt_pt_val *root = vkt_pt_dict(b), *s2p = vkt_pt_dict(b);
 *   vkt_pt_set_str(b, s2p, "*", vkt_pt_tensor(b, VKT_IO_F32, 2, (int64_t[]){n, 768}, vecs, true));
 *   vkt_pt_set_str(b, root, "string_to_param", s2p);
 *   vkt_pt_set_str(b, root, "name", vkt_pt_str(b, "cat"));
 *   vkt_pt_write(b, root, "cat.pt", &err);      // temp file, then rename
 *   vkt_pt_destroy(b);
 *
 * Builder calls never fail loudly: on a bad argument or out of memory they return NULL (or do
 * nothing) and remember the first problem, which vkt_pt_write then reports. Values may be used
 * in several places; containers must not (directly or indirectly) contain themselves.
 */
#ifndef VKT_IO_PT_WRITER_H
#define VKT_IO_PT_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "io/tensor_data.h"

typedef struct vkt_pt vkt_pt;
typedef struct vkt_pt_val vkt_pt_val;

vkt_status vkt_pt_create(vkt_pt **out, vkt_err *err);
/* Frees every value made by b. NULL is a no-op. */
void vkt_pt_destroy(vkt_pt *b);

vkt_pt_val *vkt_pt_none(vkt_pt *b);
vkt_pt_val *vkt_pt_bool(vkt_pt *b, bool v);
vkt_pt_val *vkt_pt_int(vkt_pt *b, int64_t v);
vkt_pt_val *vkt_pt_float(vkt_pt *b, double v);
/* UTF-8 text, copied. */
vkt_pt_val *vkt_pt_str(vkt_pt *b, const char *s);
vkt_pt_val *vkt_pt_dict(vkt_pt *b);
vkt_pt_val *vkt_pt_ordered_dict(vkt_pt *b); /* collections.OrderedDict (module state dicts) */
vkt_pt_val *vkt_pt_list(vkt_pt *b);
vkt_pt_val *vkt_pt_tuple(vkt_pt *b);
/* A contiguous tensor with its own storage. data (numel * size bytes, little-endian) is
 * borrowed until the write returns. dtype must be one the webui accepts: F32, F16, BF16, F64,
 * I64, I32 or U8. */
vkt_pt_val *vkt_pt_tensor(vkt_pt *b, vkt_io_dtype dt, int ndim, const int64_t *shape, const void *data,
                          bool requires_grad);

/* dict[key] = value (insertion order kept; a repeated key is the caller's bug and is refused). */
void vkt_pt_set(vkt_pt *b, vkt_pt_val *dict, vkt_pt_val *key, vkt_pt_val *value);
void vkt_pt_set_str(vkt_pt *b, vkt_pt_val *dict, const char *key, vkt_pt_val *value);
void vkt_pt_set_int(vkt_pt *b, vkt_pt_val *dict, int64_t key, vkt_pt_val *value);
/* Appends to a list or tuple. */
void vkt_pt_append(vkt_pt *b, vkt_pt_val *seq, vkt_pt_val *value);

/* Writes root to path through path.tmp + rename. The archive folder is the file name without
 * its last extension ("cat.pt" -> "cat/", "cat.pt.optim" -> "cat.pt/"), as torch.save names it. */
vkt_status vkt_pt_write(vkt_pt *b, const vkt_pt_val *root, const char *path, vkt_err *err);
/* Same bytes into a malloc'd buffer (caller frees) with the given folder name. */
vkt_status vkt_pt_write_memory(vkt_pt *b, const vkt_pt_val *root, const char *folder, uint8_t **out,
                               size_t *out_n, vkt_err *err);

#endif
