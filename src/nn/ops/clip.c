/* C side of shaders/clip.comp: state layout, per-tensor partial sums, final norm, apply. */
#include "nn/ops/clip.h"

#define WG 256                 /* power of two: the shared-memory tree needs it */
#define CHUNK (WG * 16)        /* elements per partial sum */
#define REGION_ALIGN 64        /* slots: each tensor's partial region starts 256-byte aligned */

struct clip_pc { /* mirrors `PC` in shaders/clip.comp */
    uint32_t n, n_groups, chunk, region, header;
    float v;
};
_Static_assert(sizeof(struct clip_pc) <= 128, "push constants must fit 128 bytes");

static uint64_t region_of(const vkt_tensor *t)
{
    uint64_t groups = vkt_groups((uint64_t)vkt_tensor_numel(t), CHUNK);
    return (groups + REGION_ALIGN - 1) / REGION_ALIGN * REGION_ALIGN;
}

int64_t vkt_clip_norm_state_len(const vkt_tensor *const *g, int n)
{
    uint64_t len = VKT_CLIP_HEADER;
    for (int i = 0; i < n; i++) len += region_of(g[i]);
    return (int64_t)len;
}

static vkt_status check_grad(const vkt_tensor *g, const char *op, vkt_err *err)
{
    if (g->dtype != VKT_F32) return vkt_fail(err, VKT_ERR_SHAPE, "%s: gradients must be f32", op);
    if (vkt_tensor_numel(g) > UINT32_MAX) return vkt_fail(err, VKT_ERR_SHAPE, "%s: tensor too large", op);
    return VKT_OK;
}

static vkt_status pipeline(vkt_step *s, const char *what, uint32_t n_bind, vkt_pipeline **p, vkt_err *err)
{
    char v[64];
    uint32_t spec[1] = {WG};
    return vkt_step_pipeline(s, vkt_variant_name(v, sizeof v, "clip", what, VKT_F32), n_bind,
                             sizeof(struct clip_pc), spec, 1, p, err);
}

vkt_status vkt_op_clip_value(vkt_step *s, vkt_tensor *g, float v, vkt_err *err)
{
    vkt_status st = check_grad(g, "clip value", err);
    if (!st && !(v >= 0.0f)) st = vkt_fail(err, VKT_ERR_USAGE, "clip value: %g is not >= 0", (double)v);
    vkt_pipeline *p;
    if (!st) st = pipeline(s, "value", 1, &p, err);
    if (st) return st;
    struct clip_pc pc = {(uint32_t)vkt_tensor_numel(g), 0, 0, 0, 0, v};
    vkt_bind b[1] = {vkt_tensor_bind_w(g)};
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, vkt_groups(pc.n, WG), "clip_value", err);
}

vkt_status vkt_op_clip_norm(vkt_step *s, vkt_tensor *const *g, int n, float max_norm, bool apply, vkt_tensor *state,
                            vkt_err *err)
{
    const char *op = "clip norm";
    vkt_status st = VKT_OK;
    for (int i = 0; i < n && !st; i++) st = check_grad(g[i], op, err);
    if (st) return st;
    int64_t len = vkt_clip_norm_state_len((const vkt_tensor *const *)g, n);
    if (state->dtype != VKT_F32 || vkt_tensor_numel(state) < len)
        return vkt_fail(err, VKT_ERR_SHAPE, "%s: state must be f32 with >= %lld elements", op, (long long)len);
    if (len > UINT32_MAX) return vkt_fail(err, VKT_ERR_SHAPE, "%s: too many gradients", op);
    vkt_pipeline *pp, *pf, *pa = NULL;
    if ((st = pipeline(s, "partial", 2, &pp, err)) || (st = pipeline(s, "final", 1, &pf, err)) ||
        (apply && (st = pipeline(s, "apply", 2, &pa, err))))
        return st;
    /* Pass 1: per tensor, one workgroup per chunk into its own 256-byte-aligned region (the
     * regions are disjoint, so these dispatches need no barriers between them). */
    size_t at = VKT_CLIP_HEADER;
    for (int i = 0; i < n; i++) {
        uint64_t numel = (uint64_t)vkt_tensor_numel(g[i]), region = region_of(g[i]);
        struct clip_pc pc = {(uint32_t)numel, (uint32_t)vkt_groups(numel, CHUNK), CHUNK, (uint32_t)region, 0, 0};
        vkt_bind b[2] = {vkt_tensor_bind_r(g[i]), VKT_BIND_W(state->buf, state->offset + at * 4, region * 4)};
        if (numel == 0) { /* nothing to dispatch over, but the region must read as zeros */
            if ((st = vkt_cmd_zero(s->cmd, state->buf, state->offset + at * 4, region * 4, err))) return st;
        } else if ((st = vkt_cmd_dispatch_1d(s->cmd, pp, b, &pc, pc.n_groups, "clip_partial", err))) {
            return st;
        }
        at += region;
    }
    /* Pass 2: the norm and the scale. */
    struct clip_pc pc = {(uint32_t)(len - VKT_CLIP_HEADER), 0, 0, 0, VKT_CLIP_HEADER, max_norm};
    vkt_bind bs[1] = {VKT_BIND_W(state->buf, state->offset, (size_t)len * 4)};
    if ((st = vkt_cmd_dispatch_1d(s->cmd, pf, bs, &pc, 1, "clip_final", err))) return st;
    /* Pass 3: g *= scale. */
    for (int i = 0; apply && i < n; i++) {
        struct clip_pc pa_pc = {(uint32_t)vkt_tensor_numel(g[i]), 0, 0, 0, 0, 0};
        vkt_bind b[2] = {VKT_BIND_R(state->buf, state->offset, VKT_CLIP_HEADER * 4), vkt_tensor_bind_w(g[i])};
        if ((st = vkt_cmd_dispatch_1d(s->cmd, pa, b, &pa_pc, vkt_groups(pa_pc.n, WG), "clip_apply", err))) return st;
    }
    return VKT_OK;
}
