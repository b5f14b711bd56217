/* C side of shaders/rng.comp. */
#include "nn/ops/rng.h"

#include "nn/philox.h"

#define WG 128

struct rng_pc { /* mirrors `PC` in shaders/rng.comp */
    uint32_t n, seed_lo, seed_hi, off_lo, off_hi, blk_lo, blk_hi;
    uint32_t mode, thr, accumulate;
    float a, b;
};
_Static_assert(sizeof(struct rng_pc) <= 128, "push constants must fit 128 bytes");

static struct rng_pc make_pc(uint64_t n, uint64_t seed, uint64_t offset, uint64_t first_block)
{
    return (struct rng_pc){(uint32_t)n, (uint32_t)seed, (uint32_t)(seed >> 32), (uint32_t)offset,
                           (uint32_t)(offset >> 32), (uint32_t)first_block, (uint32_t)(first_block >> 32)};
}

static vkt_status fill(vkt_step *s, uint32_t mode, uint64_t seed, uint64_t offset, uint64_t first_block, float a,
                       float b, vkt_tensor *y, vkt_err *err)
{
    vkt_dtype want = mode == 0 ? VKT_I32 : VKT_F32;
    if (y->dtype != want) return vkt_fail(err, VKT_ERR_SHAPE, "rng: y must be %s", vkt_dtype_name(want));
    uint64_t n = (uint64_t)vkt_tensor_numel(y);
    if (n > UINT32_MAX - 3) return vkt_fail(err, VKT_ERR_SHAPE, "rng: y too large");
    vkt_pipeline *p;
    uint32_t spec[1] = {WG};
    vkt_status st = vkt_step_pipeline(s, "rng_fill_f32", 1, sizeof(struct rng_pc), spec, 1, &p, err);
    if (st) return st;
    struct rng_pc pc = make_pc(n, seed, offset, first_block);
    pc.mode = mode;
    pc.a = a;
    pc.b = b;
    vkt_bind bd[1] = {vkt_tensor_bind_w(y)};
    return vkt_cmd_dispatch_1d(s->cmd, p, bd, &pc, vkt_groups(vkt_groups(n, 4), WG), "rng_fill", err);
}

vkt_status vkt_op_rng_bits(vkt_step *s, uint64_t seed, uint64_t offset, uint64_t first_block, vkt_tensor *y,
                           vkt_err *err)
{
    return fill(s, 0, seed, offset, first_block, 0, 0, y, err);
}

vkt_status vkt_op_rng_uniform(vkt_step *s, uint64_t seed, uint64_t offset, float lo, float hi, vkt_tensor *y,
                              vkt_err *err)
{
    return fill(s, 1, seed, offset, 0, lo, hi, y, err);
}

vkt_status vkt_op_rng_normal(vkt_step *s, uint64_t seed, uint64_t offset, float mean, float std, vkt_tensor *y,
                             vkt_err *err)
{
    return fill(s, 2, seed, offset, 0, mean, std, y, err);
}

static vkt_status dropout(vkt_step *s, uint64_t seed, uint64_t offset, float p, const vkt_tensor *x, vkt_tensor *y,
                          bool accumulate, const char *label, vkt_err *err)
{
    vkt_status st = vkt_check_same_shape(label, "output", y, x, err);
    const vkt_tensor *ts[] = {x, y};
    if (!st) st = vkt_check_dtype(label, VKT_F32, ts, 2, err);
    if (st) return st;
    if (!(p >= 0.0f && p <= 1.0f)) return vkt_fail(err, VKT_ERR_USAGE, "%s: p = %g outside [0, 1]", label, (double)p);
    uint64_t n = (uint64_t)vkt_tensor_numel(x);
    if (n > UINT32_MAX - 3) return vkt_fail(err, VKT_ERR_SHAPE, "%s: tensor too large", label);
    vkt_pipeline *pl;
    uint32_t spec[1] = {WG};
    if ((st = vkt_step_pipeline(s, "rng_dropout_f32", 2, sizeof(struct rng_pc), spec, 1, &pl, err))) return st;
    struct rng_pc pc = make_pc(n, seed, offset, 0);
    pc.thr = vkt_philox_keep_threshold(p);
    pc.accumulate = accumulate;
    pc.a = p < 1.0f ? (float)(1.0 / (1.0 - (double)p)) : 0.0f; /* torch: 1 / (1 - p) */
    vkt_bind bd[2] = {vkt_tensor_bind_r(x), vkt_tensor_bind_w(y)};
    return vkt_cmd_dispatch_1d(s->cmd, pl, bd, &pc, vkt_groups(vkt_groups(n, 4), WG), label, err);
}

vkt_status vkt_op_dropout_fwd(vkt_step *s, uint64_t seed, uint64_t offset, float p, const vkt_tensor *x,
                              vkt_tensor *y, vkt_err *err)
{
    return dropout(s, seed, offset, p, x, y, false, "dropout_fwd", err);
}

vkt_status vkt_op_dropout_bwd(vkt_step *s, uint64_t seed, uint64_t offset, float p, const vkt_tensor *dy,
                              vkt_tensor *dx, vkt_grad_mode mode, vkt_err *err)
{
    return dropout(s, seed, offset, p, dy, dx, mode == VKT_GRAD_ACCUMULATE, "dropout_bwd", err);
}
