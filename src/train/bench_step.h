/* `vktrain bench step`: one textual-inversion training step (train/ti_step: text encoder forward
 * and backward, UNet forward and backward to the context, ε-MSE loss) recorded once into a
 * planned step and resubmitted with new host inputs each iteration, then the AdamW update of the
 * learned vectors as a small recording of its own. Measures wall-clock ms/step, GPU time per
 * phase (timestamps) and device memory. A benchmark, never a test: nothing here asserts a time.
 *
 *   vkt_bench_step_opts o = vkt_bench_step_defaults();
 *   o.model = "sd15.safetensors"; o.size = 512;
 *   vkt_bench_step_result r;
 *   vkt_bench_step_run(&o, &r, &err);     // r.ms_median, r.phase_ms[], r.mem_peak_bytes ...
 *   vkt_bench_step_result_fini(&r);
 */
#ifndef VKT_TRAIN_BENCH_STEP_H
#define VKT_TRAIN_BENCH_STEP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "nn/tensor.h"

/* Phases in step order; "inputs" copies the host inputs from staging, "optimizer" is AdamW. */
#define VKT_BENCH_PHASES 7
extern const char *const vkt_bench_phase_names[VKT_BENCH_PHASES];

typedef struct vkt_bench_step_opts {
    const char *model;  /* SD1 safetensors (UNet + text encoder) */
    const char *device; /* NULL: default */
    int batch;          /* default 1 */
    int width, height;  /* pixels, multiples of 8 (latent = /8); default 512 */
    int vectors;        /* learned vectors, 1..75; default 1 */
    vkt_dtype dtype;    /* VKT_F16 (default) or VKT_F32 */
    int steps, warmup;  /* timed steps (default 20) after warm-up steps (default 3) */
    int profile_steps;  /* steps of the timestamped pass (default 5; 0: no phase times) */
    int clip_skip;      /* default 1 */
    uint64_t seed;      /* inputs and initial vectors */
    bool plan_only;     /* plan the step's memory, run nothing (weights not even read) */
    const char *hypernetwork; /* a webui hypernetwork .pt: time the hypernetwork step instead
                                 (modules in train mode on every attention's k/v input, UNet
                                 backward to them, AdamW wd 0.01 on their parameters; no learned
                                 vectors, text encoder forward only) */
} vkt_bench_step_opts;

vkt_bench_step_opts vkt_bench_step_defaults(void);

/* GPU time of one command label (op) per step, from the timestamped pass. */
typedef struct vkt_bench_op_time {
    const char *label; /* static string of the op */
    double ms;         /* median over the profiled steps of the per-step sum */
    uint32_t count;    /* commands with this label per step */
} vkt_bench_op_time;

typedef struct vkt_bench_step_result {
    char device[256], driver[256];
    bool plan_only;
    /* model */
    int64_t unet_channels, context_dim;
    int unet_levels, clip_width, clip_layers;
    /* the recorded step */
    uint32_t n_commands;                        /* dispatches, copies and fills of the ti step */
    uint64_t weight_bytes;                      /* UNet + text encoder, device bytes */
    uint64_t plan_peak_bytes, plan_naive_bytes; /* the step's activation arena, and without reuse */
    uint64_t other_bytes;                       /* inputs, staging, vectors, optimizer state */
    uint64_t planned_total_bytes;               /* weights + arena + other */
    int64_t hypernetwork_params;                /* parameters trained (0: the TI step) */
    /* measured (not plan_only) */
    int steps;
    double ms_median, ms_min, ms_max, ms_mean; /* wall clock per step: inputs, step, AdamW, loss */
    bool has_phases;
    double phase_ms[VKT_BENCH_PHASES];           /* GPU ms per step (median over profiled steps) */
    double gpu_ms;                               /* median GPU ms per step (step + optimizer) */
    uint64_t mem_peak_bytes, mem_reserved_bytes; /* device: live buffers at peak; blocks held */
    double loss_first, loss_last;
    vkt_bench_op_time *ops; /* owned: per-label GPU time, largest first */
    uint32_t n_ops;
} vkt_bench_step_result;

/* Loads the model (shapes only with plan_only), records and runs the benchmark. *r is written
 * also on failure (zeroed, or partly filled); release it with vkt_bench_step_result_fini. Fails
 * on bad options, a model that is not SD1, device errors (out of memory names what and how
 * much). A non-finite loss is reported, not an error. */
vkt_status vkt_bench_step_run(const vkt_bench_step_opts *o, vkt_bench_step_result *r, vkt_err *err);
void vkt_bench_step_result_fini(vkt_bench_step_result *r);

#endif
