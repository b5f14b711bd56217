/* C side of shaders/embed.comp: shape checks, the two-range table split, dispatch. */
#include "nn/ops/embed.h"

#include <stdio.h>

#define WG 128

struct embed_pc { /* mirrors `PC` in shaders/embed.comp */
    uint32_t n, D, P, V, J, split, has_src, accumulate;
};
_Static_assert(sizeof(struct embed_pc) <= 128, "push constants must fit 128 bytes");

/* The table (or its gradient) as one or two bindings: rows [0, split) and [split, V). When it
 * fits one binding, both are the whole table and split = V. The split row's byte offset is a
 * multiple of 256 (the binding offset alignment of src/vk/cmd.c). */
static vkt_status split_table(vkt_step *s, const vkt_tensor *t, uint64_t limit, bool write, uint32_t *split,
                              vkt_bind *lo, vkt_bind *hi, vkt_err *err)
{
    uint64_t dev_limit = s->info->max_storage_range;
    if (!limit || limit > dev_limit) limit = dev_limit;
    size_t row = (size_t)t->shape[1] * vkt_dtype_size(t->dtype), bytes = vkt_tensor_bytes(t);
    uint64_t V = (uint64_t)t->shape[0], rows = V;
    if (bytes > limit) {
        size_t g = row, m = 256; /* gcd(row, 256) */
        while (m) { size_t r = g % m; g = m; m = r; }
        uint64_t align = 256 / g;
        rows = (limit / row) / align * align;
        if (rows == 0 || (V - rows) * row > limit) {
            char sh[96];
            return vkt_fail(err, VKT_ERR_UNSUPPORTED,
                            "embed: table %s %s is %zu bytes; it needs more than two bindings of at most %llu bytes "
                            "(maxStorageBufferRange): store it in f16 or split the vocabulary",
                            vkt_shape_str(t, sh, sizeof sh), vkt_dtype_name(t->dtype), bytes,
                            (unsigned long long)limit);
        }
    }
    *split = (uint32_t)rows;
    size_t lo_bytes = rows < V ? (size_t)rows * row : bytes;
    *lo = (vkt_bind){t->buf, t->offset, lo_bytes, write};
    *hi = rows < V ? (vkt_bind){t->buf, t->offset + lo_bytes, bytes - lo_bytes, write} : *lo;
    return VKT_OK;
}

static vkt_status check_ids(const char *op, const vkt_tensor *ids, const vkt_tensor *src, vkt_err *err)
{
    if (ids && ids->dtype != VKT_I32) return vkt_fail(err, VKT_ERR_SHAPE, "%s: ids must be i32", op);
    if (src && src->dtype != VKT_I32) return vkt_fail(err, VKT_ERR_SHAPE, "%s: src must be i32", op);
    if (ids && src) return vkt_check_same_shape(op, "src", src, ids, err);
    return VKT_OK;
}

/* y (or dy) must be [<ids shape>, D]. */
static vkt_status check_rows(const char *op, const char *what, const vkt_tensor *pos, const vkt_tensor *y, int64_t D,
                             vkt_err *err)
{
    bool ok = y->ndim == pos->ndim + 1 && y->shape[y->ndim - 1] == D;
    for (int i = 0; ok && i < pos->ndim; i++) ok = y->shape[i] == pos->shape[i];
    if (ok) return VKT_OK;
    char sy[96], sp[96];
    return vkt_fail(err, VKT_ERR_SHAPE, "%s: %s shape %s, expected %s + [%lld]", op, what,
                    vkt_shape_str(y, sy, sizeof sy), vkt_shape_str(pos, sp, sizeof sp), (long long)D);
}

static vkt_status float_dtype_ok(vkt_step *s, const char *op, vkt_dtype dt, vkt_err *err)
{
    if ((dt != VKT_F32 && dt != VKT_F16) || !vkt_step_dtype_ok(s, dt))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: dtype %s not supported on this device", op, vkt_dtype_name(dt));
    return VKT_OK;
}

static vkt_status pipeline(vkt_step *s, const char *dir, vkt_dtype dt, const char *path, uint32_t n_bind,
                           vkt_pipeline **p, vkt_err *err)
{
    char v[64];
    snprintf(v, sizeof v, "embed_%s_%s%s", dir, vkt_dtype_name(dt), path);
    uint32_t spec[1] = {WG};
    return vkt_step_pipeline(s, v, n_bind, sizeof(struct embed_pc), spec, 1, p, err);
}

vkt_status vkt_op_embed_fwd_limit(vkt_step *s, const vkt_tensor *ids, const vkt_tensor *table, const vkt_tensor *src,
                                  const vkt_tensor *vectors, vkt_tensor *y, uint64_t max_binding_bytes,
                                  vkt_err *err)
{
    const char *op = "embed fwd";
    vkt_status st = check_ids(op, ids, src, err);
    if (st) return st;
    if (table->ndim != 2) return vkt_fail(err, VKT_ERR_SHAPE, "%s: table must be [V, D]", op);
    int64_t V = table->shape[0], D = table->shape[1];
    if ((st = float_dtype_ok(s, op, table->dtype, err))) return st;
    if (y->dtype != table->dtype) return vkt_fail(err, VKT_ERR_SHAPE, "%s: y must have the table's dtype", op);
    if ((st = check_rows(op, "y", ids, y, D, err))) return st;
    if (src && !vectors) return vkt_fail(err, VKT_ERR_USAGE, "%s: src without vectors", op);
    if (src && (vectors->dtype != VKT_F32 || vectors->ndim != 2 || vectors->shape[1] != D))
        return vkt_fail(err, VKT_ERR_SHAPE, "%s: vectors must be f32 [J, %lld]", op, (long long)D);
    if (vkt_tensor_numel(y) > UINT32_MAX || V * D > UINT32_MAX || V > INT32_MAX)
        return vkt_fail(err, VKT_ERR_SHAPE, "%s: tensor too large", op);
    vkt_bind lo, hi;
    struct embed_pc pc = {(uint32_t)vkt_tensor_numel(y), (uint32_t)D, (uint32_t)vkt_tensor_numel(ids), (uint32_t)V,
                          src ? (uint32_t)vectors->shape[0] : 0, 0, src != NULL, 0};
    if ((st = split_table(s, table, max_binding_bytes, false, &pc.split, &lo, &hi, err))) return st;
    vkt_pipeline *p;
    if ((st = pipeline(s, "fwd", table->dtype, "", 6, &p, err))) return st;
    vkt_bind b[6] = {vkt_tensor_bind_r(ids), vkt_tensor_bind_r(src ? src : ids), lo, hi,
                     vkt_tensor_bind_r(src ? vectors : ids), vkt_tensor_bind_w(y)};
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, vkt_groups(pc.n, WG), "embed_fwd", err);
}

