/* Host allocation with a test-only fault hook: VKTRAIN_FAIL_ALLOC=N makes the Nth call of
 * vkt_malloc/vkt_calloc/vkt_realloc return NULL, so tests can walk every cleanup path.
 * Leaf module: depends on libc only. Memory from these is released with free(). */
#ifndef VKT_BASE_FAULT_H
#define VKT_BASE_FAULT_H

#include <stddef.h>

void *vkt_malloc(size_t bytes);
void *vkt_calloc(size_t n, size_t size);
void *vkt_realloc(void *p, size_t bytes);
/* Re-reads VKTRAIN_FAIL_ALLOC and resets the counter (tests call it between cases). */
void vkt_fault_reset(void);

#endif
