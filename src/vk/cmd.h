/* Command recording: dispatches with automatic hazard tracking, so a barrier goes exactly
 * between a dispatch and an earlier one it depends on (read-after-write, write-after-read,
 * write-after-write on overlapping byte ranges) and nowhere else. A recorded command buffer can
 * be submitted any number of times while its buffers live.
 *
 *   vkt_cmd *c; vkt_cmd_create(dev, &c, &err);
 *   vkt_cmd_begin(c, &err);
 *   vkt_bind b[2] = {VKT_BIND_R(x_buf, 0, xbytes), VKT_BIND_W(y_buf, 0, ybytes)};
 *   vkt_cmd_dispatch(c, pipe, b, &pc, gx, 1, 1, "scale", &err);
 *   vkt_cmd_end(c, &err); vkt_cmd_submit(c, &err);   // waits for completion
 */
#ifndef VKT_VK_CMD_H
#define VKT_VK_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "vk/memory.h"
#include "vk/pipeline.h"

typedef struct vkt_cmd vkt_cmd;

/* One storage-buffer binding: bytes [offset, offset+bytes) of buf. offset must be a multiple of
 * 256 (all tensor offsets are). write: the dispatch writes (or read-modify-writes) the range. */
typedef struct vkt_bind {
    const vkt_buffer *buf; /* borrowed */
    size_t offset, bytes;
    bool write;
} vkt_bind;
#define VKT_BIND_R(b, off, n) ((vkt_bind){(b), (off), (n), false})
#define VKT_BIND_W(b, off, n) ((vkt_bind){(b), (off), (n), true})

vkt_status vkt_cmd_create(vkt_device *dev, vkt_cmd **out, vkt_err *err);
void vkt_cmd_destroy(vkt_cmd *c); /* NULL is a no-op; waits for the last submit */

/* Starts (re)recording: forgets previous commands, descriptor sets and timings. */
vkt_status vkt_cmd_begin(vkt_cmd *c, vkt_err *err);
/* Records one dispatch. binds has the pipeline's n_bindings entries; pc has its pc_bytes.
 * label (static string) names the dispatch in profiles. */
vkt_status vkt_cmd_dispatch(vkt_cmd *c, vkt_pipeline *p, const vkt_bind *binds, const void *pc,
                            uint32_t gx, uint32_t gy, uint32_t gz, const char *label, vkt_err *err);
/* n_groups workgroups in a 1-D grid, folded into y (and z) when larger than the device allows.
 * Shaders read their linear group index with vkt_group_id() from common/vkt.glsl. */
vkt_status vkt_cmd_dispatch_1d(vkt_cmd *c, vkt_pipeline *p, const vkt_bind *binds, const void *pc,
                               uint64_t n_groups, const char *label, vkt_err *err);
/* Zeroes bytes [offset, offset+bytes) (multiples of 4), ordered like a dispatch writing it. */
vkt_status vkt_cmd_zero(vkt_cmd *c, const vkt_buffer *buf, size_t offset, size_t bytes, vkt_err *err);
/* Copies bytes between buffers, ordered like a dispatch. */
vkt_status vkt_cmd_copy(vkt_cmd *c, const vkt_buffer *src, size_t soff, const vkt_buffer *dst, size_t doff,
                        size_t bytes, vkt_err *err);
vkt_status vkt_cmd_end(vkt_cmd *c, vkt_err *err);
/* Submits the recorded commands and waits for them. */
vkt_status vkt_cmd_submit(vkt_cmd *c, vkt_err *err);

/* Turns per-dispatch GPU timestamps on for the next recording (when the queue supports them). */
void vkt_cmd_set_profiling(vkt_cmd *c, bool on);
/* After a submit with profiling: n dispatch labels and their GPU milliseconds (borrowed arrays,
 * valid until the next begin). Returns false when no timings are available. */
bool vkt_cmd_timings(vkt_cmd *c, const char *const **labels, const double **ms, uint32_t *n);

/* Deferred recording, for step plans that assign memory by liveness: after
 * vkt_cmd_begin_deferred, dispatches/zeros/copies (which may bind virtual buffers) are only
 * stored. The planner inspects them with vkt_cmd_n_records/vkt_cmd_record_binds, then
 * vkt_cmd_flush maps every virtual buffer to real memory through `resolve` and records them
 * for real (with the usual barriers). vkt_cmd_end follows as usual. */
typedef vkt_status (*vkt_cmd_resolve_fn)(void *user, const vkt_buffer *virt, const vkt_buffer **real,
                                         size_t *offset, vkt_err *err);
vkt_status vkt_cmd_begin_deferred(vkt_cmd *c, vkt_err *err);
uint32_t vkt_cmd_n_records(const vkt_cmd *c);
/* Bindings of record i (borrowed; valid until flush). */
void vkt_cmd_record_binds(const vkt_cmd *c, uint32_t i, const vkt_bind **binds, uint32_t *n);
vkt_status vkt_cmd_flush(vkt_cmd *c, vkt_cmd_resolve_fn resolve, void *user, vkt_err *err);

uint32_t vkt_cmd_n_dispatches(const vkt_cmd *c);
uint32_t vkt_cmd_n_barriers(const vkt_cmd *c);
vkt_device *vkt_cmd_device(const vkt_cmd *c);

#endif
