/* Prompt templates and filewords (webui textual_inversion/dataset.py: template lines, [name] and
 * [filewords], captions from .txt files or file names). Knows nothing of Vulkan. */
#include "text/template.h"

#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "assets.h"
#include "base/checked.h"
#include "base/fault.h"
#include "base/file.h"
#include "text/text_util.h"

#define MAX_TEMPLATE_BYTES ((size_t)16 << 20)
#define MAX_CAPTION_BYTES ((size_t)16 << 20)

static vkt_status check_utf8(const char *s, size_t n, const char *what, vkt_err *err)
{
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0 || c < 0)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: invalid UTF-8 at byte %zu", what, i);
        i += (size_t)k;
    }
    return VKT_OK;
}

/* Python str.strip() on valid UTF-8 [*a, *b). */
static void py_strip(const char *s, size_t *a, size_t *b)
{
    while (*a < *b) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)s + *a, (utf8proc_ssize_t)(*b - *a), &c);
        if (k <= 0 || !vkt_text_is_py_space(c)) break;
        *a += (size_t)k;
    }
    while (*b > *a) {
        size_t p = *b - 1;
        while (p > *a && ((uint8_t)s[p] & 0xC0) == 0x80)
            p--;
        utf8proc_int32_t c;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)s + p, (utf8proc_ssize_t)(*b - p), &c);
        if (k <= 0 || !vkt_text_is_py_space(c)) break;
        *b = p;
    }
}

static char *dup_range(const char *s, size_t n)
{
    char *t = vkt_malloc(n + 1);
    if (!t) return NULL;
    memcpy(t, s, n);
    t[n] = 0;
    return t;
}

void vkt_template_destroy(vkt_template *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n_lines; i++)
        free(t->lines[i]);
    free(t->lines);
    free(t);
}

vkt_status vkt_template_parse(const char *text, size_t len, const char *name, vkt_template **out,
                              vkt_err *err)
{
    vkt_status st = check_utf8(text, len, name, err);
    if (st) return st;
    vkt_template *t = vkt_calloc(1, sizeof *t);
    size_t max_lines = 1;
    for (size_t i = 0; i < len; i++)
        max_lines += text[i] == '\n' || text[i] == '\r';
    if (!t || !(t->lines = vkt_calloc(max_lines, sizeof *t->lines))) {
        vkt_template_destroy(t);
        return vkt_fail(err, VKT_ERR_NOMEM, "template %s: out of host memory", name);
    }
    snprintf(t->name, sizeof t->name, "%s", name);
    /* readlines() in text mode: \r\n, \r and \n end a line; a final line end adds no line */
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && text[e] != '\n' && text[e] != '\r')
            e++;
        size_t a = i, b = e;
        py_strip(text, &a, &b);
        if (!(t->lines[t->n_lines] = dup_range(text + a, b - a))) {
            vkt_template_destroy(t);
            return vkt_fail(err, VKT_ERR_NOMEM, "template %s: out of host memory", name);
        }
        t->n_lines++;
        if (e < len && text[e] == '\r' && e + 1 < len && text[e + 1] == '\n') e++;
        i = e + 1;
    }
    if (t->n_lines == 0) {
        vkt_template_destroy(t);
        return vkt_fail(err, VKT_ERR_FORMAT, "template %s is empty: no prompt lines", name);
    }
    *out = t;
    return VKT_OK;
}

vkt_status vkt_template_load(const char *name_or_path, vkt_template **out, vkt_err *err)
{
    if (!strchr(name_or_path, '/')) {
        char key[300];
        const vkt_asset *a = NULL;
        snprintf(key, sizeof key, "templates/%s", name_or_path);
        a = vkt_asset_find(key);
        if (!a) {
            snprintf(key, sizeof key, "templates/%s.txt", name_or_path);
            a = vkt_asset_find(key);
        }
        if (a)
            return vkt_template_parse((const char *)a->data, (size_t)*a->size, name_or_path, out,
                                      err);
    }
    uint8_t *data = NULL;
    size_t n = 0;
    vkt_status st = vkt_read_file(name_or_path, MAX_TEMPLATE_BYTES, &data, &n, err);
    if (st) {
        if (!strchr(name_or_path, '/'))
            vkt_err_prefix(
                err,
                "template \"%s\" is neither a built-in template (style, style_filewords, "
                "subject, subject_filewords, hypernetwork, none) nor a file",
                name_or_path);
        return st;
    }
    st = vkt_template_parse((const char *)data, n, name_or_path, out, err);
    free(data);
    return st;
}

vkt_status vkt_template_check_ti(const vkt_template *t, vkt_err *err)
{
    for (size_t i = 0; i < t->n_lines; i++)
        if (strstr(t->lines[i], "[name]")) return VKT_OK;
    return vkt_fail(
        err, VKT_ERR_USAGE,
        "template %s has no [name]: the embedding would never appear in a training prompt "
        "(use e.g. style_filewords or subject_filewords for textual inversion)",
        t->name);
}

/* Python str.replace(pat, rep): every non-overlapping occurrence, left to right. */
static char *replace_all(const char *s, const char *pat, const char *rep)
{
    size_t np = strlen(pat), nr = strlen(rep), count = 0, n = strlen(s), total;
    for (const char *p = s; (p = strstr(p, pat)); p += np)
        count++;
    if (!vkt_mul_ok(count, nr, &total) || !vkt_add_ok(total, n + 1, &total)) return NULL;
    char *out = vkt_malloc(total), *w = out;
    if (!out) return NULL;
    for (const char *p = s;;) {
        const char *q = strstr(p, pat);
        if (!q) {
            strcpy(w, p);
            break;
        }
        memcpy(w, p, (size_t)(q - p));
        w += q - p;
        memcpy(w, rep, nr);
        w += nr;
        p = q + np;
    }
    return out;
}

