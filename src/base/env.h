/* Environment switches (VKTRAIN_VALIDATION=1, VKTRAIN_DISABLE_FP16=1, ...): one rule for what
 * counts as "on". Leaf module: depends on libc only. */
#ifndef VKT_BASE_ENV_H
#define VKT_BASE_ENV_H

#include <stdbool.h>

/* True when the variable is set to something other than "" or "0". */
bool vkt_env_flag(const char *name);

#endif
