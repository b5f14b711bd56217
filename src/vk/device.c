/* Instance, physical-device choice, feature queries and logical-device creation.
 * Optional extensions are queried only when the device lists them: calling an extension's
 * query on a device without it can crash some drivers. */
#define _GNU_SOURCE
#include "vk/device_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/env.h"
#include "base/fault.h"
#include "base/log.h"

/* VK_KHR_cooperative_matrix postdates Debian 12's Vulkan headers (1.3.239): mirror the few
 * definitions we need from the registry (sType values are fixed by the spec). */
#ifndef VK_KHR_cooperative_matrix
#define VKT_STYPE_PD_COOPMAT_FEATURES_KHR ((VkStructureType)1000506000)
#define VKT_STYPE_COOPMAT_PROPERTIES_KHR ((VkStructureType)1000506001)
typedef struct vkt_coopmat_props_khr {
    VkStructureType sType;
    void *pNext;
    uint32_t MSize, NSize, KSize;
    int32_t AType, BType, CType, ResultType;
    VkBool32 saturatingAccumulation;
    int32_t scope;
} vkt_coopmat_props_khr;
typedef struct vkt_pd_coopmat_features_khr {
    VkStructureType sType;
    void *pNext;
    VkBool32 cooperativeMatrix, cooperativeMatrixRobustBufferAccess;
} vkt_pd_coopmat_features_khr;
typedef VkResult(VKAPI_PTR *vkt_pfn_coopmat_props_khr)(VkPhysicalDevice, uint32_t *,
                                                        vkt_coopmat_props_khr *);
#endif

const char *vkt_vk_result_str(VkResult r)
{
    switch (r) {
#define C(x) case x: return #x;
    C(VK_SUCCESS) C(VK_NOT_READY) C(VK_TIMEOUT) C(VK_INCOMPLETE)
    C(VK_ERROR_OUT_OF_HOST_MEMORY) C(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    C(VK_ERROR_INITIALIZATION_FAILED) C(VK_ERROR_DEVICE_LOST) C(VK_ERROR_MEMORY_MAP_FAILED)
    C(VK_ERROR_LAYER_NOT_PRESENT) C(VK_ERROR_EXTENSION_NOT_PRESENT)
    C(VK_ERROR_FEATURE_NOT_PRESENT) C(VK_ERROR_INCOMPATIBLE_DRIVER)
    C(VK_ERROR_TOO_MANY_OBJECTS) C(VK_ERROR_FORMAT_NOT_SUPPORTED) C(VK_ERROR_FRAGMENTED_POOL)
    C(VK_ERROR_OUT_OF_POOL_MEMORY) C(VK_ERROR_INVALID_EXTERNAL_HANDLE) C(VK_ERROR_FRAGMENTATION)
    C(VK_ERROR_UNKNOWN)
#undef C
    default: return "VK_ERROR_(other)";
    }
}

vkt_status vkt_vk_fail(vkt_err *err, VkResult r, const char *call)
{
    vkt_status code = VKT_ERR_VK;
    if (r == VK_ERROR_DEVICE_LOST) code = VKT_ERR_DEVICE_LOST;
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY) code = VKT_ERR_OOM_DEVICE;
    return vkt_fail(err, code, "%s: %s (%d)", call, vkt_vk_result_str(r), (int)r);
}

const char *vkt_vendor_name(uint32_t v)
{
    switch (v) {
    case 0x10DE: return "NVIDIA";
    case 0x1002: return "AMD";
    case 0x8086: return "Intel";
    case 0x13B5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x106B: return "Apple";
    case 0x10005: return "Mesa";
    default: return "unknown vendor";
    }
}

const char *vkt_device_type_name(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
    }
}

bool vkt_feature_allowed(const char *feature)
{
    char name[96];
    snprintf(name, sizeof name, "VKTRAIN_DISABLE_%s", feature);
    return !vkt_env_flag(name);
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_debug(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                               VkDebugUtilsMessageTypeFlagsEXT type,
                                               const VkDebugUtilsMessengerCallbackDataEXT *d,
                                               void *user)
{
    (void)type;
    vkt_device *dev = user;
    if (sev >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        dev->n_validation++;
        fprintf(stderr, "vktrain: validation: %s\n", d->pMessage);
    }
    return VK_FALSE;
}

static bool has_ext(const VkExtensionProperties *e, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(e[i].extensionName, name) == 0) return true;
    return false;
}