vkt_status vkt_template_render(const char *line, const char *name, const char *filewords,
                               char **out, vkt_err *err)
{
    char *a =
        filewords ? replace_all(line, "[filewords]", filewords) : dup_range(line, strlen(line));
    char *b = a && name ? replace_all(a, "[name]", name) : a;
    if (b != a) free(a);
    if (!b) return vkt_fail(err, VKT_ERR_NOMEM, "prompt: out of host memory");
    *out = b;
    return VKT_OK;
}

/* Python os.path.splitext on a base name: the extension starts at the last '.', unless only dots
 * precede it. Returns the stem length. */
static size_t stem_len(const char *base)
{
    size_t n = strlen(base);
    const char *dot = strrchr(base, '.');
    if (!dot) return n;
    for (const char *p = base; p < dot; p++)
        if (*p != '.') return (size_t)(dot - base);
    return n;
}

vkt_status vkt_filewords_from_filename(const char *filename, const char *word_regex,
                                       const char *join, char **out, vkt_err *err)
{
    const char *slash = strrchr(filename, '/');
    const char *base = slash ? slash + 1 : filename;
    size_t n = stem_len(base);
    vkt_status st = check_utf8(base, n, filename, err);
    if (st) return st;
    /* re.sub(r"^[-\d]+\s*", "", stem): \d is any Unicode decimal digit, \s Python's whitespace */
    size_t i = 0, run = 0;
    while (i < n) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)base + i, (utf8proc_ssize_t)(n - i), &c);
        if (c != '-' && utf8proc_category(c) != UTF8PROC_CATEGORY_ND) break;
        i += (size_t)k;
        run++;
    }
    if (run > 0) {
        while (i < n) {
            utf8proc_int32_t c;
            utf8proc_ssize_t k =
                utf8proc_iterate((const utf8proc_uint8_t *)base + i, (utf8proc_ssize_t)(n - i), &c);
            if (!vkt_text_is_py_space(c)) break;
            i += (size_t)k;
        }
    }
    char *text = dup_range(base + i, n - i);
    if (!text) return vkt_fail(err, VKT_ERR_NOMEM, "filewords: out of host memory");
    if (!word_regex || !word_regex[0]) {
        *out = text;
        return VKT_OK;
    }
    /* "".join(re.findall(word_regex, text)) with the join string */
    regex_t re;
    int rc = regcomp(&re, word_regex, REG_EXTENDED);
    if (rc != 0) {
        char msg[128];
        regerror(rc, &re, msg, sizeof msg);
        free(text);
        return vkt_fail(err, VKT_ERR_USAGE, "filename word regex \"%s\": %s", word_regex, msg);
    }
    size_t nj = join ? strlen(join) : 0, cap = strlen(text) + (strlen(text) + 2) * nj + 1, w = 0;
    char *res = vkt_malloc(cap + 1);
    if (!res) {
        regfree(&re);
        free(text);
        return vkt_fail(err, VKT_ERR_NOMEM, "filewords: out of host memory");
    }
    size_t pos = 0, len = strlen(text);
    int found = 0;
    while (pos <= len) {
        regmatch_t m;
        if (regexec(&re, text + pos, 1, &m, pos ? REG_NOTBOL : 0) != 0) break;
        size_t ms = pos + (size_t)m.rm_so, me = pos + (size_t)m.rm_eo;
        size_t piece = me - ms;
        /* an empty match adds "" and moves one character on */
        if (w + nj + piece > cap) break; /* cannot happen: matches do not overlap */
        if (found++ && nj) memcpy(res + w, join, nj), w += nj;
        memcpy(res + w, text + ms, piece);
        w += piece;
        if (me > ms) {
            pos = me;
        } else {
            if (me >= len) break;
            pos = me + 1;
            while (pos < len && ((uint8_t)text[pos] & 0xC0) == 0x80)
                pos++;
        }
    }
    res[w] = 0;
    regfree(&re);
    free(text);
    *out = res;
    return VKT_OK;
}

vkt_status vkt_filewords_for_image(const char *image_path, const char *word_regex, const char *join,
                                   char **out, vkt_err *err)
{
    const char *slash = strrchr(image_path, '/');
    const char *base = slash ? slash + 1 : image_path;
    size_t dir_n = (size_t)(base - image_path), n = dir_n + stem_len(base);
    char *txt = vkt_malloc(n + 5);
    if (!txt) return vkt_fail(err, VKT_ERR_NOMEM, "filewords: out of host memory");
    memcpy(txt, image_path, n);
    memcpy(txt + n, ".txt", 5);
    struct stat sb;
    if (stat(txt, &sb) != 0) {
        free(txt);
        return vkt_filewords_from_filename(image_path, word_regex, join, out, err);
    }
    uint8_t *data = NULL;
    size_t len = 0;
    vkt_status st = vkt_read_file(txt, MAX_CAPTION_BYTES, &data, &len, err);
    if (!st) st = check_utf8((const char *)data, len, txt, err);
    free(txt);
    if (st) {
        free(data);
        return st;
    }
    /* text mode: \r\n and \r become \n */
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\r') {
            data[w++] = '\n';
            if (i + 1 < len && data[i + 1] == '\n') i++;
        } else {
            data[w++] = data[i];
        }
    }
    data[w] = 0;
    *out = (char *)data;
    return VKT_OK;
}
