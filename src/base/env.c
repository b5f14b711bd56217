#include "base/env.h"

#include <stdlib.h>
#include <string.h>

bool vkt_env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}
