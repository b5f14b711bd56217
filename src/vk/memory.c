/* Block sub-allocator. Blocks are >= 64 MiB (or exactly the request when larger), one memory
 * type each, freed when empty. Free ranges are kept sorted per block and coalesced, so a step
 * that allocates and frees the same sizes reuses the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "vk/device_internal.h"

#define BLOCK_MIN_BYTES ((size_t)64 << 20)

typedef struct range { size_t off, size; } range;

struct vkt_mem_block {
    vkt_mem_block *next;
    VkDeviceMemory mem;
    uint32_t type_index;
    size_t size, used;
    void *mapped;
    range *free; /* sorted by off */
    uint32_t n_free, cap_free;
};

static double gib(uint64_t b) { return (double)b / (1024.0 * 1024.0 * 1024.0); }

vkt_status vkt_mem_init(vkt_device *dev, vkt_err *err)
{
    vkGetPhysicalDeviceMemoryProperties(dev->phys, &dev->memprops);
    /* VKTRAIN_HEAP_LIMIT_MIB: behave as a device with at most this much per heap, to try what
     * fits a smaller GPU (and to test the out-of-memory path) */
    const char *lim = getenv("VKTRAIN_HEAP_LIMIT_MIB");
    if (lim && *lim) {
        char *end;
        unsigned long long mib = strtoull(lim, &end, 10);
        if (*end || mib == 0) return vkt_fail(err, VKT_ERR_USAGE, "VKTRAIN_HEAP_LIMIT_MIB=\"%s\": a positive number", lim);
        for (uint32_t i = 0; i < dev->memprops.memoryHeapCount; i++)
            if (dev->memprops.memoryHeaps[i].size > (VkDeviceSize)mib << 20)
                dev->memprops.memoryHeaps[i].size = (VkDeviceSize)mib << 20;
    }
    VkCommandPoolCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT |
                                           VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
                                  .queueFamilyIndex = dev->qfam};
    VkResult r = vkCreateCommandPool(dev->device, &ci, NULL, &dev->xfer_pool);
    if (r != VK_SUCCESS) return vkt_vk_fail(err, r, "vkCreateCommandPool");
    return VKT_OK;
}

static void block_free(vkt_device *dev, vkt_mem_block *b)
{
    if (b->mapped) vkUnmapMemory(dev->device, b->mem);
    vkFreeMemory(dev->device, b->mem, NULL);
    dev->bytes_reserved -= b->size;
    dev->n_allocations--;
    free(b->free);
    free(b);
}

void vkt_mem_fini(vkt_device *dev)
{
    while (dev->blocks) {
        vkt_mem_block *n = dev->blocks->next;
        block_free(dev, dev->blocks);
        dev->blocks = n;
    }
    if (dev->xfer_pool) vkDestroyCommandPool(dev->device, dev->xfer_pool, NULL);
}

vkt_mem_stats vkt_mem_get_stats(const vkt_device *dev)
{
    return (vkt_mem_stats){dev->bytes_current, dev->bytes_peak, dev->bytes_reserved, dev->n_allocations};
}

void vkt_mem_reset_peak(vkt_device *dev) { dev->bytes_peak = dev->bytes_current; }

/* Memory-type preference lists: the first satisfiable entry wins. */
static int find_type(const vkt_device *dev, uint32_t bits, vkt_mem_kind kind)
{
    static const VkMemoryPropertyFlags dev_pref[] = {VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0};
    static const VkMemoryPropertyFlags up_pref[] = {
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT};
    static const VkMemoryPropertyFlags rb_pref[] = {
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT | VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT};
    const VkMemoryPropertyFlags *pref = kind == VKT_MEM_DEVICE ? dev_pref : kind == VKT_MEM_UPLOAD ? up_pref : rb_pref;
    size_t n = kind == VKT_MEM_DEVICE ? 2 : kind == VKT_MEM_UPLOAD ? 1 : 2;
    for (size_t p = 0; p < n; p++)
        for (uint32_t i = 0; i < dev->memprops.memoryTypeCount; i++)
            if ((bits & (1u << i)) && (dev->memprops.memoryTypes[i].propertyFlags & pref[p]) == pref[p])
                return (int)i;
    return -1;
}

static uint64_t heap_used(const vkt_device *dev, uint32_t heap)
{
    uint64_t u = 0;
    for (vkt_mem_block *b = dev->blocks; b; b = b->next)
        if (dev->memprops.memoryTypes[b->type_index].heapIndex == heap) u += b->size;
    return u;
}

