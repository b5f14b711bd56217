/* UTF-8 validation and a growable buffer for io/ writers. Depends on base only. */
#include "io/json_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"

bool vkt_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len) return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += len;
    }
    return true;
}

void vkt_buf_append(vkt_buf *b, const void *p, size_t n)
{
    if (b->failed || !n) return;
    if (n > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        uint8_t *d = vkt_realloc(b->data, cap);
        if (!d) {
            b->failed = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void vkt_buf_puts(vkt_buf *b, const char *s) { vkt_buf_append(b, s, strlen(s)); }

void vkt_buf_printf(vkt_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->failed = true;
        return;
    }
    vkt_buf_append(b, tmp, (size_t)n);
}

void vkt_buf_json_str(vkt_buf *b, const char *s)
{
    vkt_buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            vkt_buf_append(b, e, 2);
        } else if (*p < 0x20) {
            vkt_buf_printf(b, "\\u%04x", *p);
        } else {
            vkt_buf_append(b, p, 1);
        }
    }
    vkt_buf_append(b, "\"", 1);
}

void vkt_buf_pyjson_byte(vkt_buf *b, unsigned char c)
{
    switch (c) {
    case '"':
        vkt_buf_puts(b, "\\\"");
        break;
    case '\\':
        vkt_buf_puts(b, "\\\\");
        break;
    case '\n':
        vkt_buf_puts(b, "\\n");
        break;
    case '\r':
        vkt_buf_puts(b, "\\r");
        break;
    case '\t':
        vkt_buf_puts(b, "\\t");
        break;
    case '\b':
        vkt_buf_puts(b, "\\b");
        break;
    case '\f':
        vkt_buf_puts(b, "\\f");
        break;
    default:
        if (c < 0x20)
            vkt_buf_printf(b, "\\u%04x", c);
        else
            vkt_buf_append(b, &c, 1);
    }
}

void vkt_buf_free(vkt_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}
