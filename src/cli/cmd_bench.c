/* `vktrain bench ops|step`: op throughput at SD1.5 shapes, and the textual-inversion training
 * step (benchmarks, never tests). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "nn/bench.h"
#include "train/bench_step.h"
#include "vk/memory.h"

static const char *HELP =
    "usage: vktrain bench ops [--device D] [--op FAMILY] [--reps N] [--small] [--fp32-only] [--json]\n\n"
    "Measures GPU time per call of each op at SD1.5 shapes (GPU timestamps, median over N calls\n"
    "recorded into one command buffer) and prints GFLOP/s (compute-bound ops) or GB/s\n"
    "(memory-bound ops), fp32 and fp16 storage.\n\n"
    "options:\n"
    "  --device D     device index or name substring\n"
    "  --op F         only this op family: act, conv2d, norm, matmul, attention, softmax,\n"
    "                 geglu, embed\n"
    "  --reps N       calls per measurement (default 20)\n"
    "  --small        quarter-size shapes (default on CPU devices such as lavapipe)\n"
    "  --fp32-only    skip the f16 variants\n"
    "  --json         one JSON document on stdout\n\n"
    "example:\n  vktrain bench ops --json\n";

static int bench_ops(int argc, char **argv)
{
    const char *device = NULL;
    vkt_bench_opts o = {.reps = 20, .fp16 = true};
    bool json = false, small = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        bool missing;
        if (vkt_cli_is_help(argv[i])) { fputs(HELP, stdout); return 0; }
        if (vkt_cli_flag(argv, i, "--json")) json = true;
        else if (vkt_cli_flag(argv, i, "--small")) small = true;
        else if (vkt_cli_flag(argv, i, "--fp32-only")) o.fp16 = false;
        else if (vkt_cli_opt(argc, argv, &i, "--device", &v, &missing)) {
            if (missing) return vkt_cli_usage("bench ops", "--device needs a value");
            device = v;
        } else if (vkt_cli_opt(argc, argv, &i, "--op", &v, &missing)) {
            if (missing) return vkt_cli_usage("bench ops", "--op needs a value");
            o.only = v;
        } else if (vkt_cli_opt(argc, argv, &i, "--reps", &v, &missing)) {
            if (missing || atoi(v) < 1 || atoi(v) > 1000) return vkt_cli_usage("bench ops", "--reps needs 1..1000");
            o.reps = atoi(v);
        } else {
            return vkt_cli_usage("bench ops", "unknown option \"%s\"", argv[i]);
        }
    }
    vkt_err err = {0};
    vkt_device *dev = NULL;
    vkt_step *s = NULL;
    vkt_bench_list list = {0};
    int rc = 0;
    vkt_status st = vkt_device_create(&(vkt_device_opts){.select = device, .validation = -1}, &dev, &err);
    if (!st) st = vkt_step_create(dev, &s, &err);
    if (st) { rc = vkt_cli_fail(&err); goto done; }
    const vkt_device_info *inf = vkt_device_get_info(dev);
    o.small = small || inf->type == VK_PHYSICAL_DEVICE_TYPE_CPU;
    st = vkt_bench_ops(s, &o, &list, &err);
    if (st) { rc = vkt_cli_fail(&err); goto done; }
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "device", inf->name);
        cJSON_AddStringToObject(root, "driver", inf->driver_name);
        cJSON_AddBoolToObject(root, "small_shapes", o.small);
        cJSON *arr = cJSON_AddArrayToObject(root, "results");
        for (uint32_t i = 0; i < list.n; i++) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "op", list.v[i].op);
            cJSON_AddStringToObject(r, "variant", list.v[i].variant);
            cJSON_AddStringToObject(r, "shape", list.v[i].shape);
            cJSON_AddNumberToObject(r, "ms", list.v[i].ms);
            cJSON_AddNumberToObject(r, "gflops", list.v[i].gflops);
            cJSON_AddNumberToObject(r, "gbps", list.v[i].gbps);
            cJSON_AddItemToArray(arr, r);
        }
        char *txt = cJSON_Print(root);
        puts(txt);
        free(txt);
        cJSON_Delete(root);
    } else {
        printf("bench ops on %s (%s)%s\n", inf->name, inf->driver_name, o.small ? ", small shapes" : "");
        for (uint32_t i = 0; i < list.n; i++) {
            const vkt_bench_result *r = &list.v[i];
            printf("%-10s %-28s %-28s %9.4f ms", r->op, r->variant, r->shape, r->ms);
            if (r->gflops > 0) printf("  %9.1f GFLOP/s", r->gflops);
            if (r->gbps > 0) printf("  %8.1f GB/s", r->gbps);
            printf("\n");
        }
    }
done:
    vkt_bench_list_fini(&list);
    vkt_step_destroy(s);
    vkt_device_destroy(dev);
    return rc;
}

static const char *STEP_HELP =
    "usage: vktrain bench step --model FILE [--batch B] [--size PX | --width W --height H]\n"
    "                          [--vectors N] [--precision fp16|fp32] [--steps N] [--warmup N]\n"
    "                          [--profile-steps N] [--profile] [--plan-only] [--seed S]\n"
    "                          [--clip-skip N] [--hypernetwork FILE] [--device D] [--json]\n\n"
    "Times one textual-inversion training step: text encoder forward and backward, UNet forward\n"
    "and backward to the context, ε-MSE loss, AdamW on the learned vectors. The step is recorded\n"
    "once (activations planned by liveness) and resubmitted with new inputs every iteration\n"
    "(random prompt with the N vectors, latent, noise, timestep). Prints the median wall-clock\n"
    "ms/step after the warm-up, GPU ms per phase from timestamps (a second, timestamped pass),\n"
    "and device memory: the peak of live buffers while stepping and the planned figures.\n"
    "--plan-only reads only the model's shapes and reports the planned memory without running,\n"
    "so a size this device cannot hold can still be sized.\n\n"
    "options:\n"
    "  --model FILE        SD1 checkpoint (.safetensors), e.g. from make-tiny-model [--sd15]\n"
    "  --batch B           images per step (default 1)\n"
    "  --size PX           square image size in pixels, multiple of 8 (default 512)\n"
    "  --width/--height    non-square size\n"
    "  --vectors N         learned vectors, 1..75 (default 1)\n"
    "  --precision P       fp16 (storage, fp32 accumulation; default) or fp32\n"
    "  --steps N           timed steps (default 20)\n"
    "  --warmup N          untimed steps first (default 3)\n"
    "  --profile-steps N   steps of the timestamped pass (default 5; 0: no phase times)\n"
    "  --profile           also GPU time per op label, % of the step\n"
    "  --plan-only         plan the memory, run nothing\n"
    "  --seed S            inputs and initial vectors (default 0)\n"
    "  --clip-skip N       default 1\n"
    "  --hypernetwork FILE time the hypernetwork step instead: the file's modules (train mode) on\n"
    "                      every attention's k/v input, UNet backward to them, AdamW (lr 1e-5,\n"
    "                      weight decay 0.01) on their parameters; text encoder forward only\n"
    "                      (make one: vktrain hypernetwork create NAME --sizes 768,320,640,1280)\n"
    "  --device D          device index or name substring\n"
    "  --json              one JSON document on stdout (same shape as tests/reference/bench_torch.py)\n\n"
    "example:\n  vktrain make-tiny-model sd15.safetensors --sd15 && vktrain bench step --model sd15.safetensors\n";

static bool parse_int(const char *v, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) return false;
    *out = (int)x;
    return true;
}

static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static void phase_key(const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s", name);
    for (char *p = out; *p; p++)
        if (*p == ' ') *p = '_';
}

static void print_step_json(const vkt_bench_step_opts *o, const vkt_bench_step_result *r, bool profile)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "bench", "step");
    cJSON_AddStringToObject(root, "impl", "vktrain");
    cJSON_AddStringToObject(root, "device", r->device);
    cJSON_AddStringToObject(root, "driver", r->driver);
    cJSON_AddStringToObject(root, "model", o->model);
    cJSON_AddStringToObject(root, "precision", o->dtype == VKT_F16 ? "fp16" : "fp32");
    cJSON_AddNumberToObject(root, "batch", o->batch);
    cJSON_AddNumberToObject(root, "width", o->width);
    cJSON_AddNumberToObject(root, "height", o->height);
    cJSON_AddNumberToObject(root, "vectors", o->hypernetwork ? 0 : o->vectors);
    cJSON_AddNumberToObject(root, "hypernetwork_params", (double)r->hypernetwork_params);
    cJSON_AddNumberToObject(root, "steps", r->plan_only ? 0 : r->steps);
    cJSON_AddNumberToObject(root, "warmup", r->plan_only ? 0 : o->warmup);
    cJSON_AddBoolToObject(root, "plan_only", r->plan_only);
    if (r->plan_only) {
        cJSON_AddNullToObject(root, "ms_per_step");
    } else {
        cJSON *ms = cJSON_AddObjectToObject(root, "ms_per_step");
        cJSON_AddNumberToObject(ms, "median", r->ms_median);
        cJSON_AddNumberToObject(ms, "min", r->ms_min);
        cJSON_AddNumberToObject(ms, "max", r->ms_max);
        cJSON_AddNumberToObject(ms, "mean", r->ms_mean);
    }
    if (r->has_phases) {
        cJSON_AddNumberToObject(root, "gpu_ms_per_step", r->gpu_ms);
        cJSON *ph = cJSON_AddObjectToObject(root, "phases_ms");
        for (int k = 0; k < VKT_BENCH_PHASES; k++) {
            char key[32];
            phase_key(vkt_bench_phase_names[k], key, sizeof key);
            cJSON_AddNumberToObject(ph, key, r->phase_ms[k]);
        }
    } else {
        cJSON_AddNullToObject(root, "gpu_ms_per_step");
        cJSON_AddNullToObject(root, "phases_ms");
    }
    cJSON *mem = cJSON_AddObjectToObject(root, "memory");
    if (r->plan_only) {
        cJSON_AddNullToObject(mem, "peak_bytes");
        cJSON_AddNullToObject(mem, "reserved_bytes");
    } else {
        cJSON_AddNumberToObject(mem, "peak_bytes", (double)r->mem_peak_bytes);
        cJSON_AddNumberToObject(mem, "reserved_bytes", (double)r->mem_reserved_bytes);
    }
    cJSON_AddNumberToObject(mem, "weights_bytes", (double)r->weight_bytes);
    cJSON_AddNumberToObject(mem, "plan_activation_bytes", (double)r->plan_peak_bytes);
    cJSON_AddNumberToObject(mem, "plan_naive_bytes", (double)r->plan_naive_bytes);
    cJSON_AddNumberToObject(mem, "other_bytes", (double)r->other_bytes);
    cJSON_AddNumberToObject(mem, "planned_total_bytes", (double)r->planned_total_bytes);
    if (r->plan_only) {
        cJSON_AddNullToObject(root, "loss");
    } else {
        cJSON *loss = cJSON_AddObjectToObject(root, "loss");
        cJSON_AddItemToObject(loss, "first", num_or_null(r->loss_first));
        cJSON_AddItemToObject(loss, "last", num_or_null(r->loss_last));
    }
    cJSON *md = cJSON_AddObjectToObject(root, "model_dims");
    cJSON_AddNumberToObject(md, "unet_channels", (double)r->unet_channels);
    cJSON_AddNumberToObject(md, "unet_levels", r->unet_levels);
    cJSON_AddNumberToObject(md, "context_dim", (double)r->context_dim);
    cJSON_AddNumberToObject(md, "clip_width", r->clip_width);
    cJSON_AddNumberToObject(md, "clip_layers", r->clip_layers);
    cJSON_AddNumberToObject(root, "commands", r->n_commands);
    if (profile && r->has_phases) {
        cJSON *arr = cJSON_AddArrayToObject(root, "profile");
        for (uint32_t i = 0; i < r->n_ops; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "op", r->ops[i].label);
            cJSON_AddNumberToObject(e, "ms", r->ops[i].ms);
            cJSON_AddNumberToObject(e, "count", r->ops[i].count);
            cJSON_AddNumberToObject(e, "percent", r->gpu_ms > 0 ? 100.0 * r->ops[i].ms / r->gpu_ms : 0);
            cJSON_AddItemToArray(arr, e);
        }
    }
    char *txt = cJSON_Print(root);
    puts(txt);
    free(txt);
    cJSON_Delete(root);
}

static double mib(uint64_t b) { return (double)b / 1048576.0; }

static void print_step_text(const vkt_bench_step_opts *o, const vkt_bench_step_result *r, bool profile)
{
    printf("bench step on %s (%s)\n", r->device, r->driver);
    printf("model %s: UNet %lld channels, %d levels, context %lld; text encoder %d wide, %d layers\n", o->model,
           (long long)r->unet_channels, r->unet_levels, (long long)r->context_dim, r->clip_width, r->clip_layers);
    if (o->hypernetwork)
        printf("step: %s, batch %d, %dx%d px (latent %dx%d), hypernetwork of %lld parameters, %u commands\n",
               o->dtype == VKT_F16 ? "fp16" : "fp32", o->batch, o->width, o->height, o->width / 8, o->height / 8,
               (long long)r->hypernetwork_params, r->n_commands);
    else
        printf("step: %s, batch %d, %dx%d px (latent %dx%d), %d vector%s, %u commands\n",
               o->dtype == VKT_F16 ? "fp16" : "fp32", o->batch, o->width, o->height, o->width / 8, o->height / 8,
               o->vectors, o->vectors == 1 ? "" : "s", r->n_commands);
    printf("planned memory: weights %.1f MiB + activations %.1f MiB (%.1f MiB without reuse) + other %.1f MiB"
           " = %.1f MiB\n",
           mib(r->weight_bytes), mib(r->plan_peak_bytes), mib(r->plan_naive_bytes), mib(r->other_bytes),
           mib(r->planned_total_bytes));
    if (r->plan_only) return;
    printf("ms/step: median %.2f (min %.2f, mean %.2f, max %.2f) over %d steps after %d warm-up\n", r->ms_median,
           r->ms_min, r->ms_mean, r->ms_max, r->steps, o->warmup);
    printf("device memory: peak %.1f MiB of live buffers, %.1f MiB reserved\n", mib(r->mem_peak_bytes),
           mib(r->mem_reserved_bytes));
    printf("loss: first %.6g, last %.6g\n", r->loss_first, r->loss_last);
    if (r->has_phases) {
        printf("GPU ms/step %.3f:", r->gpu_ms);
        for (int k = 0; k < VKT_BENCH_PHASES; k++) printf("  %s %.3f", vkt_bench_phase_names[k], r->phase_ms[k]);
        printf("\n");
    }
    if (profile && r->has_phases) {
        printf("%-24s %10s %6s %7s\n", "op", "ms/step", "count", "%");
        for (uint32_t i = 0; i < r->n_ops; i++)
            printf("%-24s %10.3f %6u %6.1f%%\n", r->ops[i].label, r->ops[i].ms, r->ops[i].count,
                   r->gpu_ms > 0 ? 100.0 * r->ops[i].ms / r->gpu_ms : 0);
    }
}

static int bench_step(int argc, char **argv)
{
    vkt_bench_step_opts o = vkt_bench_step_defaults();
    bool json = false, profile = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        bool missing;
        int x;
        if (vkt_cli_is_help(argv[i])) { fputs(STEP_HELP, stdout); return 0; }
        if (vkt_cli_flag(argv, i, "--json")) json = true;
        else if (vkt_cli_flag(argv, i, "--profile")) profile = true;
        else if (vkt_cli_flag(argv, i, "--plan-only")) o.plan_only = true;
        else if (vkt_cli_opt(argc, argv, &i, "--model", &v, &missing)) {
            if (missing) return vkt_cli_usage("bench step", "--model needs a value");
            o.model = v;
        } else if (vkt_cli_opt(argc, argv, &i, "--device", &v, &missing)) {
            if (missing) return vkt_cli_usage("bench step", "--device needs a value");
            o.device = v;
        } else if (vkt_cli_opt(argc, argv, &i, "--hypernetwork", &v, &missing)) {
            if (missing) return vkt_cli_usage("bench step", "--hypernetwork needs a file");
            o.hypernetwork = v;
        } else if (vkt_cli_opt(argc, argv, &i, "--precision", &v, &missing)) {
            if (missing || (strcmp(v, "fp16") && strcmp(v, "fp32")))
                return vkt_cli_usage("bench step", "--precision needs fp16 or fp32");
            o.dtype = strcmp(v, "fp16") == 0 ? VKT_F16 : VKT_F32;
        } else if (vkt_cli_opt(argc, argv, &i, "--seed", &v, &missing)) {
            char *end;
            errno = 0;
            unsigned long long s = missing ? 0 : strtoull(v, &end, 10);
            if (missing || errno || end == v || *end) return vkt_cli_usage("bench step", "--seed needs an integer");
            o.seed = s;
        } else {
            static const struct { const char *name; long lo, hi; } ints[] = {
                {"--batch", 1, 64},   {"--size", 8, 4096},  {"--width", 8, 4096},         {"--height", 8, 4096},
                {"--vectors", 1, 75}, {"--steps", 1, 10000}, {"--warmup", 0, 10000}, {"--profile-steps", 0, 64},
                {"--clip-skip", 1, 48}};
            size_t k = 0;
            for (; k < sizeof ints / sizeof ints[0]; k++)
                if (vkt_cli_opt(argc, argv, &i, ints[k].name, &v, &missing)) break;
            if (k == sizeof ints / sizeof ints[0]) return vkt_cli_usage("bench step", "unknown option \"%s\"", argv[i]);
            if (missing || !parse_int(v, ints[k].lo, ints[k].hi, &x))
                return vkt_cli_usage("bench step", "%s needs an integer in %ld..%ld", ints[k].name, ints[k].lo,
                                     ints[k].hi);
            const char *n = ints[k].name;
            if (!strcmp(n, "--batch")) o.batch = x;
            else if (!strcmp(n, "--size")) o.width = o.height = x;
            else if (!strcmp(n, "--width")) o.width = x;
            else if (!strcmp(n, "--height")) o.height = x;
            else if (!strcmp(n, "--vectors")) o.vectors = x;
            else if (!strcmp(n, "--steps")) o.steps = x;
            else if (!strcmp(n, "--warmup")) o.warmup = x;
            else if (!strcmp(n, "--profile-steps")) o.profile_steps = x;
            else o.clip_skip = x;
        }
    }
    if (!o.model) return vkt_cli_usage("bench step", "--model is required");
    if (o.width % 8 || o.height % 8) return vkt_cli_usage("bench step", "the size must be a multiple of 8");
    if (profile && o.profile_steps == 0) o.profile_steps = 5;
    vkt_err err = {0};
    vkt_bench_step_result r;
    vkt_status st = vkt_bench_step_run(&o, &r, &err);
    int rc = 0;
    if (st) rc = vkt_cli_fail(&err);
    else if (json) print_step_json(&o, &r, profile);
    else print_step_text(&o, &r, profile);
    vkt_bench_step_result_fini(&r);
    return rc;
}

int vkt_cmd_bench(int argc, char **argv)
{
    if (argc < 2 || vkt_cli_is_help(argv[1])) {
        fputs("usage: vktrain bench ops|step [options]   (see `vktrain bench ops --help`, `bench step --help`)\n\n"
              "Benchmarks: op throughput at SD1.5 shapes (ops); the textual-inversion training step (step).\n\n"
              "example:\n  vktrain bench ops --json\n  vktrain bench step --model sd15.safetensors --json\n",
              argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "ops") == 0) return bench_ops(argc - 1, argv + 1);
    if (strcmp(argv[1], "step") == 0) return bench_step(argc - 1, argv + 1);
    return vkt_cli_usage("bench", "unknown benchmark \"%s\"", argv[1]);
}