static bool block_take(vkt_mem_block *b, size_t size, size_t align, size_t *off)
{
    for (uint32_t i = 0; i < b->n_free; i++) {
        range *r = &b->free[i];
        size_t start = (r->off + align - 1) / align * align;
        if (start - r->off > r->size || r->size - (start - r->off) < size) continue;
        size_t end = start + size, rend = r->off + r->size;
        if (start == r->off && end == rend) { /* exact: drop the range */
            memmove(r, r + 1, (b->n_free - i - 1) * sizeof *r);
            b->n_free--;
        } else if (start == r->off) {
            r->off = end;
            r->size = rend - end;
        } else if (end == rend) {
            r->size = start - r->off;
        } else { /* split in two */
            if (b->n_free == b->cap_free) {
                uint32_t cap = b->cap_free ? b->cap_free * 2 : 8;
                range *nf = vkt_realloc(b->free, cap * sizeof *nf);
                if (!nf) return false;
                b->free = nf;
                b->cap_free = cap;
                r = &b->free[i];
            }
            memmove(r + 2, r + 1, (b->n_free - i - 1) * sizeof *r);
            b->n_free++;
            r[1] = (range){end, rend - end};
            r->size = start - r->off;
        }
        *off = start;
        b->used += size;
        return true;
    }
    return false;
}

static bool block_give(vkt_mem_block *b, size_t off, size_t size)
{
    uint32_t i = 0;
    while (i < b->n_free && b->free[i].off < off) i++;
    bool join_prev = i > 0 && b->free[i - 1].off + b->free[i - 1].size == off;
    bool join_next = i < b->n_free && off + size == b->free[i].off;
    b->used -= size;
    if (join_prev && join_next) {
        b->free[i - 1].size += size + b->free[i].size;
        memmove(&b->free[i], &b->free[i + 1], (b->n_free - i - 1) * sizeof(range));
        b->n_free--;
    } else if (join_prev) {
        b->free[i - 1].size += size;
    } else if (join_next) {
        b->free[i].off = off;
        b->free[i].size += size;
    } else {
        if (b->n_free == b->cap_free) {
            uint32_t cap = b->cap_free ? b->cap_free * 2 : 8;
            range *nf = vkt_realloc(b->free, cap * sizeof *nf);
            if (!nf) return false; /* leaks the range inside the block; freed with the block */
            b->free = nf;
            b->cap_free = cap;
        }
        memmove(&b->free[i + 1], &b->free[i], (b->n_free - i) * sizeof(range));
        b->free[i] = (range){off, size};
        b->n_free++;
    }
    return true;
}

static vkt_status block_new(vkt_device *dev, uint32_t type, size_t min_size, const char *what,
                            vkt_mem_block **out, vkt_err *err)
{
    uint32_t heap = dev->memprops.memoryTypes[type].heapIndex;
    uint64_t heap_size = dev->memprops.memoryHeaps[heap].size, used = heap_used(dev, heap);
    size_t size = min_size > BLOCK_MIN_BYTES ? min_size : BLOCK_MIN_BYTES;
    if (used + size > heap_size) size = min_size; /* near the end of the heap: exact fit */
    if (used + size > heap_size || dev->n_allocations >= dev->info.max_alloc_count)
        return vkt_fail(err, VKT_ERR_OOM_DEVICE,
                        "allocating %.3f GiB for %s: out of device memory (heap %u: %.3f GiB, %.3f GiB in use, "
                        "%u of %u allocations)", gib(min_size), what, heap, gib(heap_size), gib(used),
                        dev->n_allocations, dev->info.max_alloc_count);
    vkt_mem_block *b = vkt_calloc(1, sizeof *b);
    if (!b) return vkt_fail(err, VKT_ERR_NOMEM, "memory block for %s", what);
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = size,
                               .memoryTypeIndex = type};
    VkResult r = vkAllocateMemory(dev->device, &ai, NULL, &b->mem);
    if (r != VK_SUCCESS) {
        free(b);
        return vkt_fail(err, r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY ? VKT_ERR_OOM_DEVICE : VKT_ERR_VK,
                        "allocating %.3f GiB for %s: vkAllocateMemory: %s (heap %u: %.3f GiB, %.3f GiB in use)",
                        gib(size), what, vkt_vk_result_str(r), heap, gib(heap_size), gib(used));
    }
    /* Coherent host-visible blocks stay mapped: staging, and direct copies on UMA devices. */
    VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    if ((dev->memprops.memoryTypes[type].propertyFlags & hv) == hv) {
        r = vkMapMemory(dev->device, b->mem, 0, VK_WHOLE_SIZE, 0, &b->mapped);
        if (r != VK_SUCCESS) {
            vkFreeMemory(dev->device, b->mem, NULL);
            free(b);
            return vkt_vk_fail(err, r, "vkMapMemory");
        }
    }
    b->type_index = type;
    b->size = size;
    b->free = vkt_malloc(8 * sizeof *b->free);
    if (!b->free) {
        if (b->mapped) vkUnmapMemory(dev->device, b->mem);
        vkFreeMemory(dev->device, b->mem, NULL);
        free(b);
        return vkt_fail(err, VKT_ERR_NOMEM, "memory block for %s", what);
    }
    b->cap_free = 8;
    b->free[0] = (range){0, size};
    b->n_free = 1;
    b->next = dev->blocks;
    dev->blocks = b;
    dev->n_allocations++;
    dev->bytes_reserved += size;
    *out = b;
    return VKT_OK;
}

