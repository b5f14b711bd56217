/* Command buffer recording with range-based hazard tracking, per-recording descriptor pools and
 * optional timestamp queries. */
#include "vk/cmd.h"

#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "vk/pipeline_internal.h"

#define SETS_PER_POOL 512
#define MAX_TIMESTAMPS 4096

typedef struct span { VkBuffer buf; size_t lo, hi; } span;

typedef struct span_set { span *v; uint32_t n, cap; } span_set;

typedef enum { REC_DISPATCH, REC_ZERO, REC_COPY } rec_kind;

/* A stored command of a deferred recording. */
typedef struct record {
    rec_kind kind;
    vkt_pipeline *p;
    vkt_bind binds[VKT_MAX_BINDINGS];
    uint32_t n_binds;
    uint32_t pc[32];
    uint32_t g[3];
    const char *label;
} record;

struct vkt_cmd {
    vkt_device *dev;
    VkCommandPool pool;
    VkCommandBuffer cb;
    VkFence fence;
    VkDescriptorPool *dpools;
    uint32_t n_dpools, cap_dpools, cur_dpool, sets_in_cur;
    span_set reads, writes; /* since the last barrier */
    uint32_t n_dispatch, n_barrier;
    bool recording, ended, submitted_once;
    /* profiling */
    bool profiling, prof_active;
    VkQueryPool qpool;
    uint32_t n_ts;
    const char **labels;
    double *ms;
    bool have_timings;
    /* deferred recording */
    bool deferred;
    record *recs;
    uint32_t n_recs, cap_recs;
};

vkt_device *vkt_cmd_device(const vkt_cmd *c) { return c->dev; }
uint32_t vkt_cmd_n_dispatches(const vkt_cmd *c) { return c->n_dispatch; }
uint32_t vkt_cmd_n_barriers(const vkt_cmd *c) { return c->n_barrier; }
void vkt_cmd_set_profiling(vkt_cmd *c, bool on) { c->profiling = on; }

vkt_status vkt_cmd_create(vkt_device *dev, vkt_cmd **out, vkt_err *err)
{
    vkt_cmd *c = vkt_calloc(1, sizeof *c);
    if (!c) return vkt_fail(err, VKT_ERR_NOMEM, "command recorder");
    c->dev = dev;
    VkDevice d = dev->device;
    VkResult r;
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = dev->qfam};
    if ((r = vkCreateCommandPool(d, &pci, NULL, &c->pool)) != VK_SUCCESS) goto vkfail_pool;
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = c->pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
    if ((r = vkAllocateCommandBuffers(d, &ai, &c->cb)) != VK_SUCCESS) goto vkfail_cb;
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((r = vkCreateFence(d, &fci, NULL, &c->fence)) != VK_SUCCESS) goto vkfail_fence;
    *out = c;
    return VKT_OK;
vkfail_pool:
    vkt_cmd_destroy(c);
    return vkt_vk_fail(err, r, "vkCreateCommandPool");
vkfail_cb:
    vkt_cmd_destroy(c);
    return vkt_vk_fail(err, r, "vkAllocateCommandBuffers");
vkfail_fence:
    vkt_cmd_destroy(c);
    return vkt_vk_fail(err, r, "vkCreateFence");
}

void vkt_cmd_destroy(vkt_cmd *c)
{
    if (!c) return;
    VkDevice d = c->dev->device;
    if (c->submitted_once) vkQueueWaitIdle(c->dev->queue);
    for (uint32_t i = 0; i < c->n_dpools; i++) vkDestroyDescriptorPool(d, c->dpools[i], NULL);
    free(c->dpools);
    if (c->qpool) vkDestroyQueryPool(d, c->qpool, NULL);
    if (c->fence) vkDestroyFence(d, c->fence, NULL);
    if (c->pool) vkDestroyCommandPool(d, c->pool, NULL);
    free(c->reads.v);
    free(c->writes.v);
    free(c->labels);
    free(c->ms);
    free(c->recs);
    free(c);
}

