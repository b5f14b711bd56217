/* Device memory: big VkDeviceMemory blocks sub-allocated into buffers, with current/peak bytes.
 * Each vkt_buffer is one VkBuffer bound at an offset inside a block.
 *
 *   vkt_buffer *b;
 *   vkt_buffer_create(dev, n * 4, VKT_MEM_DEVICE, "unet weights", &b, &err);
 *   vkt_buffer_upload(dev, b, 0, host, n * 4, &err);
 *   ... vkt_buffer_destroy(dev, b);
 */
#ifndef VKT_VK_MEMORY_H
#define VKT_VK_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "vk/volk_inc.h"

typedef struct vkt_device vkt_device;

typedef enum vkt_mem_kind {
    VKT_MEM_DEVICE,   /* device-local storage buffer (falls back to any memory type) */
    VKT_MEM_UPLOAD,   /* host-visible, coherent: host writes, GPU reads */
    VKT_MEM_READBACK, /* host-visible, cached if possible: GPU writes, host reads */
} vkt_mem_kind;

typedef struct vkt_buffer {
    VkBuffer vk;
    size_t size;     /* bytes requested */
    vkt_mem_kind kind;
    void *mapped;    /* host pointer for UPLOAD/READBACK, else NULL */
    /* sub-allocation (owned by the block) */
    struct vkt_mem_block *block;
    size_t block_offset, block_bytes;
    char what[48];
    /* A virtual buffer stands for memory a step plan assigns later (see vk/cmd.h deferred
     * recording): vk is VK_NULL_HANDLE and virtual_id identifies it. */
    bool is_virtual;
    uint32_t virtual_id;
} vkt_buffer;

/* Initialises caller-provided storage as a virtual buffer of size bytes. */
void vkt_buffer_init_virtual(vkt_buffer *b, size_t size, const char *what, uint32_t id);

/* Allocates size bytes (> 0). `what` names the buffer in out-of-memory errors:
 * "allocating 1.2 GiB for unet weights: out of device memory (heap 0: 2.0 GiB, 1.7 GiB in use)". */
vkt_status vkt_buffer_create(vkt_device *dev, size_t size, vkt_mem_kind kind, const char *what,
                             vkt_buffer **out, vkt_err *err);
void vkt_buffer_destroy(vkt_device *dev, vkt_buffer *b); /* NULL is a no-op */

/* Blocking copies through a temporary staging buffer (or directly for host-visible buffers).
 * Meant for setup and tests, not for the step's hot path. */
vkt_status vkt_buffer_upload(vkt_device *dev, vkt_buffer *b, size_t offset, const void *src, size_t n,
                             vkt_err *err);
vkt_status vkt_buffer_download(vkt_device *dev, const vkt_buffer *b, size_t offset, void *dst, size_t n,
                               vkt_err *err);
/* Fills [offset, offset+n) with zero bytes (blocking). n and offset multiples of 4. */
vkt_status vkt_buffer_zero(vkt_device *dev, vkt_buffer *b, size_t offset, size_t n, vkt_err *err);

typedef struct vkt_mem_stats {
    uint64_t current, peak;   /* bytes in live buffers */
    uint64_t reserved;        /* bytes in VkDeviceMemory blocks */
    uint32_t n_allocations;   /* VkDeviceMemory objects */
} vkt_mem_stats;
vkt_mem_stats vkt_mem_get_stats(const vkt_device *dev);
void vkt_mem_reset_peak(vkt_device *dev);

#endif
