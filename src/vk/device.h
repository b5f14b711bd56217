/* Vulkan instance + logical device, with every feature vktrain's variant choice depends on.
 * Knows nothing of tensors or models.
 *
 *   vkt_device *dev;
 *   if (vkt_device_create(&(vkt_device_opts){.select = "lavapipe"}, &dev, &err)) ...
 *   const vkt_device_info *inf = vkt_device_get_info(dev);
 *   ... vkt_device_destroy(dev);
 */
#ifndef VKT_VK_DEVICE_H
#define VKT_VK_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "vk/volk_inc.h"

#define VKT_MAX_HEAPS 16
#define VKT_MAX_COOPMAT_SHAPES 32

typedef struct vkt_coopmat_shape {
    uint32_t M, N, K;
    int a_type, b_type, c_type, result_type; /* VkComponentTypeKHR / NV values */
    int scope;                               /* VkScopeKHR: 3 = subgroup */
} vkt_coopmat_shape;

typedef struct vkt_device_info {
    uint32_t index;
    char name[256];
    VkPhysicalDeviceType type;
    uint32_t api_version, driver_version, vendor_id, device_id;
    char driver_name[256], driver_info[256];
    uint8_t uuid[VK_UUID_SIZE];
    /* heaps */
    uint32_t n_heaps;
    uint64_t heap_size[VKT_MAX_HEAPS], heap_budget[VKT_MAX_HEAPS]; /* budget 0 = unknown */
    bool heap_device_local[VKT_MAX_HEAPS];
    /* arithmetic and storage */
    bool fp16_arith, int8_arith, storage16, storage8, bf16;
    bool float_atomic_add32, float_atomic_add16;
    /* subgroups */
    uint32_t subgroup_size, subgroup_min, subgroup_max;
    uint32_t subgroup_ops;     /* VkSubgroupFeatureFlags in compute */
    bool subgroup_size_control;
    /* matrix units */
    bool coopmat_khr, coopmat_nv;
    uint32_t n_coopmat_khr, n_coopmat_nv;
    vkt_coopmat_shape coopmat_khr_shapes[VKT_MAX_COOPMAT_SHAPES];
    vkt_coopmat_shape coopmat_nv_shapes[VKT_MAX_COOPMAT_SHAPES];
    /* limits */
    uint32_t max_wg_size[3], max_wg_invocations, max_wg_count[3], max_shared_bytes;
    uint32_t max_push_bytes, max_alloc_count;
    uint64_t max_storage_range, min_storage_align;
    float timestamp_period_ns;
    bool timestamps;
    bool has_memory_budget, has_push_descriptor;
} vkt_device_info;

typedef struct vkt_device_opts {
    const char *select; /* "N" (index) or a name substring; NULL: $VKTRAIN_DEVICE, else default */
    int validation;     /* -1: from $VKTRAIN_VALIDATION (default), 0 off, 1 on */
} vkt_device_opts;

typedef struct vkt_device vkt_device;

/* Lists every physical device with its features (no logical device is created).
 * *out is malloc'd (free() it). */
vkt_status vkt_devices_list(vkt_device_info **out, uint32_t *n_out, vkt_err *err);

/* Creates the instance (with the Khronos validation layer when asked), picks a physical device
 * (select; else the first discrete GPU, else integrated, else virtual, else CPU) and a compute
 * queue, and enables the features vktrain uses when present. */
vkt_status vkt_device_create(const vkt_device_opts *opts, vkt_device **out, vkt_err *err);
/* Waits idle, saves the pipeline cache, destroys everything. NULL is a no-op. */
void vkt_device_destroy(vkt_device *dev);

const vkt_device_info *vkt_device_get_info(const vkt_device *dev);
/* Validation messages (warnings and errors) seen since creation; tests fail when non-zero. */
uint32_t vkt_device_validation_count(const vkt_device *dev);
bool vkt_device_validation_on(const vkt_device *dev);

/* True when the fast path `feature` is enabled: VKTRAIN_DISABLE_<FEATURE>=1 turns it off
 * (e.g. "FP16", "SUBGROUP", "COOPMAT"). The caller checks build + device support itself. */
bool vkt_feature_allowed(const char *feature);

/* "NVIDIA", "AMD", "Intel", "Mesa (lavapipe)"... for display. */
const char *vkt_vendor_name(uint32_t vendor_id);
const char *vkt_device_type_name(VkPhysicalDeviceType t);

/* Internal handles for the other vk/ modules. */
VkDevice vkt_device_vk(const vkt_device *dev);
VkPhysicalDevice vkt_device_phys(const vkt_device *dev);
VkQueue vkt_device_queue(const vkt_device *dev);
uint32_t vkt_device_queue_family(const vkt_device *dev);

/* Turns a VkResult into a vkt_err ("vkCreateBuffer: VK_ERROR_OUT_OF_DEVICE_MEMORY"). */
vkt_status vkt_vk_fail(vkt_err *err, VkResult r, const char *call);
const char *vkt_vk_result_str(VkResult r);

#endif