vkt_status vkt_buffer_create(vkt_device *dev, size_t size, vkt_mem_kind kind, const char *what,
                             vkt_buffer **out, vkt_err *err)
{
    if (size == 0) return vkt_fail(err, VKT_ERR_INTERNAL, "%s: zero-byte buffer", what);
    vkt_buffer *b = vkt_calloc(1, sizeof *b);
    if (!b) return vkt_fail(err, VKT_ERR_NOMEM, "%s: buffer", what);
    snprintf(b->what, sizeof b->what, "%s", what);
    b->size = size;
    b->kind = kind;
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                              .size = (size + 3) & ~(size_t)3,
                              .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                       VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = vkCreateBuffer(dev->device, &bci, NULL, &b->vk);
    if (r != VK_SUCCESS) { free(b); return vkt_vk_fail(err, r, "vkCreateBuffer"); }
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(dev->device, b->vk, &req);
    int type = find_type(dev, req.memoryTypeBits, kind);
    if (type < 0) {
        vkDestroyBuffer(dev->device, b->vk, NULL);
        free(b);
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: no suitable memory type", what);
    }
    size_t align = req.alignment > dev->info.min_storage_align ? req.alignment : dev->info.min_storage_align;
    if (align < 256) align = 256; /* keeps every tensor aligned for any device's offset rules */
    size_t off = 0;
    vkt_mem_block *blk = NULL;
    for (vkt_mem_block *c = dev->blocks; c; c = c->next)
        if (c->type_index == (uint32_t)type && block_take(c, req.size, align, &off)) { blk = c; break; }
    if (!blk) {
        vkt_status st = block_new(dev, (uint32_t)type, req.size, what, &blk, err);
        if (st == VKT_OK && !block_take(blk, req.size, align, &off))
            st = vkt_fail(err, VKT_ERR_INTERNAL, "%s: fresh block too small", what);
        if (st) {
            vkDestroyBuffer(dev->device, b->vk, NULL);
            free(b);
            return st;
        }
    }
    r = vkBindBufferMemory(dev->device, b->vk, blk->mem, off);
    if (r != VK_SUCCESS) {
        block_give(blk, off, req.size);
        vkDestroyBuffer(dev->device, b->vk, NULL);
        free(b);
        return vkt_vk_fail(err, r, "vkBindBufferMemory");
    }
    b->block = blk;
    b->block_offset = off;
    b->block_bytes = req.size;
    b->mapped = blk->mapped ? (char *)blk->mapped + off : NULL;
    dev->bytes_current += req.size;
    if (dev->bytes_current > dev->bytes_peak) dev->bytes_peak = dev->bytes_current;
    *out = b;
    return VKT_OK;
}

void vkt_buffer_destroy(vkt_device *dev, vkt_buffer *b)
{
    if (!b) return;
    vkDestroyBuffer(dev->device, b->vk, NULL);
    vkt_mem_block *blk = b->block;
    block_give(blk, b->block_offset, b->block_bytes);
    dev->bytes_current -= b->block_bytes;
    if (blk->used == 0) {
        vkt_mem_block **pp = &dev->blocks;
        while (*pp != blk) pp = &(*pp)->next;
        *pp = blk->next;
        block_free(dev, blk);
    }
    free(b);
}

