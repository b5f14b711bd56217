/* Op benchmarks. Timing: one submission records `reps` calls; the per-call GPU time is the
 * median of the per-dispatch timestamp deltas. */
#include "nn/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "nn/ops/act.h"

typedef vkt_status (*record_fn)(vkt_step *s, void *user, vkt_err *err);

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Records `reps` calls of fn, submits, returns the median ms of the calls' dispatches. */
static vkt_status measure(vkt_step *s, int reps, record_fn fn, void *user, double *ms_out, vkt_err *err)
{
    vkt_cmd_set_profiling(s->cmd, true);
    vkt_status st = vkt_step_begin(s, err);
    for (int r = 0; r < reps && !st; r++) st = fn(s, user, err);
    if (!st) st = vkt_step_run(s, err);
    vkt_cmd_set_profiling(s->cmd, false);
    if (st) return st;
    const char *const *labels;
    const double *ms;
    uint32_t n;
    if (!vkt_cmd_timings(s->cmd, &labels, &ms, &n) || n == 0)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "bench: this device has no compute timestamps");
    /* Calls may record several dispatches: sum per call, then take the median over calls. */
    uint32_t per = n / (uint32_t)reps;
    double *calls = vkt_malloc((size_t)reps * sizeof *calls);
    if (!calls) return vkt_fail(err, VKT_ERR_NOMEM, "bench");
    for (int r = 0; r < reps; r++) {
        calls[r] = 0;
        for (uint32_t k = 0; k < per; k++) calls[r] += ms[(uint32_t)r * per + k];
    }
    qsort(calls, (size_t)reps, sizeof *calls, cmp_double);
    *ms_out = calls[reps / 2];
    free(calls);
    return VKT_OK;
}

static vkt_bench_result *push(vkt_bench_list *l)
{
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 32;
        vkt_bench_result *nv = vkt_realloc(l->v, cap * sizeof *nv);
        if (!nv) return NULL;
        l->v = nv;
        l->cap = cap;
    }
    memset(&l->v[l->n], 0, sizeof l->v[0]);
    return &l->v[l->n++];
}

void vkt_bench_list_fini(vkt_bench_list *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* --- act: memory-bound reference point (SiLU over a UNet feature map) --- */
typedef struct act_user { vkt_tensor x, y; } act_user;

static vkt_status act_rec(vkt_step *s, void *u, vkt_err *err)
{
    act_user *a = u;
    return vkt_op_act_fwd(s, VKT_ACT_SILU, 0, &a->x, &a->y, err);
}

static vkt_status bench_act(vkt_step *s, const vkt_bench_opts *o, vkt_dtype dt, vkt_bench_list *out, vkt_err *err)
{
    int64_t shape[4] = {1, 320, o->small ? 32 : 64, o->small ? 32 : 64};
    act_user u = {0};
    vkt_status st = vkt_tensor_alloc(s->dev, dt, 4, shape, "bench x", &u.x, err);
    if (!st) st = vkt_tensor_alloc(s->dev, dt, 4, shape, "bench y", &u.y, err);
    if (!st) st = vkt_tensor_zero(s->dev, &u.x, err);
    double ms = 0;
    if (!st) st = measure(s, o->reps, act_rec, &u, &ms, err);
    if (!st) {
        vkt_bench_result *r = push(out);
        if (r) {
            snprintf(r->op, sizeof r->op, "act");
            vkt_variant_name(r->variant, sizeof r->variant, "act", "fwd", dt);
            vkt_shape_str(&u.x, r->shape, sizeof r->shape);
            r->ms = ms;
            r->gbps = ms > 0 ? 2.0 * (double)vkt_tensor_bytes(&u.x) / (ms * 1e6) : 0;
        }
    }
    vkt_tensor_free(s->dev, &u.x);
    vkt_tensor_free(s->dev, &u.y);
    return st;
}

vkt_status vkt_bench_ops(vkt_step *s, const vkt_bench_opts *o, vkt_bench_list *out, vkt_err *err)
{
    vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    for (int d = 0; d < (o->fp16 ? 2 : 1); d++) {
        if (!vkt_step_dtype_ok(s, dts[d])) continue;
        if (!o->only || strcmp(o->only, "act") == 0) {
            vkt_status st = bench_act(s, o, dts[d], out, err);
            if (st) return st;
        }
    }
    return VKT_OK;
}