vkt_status vkt_cmd_begin(vkt_cmd *c, vkt_err *err)
{
    VkDevice d = c->dev->device;
    VkResult r = vkResetCommandBuffer(c->cb, 0);
    if (r != VK_SUCCESS) return vkt_vk_fail(err, r, "vkResetCommandBuffer");
    for (uint32_t i = 0; i < c->n_dpools; i++) vkResetDescriptorPool(d, c->dpools[i], 0);
    c->cur_dpool = 0;
    c->sets_in_cur = 0;
    c->reads.n = c->writes.n = 0;
    c->n_dispatch = c->n_barrier = 0;
    c->n_ts = 0;
    c->have_timings = false;
    c->deferred = false;
    c->n_recs = 0;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    r = vkBeginCommandBuffer(c->cb, &bi);
    if (r != VK_SUCCESS) return vkt_vk_fail(err, r, "vkBeginCommandBuffer");
    c->recording = true;
    c->ended = false;
    c->prof_active = c->profiling && c->dev->timestamp_bits > 0 && c->dev->info.timestamps;
    if (c->prof_active) {
        if (!c->qpool) {
            VkQueryPoolCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                         .queryType = VK_QUERY_TYPE_TIMESTAMP, .queryCount = MAX_TIMESTAMPS};
            r = vkCreateQueryPool(d, &qci, NULL, &c->qpool);
            if (r != VK_SUCCESS) return vkt_vk_fail(err, r, "vkCreateQueryPool");
            c->labels = vkt_calloc(MAX_TIMESTAMPS, sizeof *c->labels);
            c->ms = vkt_calloc(MAX_TIMESTAMPS, sizeof *c->ms);
            if (!c->labels || !c->ms) return vkt_fail(err, VKT_ERR_NOMEM, "profiling buffers");
        }
        vkCmdResetQueryPool(c->cb, c->qpool, 0, MAX_TIMESTAMPS);
        vkCmdWriteTimestamp(c->cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, c->qpool, c->n_ts++);
    }
    return VKT_OK;
}

static bool overlaps(const span_set *s, VkBuffer b, size_t lo, size_t hi)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (s->v[i].buf == b && s->v[i].lo < hi && lo < s->v[i].hi) return true;
    return false;
}

static bool span_add(span_set *s, VkBuffer b, size_t lo, size_t hi)
{
    for (uint32_t i = 0; i < s->n; i++) /* extend an identical or touching span in place */
        if (s->v[i].buf == b && s->v[i].lo <= hi && lo <= s->v[i].hi) {
            if (lo < s->v[i].lo) s->v[i].lo = lo;
            if (hi > s->v[i].hi) s->v[i].hi = hi;
            return true;
        }
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 32;
        span *nv = vkt_realloc(s->v, cap * sizeof *nv);
        if (!nv) return false;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = (span){b, lo, hi};
    return true;
}

/* Inserts a barrier if any access conflicts with accesses since the last one, then records them. */
static vkt_status track(vkt_cmd *c, const vkt_bind *b, uint32_t n, vkt_err *err)
{
    bool need = false;
    for (uint32_t i = 0; i < n && !need; i++) {
        VkBuffer vb = b[i].buf->vk;
        size_t lo = b[i].offset, hi = b[i].offset + b[i].bytes;
        need = overlaps(&c->writes, vb, lo, hi) || (b[i].write && overlaps(&c->reads, vb, lo, hi));
    }
    if (need) {
        VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                              .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                               VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
        VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
        vkCmdPipelineBarrier(c->cb, st, st, 0, 1, &mb, 0, NULL, 0, NULL);
        c->reads.n = c->writes.n = 0;
        c->n_barrier++;
    }
    for (uint32_t i = 0; i < n; i++) {
        VkBuffer vb = b[i].buf->vk;
        if (!span_add(b[i].write ? &c->writes : &c->reads, vb, b[i].offset, b[i].offset + b[i].bytes))
            return vkt_fail(err, VKT_ERR_NOMEM, "hazard tracker");
    }
    return VKT_OK;
}

static vkt_status check_bind(const vkt_cmd *c, const vkt_bind *b, const char *label, uint32_t i, vkt_err *err)
{
    if (!b->buf || b->bytes == 0)
        return vkt_fail(err, VKT_ERR_INTERNAL, "%s: binding %u is empty", label, i);
    if (b->offset % 256 || b->offset > b->buf->size || b->bytes > b->buf->size - b->offset)
        return vkt_fail(err, VKT_ERR_INTERNAL, "%s: binding %u [%zu, +%zu) outside or unaligned in %s (%zu bytes)",
                        label, i, b->offset, b->bytes, b->buf->what, b->buf->size);
    if (b->bytes > c->dev->info.max_storage_range)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: binding %u is %zu bytes, above maxStorageBufferRange %llu",
                        label, i, b->bytes, (unsigned long long)c->dev->info.max_storage_range);
    return VKT_OK;
}

