/* Checked size arithmetic and little-endian readers for lengths and offsets read from files.
 * Leaf module: depends on libc only.
 *
 *   size_t n;
 *   if (!vkt_mul_ok(rows, cols, &n) || !vkt_mul_ok(n, 4, &n)) return vkt_fail(err, ...);
 */
#ifndef VKT_BASE_CHECKED_H
#define VKT_BASE_CHECKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* *out = a*b; false (and *out untouched) on overflow. */
static inline bool vkt_mul_ok(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_mul_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

/* *out = a+b; false (and *out untouched) on overflow. */
static inline bool vkt_add_ok(size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_add_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

/* True when [off, off+len) lies inside [0, total). */
static inline bool vkt_range_ok(size_t off, size_t len, size_t total)
{
    return off <= total && len <= total - off;
}

static inline uint16_t vkt_rd_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t vkt_rd_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t vkt_rd_le64(const uint8_t *p)
{
    return (uint64_t)vkt_rd_le32(p) | ((uint64_t)vkt_rd_le32(p + 4) << 32);
}
static inline void vkt_wr_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void vkt_wr_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void vkt_wr_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

#endif
