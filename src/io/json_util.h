/* Small helpers shared by io/ parsers and writers: UTF-8 validation and a growable byte buffer
 * with JSON string escaping. Internal to io/ (and cli/ for output). Depends on base only. */
#ifndef VKT_IO_JSON_UTIL_H
#define VKT_IO_JSON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* True when p[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF). */
bool vkt_utf8_valid(const uint8_t *p, size_t n);

/* Growable buffer; a failed append sets `failed` and later appends do nothing. */
typedef struct vkt_buf {
    uint8_t *data; /* owned; free() */
    size_t len, cap;
    bool failed;
} vkt_buf;

void vkt_buf_append(vkt_buf *b, const void *p, size_t n);
void vkt_buf_puts(vkt_buf *b, const char *s);
void vkt_buf_printf(vkt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a quoted JSON string. */
void vkt_buf_json_str(vkt_buf *b, const char *s);
/* Appends byte c as Python's json.dumps writes it inside a string: \" \\ \n \r \t \b \f, other
 * controls as \u00XX, anything else as is (ensure_ascii=False; an ensure_ascii writer handles
 * bytes >= 0x80 itself). */
void vkt_buf_pyjson_byte(vkt_buf *b, unsigned char c);
void vkt_buf_free(vkt_buf *b);

#endif