static vkt_status alloc_set(vkt_cmd *c, vkt_pipeline *p, VkDescriptorSet *out, vkt_err *err)
{
    VkDevice d = c->dev->device;
    if (c->cur_dpool < c->n_dpools && c->sets_in_cur == SETS_PER_POOL) {
        c->cur_dpool++;
        c->sets_in_cur = 0;
    }
    if (c->cur_dpool == c->n_dpools) {
        if (c->n_dpools == c->cap_dpools) {
            uint32_t cap = c->cap_dpools ? c->cap_dpools * 2 : 4;
            VkDescriptorPool *np = vkt_realloc(c->dpools, cap * sizeof *np);
            if (!np) return vkt_fail(err, VKT_ERR_NOMEM, "descriptor pools");
            c->dpools = np;
            c->cap_dpools = cap;
        }
        VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, SETS_PER_POOL * VKT_MAX_BINDINGS};
        VkDescriptorPoolCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                         .maxSets = SETS_PER_POOL, .poolSizeCount = 1, .pPoolSizes = &ps};
        VkResult r = vkCreateDescriptorPool(d, &ci, NULL, &c->dpools[c->n_dpools]);
        if (r != VK_SUCCESS) return vkt_vk_fail(err, r, "vkCreateDescriptorPool");
        c->n_dpools++;
        c->sets_in_cur = 0;
    }
    VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = c->dpools[c->cur_dpool], .descriptorSetCount = 1,
                                      .pSetLayouts = &p->dsl};
    VkResult r = vkAllocateDescriptorSets(d, &ai, out);
    if (r != VK_SUCCESS) return vkt_vk_fail(err, r, "vkAllocateDescriptorSets");
    c->sets_in_cur++;
    return VKT_OK;
}

static void stamp(vkt_cmd *c, const char *label)
{
    if (!c->prof_active || c->n_ts >= MAX_TIMESTAMPS) return;
    c->labels[c->n_ts - 1] = label;
    vkCmdWriteTimestamp(c->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, c->qpool, c->n_ts++);
}

vkt_status vkt_cmd_begin_deferred(vkt_cmd *c, vkt_err *err)
{
    vkt_status st = vkt_cmd_begin(c, err);
    if (!st) c->deferred = true;
    return st;
}

uint32_t vkt_cmd_n_records(const vkt_cmd *c) { return c->n_recs; }

void vkt_cmd_record_binds(const vkt_cmd *c, uint32_t i, const vkt_bind **binds, uint32_t *n)
{
    *binds = c->recs[i].binds;
    *n = c->recs[i].n_binds;
}

static vkt_status store(vkt_cmd *c, rec_kind kind, vkt_pipeline *p, const vkt_bind *binds, uint32_t n_binds,
                        const void *pc, uint32_t pc_bytes, const uint32_t g[3], const char *label, vkt_err *err)
{
    if (c->n_recs == c->cap_recs) {
        uint32_t cap = c->cap_recs ? c->cap_recs * 2 : 256;
        record *nr = vkt_realloc(c->recs, cap * sizeof *nr);
        if (!nr) return vkt_fail(err, VKT_ERR_NOMEM, "deferred commands");
        c->recs = nr;
        c->cap_recs = cap;
    }
    record *r = &c->recs[c->n_recs++];
    r->kind = kind;
    r->p = p;
    r->n_binds = n_binds;
    memcpy(r->binds, binds, n_binds * sizeof *binds);
    if (pc_bytes) memcpy(r->pc, pc, pc_bytes);
    memcpy(r->g, g, sizeof r->g);
    r->label = label;
    return VKT_OK;
}

static vkt_status emit_dispatch(vkt_cmd *c, vkt_pipeline *p, const vkt_bind *binds, const void *pc, uint32_t gx,
                                uint32_t gy, uint32_t gz, const char *label, vkt_err *err);

