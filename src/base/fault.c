/* Allocation wrappers with a fault-injection counter (tests only). The counter is the one
 * mutable global besides the log sink; it is inert unless VKTRAIN_FAIL_ALLOC is set. */
#include "base/fault.h"

#include <stdlib.h>

static long fail_at = -1, n_calls;
static int loaded;

void vkt_fault_reset(void)
{
    const char *s = getenv("VKTRAIN_FAIL_ALLOC");
    fail_at = s ? atol(s) : -1;
    n_calls = 0;
    loaded = 1;
}

static int should_fail(void)
{
    if (!loaded) vkt_fault_reset();
    if (fail_at < 0) return 0;
    return ++n_calls == fail_at;
}

void *vkt_malloc(size_t bytes) { return should_fail() ? NULL : malloc(bytes ? bytes : 1); }
void *vkt_calloc(size_t n, size_t size) { return should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1); }
void *vkt_realloc(void *p, size_t bytes) { return should_fail() ? NULL : realloc(p, bytes ? bytes : 1); }
