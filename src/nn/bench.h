/* `vktrain bench ops`: throughput of the ops at SD1.5 shapes. Each case records one op many
 * times into a single command buffer and reads the GPU timestamps, so host overhead is
 * excluded. Cases live in src/nn/bench.c, one function per op family. */
#ifndef VKT_NN_BENCH_H
#define VKT_NN_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "nn/step.h"

typedef struct vkt_bench_result {
    char op[32], variant[64], shape[96];
    double ms;       /* median GPU milliseconds per call */
    double gflops;   /* 0 when the op is memory-bound */
    double gbps;     /* bytes moved / time (minimum traffic: inputs read once, outputs written once) */
} vkt_bench_result;

typedef struct vkt_bench_list {
    vkt_bench_result *v;
    uint32_t n, cap;
} vkt_bench_list;

typedef struct vkt_bench_opts {
    const char *only; /* family name or NULL */
    int reps;         /* calls per measurement */
    bool small;       /* smaller shapes (CPU devices) */
    bool fp16;        /* also f16-storage variants where the device has them */
} vkt_bench_opts;

/* Runs every case; results appended to out. Fails when the device lacks timestamps. */
vkt_status vkt_bench_ops(vkt_step *s, const vkt_bench_opts *o, vkt_bench_list *out, vkt_err *err);
void vkt_bench_list_fini(vkt_bench_list *l);

#endif
