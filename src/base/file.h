/* Whole-file reads and crash-safe writes (temp file in the same directory, fsync, rename).
 * Leaf module: depends on libc only.
 *
 *   vkt_atomic_file f;
 *   if (vkt_atomic_open(&f, "out.pt", &err) == VKT_OK) { fwrite(..., f.fp); vkt_atomic_commit(&f, &err); }
 */
#ifndef VKT_BASE_FILE_H
#define VKT_BASE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

typedef struct vkt_atomic_file {
    FILE *fp;            /* write here */
    char path[1024];     /* final name */
    char tmp_path[1040]; /* path + ".tmp" */
} vkt_atomic_file;

/* Opens path.tmp for writing. On failure nothing is created. */
vkt_status vkt_atomic_open(vkt_atomic_file *f, const char *path, vkt_err *err);
/* Flushes, fsyncs, closes and renames over the final path; on failure removes the temp file. */
vkt_status vkt_atomic_commit(vkt_atomic_file *f, vkt_err *err);
/* Closes and removes the temp file (no-op when already committed). */
void vkt_atomic_abort(vkt_atomic_file *f);
/* Writes bytes to path atomically. */
vkt_status vkt_write_file(const char *path, const void *data, size_t n, vkt_err *err);

/* Reads a whole file (at most max_bytes) into a malloc'd buffer with a NUL appended. */
vkt_status vkt_read_file(const char *path, size_t max_bytes, uint8_t **out, size_t *out_n, vkt_err *err);

/* Read-only memory map of a whole file. */
typedef struct vkt_mmap { const uint8_t *data; size_t size; } vkt_mmap;
vkt_status vkt_mmap_open(const char *path, vkt_mmap *m, vkt_err *err);
void vkt_mmap_close(vkt_mmap *m);

/* mkdir -p; ok when it exists. */
vkt_status vkt_mkdirs(const char *path, vkt_err *err);

#endif
