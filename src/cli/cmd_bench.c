/* `vktrain bench ops`: op throughput at SD1.5 shapes (a benchmark, never a test). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "nn/bench.h"
#include "vk/memory.h"

static const char *HELP =
    "usage: vktrain bench ops [--device D] [--op FAMILY] [--reps N] [--small] [--fp32-only] [--json]\n\n"
    "Measures GPU time per call of each op at SD1.5 shapes (GPU timestamps, median over N calls\n"
    "recorded into one command buffer) and prints GFLOP/s (compute-bound ops) or GB/s\n"
    "(memory-bound ops), fp32 and fp16 storage.\n\n"
    "options:\n"
    "  --device D     device index or name substring\n"
    "  --op F         only this op family\n"
    "  --reps N       calls per measurement (default 20)\n"
    "  --small        quarter-size shapes (default on CPU devices such as lavapipe)\n"
    "  --fp32-only    skip the f16 variants\n"
    "  --json         one JSON document on stdout\n\n"
    "example:\n  vktrain bench ops --json\n";

static int bench_ops(int argc, char **argv)
{
    const char *device = NULL;
    vkt_bench_opts o = {.reps = 20, .fp16 = true};
    bool json = false, small = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        bool missing;
        if (vkt_cli_is_help(argv[i])) { fputs(HELP, stdout); return 0; }
        if (vkt_cli_flag(argv, i, "--json")) json = true;
        else if (vkt_cli_flag(argv, i, "--small")) small = true;
        else if (vkt_cli_flag(argv, i, "--fp32-only")) o.fp16 = false;
        else if (vkt_cli_opt(argc, argv, &i, "--device", &v, &missing)) {
            if (missing) return vkt_cli_usage("bench ops", "--device needs a value");
            device = v;
        } else if (vkt_cli_opt(argc, argv, &i, "--op", &v, &missing)) {
            if (missing) return vkt_cli_usage("bench ops", "--op needs a value");
            o.only = v;
        } else if (vkt_cli_opt(argc, argv, &i, "--reps", &v, &missing)) {
            if (missing || atoi(v) < 1 || atoi(v) > 1000) return vkt_cli_usage("bench ops", "--reps needs 1..1000");
            o.reps = atoi(v);
        } else {
            return vkt_cli_usage("bench ops", "unknown option \"%s\"", argv[i]);
        }
    }
    vkt_err err = {0};
    vkt_device *dev = NULL;
    vkt_step *s = NULL;
    vkt_bench_list list = {0};
    int rc = 0;
    vkt_status st = vkt_device_create(&(vkt_device_opts){.select = device, .validation = -1}, &dev, &err);
    if (!st) st = vkt_step_create(dev, &s, &err);
    if (st) { rc = vkt_cli_fail(&err); goto done; }
    const vkt_device_info *inf = vkt_device_get_info(dev);
    o.small = small || inf->type == VK_PHYSICAL_DEVICE_TYPE_CPU;
    st = vkt_bench_ops(s, &o, &list, &err);
    if (st) { rc = vkt_cli_fail(&err); goto done; }
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "device", inf->name);
        cJSON_AddStringToObject(root, "driver", inf->driver_name);
        cJSON_AddBoolToObject(root, "small_shapes", o.small);
        cJSON *arr = cJSON_AddArrayToObject(root, "results");
        for (uint32_t i = 0; i < list.n; i++) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "op", list.v[i].op);
            cJSON_AddStringToObject(r, "variant", list.v[i].variant);
            cJSON_AddStringToObject(r, "shape", list.v[i].shape);
            cJSON_AddNumberToObject(r, "ms", list.v[i].ms);
            cJSON_AddNumberToObject(r, "gflops", list.v[i].gflops);
            cJSON_AddNumberToObject(r, "gbps", list.v[i].gbps);
            cJSON_AddItemToArray(arr, r);
        }
        char *txt = cJSON_Print(root);
        puts(txt);
        free(txt);
        cJSON_Delete(root);
    } else {
        printf("bench ops on %s (%s)%s\n", inf->name, inf->driver_name, o.small ? ", small shapes" : "");
        for (uint32_t i = 0; i < list.n; i++) {
            const vkt_bench_result *r = &list.v[i];
            printf("%-10s %-28s %-28s %9.4f ms", r->op, r->variant, r->shape, r->ms);
            if (r->gflops > 0) printf("  %9.1f GFLOP/s", r->gflops);
            if (r->gbps > 0) printf("  %8.1f GB/s", r->gbps);
            printf("\n");
        }
    }
done:
    vkt_bench_list_fini(&list);
    vkt_step_destroy(s);
    vkt_device_destroy(dev);
    return rc;
}

int vkt_cmd_bench(int argc, char **argv)
{
    if (argc < 2 || vkt_cli_is_help(argv[1])) {
        fputs("usage: vktrain bench ops [options]   (see `vktrain bench ops --help`)\n\n"
              "Benchmarks; `bench step` arrives with the UNet (issue #6).\n\n"
              "example:\n  vktrain bench ops --json\n",
              argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "ops") == 0) return bench_ops(argc - 1, argv + 1);
    return vkt_cli_usage("bench", "unknown benchmark \"%s\"", argv[1]);
}
