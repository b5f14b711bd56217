/* Fuzz target for io/zip and the whole torch path (zip + restricted unpickler + storages): any
 * byte string fails with a message or gives members and tensors that lie inside the input (or
 * the reader's own inflated copies). libFuzzer: ./build/tests/fuzz_zip tests/fuzz/zip/corpus */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/torch_file.h"
#include "io/zip.h"
#include "../walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    vkt_err err = {0};
    vkt_zip *z = NULL;
    if (vkt_zip_open(d, n, "fuzz.zip", &z, &err) == VKT_OK) {
        vkt_zip_set_inflate_limit(z, 8u << 20); /* keep runs fast; the cap itself is under test */
        for (size_t i = 0; i < vkt_zip_count(z); i++) {
            const vkt_zip_entry *e = vkt_zip_entry_at(z, i);
            walk_check(vkt_zip_find(z, e->name) == e);
            walk_check(e->data_off <= n && e->comp_size <= n - e->data_off);
            const uint8_t *p;
            size_t pn;
            if (vkt_zip_read(z, e, true, &p, &pn, &err) == VKT_OK) {
                walk_check(pn == e->size);
                if (e->method == 0) walk_check(p >= d && p + pn <= d + n);
                volatile uint8_t x = 0;
                for (size_t k = 0; k < pn; k += 4096) x ^= p[k]; /* touch it */
                if (pn) x ^= p[pn - 1];
                (void)x;
            }
        }
        vkt_zip_close(z);
    } else {
        walk_check(err.msg[0] != 0);
    }
    vkt_torch *t = NULL;
    if (vkt_torch_open_memory(d, n, "fuzz.pt", 0, &t, &err) == VKT_OK) {
        long budget = 20000;
        /* storages are STORED members inside d, or inflated copies (not in [d, d+n)) */
        walk(vkt_torch_root(t), 0, &budget, (const uint8_t *)0, (const uint8_t *)UINTPTR_MAX);
        char why[128];
        (void)vkt_torch_webui_ok(t, why, sizeof why);
        vkt_torch_close(t);
    }
    return 0;
}

#include "../replay.h"