/* One-shot command buffer for blocking transfers. */
static vkt_status run_copy(vkt_device *dev, VkBuffer src, size_t soff, VkBuffer dst, size_t doff, size_t n,
                           vkt_err *err)
{
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = dev->xfer_pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    VkCommandBuffer cb;
    VkResult r = vkAllocateCommandBuffers(dev->device, &ai, &cb);
    if (r != VK_SUCCESS) return vkt_vk_fail(err, r, "vkAllocateCommandBuffers");
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    vkBeginCommandBuffer(cb, &bi);
    /* Earlier compute work may have written src or read dst: wait for all of it. */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                         VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    if (src) {
        VkBufferCopy c = {soff, doff, n};
        vkCmdCopyBuffer(cb, src, dst, 1, &c);
    } else {
        vkCmdFillBuffer(cb, dst, doff, n, 0);
    }
    VkMemoryBarrier mb2 = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                           .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb2, 0, NULL, 0, NULL);
    vkEndCommandBuffer(cb);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb};
    r = vkQueueSubmit(dev->queue, 1, &si, VK_NULL_HANDLE);
    if (r == VK_SUCCESS) r = vkQueueWaitIdle(dev->queue);
    vkFreeCommandBuffers(dev->device, dev->xfer_pool, 1, &cb);
    if (r != VK_SUCCESS) return vkt_vk_fail(err, r, src ? "vkCmdCopyBuffer" : "vkCmdFillBuffer");
    return VKT_OK;
}

void vkt_buffer_init_virtual(vkt_buffer *b, size_t size, const char *what, uint32_t id)
{
    memset(b, 0, sizeof *b);
    b->size = size;
    b->is_virtual = true;
    b->virtual_id = id;
    snprintf(b->what, sizeof b->what, "%s", what);
}

static vkt_status check_range(const vkt_buffer *b, size_t off, size_t n, vkt_err *err)
{
    if (off > b->size || n > b->size - off)
        return vkt_fail(err, VKT_ERR_INTERNAL, "%s: range [%zu, +%zu) outside %zu bytes", b->what, off, n, b->size);
    if (off % 4 || n % 4) return vkt_fail(err, VKT_ERR_INTERNAL, "%s: unaligned transfer", b->what);
    return VKT_OK;
}

vkt_status vkt_buffer_upload(vkt_device *dev, vkt_buffer *b, size_t off, const void *src, size_t n, vkt_err *err)
{
    vkt_status st = b->is_virtual ? vkt_fail(err, VKT_ERR_INTERNAL, "%s: transfer on an unplanned step tensor", b->what)
                                  : check_range(b, off, n, err);
    if (st || !n) return st;
    if (b->mapped) { /* GPU work in flight may still use these bytes */
        VkResult r = vkQueueWaitIdle(dev->queue);
        if (r != VK_SUCCESS) return vkt_vk_fail(err, r, "vkQueueWaitIdle");
        memcpy((char *)b->mapped + off, src, n);
        return VKT_OK;
    }
    vkt_buffer *stg = NULL;
    st = vkt_buffer_create(dev, n, VKT_MEM_UPLOAD, "upload staging", &stg, err);
    if (st) return st;
    memcpy(stg->mapped, src, n);
    st = run_copy(dev, stg->vk, 0, b->vk, off, n, err);
    vkt_buffer_destroy(dev, stg);
    return st;
}

vkt_status vkt_buffer_download(vkt_device *dev, const vkt_buffer *b, size_t off, void *dst, size_t n, vkt_err *err)
{
    vkt_status st = b->is_virtual ? vkt_fail(err, VKT_ERR_INTERNAL, "%s: transfer on an unplanned step tensor", b->what)
                                  : check_range(b, off, n, err);
    if (st || !n) return st;
    if (b->mapped) { /* GPU work in flight may still use these bytes */
        VkResult r = vkQueueWaitIdle(dev->queue);
        if (r != VK_SUCCESS) return vkt_vk_fail(err, r, "vkQueueWaitIdle");
        memcpy(dst, (const char *)b->mapped + off, n);
        return VKT_OK;
    }
    vkt_buffer *stg = NULL;
    st = vkt_buffer_create(dev, n, VKT_MEM_READBACK, "readback staging", &stg, err);
    if (st) return st;
    st = run_copy(dev, b->vk, off, stg->vk, 0, n, err);
    if (!st) memcpy(dst, stg->mapped, n);
    vkt_buffer_destroy(dev, stg);
    return st;
}

vkt_status vkt_buffer_zero(vkt_device *dev, vkt_buffer *b, size_t off, size_t n, vkt_err *err)
{
    vkt_status st = b->is_virtual ? vkt_fail(err, VKT_ERR_INTERNAL, "%s: transfer on an unplanned step tensor", b->what)
                                  : check_range(b, off, n, err);
    if (st || !n) return st;
    if (b->mapped) { /* GPU work in flight may still use these bytes */
        VkResult r = vkQueueWaitIdle(dev->queue);
        if (r != VK_SUCCESS) return vkt_vk_fail(err, r, "vkQueueWaitIdle");
        memset((char *)b->mapped + off, 0, n);
        return VKT_OK;
    }
    return run_copy(dev, VK_NULL_HANDLE, 0, b->vk, off, n, err);
}
