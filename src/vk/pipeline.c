/* Pipelines from embedded SPIR-V, and the on-disk pipeline cache. A cache file whose header
 * does not match this device is ignored (drivers are not trusted to reject foreign data). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "base/file.h"
#include "base/log.h"
#include "shaders.h"
#include "vk/pipeline_internal.h"

static const vkt_spv_blob *find_blob(const char *name)
{
    for (const vkt_spv_blob *b = vkt_spv_table; b->name; b++)
        if (strcmp(b->name, name) == 0) return b;
    return NULL;
}

bool vkt_shader_built(const char *variant) { return find_blob(variant) != NULL; }

uint32_t vkt_shader_count(void)
{
    uint32_t n = 0;
    while (vkt_spv_table[n].name) n++;
    return n;
}

const char *vkt_shader_name(uint32_t i) { return i < vkt_shader_count() ? vkt_spv_table[i].name : NULL; }

static bool cache_path(const vkt_device *dev, char *out, size_t n)
{
    const char *env = getenv("VKTRAIN_PIPELINE_CACHE");
    if (env && strcmp(env, "0") == 0) return false;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[900];
    if (xdg && *xdg) snprintf(dir, sizeof dir, "%s/vktrain", xdg);
    else if (home && *home) snprintf(dir, sizeof dir, "%s/.cache/vktrain", home);
    else return false;
    char uuid[33];
    for (int i = 0; i < 16; i++) snprintf(uuid + 2 * i, 3, "%02x", dev->info.uuid[i]);
    snprintf(out, n, "%s/pipelines-%s-%08x.bin", dir, uuid, dev->info.driver_version);
    return true;
}

/* VkPipelineCacheHeaderVersionOne: length, version, vendor, device, uuid. */
static bool cache_header_ok(const vkt_device *dev, const uint8_t *d, size_t n)
{
    if (n < 32) return false;
    uint32_t len, ver, vendor, device;
    memcpy(&len, d, 4);
    memcpy(&ver, d + 4, 4);
    memcpy(&vendor, d + 8, 4);
    memcpy(&device, d + 12, 4);
    return len >= 32 && len <= n && ver == 1 && vendor == dev->info.vendor_id && device == dev->info.device_id &&
           memcmp(d + 16, dev->info.uuid, 16) == 0;
}

vkt_status vkt_pipeline_cache_init(vkt_device *dev, vkt_err *err)
{
    char path[1024];
    uint8_t *data = NULL;
    size_t n = 0;
    if (cache_path(dev, path, sizeof path)) {
        vkt_err ignored;
        if (vkt_read_file(path, (size_t)1 << 30, &data, &n, &ignored) == VKT_OK && !cache_header_ok(dev, data, n)) {
            vkt_log(VKT_LOG_DEBUG, "vktrain: ignoring pipeline cache %s (foreign or corrupt)", path);
            free(data);
            data = NULL;
            n = 0;
        }
    }
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                    .initialDataSize = data ? n : 0, .pInitialData = data};
    VkResult r = vkCreatePipelineCache(dev->device, &ci, NULL, &dev->pcache);
    if (r != VK_SUCCESS && data) { /* a driver that still refuses the data: start empty */
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        r = vkCreatePipelineCache(dev->device, &ci, NULL, &dev->pcache);
    }
    free(data);
    if (r != VK_SUCCESS) return vkt_vk_fail(err, r, "vkCreatePipelineCache");
    return VKT_OK;
}

void vkt_pipeline_cache_fini(vkt_device *dev)
{
    while (dev->pipelines) {
        vkt_pipeline *p = dev->pipelines;
        dev->pipelines = p->next;
        vkDestroyPipeline(dev->device, p->pipeline, NULL);
        vkDestroyPipelineLayout(dev->device, p->layout, NULL);
        vkDestroyDescriptorSetLayout(dev->device, p->dsl, NULL);
        vkDestroyShaderModule(dev->device, p->module, NULL);
        free(p);
    }
    if (!dev->pcache) return;
    char path[1024];
    size_t n = 0;
    if (cache_path(dev, path, sizeof path) && vkGetPipelineCacheData(dev->device, dev->pcache, &n, NULL) == VK_SUCCESS && n) {
        void *data = vkt_malloc(n);
        if (data && vkGetPipelineCacheData(dev->device, dev->pcache, &n, data) == VK_SUCCESS) {
            char dir[1024];
            snprintf(dir, sizeof dir, "%s", path);
            char *slash = strrchr(dir, '/');
            vkt_err e;
            if (slash) *slash = 0;
            if (vkt_mkdirs(dir, &e) != VKT_OK || vkt_write_file(path, data, n, &e) != VKT_OK)
                vkt_log(VKT_LOG_DEBUG, "vktrain: pipeline cache not saved: %s", e.msg);
        }
        free(data);
    }
    vkDestroyPipelineCache(dev->device, dev->pcache, NULL);
    dev->pcache = VK_NULL_HANDLE;
}

