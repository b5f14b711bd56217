/* stderr log sink. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int level = -1;

void vkt_log_set_level(vkt_log_level lvl) { level = (int)lvl; }

void vkt_log(vkt_log_level lvl, const char *fmt, ...)
{
    if (level < 0) {
        const char *e = getenv("VKTRAIN_LOG");
        level = (e && strcmp(e, "debug") == 0) ? VKT_LOG_DEBUG : VKT_LOG_INFO;
    }
    if ((int)lvl < level) return;
    va_list ap;
    va_start(ap, fmt);
    if (lvl == VKT_LOG_WARN) fputs("vktrain: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
