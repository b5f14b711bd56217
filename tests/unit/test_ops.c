/* Runs one op family's checks (src/nn/checks/<family>_check.c) in full on the test device
 * with validation on, then again with fast paths disabled (portable variants). */
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"
#include "testkit.h"

static int run(const vkt_op_entry *e, const char *label)
{
    vkt_err err = {0};
    vkt_device *dev = NULL;
    vkt_step *step = NULL;
    vkt_checklist list = {0};
    vkt_status st = vkt_device_create(&(vkt_device_opts){.validation = 1}, &dev, &err);
    if (!st) st = vkt_step_create(dev, &step, &err);
    if (!st) {
        vkt_check_ctx ctx = {.dev = dev, .step = step, .list = &list, .seed = 12345};
        st = e->run(&ctx, &err);
    }
    TK_CHECK(st == VKT_OK, "%s (%s): %s", e->family, label, err.msg);
    for (uint32_t i = 0; i < list.n; i++) {
        const vkt_check_result *r = &list.v[i];
        TK_CHECK(r->pass, "%s %s %s %s: max_err %.3e score %.2f", r->op, r->variant, r->what, r->shape, r->max_abs,
                 r->score);
    }
    TK_CHECK(list.n > 0, "%s (%s): no checks ran", e->family, label);
    if (dev) TK_CHECK(vkt_device_validation_count(dev) == 0, "%s (%s): %u validation messages", e->family, label,
                      vkt_device_validation_count(dev));
    printf("%s (%s): %u checks\n", e->family, label, list.n);
    vkt_checklist_fini(&list);
    vkt_step_destroy(step);
    vkt_device_destroy(dev);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_ops FAMILY\n");
        return 2;
    }
    const vkt_op_entry *e = vkt_op_table_find(argv[1]);
    if (!e) {
        fprintf(stderr, "test_ops: unknown family %s\n", argv[1]);
        return 2;
    }
    run(e, "default");
    setenv("VKTRAIN_DISABLE_FP16", "1", 1);
    setenv("VKTRAIN_DISABLE_SUBGROUP", "1", 1);
    setenv("VKTRAIN_DISABLE_COOPMAT", "1", 1);
    run(e, "portable");
    return tk_finish(argv[1]);
}