static vkt_status create_instance(bool validation, VkInstance *out, bool *debug_utils, vkt_err *err)
{
    VkResult r = volkInitialize();
    if (r != VK_SUCCESS)
        return vkt_fail(err, VKT_ERR_VK, "no Vulkan loader (libvulkan.so.1) found: install libvulkan1 "
                                         "and a driver (mesa-vulkan-drivers for the CPU)");
    uint32_t n_ext = 0;
    vkEnumerateInstanceExtensionProperties(NULL, &n_ext, NULL);
    VkExtensionProperties *exts = vkt_calloc(n_ext, sizeof *exts);
    if (!exts) return vkt_fail(err, VKT_ERR_NOMEM, "instance extensions");
    vkEnumerateInstanceExtensionProperties(NULL, &n_ext, exts);
    const char *want[4];
    uint32_t n_want = 0;
    *debug_utils = false;
    if (has_ext(exts, n_ext, VK_KHR_GET_PHYSICAL_DEVICE_PROPERTIES_2_EXTENSION_NAME))
        want[n_want++] = VK_KHR_GET_PHYSICAL_DEVICE_PROPERTIES_2_EXTENSION_NAME;
    if (validation && has_ext(exts, n_ext, VK_EXT_DEBUG_UTILS_EXTENSION_NAME)) {
        want[n_want++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
        *debug_utils = true;
    }
    free(exts);

    const char *layer = "VK_LAYER_KHRONOS_validation";
    if (validation) {
        uint32_t n_layers = 0;
        vkEnumerateInstanceLayerProperties(&n_layers, NULL);
        VkLayerProperties *layers = vkt_calloc(n_layers, sizeof *layers);
        if (!layers) return vkt_fail(err, VKT_ERR_NOMEM, "instance layers");
        vkEnumerateInstanceLayerProperties(&n_layers, layers);
        bool found = false;
        for (uint32_t i = 0; i < n_layers; i++) found |= strcmp(layers[i].layerName, layer) == 0;
        free(layers);
        if (!found)
            return vkt_fail(err, VKT_ERR_UNSUPPORTED, "VKTRAIN_VALIDATION=1 but %s is not installed "
                            "(Debian: vulkan-validationlayers)", layer);
    }
    uint32_t loader_version = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion) vkEnumerateInstanceVersion(&loader_version);
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "vktrain",
        .apiVersion = loader_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3
                      : loader_version >= VK_API_VERSION_1_2 ? VK_API_VERSION_1_2
                                                              : VK_API_VERSION_1_1,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pApplicationInfo = &app,
        .enabledLayerCount = validation ? 1 : 0,
        .ppEnabledLayerNames = &layer,
        .enabledExtensionCount = n_want,
        .ppEnabledExtensionNames = want,
    };
    r = vkCreateInstance(&ci, NULL, out);
    if (r != VK_SUCCESS) return vkt_vk_fail(err, r, "vkCreateInstance");
    volkLoadInstance(*out);
    return VKT_OK;
}

