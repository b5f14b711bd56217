/* Status phrases and message formatting. Depends on libc only. */
#include "base/err.h"

#include <stdio.h>
#include <string.h>

const char *vkt_status_str(vkt_status st)
{
    switch (st) {
    case VKT_OK: return "ok";
    case VKT_ERR_USAGE: return "usage error";
    case VKT_ERR_IO: return "i/o error";
    case VKT_ERR_FORMAT: return "bad file format";
    case VKT_ERR_NOMEM: return "out of host memory";
    case VKT_ERR_OOM_DEVICE: return "out of device memory";
    case VKT_ERR_VK: return "vulkan error";
    case VKT_ERR_DEVICE_LOST: return "device lost";
    case VKT_ERR_UNSUPPORTED: return "unsupported";
    case VKT_ERR_SHAPE: return "shape mismatch";
    case VKT_ERR_NUMERIC: return "numeric error";
    case VKT_ERR_INTERRUPTED: return "interrupted";
    case VKT_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

vkt_status vkt_fail(vkt_err *err, vkt_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void vkt_err_prefix(vkt_err *err, const char *fmt, ...)
{
    if (!err) return;
    char head[256], old[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", head, old);
}
