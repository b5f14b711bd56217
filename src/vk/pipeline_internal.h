/* Pipeline struct, shared by pipeline.c and cmd.c. */
#ifndef VKT_VK_PIPELINE_INTERNAL_H
#define VKT_VK_PIPELINE_INTERNAL_H

#include "vk/device_internal.h"
#include "vk/pipeline.h"

struct vkt_pipeline {
    vkt_pipeline *next;
    char name[96];
    uint32_t spec[VKT_MAX_SPEC], n_spec;
    uint32_t n_bindings, pc_bytes;
    VkShaderModule module;
    VkDescriptorSetLayout dsl;
    VkPipelineLayout layout;
    VkPipeline pipeline;
};

#endif
