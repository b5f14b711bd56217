/* Fuzz target for io/model_file (family detection, dims from shapes, renames) over safetensors
 * bytes: the input goes to a memfd opened by path (/proc/self/fd/N). Any input fails with a
 * message or yields a config whose dims are positive and whose tensors are all findable.
 * libFuzzer: ./build/tests/fuzz_model tests/fuzz/model/corpus */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/model_file.h"

static void check(int ok)
{
    if (!ok) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    int fd = memfd_create("fuzz_model", 0);
    if (fd < 0) return 0;
    if (write(fd, d, n) != (ssize_t)n) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    vkt_err err = {0};
    for (int any = 0; any < 2; any++) {
        vkt_model_file *mf = NULL;
        vkt_model_opts o = {.any_family = any};
        if (vkt_model_file_open(path, &o, &mf, &err) != VKT_OK) {
            check(err.msg[0] != 0 && !mf);
            continue;
        }
        const vkt_sd_config *c = vkt_model_file_config(mf);
        if (c->has_unet) {
            check(c->unet_mc > 0 && c->unet_levels >= 1 && c->unet_levels <= VKT_SD_MAX_LEVELS && c->unet_res_blocks > 0);
            check(c->unet_heads > 0);
            for (int l = 0; l < c->unet_levels; l++) check(c->unet_mult[l] > 0);
        }
        if (c->has_vae) check(c->vae_ch > 0 && c->vae_levels >= 1 && c->vae_z > 0);
        if (c->family == VKT_FAMILY_SD1 && c->has_clip) check(c->clip_width > 0 && c->clip_heads > 0 && c->clip_width % c->clip_heads == 0);
        for (size_t i = 0; i < vkt_model_file_count(mf); i++)
            check(vkt_model_file_find(mf, vkt_model_file_name(mf, i)) == vkt_model_file_tensor(mf, i));
        const vkt_tensor_data *t;
        (void)vkt_model_file_get(mf, "model.diffusion_model.out.2.weight", 4, (int64_t[]){4, c->unet_mc, 3, 3}, &t, &err);
        (void)vkt_model_file_supported(mf, &err);
        vkt_model_file_close(mf);
    }
    close(fd);
    return 0;
}

#define MUTATIONS 100
#include "../replay.h"
