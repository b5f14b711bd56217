/* Character classes shared by the tokenizer and the prompt parser, spelled the way the Python
 * code they mirror sees them (Python 3 `re`, the `regex` module, str methods). Internal to text/.
 */
#ifndef VKT_TEXT_TEXT_UTIL_H
#define VKT_TEXT_TEXT_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <utf8proc.h>

/* \s of the `regex` module (HF CLIPTokenizer's whitespace_clean and pre-tokenizer): the Unicode
 * White_Space property. */
static inline bool vkt_text_is_regex_space(int32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* str.isspace() / str.strip() and \s of Python's `re` (the webui's prompt parser): White_Space
 * plus the information separators U+001C..U+001F. */
static inline bool vkt_text_is_py_space(int32_t c)
{
    return vkt_text_is_regex_space(c) || (c >= 0x1C && c <= 0x1F);
}

static inline bool vkt_text_is_letter(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}

static inline bool vkt_text_is_number(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

/* \w of Python's `re`: str.isalnum() or '_' (= letters and numbers, checked for Unicode 14). */
static inline bool vkt_text_is_word(int32_t c)
{
    return c == '_' || vkt_text_is_letter(c) || vkt_text_is_number(c);
}

#endif
