/* `vktrain make-tiny-model`: writes the deterministic random SD1-layout model of
 * docs/tiny-model.md (tiny dims, or full SD1.5 dims with --sd15). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "cli/cli.h"
#include "io/safetensors.h"
#include "models/tiny_model.h"
#include "nn/tensor.h"

static const char *HELP =
    "usage: vktrain make-tiny-model OUT.safetensors [--seed S] [--sd15] [--fp16]\n\n"
    "Writes a deterministic random Stable Diffusion 1.x model in the original checkpoint layout\n"
    "(CLIP text encoder, UNet, VAE, schedule buffers) with the head counts in its metadata. The\n"
    "default is the tiny test configuration (a few MB of UNet/VAE; CLIP keeps the real 49408-token\n"
    "vocabulary); --sd15 writes full SD1.5 dims for benchmarks. Same seed, same bytes.\n\n"
    "options:\n"
    "  --seed S   generator seed (default 0)\n"
    "  --sd15     full-size SD1.5 dims (written as fp16 unless --fp32)\n"
    "  --fp16     store float tensors as F16 (default for --sd15)\n"
    "  --fp32     store float tensors as F32 (default for the tiny model)\n\n"
    "example:\n  vktrain make-tiny-model tiny.safetensors --seed 0\n";

int vkt_cmd_make_tiny_model(int argc, char **argv)
{
    const char *out = NULL;
    uint64_t seed = 0;
    bool sd15 = false;
    int fp16 = -1;
    for (int i = 1; i < argc; i++) {
        const char *v;
        bool missing;
        if (vkt_cli_is_help(argv[i])) { fputs(HELP, stdout); return 0; }
        if (vkt_cli_flag(argv, i, "--sd15")) sd15 = true;
        else if (vkt_cli_flag(argv, i, "--fp16")) fp16 = 1;
        else if (vkt_cli_flag(argv, i, "--fp32")) fp16 = 0;
        else if (vkt_cli_opt(argc, argv, &i, "--seed", &v, &missing)) {
            char *end;
            if (missing) return vkt_cli_usage("make-tiny-model", "--seed needs a value");
            seed = strtoull(v, &end, 10);
            if (*end || !*v) return vkt_cli_usage("make-tiny-model", "--seed: \"%s\" is not a number", v);
        } else if (argv[i][0] == '-') {
            return vkt_cli_usage("make-tiny-model", "unknown option \"%s\"", argv[i]);
        } else if (!out) {
            out = argv[i];
        } else {
            return vkt_cli_usage("make-tiny-model", "one output file only");
        }
    }
    if (!out) return vkt_cli_usage("make-tiny-model", "missing OUT.safetensors");
    if (fp16 < 0) fp16 = sd15;
    const vkt_gen_config *cfg = sd15 ? &VKT_GEN_SD15 : &VKT_GEN_TINY;

    vkt_err err = {0};
    vkt_gen_tensor *ts = NULL;
    uint32_t n = 0;
    void **bufs = NULL;
    vkt_safetensors_writer *w = NULL;
    vkt_status st = vkt_gen_keys(cfg, &ts, &n, &err);
    if (!st) st = vkt_safetensors_writer_create(&w, &err);
    if (!st && !(bufs = vkt_calloc(n, sizeof *bufs))) st = vkt_fail(&err, VKT_ERR_NOMEM, "tensor list");
    for (uint32_t i = 0; i < n && !st; i++) {
        size_t numel = (size_t)vkt_gen_numel(&ts[i]);
        if (ts[i].is_i64) {
            int64_t *ids = vkt_malloc(numel * sizeof *ids);
            if (!(bufs[i] = ids)) { st = vkt_fail(&err, VKT_ERR_NOMEM, "%s", ts[i].key); break; }
            for (size_t k = 0; k < numel; k++) ids[k] = (int64_t)k;
            st = vkt_safetensors_writer_add(w, ts[i].key, VKT_IO_I64, ts[i].ndim, ts[i].shape, ids, &err);
            continue;
        }
        float *v = vkt_malloc(numel * sizeof *v);
        if (!(bufs[i] = v)) { st = vkt_fail(&err, VKT_ERR_NOMEM, "%s: %zu floats", ts[i].key, numel); break; }
        vkt_gen_values(seed, &ts[i], v);
        if (fp16) { /* convert in place into the first half of the buffer */
            uint16_t *h = (uint16_t *)v;
            for (size_t k = 0; k < numel; k++) h[k] = vkt_f32_to_f16(v[k]);
        }
        st = vkt_safetensors_writer_add(w, ts[i].key, fp16 ? VKT_IO_F16 : VKT_IO_F32, ts[i].ndim, ts[i].shape, v, &err);
    }
    char heads[16], gen[64];
    snprintf(heads, sizeof heads, "%d", cfg->unet_heads);
    if (!st) st = vkt_safetensors_writer_meta(w, "vktrain.unet_heads", heads, &err);
    snprintf(heads, sizeof heads, "%d", cfg->clip_heads);
    if (!st) st = vkt_safetensors_writer_meta(w, "vktrain.clip_heads", heads, &err);
    snprintf(gen, sizeof gen, "vktrain-tiny-v1 seed=%llu config=%s", (unsigned long long)seed, cfg->name);
    if (!st) st = vkt_safetensors_writer_meta(w, "vktrain.generator", gen, &err);
    if (!st) st = vkt_safetensors_writer_write(w, out, &err);
    vkt_safetensors_writer_destroy(w);
    for (uint32_t i = 0; bufs && i < n; i++) free(bufs[i]);
    free(bufs);
    free(ts);
    if (st) {
        vkt_err_prefix(&err, "make-tiny-model %s", out);
        return vkt_cli_fail(&err);
    }
    fprintf(stderr, "wrote %s (%s, %u tensors, seed %llu, %s)\n", out, cfg->name, n, (unsigned long long)seed,
            fp16 ? "fp16" : "fp32");
    return 0;
}