static void query_info(VkInstance inst, VkPhysicalDevice pd, uint32_t index, vkt_device_info *inf)
{
    memset(inf, 0, sizeof *inf);
    inf->index = index;
    uint32_t n_ext = 0;
    vkEnumerateDeviceExtensionProperties(pd, NULL, &n_ext, NULL);
    VkExtensionProperties *exts = vkt_calloc(n_ext, sizeof *exts);
    if (exts) vkEnumerateDeviceExtensionProperties(pd, NULL, &n_ext, exts);
    else n_ext = 0;
    bool ext_khr_cm = has_ext(exts, n_ext, "VK_KHR_cooperative_matrix");
    bool ext_nv_cm = has_ext(exts, n_ext, "VK_NV_cooperative_matrix");
    bool ext_atomic = has_ext(exts, n_ext, VK_EXT_SHADER_ATOMIC_FLOAT_EXTENSION_NAME);
    bool ext_budget = has_ext(exts, n_ext, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    bool ext_driver = has_ext(exts, n_ext, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
    inf->has_push_descriptor = has_ext(exts, n_ext, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
    free(exts);

    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(pd, &p);
    snprintf(inf->name, sizeof inf->name, "%s", p.deviceName);
    inf->type = p.deviceType;
    inf->api_version = p.apiVersion;
    inf->driver_version = p.driverVersion;
    inf->vendor_id = p.vendorID;
    inf->device_id = p.deviceID;
    memcpy(inf->uuid, p.pipelineCacheUUID, VK_UUID_SIZE);
    for (int i = 0; i < 3; i++) {
        inf->max_wg_size[i] = p.limits.maxComputeWorkGroupSize[i];
        inf->max_wg_count[i] = p.limits.maxComputeWorkGroupCount[i];
    }
    inf->max_wg_invocations = p.limits.maxComputeWorkGroupInvocations;
    inf->max_shared_bytes = p.limits.maxComputeSharedMemorySize;
    inf->max_push_bytes = p.limits.maxPushConstantsSize;
    inf->max_alloc_count = p.limits.maxMemoryAllocationCount;
    inf->max_storage_range = p.limits.maxStorageBufferRange;
    inf->min_storage_align = p.limits.minStorageBufferOffsetAlignment;
    inf->timestamp_period_ns = p.limits.timestampPeriod;
    inf->timestamps = p.limits.timestampComputeAndGraphics;

    bool v11 = p.apiVersion >= VK_API_VERSION_1_1;
    bool v12 = p.apiVersion >= VK_API_VERSION_1_2;
    if (v11) {
        VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
        VkPhysicalDeviceSubgroupSizeControlProperties sgc = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES, .pNext = &sg};
        VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES,
                                                .pNext = p.apiVersion >= VK_API_VERSION_1_3 ? (void *)&sgc : (void *)&sg};
        VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                          .pNext = (v12 || ext_driver) ? (void *)&drv : drv.pNext};
        vkGetPhysicalDeviceProperties2(pd, &p2);
        inf->subgroup_size = sg.subgroupSize;
        inf->subgroup_ops = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) ? sg.supportedOperations : 0;
        inf->subgroup_min = sgc.minSubgroupSize ? sgc.minSubgroupSize : sg.subgroupSize;
        inf->subgroup_max = sgc.maxSubgroupSize ? sgc.maxSubgroupSize : sg.subgroupSize;
        if (v12 || ext_driver) {
            snprintf(inf->driver_name, sizeof inf->driver_name, "%s", drv.driverName);
            snprintf(inf->driver_info, sizeof inf->driver_info, "%s", drv.driverInfo);
        }

        VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
        VkPhysicalDeviceShaderFloat16Int8Features f16 = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES, .pNext = &s16};
        VkPhysicalDevice8BitStorageFeatures s8 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES,
                                                  .pNext = &f16};
        VkPhysicalDeviceSubgroupSizeControlFeatures sgcf = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES, .pNext = &s8};
        VkPhysicalDeviceShaderAtomicFloatFeaturesEXT af = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT, .pNext = &sgcf};
        VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                        .pNext = ext_atomic ? (void *)&af : (void *)&sgcf};
        if (!v12) s8.pNext = &s16; /* float16_int8 is core only from 1.2 (or its extension) */
        vkGetPhysicalDeviceFeatures2(pd, &f2);
        inf->storage16 = s16.storageBuffer16BitAccess;
        inf->storage8 = s8.storageBuffer8BitAccess;
        inf->fp16_arith = v12 && f16.shaderFloat16;
        inf->int8_arith = v12 && f16.shaderInt8;
        inf->subgroup_size_control = p.apiVersion >= VK_API_VERSION_1_3 && sgcf.subgroupSizeControl;
        inf->float_atomic_add32 = ext_atomic && af.shaderBufferFloat32AtomicAdd;
    }

    VkPhysicalDeviceMemoryProperties mp;
    VkPhysicalDeviceMemoryBudgetPropertiesEXT bud = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
    if (v11 && ext_budget) {
        VkPhysicalDeviceMemoryProperties2 mp2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2, .pNext = &bud};
        vkGetPhysicalDeviceMemoryProperties2(pd, &mp2);
        mp = mp2.memoryProperties;
        inf->has_memory_budget = true;
    } else {
        vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    }
    inf->n_heaps = mp.memoryHeapCount < VKT_MAX_HEAPS ? mp.memoryHeapCount : VKT_MAX_HEAPS;
    for (uint32_t i = 0; i < inf->n_heaps; i++) {
        inf->heap_size[i] = mp.memoryHeaps[i].size;
        inf->heap_device_local[i] = mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT;
        inf->heap_budget[i] = inf->has_memory_budget ? bud.heapBudget[i] : 0;
    }

    if (ext_nv_cm) {
        inf->coopmat_nv = true;
        PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV fn =
            (PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)vkGetInstanceProcAddr(
                inst, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV");
        uint32_t n = 0;
        if (fn && fn(pd, &n, NULL) == VK_SUCCESS && n) {
            VkCooperativeMatrixPropertiesNV *cp = vkt_calloc(n, sizeof *cp);
            for (uint32_t i = 0; cp && i < n; i++) cp[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
            if (cp && fn(pd, &n, cp) >= 0) {
                for (uint32_t i = 0; i < n && i < VKT_MAX_COOPMAT_SHAPES; i++)
                    inf->coopmat_nv_shapes[inf->n_coopmat_nv++] = (vkt_coopmat_shape){
                        cp[i].MSize, cp[i].NSize, cp[i].KSize, cp[i].AType, cp[i].BType, cp[i].CType,
                        cp[i].DType, cp[i].scope};
            }
            free(cp);
        }
    }
    if (ext_khr_cm) {
        inf->coopmat_khr = true;
        vkt_pfn_coopmat_props_khr fn = (vkt_pfn_coopmat_props_khr)vkGetInstanceProcAddr(
            inst, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR");
        uint32_t n = 0;
        if (fn && fn(pd, &n, NULL) == VK_SUCCESS && n) {
            vkt_coopmat_props_khr *cp = vkt_calloc(n, sizeof *cp);
            for (uint32_t i = 0; cp && i < n; i++) cp[i].sType = VKT_STYPE_COOPMAT_PROPERTIES_KHR;
            if (cp && fn(pd, &n, cp) >= 0) {
                for (uint32_t i = 0; i < n && i < VKT_MAX_COOPMAT_SHAPES; i++)
                    inf->coopmat_khr_shapes[inf->n_coopmat_khr++] = (vkt_coopmat_shape){
                        cp[i].MSize, cp[i].NSize, cp[i].KSize, cp[i].AType, cp[i].BType, cp[i].CType,
                        cp[i].ResultType, cp[i].scope};
            }
            free(cp);
        }
    }
}

static vkt_status enumerate(VkInstance inst, VkPhysicalDevice **pds, uint32_t *n, vkt_err *err)
{
    VkResult r = vkEnumeratePhysicalDevices(inst, n, NULL);
    if (r != VK_SUCCESS) return vkt_vk_fail(err, r, "vkEnumeratePhysicalDevices");
    if (*n == 0) return vkt_fail(err, VKT_ERR_UNSUPPORTED, "no Vulkan device found (for the CPU, install mesa-vulkan-drivers)");
    *pds = vkt_calloc(*n, sizeof **pds);
    if (!*pds) return vkt_fail(err, VKT_ERR_NOMEM, "physical devices");
    r = vkEnumeratePhysicalDevices(inst, n, *pds);
    if (r < 0) { free(*pds); *pds = NULL; return vkt_vk_fail(err, r, "vkEnumeratePhysicalDevices"); }
    return VKT_OK;
}

vkt_status vkt_devices_list(vkt_device_info **out, uint32_t *n_out, vkt_err *err)
{
    VkInstance inst = VK_NULL_HANDLE;
    bool dbg;
    vkt_status st = create_instance(false, &inst, &dbg, err);
    if (st) return st;
    VkPhysicalDevice *pds = NULL;
    uint32_t n = 0;
    vkt_device_info *infos = NULL;
    st = enumerate(inst, &pds, &n, err);
    if (st) goto done;
    infos = vkt_calloc(n, sizeof *infos);
    if (!infos) { st = vkt_fail(err, VKT_ERR_NOMEM, "device list"); goto done; }
    for (uint32_t i = 0; i < n; i++) query_info(inst, pds[i], i, &infos[i]);
    *out = infos;
    *n_out = n;
    infos = NULL;
done:
    free(infos);
    free(pds);
    vkDestroyInstance(inst, NULL);
    return st;
}

static int type_rank(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
    }
}

static vkt_status pick(const vkt_device_info *infos, uint32_t n, const char *sel, uint32_t *idx, vkt_err *err)
{
    if (sel && *sel) {
        char *end;
        long v = strtol(sel, &end, 10);
        if (*end == 0) {
            if (v < 0 || (uint32_t)v >= n)
                return vkt_fail(err, VKT_ERR_USAGE, "device %ld: only %u device(s) (see `vktrain devices`)", v, n);
            *idx = (uint32_t)v;
            return VKT_OK;
        }
        for (uint32_t i = 0; i < n; i++)
            if (strcasestr(infos[i].name, sel) || strcasestr(infos[i].driver_name, sel)) { *idx = i; return VKT_OK; }
        return vkt_fail(err, VKT_ERR_USAGE, "no device matches \"%s\" (see `vktrain devices`)", sel);
    }
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (type_rank(infos[i].type) < type_rank(infos[best].type)) best = i;
    *idx = best;
    return VKT_OK;
}

vkt_status vkt_device_create(const vkt_device_opts *opts, vkt_device **out, vkt_err *err)
{
    vkt_status st = VKT_OK;
    VkPhysicalDevice *pds = NULL;
    vkt_device_info *infos = NULL;
    uint32_t n = 0;
    vkt_device *dev = vkt_calloc(1, sizeof *dev);
    if (!dev) return vkt_fail(err, VKT_ERR_NOMEM, "device");
    int validation = opts ? opts->validation : -1;
    if (validation < 0) {
        validation = vkt_env_flag("VKTRAIN_VALIDATION");
    }
    dev->validation = validation;
    bool dbg = false;
    st = create_instance(validation, &dev->instance, &dbg, err);
    if (st) goto done;
    if (dbg) {
        VkDebugUtilsMessengerCreateInfoEXT mci = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = on_debug,
            .pUserData = dev,
        };
        VkResult r = vkCreateDebugUtilsMessengerEXT(dev->instance, &mci, NULL, &dev->messenger);
        if (r != VK_SUCCESS) { st = vkt_vk_fail(err, r, "vkCreateDebugUtilsMessengerEXT"); goto done; }
    }
    st = enumerate(dev->instance, &pds, &n, err);
    if (st) goto done;
    infos = vkt_calloc(n, sizeof *infos);
    if (!infos) { st = vkt_fail(err, VKT_ERR_NOMEM, "device list"); goto done; }
    for (uint32_t i = 0; i < n; i++) query_info(dev->instance, pds[i], i, &infos[i]);
    const char *sel = opts && opts->select ? opts->select : getenv("VKTRAIN_DEVICE");
    uint32_t idx = 0;
    st = pick(infos, n, sel, &idx, err);
    if (st) goto done;
    dev->info = infos[idx];
    dev->phys = pds[idx];
    if (dev->info.api_version < VK_API_VERSION_1_1) {
        st = vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: Vulkan 1.1 is required, device has %u.%u", dev->info.name,
                      VK_API_VERSION_MAJOR(dev->info.api_version), VK_API_VERSION_MINOR(dev->info.api_version));
        goto done;
    }

    uint32_t n_qf = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(dev->phys, &n_qf, NULL);
    VkQueueFamilyProperties qf[32];
    if (n_qf > 32) n_qf = 32;
    vkGetPhysicalDeviceQueueFamilyProperties(dev->phys, &n_qf, qf);
    dev->qfam = UINT32_MAX;
    for (uint32_t i = 0; i < n_qf; i++) /* prefer a compute queue; graphics queues also compute */
        if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && (dev->qfam == UINT32_MAX || !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)))
            if (dev->qfam == UINT32_MAX || qf[i].timestampValidBits) dev->qfam = i;
    if (dev->qfam == UINT32_MAX) { st = vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: no compute queue", dev->info.name); goto done; }
    dev->timestamp_bits = qf[dev->qfam].timestampValidBits;

    /* Enable only what the device reports; variant choice reads dev->info. */
    const vkt_device_info *inf = &dev->info;
    bool v12 = inf->api_version >= VK_API_VERSION_1_2, v13 = inf->api_version >= VK_API_VERSION_1_3;
    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
                                                .storageBuffer16BitAccess = inf->storage16};
    VkPhysicalDeviceShaderFloat16Int8Features f16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES,
                                                     .pNext = &s16, .shaderFloat16 = inf->fp16_arith};
    VkPhysicalDeviceSubgroupSizeControlFeatures sgc = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES,
                                                       .pNext = &f16, .subgroupSizeControl = inf->subgroup_size_control,
                                                       .computeFullSubgroups = false};
    VkPhysicalDeviceShaderAtomicFloatFeaturesEXT af = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT,
                                                       .pNext = v13 ? (void *)&sgc : (void *)&f16,
                                                       .shaderBufferFloat32AtomicAdd = inf->float_atomic_add32};
    vkt_pd_coopmat_features_khr cmk = {.sType = VKT_STYPE_PD_COOPMAT_FEATURES_KHR,
                                       .pNext = inf->float_atomic_add32 ? (void *)&af : af.pNext,
                                       .cooperativeMatrix = VK_TRUE};
    VkPhysicalDeviceCooperativeMatrixFeaturesNV cmn = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
                                                       .pNext = inf->coopmat_khr ? (void *)&cmk : cmk.pNext,
                                                       .cooperativeMatrix = VK_TRUE};
    void *chain = inf->coopmat_nv ? (void *)&cmn : cmn.pNext;
    if (!v12) { s16.pNext = NULL; chain = &s16; } /* 1.1: no float16_int8 struct without its extension */
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = chain};
    const char *dexts[8];
    uint32_t n_dext = 0;
    if (inf->float_atomic_add32) dexts[n_dext++] = VK_EXT_SHADER_ATOMIC_FLOAT_EXTENSION_NAME;
    if (inf->coopmat_nv) dexts[n_dext++] = "VK_NV_cooperative_matrix";
    if (inf->coopmat_khr) dexts[n_dext++] = "VK_KHR_cooperative_matrix";
    if (inf->has_memory_budget) dexts[n_dext++] = VK_EXT_MEMORY_BUDGET_EXTENSION_NAME;
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = dev->qfam, .queueCount = 1, .pQueuePriorities = &prio};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = &f2,
                              .queueCreateInfoCount = 1, .pQueueCreateInfos = &qci,
                              .enabledExtensionCount = n_dext, .ppEnabledExtensionNames = dexts};
    VkResult r = vkCreateDevice(dev->phys, &dci, NULL, &dev->device);
    if (r != VK_SUCCESS) { st = vkt_vk_fail(err, r, "vkCreateDevice"); goto done; }
    volkLoadDevice(dev->device);
    vkGetDeviceQueue(dev->device, dev->qfam, 0, &dev->queue);

    st = vkt_mem_init(dev, err);
    if (st) goto done;
    st = vkt_pipeline_cache_init(dev, err);
    if (st) goto done;
    vkt_log(VKT_LOG_DEBUG, "vktrain: using device %u: %s (%s)", idx, inf->name, inf->driver_name);
    *out = dev;
    dev = NULL;
done:
    free(infos);
    free(pds);
    vkt_device_destroy(dev);
    return st;
}

void vkt_device_destroy(vkt_device *dev)
{
    if (!dev) return;
    if (dev->device) {
        vkDeviceWaitIdle(dev->device);
        vkt_pipeline_cache_fini(dev);
        vkt_mem_fini(dev);
        vkDestroyDevice(dev->device, NULL);
    }
    if (dev->messenger) vkDestroyDebugUtilsMessengerEXT(dev->instance, dev->messenger, NULL);
    if (dev->instance) vkDestroyInstance(dev->instance, NULL);
    free(dev);
}

const vkt_device_info *vkt_device_get_info(const vkt_device *dev) { return &dev->info; }
uint32_t vkt_device_validation_count(const vkt_device *dev) { return dev->n_validation; }
bool vkt_device_validation_on(const vkt_device *dev) { return dev->validation; }
VkDevice vkt_device_vk(const vkt_device *dev) { return dev->device; }
VkPhysicalDevice vkt_device_phys(const vkt_device *dev) { return dev->phys; }
VkQueue vkt_device_queue(const vkt_device *dev) { return dev->queue; }
uint32_t vkt_device_queue_family(const vkt_device *dev) { return dev->qfam; }
