/* One view over the tensors of a .safetensors file or a torch zip (.ckpt/.pt/.bin): tensors by
 * key with the same vkt_tensor_data descriptors either way, so loaders need not care which
 * format they got. Tensors point into the file's map; nothing is copied. Knows nothing of Vulkan.
 *
 *   vkt_state_dict *sd;
 *   if (vkt_state_dict_open("v1-5.ckpt", 0, &sd, &err)) return err.code;
 *   const vkt_tensor_data *t = vkt_state_dict_find(sd, "first_stage_model.post_quant_conv.bias");
 *   vkt_state_dict_close(sd);
 */
#ifndef VKT_IO_STATE_DICT_H
#define VKT_IO_STATE_DICT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "io/pickle.h"
#include "io/tensor_data.h"

typedef enum vkt_file_format { VKT_FORMAT_SAFETENSORS, VKT_FORMAT_TORCH } vkt_file_format;

/* Flags. */
#define VKT_STATE_DICT_SKIP_CRC 1u /* torch files: do not CRC-check storages */

typedef struct vkt_state_dict vkt_state_dict;

/* Opens path, choosing the format by content (zip magic -> torch, else safetensors). For torch
 * files the tensors are the values of the root dict, or of root["state_dict"] when that is a
 * dict (Lightning checkpoints); entries that are not tensors are skipped (see the pickle root
 * for them). A torch file whose root is not a dict fails. */
vkt_status vkt_state_dict_open(const char *path, unsigned flags, vkt_state_dict **out, vkt_err *err);
void vkt_state_dict_close(vkt_state_dict *sd);

vkt_file_format vkt_state_dict_format(const vkt_state_dict *sd);
const char *vkt_file_format_name(vkt_file_format f); /* "safetensors", "torch" */

/* Tensors in file order. */
size_t vkt_state_dict_count(const vkt_state_dict *sd);
const char *vkt_state_dict_name(const vkt_state_dict *sd, size_t i);
const vkt_tensor_data *vkt_state_dict_at(const vkt_state_dict *sd, size_t i);
/* By exact key; NULL when absent. O(log n). */
const vkt_tensor_data *vkt_state_dict_find(const vkt_state_dict *sd, const char *key);
/* safetensors __metadata__ value; NULL when absent (always NULL for torch files). */
const char *vkt_state_dict_meta(const vkt_state_dict *sd, const char *key);
/* The unpickled root object of a torch file; NULL for safetensors. */
const vkt_py *vkt_state_dict_pickle_root(const vkt_state_dict *sd);
/* Number of root entries skipped because they are not tensors (torch files). */
size_t vkt_state_dict_skipped(const vkt_state_dict *sd);

#endif
