/* Status codes and error messages: every fallible call returns a vkt_status and fills a vkt_err.
 * Leaf module: depends on libc only.
 *
 *   vkt_err err = {0};
 *   if (vkt_thing_load(path, &t, &err) != VKT_OK) fprintf(stderr, "%s\n", err.msg);
 */
#ifndef VKT_BASE_ERR_H
#define VKT_BASE_ERR_H

#include <stdarg.h>

typedef enum vkt_status {
    VKT_OK = 0,
    VKT_ERR_USAGE,       /* bad argument or option */
    VKT_ERR_IO,          /* file system */
    VKT_ERR_FORMAT,      /* malformed or unsupported file content */
    VKT_ERR_NOMEM,       /* host allocation failed */
    VKT_ERR_OOM_DEVICE,  /* device memory exhausted */
    VKT_ERR_VK,          /* a Vulkan call failed */
    VKT_ERR_DEVICE_LOST, /* VK_ERROR_DEVICE_LOST: training tries to save before it stops */
    VKT_ERR_UNSUPPORTED, /* valid request this build or device cannot do */
    VKT_ERR_SHAPE,       /* tensor shapes do not fit the op */
    VKT_ERR_NUMERIC,     /* NaN/Inf or a check against a reference failed */
    VKT_ERR_INTERRUPTED, /* user asked to stop */
    VKT_ERR_INTERNAL,    /* invariant broken: a bug */
} vkt_status;

typedef struct vkt_err {
    vkt_status code;
    char msg[256];
} vkt_err;

/* Fixed phrase for a code ("ok", "i/o error", ...). Never NULL. */
const char *vkt_status_str(vkt_status st);

/* Sets err (may be NULL) to code + formatted message and returns code, so callers can write
 * `return vkt_fail(err, VKT_ERR_IO, "%s: %s", path, strerror(errno));`. */
vkt_status vkt_fail(vkt_err *err, vkt_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Puts "<context>: " in front of err->msg (truncating at the end if needed). */
void vkt_err_prefix(vkt_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
