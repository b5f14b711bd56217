/* Bump allocator for scratch memory of one step or one parse; reset frees everything at once.
 * Leaf module: depends on libc only.
 *
 *   vkt_arena a; vkt_arena_init(&a, 1 << 20);
 *   float *tmp = vkt_arena_alloc(&a, n * sizeof *tmp);   // NULL when exhausted
 *   vkt_arena_reset(&a); ... vkt_arena_fini(&a);
 */
#ifndef VKT_BASE_ARENA_H
#define VKT_BASE_ARENA_H

#include <stddef.h>

typedef struct vkt_arena_chunk vkt_arena_chunk;
typedef struct vkt_arena {
    vkt_arena_chunk *head; /* owned list of chunks, newest first */
    size_t chunk_bytes;    /* default chunk size; larger requests get their own chunk */
} vkt_arena;

void vkt_arena_init(vkt_arena *a, size_t chunk_bytes);
/* 16-byte aligned, zeroed memory valid until reset/fini; NULL on host OOM or overflow. */
void *vkt_arena_alloc(vkt_arena *a, size_t bytes);
/* Copy of s (NUL-terminated) in the arena; NULL on OOM. */
char *vkt_arena_strdup(vkt_arena *a, const char *s);
/* Frees all but the first chunk and rewinds it. */
void vkt_arena_reset(vkt_arena *a);
void vkt_arena_fini(vkt_arena *a);

#endif
