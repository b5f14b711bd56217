/* Fuzz target for io/safetensors: any byte string either fails with a message or yields tensors
 * whose every byte lies inside the input, that convert to f32, and that survive a write/read
 * round trip unchanged. libFuzzer: ./build/tests/fuzz_safetensors tests/fuzz/safetensors/corpus */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

static void check(int ok)
{
    if (!ok) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    vkt_err err = {0};
    vkt_safetensors *st = NULL;
    if (vkt_safetensors_open_memory(d, n, "fuzz", &st, &err) != VKT_OK) {
        check(err.msg[0] != 0 && st == NULL);
        return 0;
    }
    vkt_safetensors_writer *w = NULL;
    check(vkt_safetensors_writer_create(&w, &err) == VKT_OK);
    for (size_t i = 0; i < vkt_safetensors_count(st); i++) {
        const char *name = vkt_safetensors_name(st, i);
        const vkt_tensor_data *t = vkt_safetensors_at(st, i);
        check(vkt_safetensors_find(st, name) == t);
        size_t numel = vkt_tensor_data_numel(t);
        check(t->bytes == numel * vkt_io_dtype_size(t->dtype));
        check(t->data >= d && t->data <= d + n && t->bytes <= (size_t)(d + n - t->data));
        if (numel <= 4096) {
            float *f = malloc((numel ? numel : 1) * sizeof *f);
            check(vkt_tensor_data_to_f32(t, f, &err) == VKT_OK);
            free(f);
        }
        check(vkt_safetensors_writer_add(w, name, t->dtype, t->ndim, t->shape, t->data, &err) == VKT_OK);
    }
    for (size_t i = 0; i < vkt_safetensors_meta_count(st); i++) {
        const char *k = vkt_safetensors_meta_key(st, i);
        check(vkt_safetensors_meta(st, k) != NULL);
        check(vkt_safetensors_writer_meta(w, k, vkt_safetensors_meta(st, k), &err) == VKT_OK);
    }
    /* round trip: what we read, we can write, and read back the same */
    uint8_t *buf = NULL;
    size_t bn = 0;
    check(vkt_safetensors_writer_to_memory(w, &buf, &bn, &err) == VKT_OK);
    vkt_safetensors *back = NULL;
    check(vkt_safetensors_open_memory(buf, bn, "back", &back, &err) == VKT_OK);
    check(vkt_safetensors_count(back) == vkt_safetensors_count(st));
    for (size_t i = 0; i < vkt_safetensors_count(st); i++) {
        const vkt_tensor_data *a = vkt_safetensors_at(st, i), *b = vkt_safetensors_find(back, vkt_safetensors_name(st, i));
        check(b && a->dtype == b->dtype && a->ndim == b->ndim && a->bytes == b->bytes &&
              (!a->bytes || memcmp(a->data, b->data, a->bytes) == 0));
        for (int k = 0; k < a->ndim; k++) check(a->shape[k] == b->shape[k]);
    }
    vkt_safetensors_close(back);
    free(buf);
    vkt_safetensors_writer_destroy(w);
    vkt_safetensors_close(st);
    return 0;
}

#include "../replay.h"