vkt_status vkt_pipeline_get(vkt_device *dev, const vkt_pipeline_desc *d, vkt_pipeline **out, vkt_err *err)
{
    if (d->n_spec > VKT_MAX_SPEC || d->n_bindings > VKT_MAX_BINDINGS || d->pc_bytes > 128 || d->pc_bytes % 4)
        return vkt_fail(err, VKT_ERR_INTERNAL, "%s: bad pipeline description", d->variant);
    for (vkt_pipeline *p = dev->pipelines; p; p = p->next)
        if (strcmp(p->name, d->variant) == 0 && p->n_spec == d->n_spec &&
            (d->n_spec == 0 || memcmp(p->spec, d->spec, d->n_spec * 4) == 0)) {
            if (p->n_bindings != d->n_bindings || p->pc_bytes != d->pc_bytes)
                return vkt_fail(err, VKT_ERR_INTERNAL, "%s: used with two layouts", d->variant);
            *out = p;
            return VKT_OK;
        }
    const vkt_spv_blob *blob = find_blob(d->variant);
    if (!blob) return vkt_fail(err, VKT_ERR_UNSUPPORTED, "shader variant %s is not in this build", d->variant);

    vkt_pipeline *p = vkt_calloc(1, sizeof *p);
    if (!p) return vkt_fail(err, VKT_ERR_NOMEM, "pipeline %s", d->variant);
    snprintf(p->name, sizeof p->name, "%s", d->variant);
    p->n_spec = d->n_spec;
    if (d->n_spec) memcpy(p->spec, d->spec, d->n_spec * 4);
    p->n_bindings = d->n_bindings;
    p->pc_bytes = d->pc_bytes;
    vkt_status st = VKT_OK;
    VkResult r;
    VkShaderModuleCreateInfo smci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                     .codeSize = *blob->size, .pCode = (const uint32_t *)blob->code};
    r = vkCreateShaderModule(dev->device, &smci, NULL, &p->module);
    if (r != VK_SUCCESS) { st = vkt_vk_fail(err, r, "vkCreateShaderModule"); goto fail; }
    VkDescriptorSetLayoutBinding b[VKT_MAX_BINDINGS];
    for (uint32_t i = 0; i < d->n_bindings; i++)
        b[i] = (VkDescriptorSetLayoutBinding){i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, NULL};
    VkDescriptorSetLayoutCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                           .bindingCount = d->n_bindings, .pBindings = b};
    r = vkCreateDescriptorSetLayout(dev->device, &dci, NULL, &p->dsl);
    if (r != VK_SUCCESS) { st = vkt_vk_fail(err, r, "vkCreateDescriptorSetLayout"); goto fail; }
    VkPushConstantRange pcr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, d->pc_bytes};
    VkPipelineLayoutCreateInfo lci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                      .pSetLayouts = &p->dsl, .pushConstantRangeCount = d->pc_bytes ? 1 : 0,
                                      .pPushConstantRanges = &pcr};
    r = vkCreatePipelineLayout(dev->device, &lci, NULL, &p->layout);
    if (r != VK_SUCCESS) { st = vkt_vk_fail(err, r, "vkCreatePipelineLayout"); goto fail; }
    VkSpecializationMapEntry me[VKT_MAX_SPEC];
    for (uint32_t i = 0; i < d->n_spec; i++) me[i] = (VkSpecializationMapEntry){i, i * 4, 4};
    VkSpecializationInfo si = {d->n_spec, me, d->n_spec * 4, p->spec};
    VkComputePipelineCreateInfo cci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = p->module, .pName = "main", .pSpecializationInfo = d->n_spec ? &si : NULL},
        .layout = p->layout};
    r = vkCreateComputePipelines(dev->device, dev->pcache, 1, &cci, NULL, &p->pipeline);
    if (r != VK_SUCCESS) { st = vkt_vk_fail(err, r, "vkCreateComputePipelines"); goto fail; }
    p->next = dev->pipelines;
    dev->pipelines = p;
    *out = p;
    return VKT_OK;
fail:
    vkt_err_prefix(err, "pipeline %s", d->variant);
    if (p->layout) vkDestroyPipelineLayout(dev->device, p->layout, NULL);
    if (p->dsl) vkDestroyDescriptorSetLayout(dev->device, p->dsl, NULL);
    if (p->module) vkDestroyShaderModule(dev->device, p->module, NULL);
    free(p);
    return st;
}
