/* Model weights on the device: tensors read by name from a model file (any io reader that gives
 * vkt_tensor_data), shape-checked, converted to the compute dtype and uploaded one at a time,
 * so host memory stays at about one tensor beyond the file's map. The store owns the device
 * buffers; the vkt_tensor views it hands out stay valid until vkt_weights_destroy.
 *
 *   vkt_weight_source src = vkt_weight_source_safetensors(st, "model.diffusion_model.");
 *   vkt_weights *w; vkt_weights_create(dev, VKT_F32, &w, &err);
 *   vkt_tensor conv_in_w;
 *   vkt_weights_get(w, &src, "input_blocks.0.0.weight", 4, (int64_t[]){-1, 4, 3, 3}, &conv_in_w, &err);
 */
#ifndef VKT_MODELS_WEIGHTS_H
#define VKT_MODELS_WEIGHTS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "io/model_file.h"
#include "io/safetensors.h"
#include "io/tensor_data.h"
#include "nn/tensor.h"

typedef struct vkt_weight_source {
    /* Tensor by full key, or NULL when absent. */
    const vkt_tensor_data *(*find)(void *user, const char *key);
    void *user;         /* borrowed */
    char prefix[96];    /* prepended to every key */
    const char *origin; /* file name for messages */
    /* Shapes only: keys and shapes are checked as usual but no data is read or uploaded; every
     * tensor is a view of one small placeholder buffer. For planning a step's memory
     * (vkt_step_end_dry) for a model the device could not hold; such tensors must never reach a
     * real dispatch. Their bytes still count in vkt_weights_bytes. */
    bool shapes_only;
} vkt_weight_source;

vkt_weight_source vkt_weight_source_safetensors(vkt_safetensors *st, const char *prefix, const char *origin);
/* Any model file io/model_file opens (.safetensors, .ckpt, diffusers folder), original names. */
vkt_weight_source vkt_weight_source_model_file(vkt_model_file *mf, const char *prefix, const char *origin);

typedef struct vkt_weights vkt_weights;

vkt_status vkt_weights_create(vkt_device *dev, vkt_dtype dt, vkt_weights **out, vkt_err *err);
void vkt_weights_destroy(vkt_weights *w); /* NULL is a no-op */

/* Loads prefix+key. shape entries of -1 match anything; ndim must match. Fails naming the key
 * and both shapes on a mismatch, or "missing" when absent. *out is a view owned by w. */
vkt_status vkt_weights_get(vkt_weights *w, const vkt_weight_source *src, const char *key, int ndim,
                           const int64_t *shape, vkt_tensor *out, vkt_err *err);
/* Like vkt_weights_get but stores float32 whatever the store's dtype (e.g. norm parameters). */
vkt_status vkt_weights_get_f32(vkt_weights *w, const vkt_weight_source *src, const char *key, int ndim,
                               const int64_t *shape, vkt_tensor *out, vkt_err *err);
/* True when prefix+key exists in src. */
int vkt_weight_exists(const vkt_weight_source *src, const char *key);

uint64_t vkt_weights_bytes(const vkt_weights *w);
uint64_t vkt_weights_params(const vkt_weights *w);
vkt_dtype vkt_weights_dtype(const vkt_weights *w);

#endif
