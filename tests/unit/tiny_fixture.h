/* Shared setup of the tests that run the deterministic tiny model (docs/tiny-model.md, seed 0) on
 * the device: a device and a step, the model as an in-memory safetensors file, golden tensors.
 *
 *   tk_tiny e;
 *   vkt_status st = tk_tiny_init(&e, true, "block_unet_st.safetensors", &err);
 *   ... vkt_unet_st_load(w, &e.src, ...), tk_st_upload(e.dev, e.gold, "x", dt, &x, &err) ...
 *   tk_tiny_fini(&e); // checks that the validation layer said nothing
 *
 * Linked into test_unet, test_hypernetwork and test_sampler (tests/unit/{unet,hypernetwork,
 * sampler}.cmake). */
#ifndef VKT_TINY_FIXTURE_H
#define VKT_TINY_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "io/safetensors.h"
#include "models/tiny_model.h"
#include "models/weights.h"
#include "nn/step.h"
#include "nn/tensor.h"
#include "vk/device.h"

#define TK_TINY_UNET_PREFIX "model.diffusion_model."

/* A device (validation as VKTRAIN_VALIDATION says) and, when step is not NULL, a step on it. */
vkt_status tk_device_open(vkt_device **dev, vkt_step **step, vkt_err *err);
/* One check that the device saw no validation message (when dev is not NULL), then destroys step
 * and device (either may be NULL). */
void tk_device_close(vkt_device *dev, vkt_step *step);

/* Called for each generated tensor before it is written: may change its ndim / shape; returns false
 * to leave it out of the file. */
typedef bool (*tk_tiny_edit_fn)(vkt_gen_tensor *t, void *user);

/* The tensors of the tiny model (VKT_GEN_TINY, values of seed 0) whose key starts with prefix (NULL:
 * all), float32, with metadata vktrain.unet_heads, as an in-memory safetensors file *model over the
 * malloc'd bytes *bytes (free them after closing *model). int64 tensors (position_ids) are left out:
 * no loader reads them. edit may be NULL. */
vkt_status tk_tiny_model(const char *prefix, tk_tiny_edit_fn edit, void *user, uint8_t **bytes,
                         vkt_safetensors **model, vkt_err *err);

typedef struct tk_tiny {
    vkt_device *dev;
    vkt_step *step;
    uint8_t *model_bytes;  /* the memory behind model */
    vkt_safetensors *model; /* the tiny model's UNet part (NULL when not asked for) */
    vkt_weight_source src;  /* model's tensors under TK_TINY_UNET_PREFIX */
    vkt_safetensors *gold;  /* tests/golden/<golden> (NULL when not asked for) */
} tk_tiny;

/* Device and step; with `model`, the tiny model's UNet part (tk_tiny_unet); with golden (a file
 * name under tests/golden/), that file. On failure e still holds what was made: tk_tiny_fini it. */
vkt_status tk_tiny_init(tk_tiny *e, bool model, const char *golden, vkt_err *err);
/* e->model, e->model_bytes and e->src: the UNet part of the tiny model, edited by edit (may be NULL). */
vkt_status tk_tiny_unet(tk_tiny *e, tk_tiny_edit_fn edit, void *user, vkt_err *err);
/* Closes the files and tk_device_close()s the device (one validation check). */
void tk_tiny_fini(tk_tiny *e);

/* Tensor `name` of st as floats (malloc'd, at least one element) and its numel in *n (may be NULL);
 * NULL when missing (err says so; err may be NULL) or out of memory. */
float *tk_st_f32(vkt_safetensors *st, const char *name, size_t *n, vkt_err *err);
/* A persistent device tensor of dtype dt holding tensor `name` of st (shape from the file). */
vkt_status tk_st_upload(vkt_device *dev, vkt_safetensors *st, const char *name, vkt_dtype dt, vkt_tensor *out,
                        vkt_err *err);

#endif
