/* `vktrain selftest`: runs every op family's checks with every variant the device can use,
 * prints one line per check and a summary; exit 1 on any failure. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "nn/check.h"
#include "vk/memory.h"
#include "vk/pipeline.h"

static const char *HELP =
    "usage: vktrain selftest [--device N|NAME] [--op FAMILY] [--full] [--json]\n\n"
    "Runs every op (forward and backward) and every shader variant this device would use against\n"
    "the CPU reference at several shapes and prints one line per check: op, variant, what, shape,\n"
    "max error, pass/fail. Exits 1 if any check fails. This proves that a GPU and its driver\n"
    "compute vktrain correctly.\n\n"
    "options:\n"
    "  --device D   device index or name substring (default: $VKTRAIN_DEVICE, else the first GPU)\n"
    "  --op F       only this op family (repeatable)\n"
    "  --full       all shapes and the finite-difference checks of the references (slower)\n"
    "  --json       one JSON document on stdout\n\n"
    "example:\n  vktrain selftest --json\n";

int vkt_cmd_selftest(int argc, char **argv)
{
    const char *device = NULL, *ops[32];
    int n_ops = 0;
    bool json = false, full = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        bool missing;
        if (vkt_cli_is_help(argv[i])) { fputs(HELP, stdout); return 0; }
        if (vkt_cli_flag(argv, i, "--json")) json = true;
        else if (vkt_cli_flag(argv, i, "--full")) full = true;
        else if (vkt_cli_opt(argc, argv, &i, "--device", &v, &missing)) {
            if (missing) return vkt_cli_usage("selftest", "--device needs a value");
            device = v;
        } else if (vkt_cli_opt(argc, argv, &i, "--op", &v, &missing)) {
            if (missing) return vkt_cli_usage("selftest", "--op needs a value");
            if (!vkt_op_table_find(v)) return vkt_cli_usage("selftest", "unknown op family \"%s\"", v);
            if (n_ops < 32) ops[n_ops++] = v;
        } else {
            return vkt_cli_usage("selftest", "unknown option \"%s\"", argv[i]);
        }
    }
    vkt_err err = {0};
    vkt_device *dev = NULL;
    vkt_step *step = NULL;
    vkt_checklist list = {0};
    int rc = 0;
    vkt_status st = vkt_device_create(&(vkt_device_opts){.select = device, .validation = -1}, &dev, &err);
    if (!st) st = vkt_step_create(dev, &step, &err);
    if (st) { rc = vkt_cli_fail(&err); goto done; }
    const vkt_device_info *inf = vkt_device_get_info(dev);
    if (!json) fprintf(stderr, "vktrain selftest on %s (%s)\n", inf->name, inf->driver_name);
    vkt_check_ctx ctx = {.dev = dev, .step = step, .list = &list, .seed = 0x5eed, .quick = !full, .no_fd = !full};
    uint32_t first = 0;
    for (const vkt_op_entry *e = vkt_op_table; e->family; e++) {
        bool want = n_ops == 0;
        for (int k = 0; k < n_ops; k++) want |= strcmp(ops[k], e->family) == 0;
        if (!want) continue;
        st = e->run(&ctx, &err);
        if (st) {
            vkt_err_prefix(&err, "selftest %s", e->family);
            rc = vkt_cli_fail(&err);
            goto done;
        }
        for (uint32_t i = first; !json && i < list.n; i++) {
            const vkt_check_result *r = &list.v[i];
            printf("%-10s %-26s %-12s %-34s max_err %.3e  %s\n", r->op, r->variant, r->what, r->shape, r->max_abs,
                   r->pass ? "pass" : "FAIL");
        }
        first = list.n;
    }
    uint32_t fails = vkt_checklist_failures(&list), vmsgs = vkt_device_validation_count(dev);
    vkt_mem_stats ms = vkt_mem_get_stats(dev);
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "device", inf->name);
        cJSON_AddStringToObject(root, "driver", inf->driver_name);
        cJSON_AddNumberToObject(root, "checks", list.n);
        cJSON_AddNumberToObject(root, "failures", fails);
        cJSON_AddNumberToObject(root, "validation_messages", vmsgs);
        cJSON_AddBoolToObject(root, "validation", vkt_device_validation_on(dev));
        cJSON_AddNumberToObject(root, "peak_device_bytes", (double)ms.peak);
        cJSON *arr = cJSON_AddArrayToObject(root, "results");
        for (uint32_t i = 0; i < list.n; i++) {
            const vkt_check_result *r = &list.v[i];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "op", r->op);
            cJSON_AddStringToObject(o, "variant", r->variant);
            cJSON_AddStringToObject(o, "what", r->what);
            cJSON_AddStringToObject(o, "shape", r->shape);
            cJSON_AddNumberToObject(o, "max_err", r->max_abs);
            cJSON_AddNumberToObject(o, "score", r->score);
            cJSON_AddBoolToObject(o, "pass", r->pass);
            cJSON_AddItemToArray(arr, o);
        }
        vkt_cli_print_json(root);
    } else {
        printf("%u checks, %u failed, %u validation messages\n", list.n, fails, vmsgs);
    }
    rc = (fails || vmsgs) ? 1 : 0;
done:
    vkt_checklist_fini(&list);
    vkt_step_destroy(step);
    vkt_device_destroy(dev);
    return rc;
}
