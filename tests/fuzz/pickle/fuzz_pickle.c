/* Fuzz target for the restricted unpickler: any byte string fails with a message or yields an
 * acyclic tree whose tensors lie inside the (fake, 4 KiB) storages. Nothing may be executed;
 * the only functions reachable are the allowlisted data constructors.
 * libFuzzer: ./build/tests/fuzz_pickle tests/fuzz/pickle/corpus */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/pickle.h"
#include "../walk.h"

static uint8_t storage[4096];

static vkt_status resolve(void *ctx, const char *key, const uint8_t **data, size_t *size, vkt_err *err)
{
    (void)ctx;
    if (key[0] == 'x') return vkt_fail(err, VKT_ERR_FORMAT, "no storage %s", key); /* the refusal path */
    *data = storage;
    *size = sizeof storage;
    return VKT_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    vkt_err err = {0};
    vkt_pickle *pk = NULL;
    if (vkt_pickle_load(d, n, "fuzz.pkl", resolve, NULL, &pk, &err) != VKT_OK) {
        walk_check(err.msg[0] != 0 && pk == NULL);
        return 0;
    }
    long budget = 20000;
    walk(vkt_pickle_root(pk), 0, &budget, storage, storage + sizeof storage);
    char why[128];
    (void)vkt_pickle_webui_ok(pk, why, sizeof why);
    vkt_pickle_free(pk);
    return 0;
}

#include "../replay.h"
