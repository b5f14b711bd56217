/* `vktrain eval`: run a regression case (../shared/spec/eval-case.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "train/eval.h"

static const char *HELP =
    "usage: vktrain eval --model MODEL --case CASE.safetensors --out OUT.safetensors\n"
    "                    [--hypernetwork HN.pt] [--clip-skip N] [--device D] [--precision fp32|fp16]\n\n"
    "Runs one training step's computation from a case file (token ids, learned vectors and their\n"
    "placements, emphasis; latent, noise, timestep, loss weight; images or latents for the VAE) and\n"
    "writes every output whose inputs are present: clip_out, x_noisy, unet_out, loss, grad_learned,\n"
    "grad_context, vae_mean, vae_logvar, decoded; with --hypernetwork also\n"
    "grad_hn.<size>.<0|1>.linear.<i>.<weight|bias> (0 = the k module, 1 = the v module), computed in\n"
    "train mode with dropout off. Compare two runs with `vktrain compare`.\n\n"
    "options:\n"
    "  --model M          model file (.safetensors)\n"
    "  --case C           case file (eval-case.md)\n"
    "  --out O            output file\n"
    "  --hypernetwork H   apply a webui hypernetwork .pt (train mode: multiplier 1, dropout off)\n"
    "                     to every attention's k/v input and output its gradients\n"
    "  --clip-skip N      webui clip skip (default 1)\n"
    "  --device D         device index or name substring\n"
    "  --precision P      fp32 (default) or fp16 storage\n\n"
    "example:\n  vktrain eval --model tiny.safetensors --case unet_text.case.safetensors --out out.safetensors\n";

int vkt_cmd_eval(int argc, char **argv)
{
    vkt_eval_opts o = {.clip_skip = 1, .dtype = VKT_F32};
    for (int i = 1; i < argc; i++) {
        const char *v;
        bool missing = false;
        if (vkt_cli_is_help(argv[i])) { fputs(HELP, stdout); return 0; }
        if (vkt_cli_opt(argc, argv, &i, "--model", &v, &missing)) o.model = v;
        else if (vkt_cli_opt(argc, argv, &i, "--case", &v, &missing)) o.case_path = v;
        else if (vkt_cli_opt(argc, argv, &i, "--out", &v, &missing)) o.out_path = v;
        else if (vkt_cli_opt(argc, argv, &i, "--hypernetwork", &v, &missing)) o.hypernetwork = v;
        else if (vkt_cli_opt(argc, argv, &i, "--device", &v, &missing)) o.device = v;
        else if (vkt_cli_opt(argc, argv, &i, "--clip-skip", &v, &missing)) {
            o.clip_skip = missing ? 0 : atoi(v);
            if (o.clip_skip < 1 || o.clip_skip > 12) return vkt_cli_usage("eval", "--clip-skip needs 1..12");
        } else if (vkt_cli_opt(argc, argv, &i, "--precision", &v, &missing)) {
            if (missing || (strcmp(v, "fp32") && strcmp(v, "fp16"))) return vkt_cli_usage("eval", "--precision is fp32 or fp16");
            o.dtype = strcmp(v, "fp16") == 0 ? VKT_F16 : VKT_F32;
        } else {
            return vkt_cli_usage("eval", "unknown option \"%s\"", argv[i]);
        }
        if (missing) return vkt_cli_usage("eval", "%s needs a value", argv[i]);
    }
    if (!o.model || !o.case_path || !o.out_path) return vkt_cli_usage("eval", "--model, --case and --out are required");
    vkt_err err = {0};
    if (vkt_eval_run(&o, &err) != VKT_OK) return vkt_cli_fail(&err);
    return 0;
}
