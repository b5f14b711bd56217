/* Embedding name cleaning (webui create_embedding()). Depends on base and utf8proc. */
#include "text/embedding_name.h"

#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "text/text_util.h"

vkt_status vkt_embedding_name_sanitize(const char *name, char **out, vkt_err *err)
{
    size_t n = strlen(name), k = 0;
    char *o = vkt_malloc(n + 1);
    if (!o) return vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
    const uint8_t *p = (const uint8_t *)name;
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t c;
        utf8proc_ssize_t len = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &c);
        if (len <= 0) {
            free(o);
            return vkt_fail(err, VKT_ERR_USAGE, "embedding name: invalid UTF-8 at byte %zu", i);
        }
        /* x.isalnum() or x in "._- " */
        if (vkt_text_is_letter(c) || vkt_text_is_number(c) || c == '.' || c == '_' || c == '-' ||
            c == ' ') {
            memcpy(o + k, p + i, (size_t)len);
            k += (size_t)len;
        }
        i += (size_t)len;
    }
    o[k] = 0;
    if (k == 0) {
        free(o);
        return vkt_fail(err, VKT_ERR_USAGE,
                        "embedding name \"%s\" has no letters, digits or . _ - characters", name);
    }
    *out = o;
    return VKT_OK;
}
