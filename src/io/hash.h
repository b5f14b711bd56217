/* The hashes the webui shows for model and embedding files: sha256 of the whole file (its first
 * 10 hex digits are the checkpoint "short hash", 12 for embeddings) and the legacy 8-hex "model
 * hash" (sha256 of the 64 KiB at offset 1 MiB, webui sd_models.py model_hash()). SHA-256 comes
 * from nettle. Results are cached in $XDG_CACHE_HOME/vktrain/hashes.json (else
 * ~/.cache/vktrain/) keyed by absolute path, size and mtime.
 *
 *   vkt_file_hash h;
 *   if (vkt_hash_file("v1-5.safetensors", true, &h, &err) == VKT_OK)
 *       printf("%.10s [%s]\n", h.sha256, h.model_hash);
 */
#ifndef VKT_IO_HASH_H
#define VKT_IO_HASH_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

typedef struct vkt_file_hash {
    char sha256[65];     /* lowercase hex of the whole file */
    char model_hash[9];  /* legacy: sha256 of bytes [1 MiB, 1 MiB + 64 KiB), first 8 hex */
    bool from_cache;
} vkt_file_hash;

/* Hashes path (reading it once), consulting and updating the cache when use_cache. A cache that
 * cannot be read or written is ignored (the hash is still returned). */
vkt_status vkt_hash_file(const char *path, bool use_cache, vkt_file_hash *out, vkt_err *err);

/* Lowercase hex sha256 of a buffer. */
void vkt_sha256_hex(const void *data, size_t n, char out[65]);

#endif
