/* The device struct, shared only by the src/vk/ sources. */
#ifndef VKT_VK_DEVICE_INTERNAL_H
#define VKT_VK_DEVICE_INTERNAL_H

#include "vk/device.h"
#include "vk/memory.h"

typedef struct vkt_mem_block vkt_mem_block;
typedef struct vkt_pipeline vkt_pipeline;

struct vkt_device {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice device;
    VkQueue queue;
    uint32_t qfam, timestamp_bits;
    vkt_device_info info;
    bool validation;
    uint32_t n_validation;
    /* memory (memory.c) */
    VkPhysicalDeviceMemoryProperties memprops;
    vkt_mem_block *blocks; /* owned list */
    uint32_t n_allocations;
    uint64_t bytes_current, bytes_peak, bytes_reserved;
    VkCommandPool xfer_pool; /* for blocking uploads/downloads */
    /* pipelines (pipeline.c) */
    VkPipelineCache pcache;
    vkt_pipeline *pipelines; /* owned list */
};

vkt_status vkt_mem_init(vkt_device *dev, vkt_err *err);
void vkt_mem_fini(vkt_device *dev);
vkt_status vkt_pipeline_cache_init(vkt_device *dev, vkt_err *err);
void vkt_pipeline_cache_fini(vkt_device *dev);

#endif
