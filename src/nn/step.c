/* Step recording context: owns the command buffer, centralises variant choice. */
#include "nn/step.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/checked.h"
#include "base/fault.h"

#define SLOT_ALIGN 256

struct vkt_step_slot {
    vkt_buffer vb;     /* the virtual buffer step tensors point at */
    int64_t first, last; /* record indices of first and last use; -1 unused */
    bool keep;
    size_t offset;     /* assigned in the arena */
};

static void free_slots(vkt_step *s)
{
    for (uint32_t i = 0; i < s->n_slots; i++) free(s->slots[i]);
    s->n_slots = 0;
}

vkt_status vkt_step_create(vkt_device *dev, vkt_step **out, vkt_err *err)
{
    vkt_step *s = vkt_calloc(1, sizeof *s);
    if (!s) return vkt_fail(err, VKT_ERR_NOMEM, "step");
    s->dev = dev;
    s->info = vkt_device_get_info(dev);
    vkt_status st = vkt_cmd_create(dev, &s->cmd, err);
    if (st) {
        free(s);
        return st;
    }
    /* Subgroup arithmetic variants need basic+arithmetic ops in compute shaders. */
    uint32_t need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
    s->subgroup_ok = (s->info->subgroup_ops & need) == need && vkt_feature_allowed("SUBGROUP");
    *out = s;
    return VKT_OK;
}

void vkt_step_destroy(vkt_step *s)
{
    if (!s) return;
    vkt_cmd_destroy(s->cmd);
    free_slots(s);
    free(s->slots);
    vkt_buffer_destroy(s->dev, s->arena);
    free(s);
}

vkt_status vkt_step_begin(vkt_step *s, vkt_err *err)
{
    s->planned = false;
    return vkt_cmd_begin(s->cmd, err);
}

vkt_status vkt_step_begin_planned(vkt_step *s, vkt_err *err)
{
    free_slots(s);
    s->planned = true;
    s->peak_bytes = s->naive_bytes = 0;
    return vkt_cmd_begin_deferred(s->cmd, err);
}

vkt_status vkt_step_tensor(vkt_step *s, vkt_dtype dt, int ndim, const int64_t *shape, const char *what,
                           vkt_tensor *out, vkt_err *err)
{
    if (!s->planned) return vkt_fail(err, VKT_ERR_INTERNAL, "%s: step tensor outside a planned step", what);
    if (ndim < 1 || ndim > VKT_MAX_DIMS) return vkt_fail(err, VKT_ERR_INTERNAL, "%s: %d dims", what, ndim);
    size_t bytes = vkt_dtype_size(dt);
    vkt_tensor t = {.dtype = dt, .ndim = ndim};
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || !vkt_mul_ok(bytes, (size_t)shape[i], &bytes))
            return vkt_fail(err, VKT_ERR_SHAPE, "%s: bad shape", what);
        t.shape[i] = shape[i];
    }
    if (s->n_slots == s->cap_slots) {
        uint32_t cap = s->cap_slots ? s->cap_slots * 2 : 64;
        vkt_step_slot **ns = vkt_realloc(s->slots, cap * sizeof *ns);
        if (!ns) return vkt_fail(err, VKT_ERR_NOMEM, "step tensors");
        s->slots = ns;
        s->cap_slots = cap;
    }
    vkt_step_slot *slot = vkt_calloc(1, sizeof *slot);
    if (!slot) return vkt_fail(err, VKT_ERR_NOMEM, "step tensor %s", what);
    vkt_buffer_init_virtual(&slot->vb, ((bytes + 3) & ~(size_t)3) ? ((bytes + 3) & ~(size_t)3) : 4, what, s->n_slots);
    slot->first = slot->last = -1;
    s->slots[s->n_slots++] = slot;
    t.buf = &slot->vb;
    *out = t;
    return VKT_OK;
}

