/* C side of shaders/timestep.comp, and the host frequency table. */
#include "nn/ops/timestep.h"

#include <math.h>

#define WG 128

struct timestep_pc { /* mirrors `PC` in shaders/timestep.comp */
    uint32_t n, C, nhalf, cos_first, has_freq;
    float neg_log_period;
};
_Static_assert(sizeof(struct timestep_pc) <= 128, "push constants must fit 128 bytes");

/* openaimodel.timestep_embedding(): torch.exp(-math.log(max_period) * torch.arange(half,
 * dtype=float32) / half); the Python double is converted to float32 for the multiply. */
void vkt_timestep_freqs(int64_t half, double max_period, float *out)
{
    float nl = (float)-log(max_period);
    for (int64_t j = 0; j < half; j++) {
        float e = (nl * (float)j) / (float)half;
        out[j] = (float)exp((double)e);
    }
}

vkt_status vkt_op_timestep_fwd(vkt_step *s, const vkt_tensor *t, const vkt_tensor *freqs, float max_period,
                               bool cos_first, vkt_tensor *y, vkt_err *err)
{
    if ((t->dtype != VKT_I32 && t->dtype != VKT_F32) || t->ndim != 1)
        return vkt_fail(err, VKT_ERR_SHAPE, "timestep: t must be i32 or f32 [B]");
    if (y->dtype != VKT_F32 || y->ndim != 2 || y->shape[0] != t->shape[0])
        return vkt_fail(err, VKT_ERR_SHAPE, "timestep: y must be f32 [%lld, C]", (long long)t->shape[0]);
    int64_t half = y->shape[1] / 2;
    if (freqs && (freqs->dtype != VKT_F32 || freqs->ndim != 1 || freqs->shape[0] != half))
        return vkt_fail(err, VKT_ERR_SHAPE, "timestep: freqs must be f32 [%lld]", (long long)half);
    if (!freqs && !(max_period > 1.0f)) return vkt_fail(err, VKT_ERR_USAGE, "timestep: max_period must be > 1");
    if (vkt_tensor_numel(y) > UINT32_MAX) return vkt_fail(err, VKT_ERR_SHAPE, "timestep: y too large");
    if (vkt_tensor_numel(y) == 0) return VKT_OK;
    if (half == 0) return vkt_fail(err, VKT_ERR_SHAPE, "timestep: C must be >= 2");
    vkt_pipeline *p;
    uint32_t spec[1] = {WG};
    vkt_status st = vkt_step_pipeline(s, t->dtype == VKT_F32 ? "timestep_fwd_f32_tfloat" : "timestep_fwd_f32", 3, sizeof(struct timestep_pc), spec, 1, &p, err);
    if (st) return st;
    struct timestep_pc pc = {(uint32_t)vkt_tensor_numel(y), (uint32_t)y->shape[1], (uint32_t)half, cos_first,
                             freqs != NULL, (float)-log((double)max_period)};
    vkt_bind b[3] = {vkt_tensor_bind_r(t), vkt_tensor_bind_r(freqs ? freqs : t), vkt_tensor_bind_w(y)};
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, vkt_groups(pc.n, WG), "timestep_fwd", err);
}