vkt_status vkt_cmd_flush(vkt_cmd *c, vkt_cmd_resolve_fn resolve, void *user, vkt_err *err)
{
    if (!c->deferred) return vkt_fail(err, VKT_ERR_INTERNAL, "flush without a deferred recording");
    c->deferred = false;
    vkt_status st = VKT_OK;
    for (uint32_t i = 0; i < c->n_recs && !st; i++) {
        record *r = &c->recs[i];
        for (uint32_t k = 0; k < r->n_binds && !st; k++) {
            if (!r->binds[k].buf->is_virtual) continue;
            const vkt_buffer *real = NULL;
            size_t off = 0;
            st = resolve(user, r->binds[k].buf, &real, &off, err);
            if (!st) {
                r->binds[k].buf = real;
                r->binds[k].offset += off;
            }
        }
        if (st) break;
        switch (r->kind) {
        case REC_DISPATCH:
            st = emit_dispatch(c, r->p, r->binds, r->pc, r->g[0], r->g[1], r->g[2], r->label, err);
            break;
        case REC_ZERO: st = vkt_cmd_zero(c, r->binds[0].buf, r->binds[0].offset, r->binds[0].bytes, err); break;
        case REC_COPY:
            st = vkt_cmd_copy(c, r->binds[0].buf, r->binds[0].offset, r->binds[1].buf, r->binds[1].offset,
                              r->binds[0].bytes, err);
            break;
        }
    }
    c->n_recs = 0;
    return st;
}

vkt_status vkt_cmd_dispatch(vkt_cmd *c, vkt_pipeline *p, const vkt_bind *binds, const void *pc, uint32_t gx,
                            uint32_t gy, uint32_t gz, const char *label, vkt_err *err)
{
    if (!c->recording) return vkt_fail(err, VKT_ERR_INTERNAL, "%s: dispatch outside begin/end", label);
    if (gx == 0 || gy == 0 || gz == 0) return VKT_OK; /* empty tensor: nothing to do */
    if (c->deferred) {
        uint32_t g[3] = {gx, gy, gz};
        return store(c, REC_DISPATCH, p, binds, p->n_bindings, pc, p->pc_bytes, g, label, err);
    }
    return emit_dispatch(c, p, binds, pc, gx, gy, gz, label, err);
}

static vkt_status emit_dispatch(vkt_cmd *c, vkt_pipeline *p, const vkt_bind *binds, const void *pc, uint32_t gx,
                                uint32_t gy, uint32_t gz, const char *label, vkt_err *err)
{
    const uint32_t *mx = c->dev->info.max_wg_count;
    if (gx > mx[0] || gy > mx[1] || gz > mx[2])
        return vkt_fail(err, VKT_ERR_INTERNAL, "%s: grid %ux%ux%u exceeds the device limit", label, gx, gy, gz);
    vkt_status st;
    for (uint32_t i = 0; i < p->n_bindings; i++)
        if ((st = check_bind(c, &binds[i], label, i, err))) return st;
    VkDescriptorSet set;
    if ((st = alloc_set(c, p, &set, err))) return st;
    VkDescriptorBufferInfo bi[VKT_MAX_BINDINGS];
    VkWriteDescriptorSet w[VKT_MAX_BINDINGS];
    for (uint32_t i = 0; i < p->n_bindings; i++) {
        bi[i] = (VkDescriptorBufferInfo){binds[i].buf->vk, binds[i].offset, (binds[i].bytes + 3) & ~(size_t)3};
        if (bi[i].offset + bi[i].range > ((binds[i].buf->size + 3) & ~(size_t)3)) bi[i].range = binds[i].bytes;
        w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = set, .dstBinding = i,
                                      .descriptorCount = 1, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                      .pBufferInfo = &bi[i]};
    }
    vkUpdateDescriptorSets(c->dev->device, p->n_bindings, w, 0, NULL);
    if ((st = track(c, binds, p->n_bindings, err))) return st;
    vkCmdBindPipeline(c->cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    vkCmdBindDescriptorSets(c->cb, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, NULL);
    if (p->pc_bytes) vkCmdPushConstants(c->cb, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, p->pc_bytes, pc);
    vkCmdDispatch(c->cb, gx, gy, gz);
    c->n_dispatch++;
    stamp(c, label);
    return VKT_OK;
}

vkt_status vkt_cmd_dispatch_1d(vkt_cmd *c, vkt_pipeline *p, const vkt_bind *binds, const void *pc, uint64_t n_groups,
                               const char *label, vkt_err *err)
{
    if (n_groups == 0) return VKT_OK;
    uint64_t mx = c->dev->info.max_wg_count[0];
    if (mx > 65535) mx = 65535; /* keep x small enough that gl_NumWorkGroups.x * y stays exact */
    uint64_t gx = n_groups < mx ? n_groups : mx;
    uint64_t gy = (n_groups + gx - 1) / gx;
    if (gy > c->dev->info.max_wg_count[1])
        return vkt_fail(err, VKT_ERR_INTERNAL, "%s: %llu workgroups exceed the device grid", label,
                        (unsigned long long)n_groups);
    return vkt_cmd_dispatch(c, p, binds, pc, (uint32_t)gx, (uint32_t)gy, 1, label, err);
}