vkt_status vkt_op_embed_fwd(vkt_step *s, const vkt_tensor *ids, const vkt_tensor *table, const vkt_tensor *src,
                            const vkt_tensor *vectors, vkt_tensor *y, vkt_err *err)
{
    return vkt_op_embed_fwd_limit(s, ids, table, src, vectors, y, 0, err);
}

vkt_status vkt_op_embed_bwd_vectors(vkt_step *s, const vkt_tensor *src, const vkt_tensor *dy,
                                    vkt_tensor *dvectors, vkt_grad_mode mode, vkt_err *err)
{
    const char *op = "embed bwd vectors";
    vkt_status st = check_ids(op, NULL, src, err);
    if (!st) st = float_dtype_ok(s, op, dy->dtype, err);
    if (st) return st;
    if (dvectors->dtype != VKT_F32 || dvectors->ndim != 2)
        return vkt_fail(err, VKT_ERR_SHAPE, "%s: dvectors must be f32 [J, D]", op);
    int64_t J = dvectors->shape[0], D = dvectors->shape[1];
    if ((st = check_rows(op, "dy", src, dy, D, err))) return st;
    if (J * D > UINT32_MAX || vkt_tensor_numel(dy) > UINT32_MAX)
        return vkt_fail(err, VKT_ERR_SHAPE, "%s: tensor too large", op);
    vkt_pipeline *p;
    if ((st = pipeline(s, "bwd", dy->dtype, "_vectors", 3, &p, err))) return st;
    struct embed_pc pc = {(uint32_t)(J * D), (uint32_t)D, (uint32_t)vkt_tensor_numel(src), 0, (uint32_t)J, 0, 1,
                          mode == VKT_GRAD_ACCUMULATE};
    vkt_bind b[3] = {vkt_tensor_bind_r(src), vkt_tensor_bind_r(dy), vkt_tensor_bind_w(dvectors)};
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, vkt_groups(pc.n, WG), "embed_bwd_vectors", err);
}

vkt_status vkt_op_embed_bwd_table_limit(vkt_step *s, const vkt_tensor *ids, const vkt_tensor *src,
                                        const vkt_tensor *dy, vkt_tensor *dtable, vkt_grad_mode mode,
                                        uint64_t max_binding_bytes, vkt_err *err)
{
    const char *op = "embed bwd table";
    vkt_status st = check_ids(op, ids, src, err);
    if (!st) st = float_dtype_ok(s, op, dy->dtype, err);
    if (st) return st;
    if (dtable->dtype != VKT_F32 || dtable->ndim != 2)
        return vkt_fail(err, VKT_ERR_SHAPE, "%s: dtable must be f32 [V, D]", op);
    int64_t V = dtable->shape[0], D = dtable->shape[1];
    if ((st = check_rows(op, "dy", ids, dy, D, err))) return st;
    if (vkt_tensor_numel(dy) > UINT32_MAX || V * D > UINT32_MAX || V > INT32_MAX)
        return vkt_fail(err, VKT_ERR_SHAPE, "%s: tensor too large", op);
    vkt_bind lo, hi;
    struct embed_pc pc = {(uint32_t)vkt_tensor_numel(dy), (uint32_t)D, (uint32_t)vkt_tensor_numel(ids), (uint32_t)V,
                          0, 0, src != NULL, 1};
    if ((st = split_table(s, dtable, max_binding_bytes, true, &pc.split, &lo, &hi, err))) return st;
    vkt_pipeline *p;
    if ((st = pipeline(s, "bwd", dy->dtype, "_table", 5, &p, err))) return st;
    if (mode == VKT_GRAD_OVERWRITE) {
        if ((st = vkt_cmd_zero(s->cmd, lo.buf, lo.offset, (lo.bytes + 3) & ~(size_t)3, err))) return st;
        if (pc.split < V && (st = vkt_cmd_zero(s->cmd, hi.buf, hi.offset, (hi.bytes + 3) & ~(size_t)3, err)))
            return st;
    }
    vkt_bind b[5] = {vkt_tensor_bind_r(ids), vkt_tensor_bind_r(src ? src : ids), vkt_tensor_bind_r(dy), lo, hi};
    return vkt_cmd_dispatch_1d(s->cmd, p, b, &pc, vkt_groups(pc.n, WG), "embed_bwd_table", err);
}

vkt_status vkt_op_embed_bwd_table(vkt_step *s, const vkt_tensor *ids, const vkt_tensor *src, const vkt_tensor *dy,
                                  vkt_tensor *dtable, vkt_grad_mode mode, vkt_err *err)
{
    return vkt_op_embed_bwd_table_limit(s, ids, src, dy, dtable, mode, 0, err);
}
