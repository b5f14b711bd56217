/* `vktrain make-tiny-model`: writes the deterministic random SD1-layout model of
 * docs/tiny-model.md (tiny dims, or full SD1.5 dims with --sd15). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "models/tiny_model.h"

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
    vkt_status st = vkt_gen_write(cfg, seed, fp16, out, &err);
    if (st) {
        vkt_err_prefix(&err, "make-tiny-model %s", out);
        return vkt_cli_fail(&err);
    }
    fprintf(stderr, "wrote %s (%s, seed %llu, %s)\n", out, cfg->name, (unsigned long long)seed,
            fp16 ? "fp16" : "fp32");
    return 0;
}
