/* vktrain entry point: dispatches to subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const vkt_cli_cmd commands[] = {
    {"devices", vkt_cmd_devices, "list Vulkan devices and the features vktrain uses"},
    {"selftest", vkt_cmd_selftest, "check every op and variant on a device against the CPU reference"},
    {"bench", vkt_cmd_bench, "benchmarks: `bench ops` (op throughput), `bench step` (a training step)"},
    {"eval", vkt_cmd_eval, "run a regression case (eval-case.md) and write its outputs"},
    {"sample", vkt_cmd_sample, "txt2img: Euler a, Euler or DDIM to PNGs with the webui's infotext"},
    {"compare", vkt_cmd_compare, "compare two eval outputs tensor by tensor (eval-case.md tolerances)"},
    {"make-tiny-model", vkt_cmd_make_tiny_model, "write the deterministic random SD1 test model"},
    {"info", vkt_cmd_info, "what a model, embedding, hypernetwork or .optim file is (dims, params, hashes)"},
    {"embedding", vkt_cmd_embedding, "textual-inversion embeddings: `embedding create`, `embedding train`"},
    {"hypernetwork", vkt_cmd_hypernetwork, "webui hypernetworks: `hypernetwork create`, `hypernetwork train`"},
    {"tokenize", vkt_cmd_tokenize, "show a prompt's CLIP tokens, 77-token chunks, weights and embeddings"},
    {"demo", vkt_cmd_demo, "train an embedding on the built-in tiny model and synthetic images"},
    {0, 0, 0},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: vktrain <command> [options]\n\n"
               "Trains Stable Diffusion textual-inversion embeddings and hypernetworks on any Vulkan GPU.\n\n"
               "commands:\n");
    for (const vkt_cli_cmd *c = commands; c->name; c++) fprintf(f, "  %-16s %s\n", c->name, c->summary);
    fprintf(f, "\nenvironment:\n"
               "  VKTRAIN_DEVICE=N|name      device to use (default: first discrete GPU, else integrated, else CPU)\n"
               "  VKTRAIN_VALIDATION=1       enable the Khronos validation layer\n"
               "  VKTRAIN_DISABLE_<FEATURE>  turn off a fast path: FP16, SUBGROUP, COOPMAT\n"
               "  VKTRAIN_HEAP_LIMIT_MIB=N   act as a device with at most N MiB per memory heap\n"
               "  VKTRAIN_LOG=debug          also log what each training mini-batch uses\n"
               "\nexamples:\n  vktrain demo\n  vktrain selftest --json\n"
               "  vktrain embedding train --model v1-5.safetensors --embedding cat --data cats/\n\n"
               "`vktrain <command> --help` describes each command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (vkt_cli_is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("vktrain 0.1.0\n");
        return 0;
    }
    for (const vkt_cli_cmd *c = commands; c->name; c++)
        if (strcmp(c->name, argv[1]) == 0) return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "vktrain: error: unknown command \"%s\" (see `vktrain --help`)\n", argv[1]);
    return 2;
}
