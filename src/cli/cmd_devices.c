/* `vktrain devices [--json]`: every Vulkan device with the features vktrain's variant choice uses. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "vk/device.h"

static const char *HELP =
    "usage: vktrain devices [--json]\n\n"
    "Lists every Vulkan device with the features vktrain uses (version, driver, memory heaps,\n"
    "fp16, 16-bit storage, subgroups, cooperative matrices, float atomics, limits).\n\n"
    "options:\n"
    "  --json    one JSON document on stdout\n\n"
    "example:\n  vktrain devices --json\n";

static void print_text(const vkt_device_info *d)
{
    printf("device %u: %s\n", d->index, d->name);
    printf("  type            %s, vendor %s (0x%04x), device 0x%04x\n", vkt_device_type_name(d->type),
           vkt_vendor_name(d->vendor_id), d->vendor_id, d->device_id);
    printf("  vulkan          %u.%u.%u\n", VK_API_VERSION_MAJOR(d->api_version), VK_API_VERSION_MINOR(d->api_version),
           VK_API_VERSION_PATCH(d->api_version));
    printf("  driver          %s %s (version 0x%08x)\n", d->driver_name, d->driver_info, d->driver_version);
    for (uint32_t h = 0; h < d->n_heaps; h++) {
        printf("  heap %u          %.2f GiB%s", h, (double)d->heap_size[h] / (1 << 30),
               d->heap_device_local[h] ? " device-local" : "");
        if (d->heap_budget[h]) printf(", budget %.2f GiB", (double)d->heap_budget[h] / (1 << 30));
        printf("\n");
    }
    printf("  fp16 arithmetic %s, 16-bit storage %s, 8-bit storage %s\n", d->fp16_arith ? "yes" : "no",
           d->storage16 ? "yes" : "no", d->storage8 ? "yes" : "no");
    printf("  subgroup        size %u (min %u, max %u, control %s), ops 0x%x\n", d->subgroup_size, d->subgroup_min,
           d->subgroup_max, d->subgroup_size_control ? "yes" : "no", d->subgroup_ops);
    printf("  coopmat         KHR %s (%u shapes), NV %s (%u shapes)\n", d->coopmat_khr ? "yes" : "no", d->n_coopmat_khr,
           d->coopmat_nv ? "yes" : "no", d->n_coopmat_nv);
    for (uint32_t i = 0; i < d->n_coopmat_khr; i++)
        printf("    KHR %ux%ux%u A%d B%d C%d R%d\n", d->coopmat_khr_shapes[i].M, d->coopmat_khr_shapes[i].N,
               d->coopmat_khr_shapes[i].K, d->coopmat_khr_shapes[i].a_type, d->coopmat_khr_shapes[i].b_type,
               d->coopmat_khr_shapes[i].c_type, d->coopmat_khr_shapes[i].result_type);
    for (uint32_t i = 0; i < d->n_coopmat_nv; i++)
        printf("    NV  %ux%ux%u A%d B%d C%d D%d\n", d->coopmat_nv_shapes[i].M, d->coopmat_nv_shapes[i].N,
               d->coopmat_nv_shapes[i].K, d->coopmat_nv_shapes[i].a_type, d->coopmat_nv_shapes[i].b_type,
               d->coopmat_nv_shapes[i].c_type, d->coopmat_nv_shapes[i].result_type);
    printf("  float atomics   add32 %s\n", d->float_atomic_add32 ? "yes" : "no");
    printf("  workgroup       max size %u x %u x %u, %u invocations, %u B shared\n", d->max_wg_size[0],
           d->max_wg_size[1], d->max_wg_size[2], d->max_wg_invocations, d->max_shared_bytes);
    printf("  limits          storage range %llu B, offset align %llu B, %u allocations, push %u B\n",
           (unsigned long long)d->max_storage_range, (unsigned long long)d->min_storage_align, d->max_alloc_count,
           d->max_push_bytes);
}

static cJSON *shapes_json(const vkt_coopmat_shape *s, uint32_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (uint32_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "M", s[i].M);
        cJSON_AddNumberToObject(o, "N", s[i].N);
        cJSON_AddNumberToObject(o, "K", s[i].K);
        cJSON_AddNumberToObject(o, "a_type", s[i].a_type);
        cJSON_AddNumberToObject(o, "b_type", s[i].b_type);
        cJSON_AddNumberToObject(o, "c_type", s[i].c_type);
        cJSON_AddNumberToObject(o, "result_type", s[i].result_type);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static cJSON *to_json(const vkt_device_info *d)
{
    cJSON *o = cJSON_CreateObject();
    char ver[32];
    cJSON_AddNumberToObject(o, "index", d->index);
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "type", vkt_device_type_name(d->type));
    cJSON_AddStringToObject(o, "vendor", vkt_vendor_name(d->vendor_id));
    cJSON_AddNumberToObject(o, "vendor_id", d->vendor_id);
    cJSON_AddNumberToObject(o, "device_id", d->device_id);
    snprintf(ver, sizeof ver, "%u.%u.%u", VK_API_VERSION_MAJOR(d->api_version), VK_API_VERSION_MINOR(d->api_version),
             VK_API_VERSION_PATCH(d->api_version));
    cJSON_AddStringToObject(o, "vulkan", ver);
    cJSON_AddStringToObject(o, "driver_name", d->driver_name);
    cJSON_AddStringToObject(o, "driver_info", d->driver_info);
    cJSON_AddNumberToObject(o, "driver_version", d->driver_version);
    cJSON *heaps = cJSON_AddArrayToObject(o, "heaps");
    for (uint32_t h = 0; h < d->n_heaps; h++) {
        cJSON *hh = cJSON_CreateObject();
        cJSON_AddNumberToObject(hh, "bytes", (double)d->heap_size[h]);
        cJSON_AddNumberToObject(hh, "budget", (double)d->heap_budget[h]);
        cJSON_AddBoolToObject(hh, "device_local", d->heap_device_local[h]);
        cJSON_AddItemToArray(heaps, hh);
    }
    cJSON_AddBoolToObject(o, "fp16_arithmetic", d->fp16_arith);
    cJSON_AddBoolToObject(o, "storage_16bit", d->storage16);
    cJSON_AddBoolToObject(o, "storage_8bit", d->storage8);
    cJSON_AddNumberToObject(o, "subgroup_size", d->subgroup_size);
    cJSON_AddNumberToObject(o, "subgroup_min", d->subgroup_min);
    cJSON_AddNumberToObject(o, "subgroup_max", d->subgroup_max);
    cJSON_AddNumberToObject(o, "subgroup_ops", d->subgroup_ops);
    cJSON_AddBoolToObject(o, "subgroup_size_control", d->subgroup_size_control);
    cJSON_AddBoolToObject(o, "coopmat_khr", d->coopmat_khr);
    cJSON_AddItemToObject(o, "coopmat_khr_shapes", shapes_json(d->coopmat_khr_shapes, d->n_coopmat_khr));
    cJSON_AddBoolToObject(o, "coopmat_nv", d->coopmat_nv);
    cJSON_AddItemToObject(o, "coopmat_nv_shapes", shapes_json(d->coopmat_nv_shapes, d->n_coopmat_nv));
    cJSON_AddBoolToObject(o, "float_atomic_add32", d->float_atomic_add32);
    cJSON *wg = cJSON_AddArrayToObject(o, "max_workgroup_size");
    for (int i = 0; i < 3; i++) cJSON_AddItemToArray(wg, cJSON_CreateNumber(d->max_wg_size[i]));
    cJSON_AddNumberToObject(o, "max_workgroup_invocations", d->max_wg_invocations);
    cJSON_AddNumberToObject(o, "max_shared_bytes", d->max_shared_bytes);
    cJSON_AddNumberToObject(o, "max_storage_buffer_range", (double)d->max_storage_range);
    cJSON_AddNumberToObject(o, "min_storage_offset_alignment", (double)d->min_storage_align);
    cJSON_AddNumberToObject(o, "max_allocation_count", d->max_alloc_count);
    return o;
}

int vkt_cmd_devices(int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (vkt_cli_is_help(argv[i])) { fputs(HELP, stdout); return 0; }
        if (vkt_cli_flag(argv, i, "--json")) json = true;
        else return vkt_cli_usage("devices", "unknown option \"%s\"", argv[i]);
    }
    vkt_err err = {0};
    vkt_device_info *infos = NULL;
    uint32_t n = 0;
    vkt_status st = vkt_devices_list(&infos, &n, &err);
    if (st) return vkt_cli_fail(&err);
    if (json) {
        cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "devices");
        for (uint32_t i = 0; i < n; i++) cJSON_AddItemToArray(arr, to_json(&infos[i]));
        vkt_cli_print_json(root);
    } else {
        for (uint32_t i = 0; i < n; i++) print_text(&infos[i]);
    }
    free(infos);
    return 0;
}