vkt_status vkt_cmd_zero(vkt_cmd *c, const vkt_buffer *buf, size_t offset, size_t bytes, vkt_err *err)
{
    if (!bytes) return VKT_OK;
    vkt_bind b = VKT_BIND_W(buf, offset, bytes);
    if (c->deferred) {
        uint32_t g[3] = {0, 0, 0};
        return store(c, REC_ZERO, NULL, &b, 1, NULL, 0, g, "zero", err);
    }
    vkt_status st = check_bind(c, &b, "zero", 0, err);
    if (!st && (offset % 4 || bytes % 4)) st = vkt_fail(err, VKT_ERR_INTERNAL, "zero: unaligned range");
    if (!st) st = track(c, &b, 1, err);
    if (st) return st;
    vkCmdFillBuffer(c->cb, buf->vk, offset, bytes, 0);
    stamp(c, "zero");
    return VKT_OK;
}

vkt_status vkt_cmd_copy(vkt_cmd *c, const vkt_buffer *src, size_t soff, const vkt_buffer *dst, size_t doff,
                        size_t bytes, vkt_err *err)
{
    if (!bytes) return VKT_OK;
    vkt_bind b[2] = {VKT_BIND_R(src, soff, bytes), VKT_BIND_W(dst, doff, bytes)};
    if (c->deferred) {
        uint32_t g[3] = {0, 0, 0};
        return store(c, REC_COPY, NULL, b, 2, NULL, 0, g, "copy", err);
    }
    vkt_status st = check_bind(c, &b[0], "copy", 0, err);
    if (!st) st = check_bind(c, &b[1], "copy", 1, err);
    if (!st) st = track(c, b, 2, err);
    if (st) return st;
    VkBufferCopy region = {soff, doff, bytes};
    vkCmdCopyBuffer(c->cb, src->vk, dst->vk, 1, &region);
    stamp(c, "copy");
    return VKT_OK;
}

vkt_status vkt_cmd_end(vkt_cmd *c, vkt_err *err)
{
    if (!c->recording) return vkt_fail(err, VKT_ERR_INTERNAL, "end without begin");
    if (c->deferred) return vkt_fail(err, VKT_ERR_INTERNAL, "end of a deferred recording before its flush");
    /* Make results visible to host reads and to the next submission's transfers. */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
    vkCmdPipelineBarrier(c->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    VkResult r = vkEndCommandBuffer(c->cb);
    c->recording = false;
    if (r != VK_SUCCESS) return vkt_vk_fail(err, r, "vkEndCommandBuffer");
    c->ended = true;
    return VKT_OK;
}

vkt_status vkt_cmd_submit(vkt_cmd *c, vkt_err *err)
{
    if (!c->ended) return vkt_fail(err, VKT_ERR_INTERNAL, "submit before end");
    /* A resubmitted buffer starts after the previous submission's writes: order them. */
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &c->cb};
    VkResult r = vkQueueSubmit(c->dev->queue, 1, &si, c->fence);
    if (r != VK_SUCCESS) return vkt_vk_fail(err, r, "vkQueueSubmit");
    c->submitted_once = true;
    r = vkWaitForFences(c->dev->device, 1, &c->fence, VK_TRUE, UINT64_MAX);
    vkResetFences(c->dev->device, 1, &c->fence);
    if (r != VK_SUCCESS) return vkt_vk_fail(err, r, "vkWaitForFences");
    if (c->prof_active && c->n_ts > 1) {
        uint64_t ts[MAX_TIMESTAMPS];
        r = vkGetQueryPoolResults(c->dev->device, c->qpool, 0, c->n_ts, sizeof ts, ts, 8,
                                  VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
        if (r == VK_SUCCESS) {
            uint64_t mask = c->dev->timestamp_bits >= 64 ? ~0ull : ((1ull << c->dev->timestamp_bits) - 1);
            for (uint32_t i = 0; i + 1 < c->n_ts; i++)
                c->ms[i] = (double)((ts[i + 1] - ts[i]) & mask) * c->dev->info.timestamp_period_ns * 1e-6;
            c->have_timings = true;
        }
    }
    return VKT_OK;
}

bool vkt_cmd_timings(vkt_cmd *c, const char *const **labels, const double **ms, uint32_t *n)
{
    if (!c->have_timings) return false;
    *labels = c->labels;
    *ms = c->ms;
    *n = c->n_ts - 1;
    return true;
}
