/* The recording context every op writes into: one command buffer of dispatches, recorded once
 * and re-submitted unchanged while shapes stay the same. Ops look their pipelines up here, so
 * variant choice (dtype, subgroup path, matrix units) happens in one place per device.
 *
 *   vkt_step *s; vkt_step_create(dev, &s, &err);
 *   vkt_step_begin(s, &err);
 *   vkt_op_act_fwd(s, VKT_ACT_SILU, &x, &y, &err);
 *   vkt_step_end(s, &err); vkt_step_submit(s, &err);      // blocking
 *   vkt_step_destroy(s);
 */
#ifndef VKT_NN_STEP_H
#define VKT_NN_STEP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "nn/tensor.h"
#include "vk/cmd.h"
#include "vk/device.h"
#include "vk/pipeline.h"

/* How a backward op writes a gradient tensor. */
typedef enum vkt_grad_mode {
    VKT_GRAD_OVERWRITE,  /* dx = result */
    VKT_GRAD_ACCUMULATE, /* dx += result (dx must hold valid values) */
} vkt_grad_mode;

typedef struct vkt_step_slot vkt_step_slot;

typedef struct vkt_step {
    vkt_device *dev; /* borrowed */
    vkt_cmd *cmd;    /* owned */
    const vkt_device_info *info;
    bool subgroup_ok; /* device subgroup arithmetic usable and not disabled */
    /* planned steps (vkt_step_begin_planned) */
    bool planned;
    vkt_step_slot **slots; /* owned: one per vkt_step_tensor */
    uint32_t n_slots, cap_slots;
    vkt_buffer *arena;     /* owned: the memory every step tensor lives in */
    uint64_t peak_bytes, naive_bytes;
} vkt_step;

vkt_status vkt_step_create(vkt_device *dev, vkt_step **out, vkt_err *err);
void vkt_step_destroy(vkt_step *s);
vkt_status vkt_step_begin(vkt_step *s, vkt_err *err);
vkt_status vkt_step_end(vkt_step *s, vkt_err *err);
vkt_status vkt_step_submit(vkt_step *s, vkt_err *err);
/* begin + nothing: end + submit in one call, for tests and one-off work. */
vkt_status vkt_step_run(vkt_step *s, vkt_err *err);

/* Planned steps: memory for activations and gradients assigned by liveness.
 *
 *   vkt_step_begin_planned(s, &err);
 *   vkt_step_tensor(s, VKT_F32, 4, shape, "h", &h, &err);   // no memory yet
 *   ... ops on h ...
 *   vkt_step_keep(s, &loss);                                 // read after the step
 *   vkt_step_end(s, &err);     // plans offsets in one arena, records the command buffer
 *   vkt_step_submit(s, &err);  // as often as wanted
 *   vkt_tensor real = vkt_step_resolve(s, &loss);            // for downloads
 *
 * Two step tensors whose first-to-last uses do not overlap share bytes. Tensors from an earlier
 * planned recording are invalid after the next vkt_step_begin_planned. */
vkt_status vkt_step_begin_planned(vkt_step *s, vkt_err *err);
vkt_status vkt_step_tensor(vkt_step *s, vkt_dtype dt, int ndim, const int64_t *shape, const char *what,
                           vkt_tensor *out, vkt_err *err);
/* Instead of vkt_step_end: plans the recording's memory without allocating or recording it, so
 * vkt_step_peak_bytes()/vkt_step_naive_bytes() tell what vkt_step_end would need (e.g. a model
 * at a size this device cannot hold). The recorded work is dropped; the step holds an empty
 * command buffer until the next begin. */
vkt_status vkt_step_end_dry(vkt_step *s, vkt_err *err);
/* Keeps t (a step tensor) alive until the end of the step, so its value can be read afterwards. */
vkt_status vkt_step_keep(vkt_step *s, const vkt_tensor *t, vkt_err *err);
/* The real memory of a step tensor after vkt_step_end (other tensors are returned unchanged). */
vkt_tensor vkt_step_resolve(const vkt_step *s, const vkt_tensor *t);
/* Arena bytes of the planned step, and what the same tensors would take without reuse. */
uint64_t vkt_step_peak_bytes(const vkt_step *s);
uint64_t vkt_step_naive_bytes(const vkt_step *s);

/* Pipeline for `variant`, specialised with spec[0..n_spec-1]. */
vkt_status vkt_step_pipeline(vkt_step *s, const char *variant, uint32_t n_bindings, uint32_t pc_bytes,
                             const uint32_t *spec, uint32_t n_spec, vkt_pipeline **out, vkt_err *err);

/* Writes "<family>_<dir>_<dtype>" into out. */
const char *vkt_variant_name(char *out, size_t n, const char *family, const char *dir, vkt_dtype dt);

/* Workgroup count for n items at wg items per group. */
static inline uint64_t vkt_groups(uint64_t n, uint32_t wg) { return (n + wg - 1) / wg; }

/* Fails with a "<op>: <what> shape [..], expected [..]" message unless a and b have equal shapes. */
vkt_status vkt_check_same_shape(const char *op, const char *what, const vkt_tensor *a, const vkt_tensor *b,
                                vkt_err *err);
/* Fails unless every tensor in ts has dtype dt. */
vkt_status vkt_check_dtype(const char *op, vkt_dtype dt, const vkt_tensor *const *ts, int n, vkt_err *err);
/* True when this device can run variants stored in dt (f16 needs 16-bit storage). */
bool vkt_step_dtype_ok(const vkt_step *s, vkt_dtype dt);

#endif
