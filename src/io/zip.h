/* Read-only zip archive reader over a caller's buffer (usually an mmap): central directory,
 * ZIP64, STORED and DEFLATE members. Every offset and size is bounded by the buffer; members may
 * not overlap; unsafe names (absolute, "..", backslashes, control characters), duplicates,
 * encryption and multi-disk archives are refused; inflated output is capped. Knows nothing of
 * Vulkan or PyTorch.
 *
 *   vkt_zip *z;
 *   if (vkt_zip_open(map.data, map.size, "emb.pt", &z, &err)) return err.code;
 *   const vkt_zip_entry *e = vkt_zip_find(z, "emb/data.pkl");
 *   const uint8_t *p; size_t n;
 *   if (e && vkt_zip_read(z, e, true, &p, &n, &err) == VKT_OK) ... // p valid until close
 *   vkt_zip_close(z);
 */
#ifndef VKT_IO_ZIP_H
#define VKT_IO_ZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

/* Default cap on the bytes all DEFLATE members of one archive may inflate to. */
#define VKT_ZIP_DEFAULT_INFLATE_LIMIT (1ull << 30)
#define VKT_ZIP_MAX_ENTRIES 1000000u

typedef struct vkt_zip_entry {
    const char *name; /* NUL-terminated copy */
    uint64_t comp_size, size;
    uint32_t crc32;
    uint16_t method;     /* 0 STORED, 8 DEFLATE */
    uint64_t header_off; /* local header */
    uint64_t data_off;   /* first byte of the (compressed) data */
} vkt_zip_entry;

typedef struct vkt_zip vkt_zip;

/* True when data starts with a local file header signature ("PK\3\4"). */
bool vkt_zip_is_zip(const uint8_t *data, size_t size);

/* Parses the central directory of data[0..size) (borrowed: must outlive the result). label is
 * used in messages. VKT_ERR_FORMAT on any inconsistency, VKT_ERR_UNSUPPORTED for encryption,
 * multi-disk archives or other compression methods. */
vkt_status vkt_zip_open(const uint8_t *data, size_t size, const char *label, vkt_zip **out,
                        vkt_err *err);
void vkt_zip_close(vkt_zip *z);

/* Lowers or raises the total inflate cap (bytes) for later reads. */
void vkt_zip_set_inflate_limit(vkt_zip *z, uint64_t bytes);

/* Entries in central-directory order. */
size_t vkt_zip_count(const vkt_zip *z);
const vkt_zip_entry *vkt_zip_entry_at(const vkt_zip *z, size_t i);
/* Entry by exact name; NULL when absent. */
const vkt_zip_entry *vkt_zip_find(const vkt_zip *z, const char *name);

/* The uncompressed bytes of e. STORED: a pointer into the archive buffer; DEFLATE: inflated
 * once into memory owned by z (counted against the inflate cap). With verify_crc the CRC-32 is
 * checked (once per entry). Pointers stay valid until vkt_zip_close. */
vkt_status vkt_zip_read(vkt_zip *z, const vkt_zip_entry *e, bool verify_crc, const uint8_t **data,
                        size_t *size, vkt_err *err);

/* Zip writer streaming to a FILE*: STORED members only, each payload starting on a multiple of
 * `align` bytes (1 = no padding) through a local-header extra field (id "FB", filler 'Z') as
 * torch.save does, sizes and CRC-32 in the local headers, no data descriptors, no ZIP64 (the
 * archive must stay below 4 GiB). */
typedef struct vkt_zip_writer vkt_zip_writer;
/* fp is borrowed and must be positioned at offset 0 of an empty file. */
vkt_status vkt_zip_writer_create(FILE *fp, size_t align, vkt_zip_writer **out, vkt_err *err);
/* Appends a member and writes it now. */
vkt_status vkt_zip_writer_add(vkt_zip_writer *w, const char *name, const void *data, size_t n,
                              vkt_err *err);
/* Writes the central directory and the end record. */
vkt_status vkt_zip_writer_finish(vkt_zip_writer *w, vkt_err *err);
void vkt_zip_writer_destroy(vkt_zip_writer *w);

#endif