vkt_status vkt_step_keep(vkt_step *s, const vkt_tensor *t, vkt_err *err)
{
    if (!t->buf || !t->buf->is_virtual || t->buf->virtual_id >= s->n_slots || &s->slots[t->buf->virtual_id]->vb != t->buf)
        return vkt_fail(err, VKT_ERR_INTERNAL, "keep: not a tensor of this step");
    s->slots[t->buf->virtual_id]->keep = true;
    return VKT_OK;
}

vkt_tensor vkt_step_resolve(const vkt_step *s, const vkt_tensor *t)
{
    vkt_tensor r = *t;
    if (t->buf && t->buf->is_virtual && t->buf->virtual_id < s->n_slots && s->arena) {
        r.buf = s->arena;
        r.offset += s->slots[t->buf->virtual_id]->offset;
    }
    return r;
}

uint64_t vkt_step_peak_bytes(const vkt_step *s) { return s->peak_bytes; }
uint64_t vkt_step_naive_bytes(const vkt_step *s) { return s->naive_bytes; }

static int by_size_desc(const void *a, const void *b)
{
    const vkt_step_slot *x = *(vkt_step_slot *const *)a, *y = *(vkt_step_slot *const *)b;
    if (x->vb.size != y->vb.size) return x->vb.size > y->vb.size ? -1 : 1;
    return x->vb.virtual_id < y->vb.virtual_id ? -1 : 1; /* deterministic */
}

/* Greedy interval packing: largest first, each at the lowest offset that does not collide with
 * an already placed tensor whose lifetime overlaps. A dry plan only measures (no arena). */
