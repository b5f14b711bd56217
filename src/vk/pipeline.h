/* Compute pipelines built from the embedded SPIR-V, one per (variant, specialization constants),
 * owned and cached by the device; a VkPipelineCache is persisted under
 * $XDG_CACHE_HOME/vktrain/ (keyed by the device's pipeline-cache UUID and driver version).
 *
 * The descriptor convention of every op: set 0, bindings 0..n-1 are storage buffers (inputs
 * first, outputs last); push constants (<= 128 bytes, 32-bit scalars) carry sizes and scalars;
 * specialization constants 0..n_spec-1 carry what is fixed per pipeline (workgroup size first).
 *
 *   vkt_pipeline *p;
 *   vkt_pipeline_get(dev, &(vkt_pipeline_desc){"scale_fwd_f32", 2, sizeof(pc), spec, 1}, &p, &err);
 */
#ifndef VKT_VK_PIPELINE_H
#define VKT_VK_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

typedef struct vkt_device vkt_device;
typedef struct vkt_pipeline vkt_pipeline;

#define VKT_MAX_BINDINGS 12
#define VKT_MAX_SPEC 8

typedef struct vkt_pipeline_desc {
    const char *variant;  /* shader variant name from shaders/variants.cmake */
    uint32_t n_bindings;  /* storage buffers at set 0, bindings 0..n-1 */
    uint32_t pc_bytes;    /* push-constant block size, <= 128 */
    const uint32_t *spec; /* specialization constants (ids 0..n_spec-1), may be NULL */
    uint32_t n_spec;
} vkt_pipeline_desc;

/* The pipeline for desc, created on first use. *out is borrowed (owned by the device).
 * Fails with VKT_ERR_UNSUPPORTED when this build has no such variant. */
vkt_status vkt_pipeline_get(vkt_device *dev, const vkt_pipeline_desc *desc, vkt_pipeline **out, vkt_err *err);

/* True when this build embeds the variant. */
bool vkt_shader_built(const char *variant);
/* Number of embedded variants and the i-th name (for `selftest` and docs). */
uint32_t vkt_shader_count(void);
const char *vkt_shader_name(uint32_t i);

#endif
