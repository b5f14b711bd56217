/* Bump allocator. Depends on libc only. */
#include "base/arena.h"

#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "base/fault.h"

struct vkt_arena_chunk {
    vkt_arena_chunk *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

void vkt_arena_init(vkt_arena *a, size_t chunk_bytes)
{
    a->head = NULL;
    a->chunk_bytes = chunk_bytes ? chunk_bytes : 65536;
}

void *vkt_arena_alloc(vkt_arena *a, size_t bytes)
{
    size_t need = (bytes + 15) & ~(size_t)15;
    if (need < bytes) return NULL;
    vkt_arena_chunk *c = a->head;
    if (!c || c->cap - c->used < need) {
        size_t cap = need > a->chunk_bytes ? need : a->chunk_bytes, total;
        if (!vkt_add_ok(cap, sizeof *c, &total)) return NULL;
        c = vkt_malloc(total);
        if (!c) return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += need;
    memset(p, 0, need);
    return p;
}

char *vkt_arena_strdup(vkt_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = vkt_arena_alloc(a, n);
    if (d) memcpy(d, s, n);
    return d;
}

void vkt_arena_reset(vkt_arena *a)
{
    if (!a->head) return;
    vkt_arena_chunk *keep = a->head;
    while (keep->next) keep = keep->next; /* the oldest chunk is the default-sized one */
    vkt_arena_chunk *c = a->head;
    while (c != keep) {
        vkt_arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    keep->used = 0;
    a->head = keep;
}

void vkt_arena_fini(vkt_arena *a)
{
    vkt_arena_chunk *c = a->head;
    while (c) {
        vkt_arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
}