static vkt_status plan(vkt_step *s, bool dry, vkt_err *err)
{
    uint32_t n_rec = vkt_cmd_n_records(s->cmd);
    for (uint32_t r = 0; r < n_rec; r++) {
        const vkt_bind *b;
        uint32_t nb;
        vkt_cmd_record_binds(s->cmd, r, &b, &nb);
        for (uint32_t k = 0; k < nb; k++) {
            if (!b[k].buf->is_virtual) continue;
            uint32_t id = b[k].buf->virtual_id;
            if (id >= s->n_slots || &s->slots[id]->vb != b[k].buf)
                return vkt_fail(err, VKT_ERR_INTERNAL, "%s: tensor of an earlier step used", b[k].buf->what);
            vkt_step_slot *sl = s->slots[id];
            if (sl->first < 0) sl->first = r;
            sl->last = r;
        }
    }
    vkt_step_slot **order = vkt_malloc((s->n_slots ? s->n_slots : 1) * sizeof *order);
    vkt_step_slot **placed = vkt_malloc((s->n_slots ? s->n_slots : 1) * sizeof *placed);
    if (!order || !placed) {
        free(order);
        free(placed);
        return vkt_fail(err, VKT_ERR_NOMEM, "step plan");
    }
    uint32_t n = 0, n_placed = 0;
    for (uint32_t i = 0; i < s->n_slots; i++) {
        vkt_step_slot *sl = s->slots[i];
        if (sl->keep) {
            if (sl->first < 0) sl->first = 0;
            sl->last = n_rec;
        }
        if (sl->first >= 0) order[n++] = sl;
    }
    qsort(order, n, sizeof *order, by_size_desc);
    uint64_t peak = 0, naive = 0;
    for (uint32_t i = 0; i < n; i++) {
        vkt_step_slot *sl = order[i];
        size_t size = (sl->vb.size + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN, off = 0;
        naive += size;
        for (bool moved = true; moved;) { /* bump past every live collision until none is left */
            moved = false;
            for (uint32_t j = 0; j < n_placed; j++) {
                vkt_step_slot *o = placed[j];
                size_t osize = (o->vb.size + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
                bool live = sl->first <= o->last && o->first <= sl->last;
                if (live && off < o->offset + osize && o->offset < off + size) {
                    off = o->offset + osize;
                    moved = true;
                }
            }
        }
        sl->offset = off;
        placed[n_placed++] = sl;
        if (off + size > peak) peak = off + size;
    }
    free(order);
    free(placed);
    s->peak_bytes = peak;
    s->naive_bytes = naive;
    if (!dry && peak && (!s->arena || s->arena->size < peak)) {
        vkt_buffer_destroy(s->dev, s->arena);
        s->arena = NULL;
        vkt_status st = vkt_buffer_create(s->dev, peak, VKT_MEM_DEVICE, "step activations", &s->arena, err);
        if (st) return st;
    }
    return VKT_OK;
}

static vkt_status resolve(void *user, const vkt_buffer *virt, const vkt_buffer **real, size_t *offset, vkt_err *err)
{
    vkt_step *s = user;
    (void)err;
    *real = s->arena;
    *offset = s->slots[virt->virtual_id]->offset;
    return VKT_OK;
}

vkt_status vkt_step_end(vkt_step *s, vkt_err *err)
{
    if (s->planned) {
        vkt_status st = plan(s, false, err);
        if (!st) st = vkt_cmd_flush(s->cmd, resolve, s, err);
        if (st) return st;
    }
    return vkt_cmd_end(s->cmd, err);
}
vkt_status vkt_step_end_dry(vkt_step *s, vkt_err *err)
{
    if (!s->planned) return vkt_fail(err, VKT_ERR_INTERNAL, "dry plan of an unplanned step");
    vkt_status st = plan(s, true, err);
    /* drop the stored commands: begin again (empty) and end */
    vkt_status st2 = vkt_cmd_begin(s->cmd, err);
    if (!st2) st2 = vkt_cmd_end(s->cmd, err);
    return st ? st : st2;
}

vkt_status vkt_step_submit(vkt_step *s, vkt_err *err) { return vkt_cmd_submit(s->cmd, err); }

vkt_status vkt_step_run(vkt_step *s, vkt_err *err)
{
    vkt_status st = vkt_step_end(s, err);
    return st ? st : vkt_cmd_submit(s->cmd, err);
}

vkt_status vkt_step_pipeline(vkt_step *s, const char *variant, uint32_t n_bindings, uint32_t pc_bytes,
                             const uint32_t *spec, uint32_t n_spec, vkt_pipeline **out, vkt_err *err)
{
    vkt_pipeline_desc d = {variant, n_bindings, pc_bytes, spec, n_spec};
    return vkt_pipeline_get(s->dev, &d, out, err);
}

const char *vkt_variant_name(char *out, size_t n, const char *family, const char *dir, vkt_dtype dt)
{
    snprintf(out, n, "%s_%s_%s", family, dir, vkt_dtype_name(dt));
    return out;
}

vkt_status vkt_check_same_shape(const char *op, const char *what, const vkt_tensor *a, const vkt_tensor *b,
                                vkt_err *err)
{
    if (vkt_shape_eq(a, b)) return VKT_OK;
    char sa[96], sb[96];
    return vkt_fail(err, VKT_ERR_SHAPE, "%s: %s shape %s, expected %s", op, what, vkt_shape_str(a, sa, sizeof sa),
                    vkt_shape_str(b, sb, sizeof sb));
}

vkt_status vkt_check_dtype(const char *op, vkt_dtype dt, const vkt_tensor *const *ts, int n, vkt_err *err)
{
    for (int i = 0; i < n; i++)
        if (ts[i]->dtype != dt)
            return vkt_fail(err, VKT_ERR_SHAPE, "%s: tensor %d is %s, expected %s", op, i,
                            vkt_dtype_name(ts[i]->dtype), vkt_dtype_name(dt));
    return VKT_OK;
}

bool vkt_step_dtype_ok(const vkt_step *s, vkt_dtype dt)
{
    if (dt == VKT_F32 || dt == VKT_I32) return true;
    if (dt == VKT_F16) return s->info->storage16 && vkt_feature_allowed("FP16");
    return false; /* bf16 storage variants: TODO(#9) */
}
