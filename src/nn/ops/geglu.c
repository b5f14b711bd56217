/* C side of shaders/geglu.comp. */
#include "nn/ops/geglu.h"

#define WG 128

struct geglu_pc { /* mirrors `PC` in shaders/geglu.comp */
    uint32_t n, F, accumulate;
};
_Static_assert(sizeof(struct geglu_pc) <= 128, "push constants must fit 128 bytes");

/* y (or dy) must be p's shape with the last dim halved. */
static vkt_status check(vkt_step *s, const vkt_tensor *p, const vkt_tensor *y, const char *what, vkt_err *err)
{
    int64_t P = p->shape[p->ndim - 1];
    bool ok = p->ndim == y->ndim && P % 2 == 0 && y->shape[y->ndim - 1] * 2 == P;
    for (int i = 0; ok && i + 1 < p->ndim; i++) ok = p->shape[i] == y->shape[i];
    if (!ok) {
        char sp[96], sy[96];
        return vkt_fail(err, VKT_ERR_SHAPE, "geglu: p %s and %s %s: need p [..., 2F], %s [..., F]",
                        vkt_shape_str(p, sp, sizeof sp), what, vkt_shape_str(y, sy, sizeof sy), what);
    }
    if ((p->dtype != VKT_F32 && p->dtype != VKT_F16) || !vkt_step_dtype_ok(s, p->dtype))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "geglu: dtype %s not supported on this device",
                        vkt_dtype_name(p->dtype));
    if (vkt_tensor_numel(p) > UINT32_MAX) return vkt_fail(err, VKT_ERR_SHAPE, "geglu: p too large");
    return VKT_OK;
}

static vkt_status pipeline(vkt_step *s, const char *dir, vkt_dtype dt, uint32_t n_bind, vkt_pipeline **p,
                           vkt_err *err)
{
    char v[64];
    uint32_t spec[1] = {WG};
    return vkt_step_pipeline(s, vkt_variant_name(v, sizeof v, "geglu", dir, dt), n_bind, sizeof(struct geglu_pc),
                             spec, 1, p, err);
}

vkt_status vkt_op_geglu_fwd(vkt_step *s, const vkt_tensor *p, vkt_tensor *y, vkt_err *err)
{
    const vkt_tensor *ts[] = {p, y};
    vkt_status st = check(s, p, y, "y", err);
    if (!st) st = vkt_check_dtype("geglu", p->dtype, ts, 2, err);
    vkt_pipeline *pl;
    if (!st) st = pipeline(s, "fwd", p->dtype, 2, &pl, err);
    if (st) return st;
    struct geglu_pc pc = {(uint32_t)vkt_tensor_numel(y), (uint32_t)y->shape[y->ndim - 1], 0};
    vkt_bind b[2] = {vkt_tensor_bind_r(p), vkt_tensor_bind_w(y)};
    return vkt_cmd_dispatch_1d(s->cmd, pl, b, &pc, vkt_groups(pc.n, WG), "geglu_fwd", err);
}

vkt_status vkt_op_geglu_bwd(vkt_step *s, const vkt_tensor *p, const vkt_tensor *dy, vkt_tensor *dp,
                            vkt_grad_mode mode, vkt_err *err)
{
    const vkt_tensor *ts[] = {p, dy, dp};
    vkt_status st = check(s, p, dy, "dy", err);
    if (!st) st = vkt_check_same_shape("geglu", "dp", dp, p, err);
    if (!st) st = vkt_check_dtype("geglu", p->dtype, ts, 3, err);
    vkt_pipeline *pl;
    if (!st) st = pipeline(s, "bwd", p->dtype, 3, &pl, err);
    if (st) return st;
    struct geglu_pc pc = {(uint32_t)vkt_tensor_numel(dy), (uint32_t)dy->shape[dy->ndim - 1],
                          mode == VKT_GRAD_ACCUMULATE};
    vkt_bind b[3] = {vkt_tensor_bind_r(p), vkt_tensor_bind_r(dy), vkt_tensor_bind_w(dp)};
    return vkt_cmd_dispatch_1d(s->cmd, pl, b, &pc, vkt_groups(pc.n, WG), "geglu_bwd", err);
}
