/* CLIP BPE tokenizer (../shared/spec/tokenizer-and-prompts.md §1-§4). Knows nothing of Vulkan.
 * Unicode facts (categories, case mapping, NFC) come from utf8proc; the whitespace sets are the
 * ones Python's `regex` module (\s) and str.strip() use, written out below. */
#include "text/tokenizer.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include <zlib.h>

#include "assets.h"
#include "base/checked.h"
#include "base/fault.h"
#include "base/file.h"
#include "text/text_util.h"

#define END_OF_WORD "</w>"
#define MAX_VOCAB_FILE_BYTES ((size_t)256 << 20)
#define CACHE_SLOTS (1u << 16)       /* power of two */
#define CACHE_MAX_ENTRIES (1u << 15) /* half full at most; then the cache is cleared */
#define CACHE_MAX_KEY 256            /* longer pre-tokens are not cached */

typedef struct pair_slot {
    uint64_t key; /* (left id + 1) << 32 | (right id + 1); 0 = empty */
    int32_t rank;
    int32_t out; /* id of the merged symbol */
} pair_slot;

typedef struct cache_slot {
    uint32_t hash;
    uint32_t key_off, key_len; /* into cache_keys; key_len 0 = empty slot (keys are never empty) */
    uint32_t ids_off, ids_len; /* into cache_ids */
} cache_slot;

typedef struct heap_item {
    int32_t rank;
    int32_t left; /* node index of the pair's left symbol */
    int32_t idl, idr;
} heap_item;

struct vkt_tokenizer {
    int32_t n_vocab;
    char **sym;      /* [n_vocab] UTF-8 vocab strings, pointing into sym_block */
    char *sym_block; /* owned */
    int32_t byte_id[256], byte_id_end[256]; /* ids of a byte's symbol, alone and with </w> */
    uint8_t byte_of_sym[324]; /* byte-table code point (0..323) -> byte, for decoding */
    pair_slot *pairs;
    size_t pair_mask;
    /* BPE cache: pre-token bytes -> ids */
    cache_slot *cache;
    uint32_t cache_count;
    char *cache_keys;
    size_t cache_keys_n, cache_keys_cap;
    int32_t *cache_ids;
    size_t cache_ids_n, cache_ids_cap;
    /* scratch for one BPE run, grown as needed */
    int32_t *nid, *nprev, *nnext;
    size_t nodes_cap;
    heap_item *heap, *round;
    size_t heap_cap, round_cap;
};

/* ---------------------------------------------------------------------------------------------
 * small helpers */

vkt_status vkt_ids_push(vkt_ids *ids, int32_t id, vkt_err *err)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64, bytes;
        if (!vkt_mul_ok(cap, sizeof *ids->v, &bytes))
            return vkt_fail(err, VKT_ERR_NOMEM, "token ids: too many");
        int32_t *v = vkt_realloc(ids->v, bytes);
        if (!v) return vkt_fail(err, VKT_ERR_NOMEM, "token ids: out of host memory");
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return VKT_OK;
}

void vkt_ids_fini(vkt_ids *ids)
{
    if (!ids) return;
    free(ids->v);
    ids->v = NULL;
    ids->n = ids->cap = 0;
}

/* Grows *p (elements of `size` bytes) to hold at least `need`; false on OOM. */
static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 16, bytes;
    while (c < need) {
        if (!vkt_mul_ok(c, 2, &c)) return false;
    }
    if (!vkt_mul_ok(c, size, &bytes)) return false;
    void *q = vkt_realloc(*p, bytes);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

static uint32_t fnv1a(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* Bytes 33-126, 161-172, 174-255 keep their code point; the other 68 map to U+0100.. in order
 * (openai/CLIP simple_tokenizer.py bytes_to_unicode). */
static bool byte_printable(int b)
{
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
}

/* ---------------------------------------------------------------------------------------------
 * loading the merges */

/* Inflates a gzip stream until `want_lines` newlines have been produced (or the stream ends).
 * *out is malloc'd and NUL-terminated. */
static vkt_status gunzip_lines(const uint8_t *data, size_t n, size_t want_lines, const char *what,
                               char **out, size_t *out_n, vkt_err *err)
{
    vkt_status st = VKT_OK;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    char *buf = NULL;
    size_t cap = 0, len = 0, lines = 0;
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return vkt_fail(err, VKT_ERR_NOMEM, "%s: zlib init failed", what);
    zs.next_in = (Bytef *)data;
    zs.avail_in = n > UINT32_MAX ? UINT32_MAX : (uInt)n;
    for (;;) {
        if (!grow((void **)&buf, &cap, len + 65536 + 1, 1)) {
            st = vkt_fail(err, VKT_ERR_NOMEM, "%s: out of host memory", what);
            goto done;
        }
        if (len > MAX_VOCAB_FILE_BYTES) {
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: more than %zu bytes once inflated", what,
                          MAX_VOCAB_FILE_BYTES);
            goto done;
        }
        zs.next_out = (Bytef *)buf + len;
        zs.avail_out = 65536;
        int rc = inflate(&zs, Z_NO_FLUSH);
        size_t got = 65536 - zs.avail_out;
        for (size_t i = len; i < len + got; i++)
            lines += buf[i] == '\n';
        len += got;
        if (rc == Z_STREAM_END || lines >= want_lines) break;
        if (rc != Z_OK && !(rc == Z_BUF_ERROR && got > 0)) {
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: bad gzip data (zlib %d at input byte %lu)",
                          what, rc, (unsigned long)zs.total_in);
            goto done;
        }
        if (got == 0 && zs.avail_in == 0) {
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: gzip data ends early", what);
            goto done;
        }
    }
    buf[len] = 0;
    *out = buf;
    *out_n = len;
    buf = NULL;
done:
    inflateEnd(&zs);
    free(buf);
    return st;
}

/* string -> id map used while building the vocabulary */
typedef struct str_map {
    int32_t *slot; /* id + 1; 0 = empty */
    size_t mask;
    char **sym;
} str_map;

static int32_t str_map_get(const str_map *m, const char *s, size_t n)
{
    for (size_t i = fnv1a(s, n) & m->mask;; i = (i + 1) & m->mask) {
        int32_t v = m->slot[i];
        if (!v) return -1;
        const char *t = m->sym[v - 1];
        if (strlen(t) == n && memcmp(t, s, n) == 0) return v - 1;
    }
}

/* A later id with the same string replaces an earlier one (dict(zip(vocab, range(...)))). */
static void str_map_put(str_map *m, int32_t id)
{
    const char *s = m->sym[id];
    size_t n = strlen(s);
    for (size_t i = fnv1a(s, n) & m->mask;; i = (i + 1) & m->mask) {
        int32_t v = m->slot[i];
        if (!v || strcmp(m->sym[v - 1], s) == 0) {
            m->slot[i] = id + 1;
            return;
        }
    }
}

static void pair_put(vkt_tokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t out)
{
    uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
    for (size_t i = mix64(key) & t->pair_mask;; i = (i + 1) & t->pair_mask) {
        if (t->pairs[i].key == 0 || t->pairs[i].key == key) {
            t->pairs[i] = (pair_slot){key, rank, out}; /* a repeated pair: the later rank wins */
            return;
        }
    }
}

static const pair_slot *pair_get(const vkt_tokenizer *t, int32_t a, int32_t b)
{
    uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
    for (size_t i = mix64(key) & t->pair_mask;; i = (i + 1) & t->pair_mask) {
        if (t->pairs[i].key == key) return &t->pairs[i];
        if (t->pairs[i].key == 0) return NULL;
    }
}

static bool is_field_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Splits line [s, e) into exactly two whitespace-separated fields. */
static bool split_merge(const char *s, const char *e, const char **a, size_t *na, const char **b,
                        size_t *nb)
{
    while (s < e && is_field_space(*s))
        s++;
    const char *p = s;
    while (p < e && !is_field_space(*p))
        p++;
    *a = s;
    *na = (size_t)(p - s);
    while (p < e && is_field_space(*p))
        p++;
    const char *q = p;
    while (q < e && !is_field_space(*q))
        q++;
    *b = p;
    *nb = (size_t)(q - p);
    while (q < e && is_field_space(*q))
        q++;
    return *na > 0 && *nb > 0 && q == e;
}

static vkt_status build(vkt_tokenizer *t, const char *text, size_t text_n, const char *what,
                        vkt_err *err)
{
    vkt_status st = VKT_OK;
    str_map map = {0};
    const char *line_start[VKT_CLIP_N_MERGES + 1];
    const char *line_end[VKT_CLIP_N_MERGES + 1];
    size_t n_lines = 0;
    const char *p = text, *end = text + text_n;

    /* line 0 is the header; lines 1..48894 are the merges used */
    while (n_lines < VKT_CLIP_N_MERGES + 1 && p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (!nl && p == end) break; /* the empty element after a final newline */
        line_start[n_lines] = p;
        line_end[n_lines] = e;
        n_lines++;
        if (!nl) break;
        p = nl + 1;
    }
    if (n_lines < VKT_CLIP_N_MERGES + 1) {
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "%s: %zu merge lines, expected at least %d after the header", what,
                        n_lines ? n_lines - 1 : 0, VKT_CLIP_N_MERGES);
    }

    /* vocabulary strings: 256 byte symbols, the same with </w>, merges, BOS, EOS */
    size_t block = 0;
    block += 256 * (4 + 1) + 256 * (4 + 4 + 1);
    for (size_t i = 1; i <= VKT_CLIP_N_MERGES; i++)
        block += (size_t)(line_end[i] - line_start[i]) + 1;
    block += sizeof "<|startoftext|>" + sizeof "<|endoftext|>";
    t->n_vocab = VKT_CLIP_N_VOCAB;
    t->sym = vkt_calloc((size_t)t->n_vocab, sizeof *t->sym);
    t->sym_block = vkt_malloc(block);
    if (!t->sym || !t->sym_block)
        return vkt_fail(err, VKT_ERR_NOMEM, "%s: out of host memory", what);
    char *w = t->sym_block;
    int32_t id = 0;
    int remap = 0, order[256], cp_of[256];
    for (int b = 0; b < 256; b++)
        if (byte_printable(b)) order[id] = b, cp_of[b] = b, id++;
    for (int b = 0; b < 256; b++)
        if (!byte_printable(b)) order[id] = b, cp_of[b] = 256 + remap++, id++;
    for (int i = 0; i < 256; i++) {
        int b = order[i];
        t->byte_of_sym[cp_of[b]] = (uint8_t)b;
        utf8proc_ssize_t k = utf8proc_encode_char(cp_of[b], (utf8proc_uint8_t *)w);
        w[k] = 0;
        t->sym[i] = w;
        w += k + 1;
    }
    for (int i = 0; i < 256; i++) {
        size_t k = strlen(t->sym[i]);
        memcpy(w, t->sym[i], k);
        memcpy(w + k, END_OF_WORD, sizeof END_OF_WORD);
        t->sym[256 + i] = w;
        w += k + sizeof END_OF_WORD;
    }
    for (size_t i = 1; i <= VKT_CLIP_N_MERGES; i++) {
        const char *a, *b;
        size_t na, nb;
        if (!split_merge(line_start[i], line_end[i], &a, &na, &b, &nb)) {
            return vkt_fail(err, VKT_ERR_FORMAT,
                            "%s: line %zu: expected two space-separated symbols", what, i + 1);
        }
        memcpy(w, a, na);
        memcpy(w + na, b, nb);
        w[na + nb] = 0;
        t->sym[512 + i - 1] = w;
        w += na + nb + 1;
    }
    memcpy(w, "<|startoftext|>", sizeof "<|startoftext|>");
    t->sym[VKT_CLIP_BOS] = w;
    w += sizeof "<|startoftext|>";
    memcpy(w, "<|endoftext|>", sizeof "<|endoftext|>");
    t->sym[VKT_CLIP_EOS] = w;

    map.mask = (1u << 17) - 1;
    map.sym = t->sym;
    map.slot = vkt_calloc(map.mask + 1, sizeof *map.slot);
    t->pair_mask = (1u << 17) - 1;
    t->pairs = vkt_calloc(t->pair_mask + 1, sizeof *t->pairs);
    if (!map.slot || !t->pairs) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "%s: out of host memory", what);
        goto done;
    }
    for (int32_t i = 0; i < t->n_vocab; i++)
        str_map_put(&map, i);
    for (int i = 0; i < 256; i++) {
        int b = order[i];
        t->byte_id[b] = str_map_get(&map, t->sym[i], strlen(t->sym[i]));
        t->byte_id_end[b] = str_map_get(&map, t->sym[256 + i], strlen(t->sym[256 + i]));
    }
    for (size_t i = 1; i <= VKT_CLIP_N_MERGES; i++) {
        const char *a, *b;
        size_t na, nb;
        split_merge(line_start[i], line_end[i], &a, &na, &b, &nb);
        int32_t ia = str_map_get(&map, a, na), ib = str_map_get(&map, b, nb);
        const char *m = t->sym[512 + i - 1];
        int32_t out = str_map_get(&map, m, strlen(m));
        /* a part that is no vocabulary symbol can never occur in a word: the merge never fires */
        if (ia >= 0 && ib >= 0) pair_put(t, ia, ib, (int32_t)(i - 1), out);
    }
done:
    free(map.slot);
    return st;
}

vkt_status vkt_tokenizer_create_from_memory(const uint8_t *data, size_t n, const char *what,
                                            vkt_tokenizer **out, vkt_err *err)
{
    vkt_status st = VKT_OK;
    char *text = NULL;
    size_t text_n = 0;
    vkt_tokenizer *t = vkt_calloc(1, sizeof *t);
    if (!t) return vkt_fail(err, VKT_ERR_NOMEM, "%s: out of host memory", what);
    if (n >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        st = gunzip_lines(data, n, VKT_CLIP_N_MERGES + 1, what, &text, &text_n, err);
        if (st) goto done;
        st = build(t, text, text_n, what, err);
    } else {
        st = build(t, (const char *)data, n, what, err);
    }
    if (st) goto done;
    t->cache = vkt_calloc(CACHE_SLOTS, sizeof *t->cache);
    if (!t->cache) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "%s: out of host memory", what);
        goto done;
    }
    *out = t;
    t = NULL;
done:
    free(text);
    vkt_tokenizer_destroy(t);
    return st;
}

vkt_status vkt_tokenizer_create(const char *vocab_path, vkt_tokenizer **out, vkt_err *err)
{
    if (!vocab_path) {
        const vkt_asset *a = vkt_asset_find("clip/bpe_simple_vocab_16e6.txt.gz");
        if (!a)
            return vkt_fail(err, VKT_ERR_INTERNAL, "embedded CLIP merges missing from this build");
        return vkt_tokenizer_create_from_memory(a->data, (size_t)*a->size,
                                                "embedded bpe_simple_vocab_16e6.txt.gz", out, err);
    }
    uint8_t *data = NULL;
    size_t n = 0;
    vkt_status st = vkt_read_file(vocab_path, MAX_VOCAB_FILE_BYTES, &data, &n, err);
    if (st) return st;
    st = vkt_tokenizer_create_from_memory(data, n, vocab_path, out, err);
    free(data);
    return st;
}

void vkt_tokenizer_destroy(vkt_tokenizer *t)
{
    if (!t) return;
    free(t->sym);
    free(t->sym_block);
    free(t->pairs);
    free(t->cache);
    free(t->cache_keys);
    free(t->cache_ids);
    free(t->nid);
    free(t->nprev);
    free(t->nnext);
    free(t->heap);
    free(t->round);
    free(t);
}

const char *vkt_tokenizer_symbol(const vkt_tokenizer *t, int32_t id)
{
    if (!t || id < 0 || id >= t->n_vocab) return NULL;
    return t->sym[id];
}

int vkt_tokenizer_decode_id(const vkt_tokenizer *t, int32_t id, char *buf, size_t cap)
{
    const char *s = vkt_tokenizer_symbol(t, id);
    if (!s) return -1;
    size_t n = 0, len = strlen(s);
    if (id == VKT_CLIP_BOS || id == VKT_CLIP_EOS) {
        if (cap) snprintf(buf, cap, "%s", s);
        return (int)len;
    }
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        if (len - i == 4 && memcmp(s + i, END_OF_WORD, 4) == 0) {
            if (n + 1 < cap) buf[n] = ' ';
            n++;
            break;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0 || cp < 0 || cp >= 324) return -1;
        if (n + 1 < cap) buf[n] = (char)t->byte_of_sym[cp];
        n++;
        i += (size_t)k;
    }
    if (cap) buf[n < cap ? n : cap - 1] = 0;
    return (int)n;
}

/* ---------------------------------------------------------------------------------------------
 * text cleaning */

/* Checks UTF-8 the way Python's strict decoder does (no surrogates, no overlongs). */
static vkt_status check_utf8(const char *text, size_t len, vkt_err *err)
{
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0 || cp < 0) {
            return vkt_fail(err, VKT_ERR_FORMAT, "invalid UTF-8 at byte %zu (0x%02x)", i,
                            (unsigned)(uint8_t)text[i]);
        }
        i += (size_t)k;
    }
    return VKT_OK;
}

/* Python str.lower()'s Final_Sigma context helpers (unicodeobject.c handle_capital_sigma). */
static bool is_cased(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT)
        return true;
    return utf8proc_tolower(c) != c || utf8proc_toupper(c) != c; /* e.g. circled letters */
}

static bool is_case_ignorable(int32_t c)
{
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
        return true;
    default:
        break;
    }
    /* Word_Break = MidLetter, MidNumLet or Single_Quote */
    switch (c) {
    case 0x27:
    case 0x2E:
    case 0x3A:
    case 0xB7:
    case 0x387:
    case 0x55F:
    case 0x5F4:
    case 0x2018:
    case 0x2019:
    case 0x2024:
    case 0x2027:
    case 0xFE13:
    case 0xFE52:
    case 0xFE55:
    case 0xFF07:
    case 0xFF0E:
    case 0xFF1A:
        return true;
    default:
        return false;
    }
}

static bool final_sigma(const int32_t *c, size_t n, size_t i)
{
    size_t j = i;
    while (j > 0 && is_case_ignorable(c[j - 1]))
        j--;
    if (j == 0 || !is_cased(c[j - 1])) return false;
    j = i + 1;
    while (j < n && is_case_ignorable(c[j]))
        j++;
    return j == n || !is_cased(c[j]);
}

/* Cleans text into code points: NFC, regex-\s runs -> ' ', str.strip(), str.lower().
 * *out is malloc'd (may be NULL when *n_out is 0). */
static vkt_status clean_cps(const char *text, size_t len, int32_t **out, size_t *n_out,
                            vkt_err *err)
{
    vkt_status st = check_utf8(text, len, err);
    if (st) return st;
    *out = NULL;
    *n_out = 0;
    if (len == 0) return VKT_OK;
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t nn = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &nfc,
                                       UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (nn < 0) {
        free(nfc);
        return vkt_fail(err, nn == UTF8PROC_ERROR_NOMEM ? VKT_ERR_NOMEM : VKT_ERR_FORMAT, "NFC: %s",
                        utf8proc_errmsg(nn));
    }
    /* the lower-cased text has at most 2 code points per input code point (U+0130) */
    size_t cap;
    int32_t *cp = NULL, *lo = NULL;
    if (!vkt_mul_ok((size_t)nn + 1, 2 * sizeof(int32_t), &cap) || !(cp = vkt_malloc(cap)) ||
        !(lo = vkt_malloc(cap))) {
        free(nfc);
        free(cp);
        return vkt_fail(err, VKT_ERR_NOMEM, "text cleaning: out of host memory");
    }
    size_t n = 0;
    for (utf8proc_ssize_t i = 0; i < nn;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(nfc + i, nn - i, &c);
        if (k <= 0) break; /* cannot happen: utf8proc_map wrote valid UTF-8 */
        i += k;
        cp[n++] = c;
    }
    free(nfc);
    /* collapse: a run of \s characters (in the NFC text) becomes one ' ' */
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        if (vkt_text_is_regex_space(cp[i])) {
            while (i < n && vkt_text_is_regex_space(cp[i]))
                i++;
            cp[m++] = ' ';
        } else {
            cp[m++] = cp[i++];
        }
    }
    n = m;
    /* strip with Python's str.isspace() set (which also has U+001C..U+001F) */
    size_t b = 0, e = n;
    while (b < e && vkt_text_is_py_space(cp[b]))
        b++;
    while (e > b && vkt_text_is_py_space(cp[e - 1]))
        e--;
    /* lower-case (full mapping: U+0130 -> i + U+0307; Greek capital sigma by context) */
    size_t k = 0;
    for (size_t i = b; i < e; i++) {
        int32_t c = cp[i];
        if (c == 0x130) {
            lo[k++] = 0x69;
            lo[k++] = 0x307;
        } else if (c == 0x3A3) {
            lo[k++] = final_sigma(cp + b, e - b, i - b) ? 0x3C2 : 0x3C3;
        } else {
            lo[k++] = utf8proc_tolower(c);
        }
    }
    free(cp);
    *out = lo;
    *n_out = k;
    return VKT_OK;
}

vkt_status vkt_tokenizer_clean(const char *text, size_t len, char **out, size_t *out_len,
                               vkt_err *err)
{
    int32_t *cp = NULL;
    size_t n = 0, bytes;
    vkt_status st = clean_cps(text, len, &cp, &n, err);
    if (st) return st;
    char *s = NULL;
    if (!vkt_mul_ok(n, 4, &bytes) || !(s = vkt_malloc(bytes + 1))) {
        free(cp);
        return vkt_fail(err, VKT_ERR_NOMEM, "text cleaning: out of host memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += (size_t)utf8proc_encode_char(cp[i], (utf8proc_uint8_t *)s + k);
    s[k] = 0;
    free(cp);
    *out = s;
    if (out_len) *out_len = k;
    return VKT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * BPE of one pre-token. Same result as HF CLIPTokenizer.bpe(): repeatedly take the adjacent pair
 * with the lowest merge rank and merge all its non-overlapping occurrences left to right. Done in
 * rounds over a heap ordered by (rank, position), so long words cost O(n log n), not O(n^2). */

static bool heap_less(const heap_item *a, const heap_item *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static bool heap_push(vkt_tokenizer *t, size_t *n, heap_item it)
{
    if (!grow((void **)&t->heap, &t->heap_cap, *n + 1, sizeof *t->heap)) return false;
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&it, &t->heap[p])) break;
        t->heap[i] = t->heap[p];
        i = p;
    }
    t->heap[i] = it;
    return true;
}

static heap_item heap_pop(vkt_tokenizer *t, size_t *n)
{
    heap_item top = t->heap[0], last = t->heap[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(&t->heap[c + 1], &t->heap[c])) c++;
        if (!heap_less(&t->heap[c], &last)) break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (*n) t->heap[i] = last;
    return top;
}

static bool push_pair(vkt_tokenizer *t, size_t *hn, int32_t left)
{
    int32_t right = t->nnext[left];
    if (right < 0) return true;
    const pair_slot *ps = pair_get(t, t->nid[left], t->nid[right]);
    if (!ps) return true;
    return heap_push(t, hn, (heap_item){ps->rank, left, t->nid[left], t->nid[right]});
}

static bool pair_valid(const vkt_tokenizer *t, const heap_item *it)
{
    int32_t r = t->nnext[it->left];
    return t->nid[it->left] == it->idl && r >= 0 && t->nid[r] == it->idr;
}

static vkt_status bpe(vkt_tokenizer *t, const uint8_t *w, size_t nb, vkt_ids *out, vkt_err *err)
{
    if (nb == 1) return vkt_ids_push(out, t->byte_id_end[w[0]], err);
    if (nb > INT32_MAX / 2)
        return vkt_fail(err, VKT_ERR_NOMEM, "pre-token of %zu bytes is too long", nb);
    if (nb > t->nodes_cap) {
        size_t cap = nb < 2 * t->nodes_cap ? 2 * t->nodes_cap : nb;
        int32_t *a = vkt_realloc(t->nid, cap * sizeof *a);
        if (a) t->nid = a;
        int32_t *b = a ? vkt_realloc(t->nprev, cap * sizeof *b) : NULL;
        if (b) t->nprev = b;
        int32_t *c = b ? vkt_realloc(t->nnext, cap * sizeof *c) : NULL;
        if (!c) goto oom;
        t->nnext = c;
        t->nodes_cap = cap;
    }
    for (size_t i = 0; i < nb; i++) {
        t->nid[i] = i + 1 < nb ? t->byte_id[w[i]] : t->byte_id_end[w[i]];
        t->nprev[i] = (int32_t)i - 1;
        t->nnext[i] = i + 1 < nb ? (int32_t)i + 1 : -1;
    }
    size_t hn = 0;
    for (size_t i = 0; i + 1 < nb; i++)
        if (!push_pair(t, &hn, (int32_t)i)) goto oom;
    while (hn > 0) {
        heap_item top = heap_pop(t, &hn);
        if (!pair_valid(t, &top)) continue;
        /* this round: every queued occurrence of the lowest-ranked pair, in text order */
        size_t rn = 0;
        if (!grow((void **)&t->round, &t->round_cap, 1, sizeof *t->round)) goto oom;
        t->round[rn++] = top;
        while (hn > 0 && t->heap[0].rank == top.rank) {
            heap_item it = heap_pop(t, &hn);
            if (!grow((void **)&t->round, &t->round_cap, rn + 1, sizeof *t->round)) goto oom;
            t->round[rn++] = it;
        }
        const pair_slot *ps = pair_get(t, top.idl, top.idr);
        for (size_t k = 0; k < rn; k++) {
            const heap_item *it = &t->round[k];
            if (it->idl != top.idl || it->idr != top.idr || !pair_valid(t, it)) continue;
            int32_t L = it->left, R = t->nnext[L];
            t->nid[L] = ps->out;
            t->nnext[L] = t->nnext[R];
            if (t->nnext[R] >= 0) t->nprev[t->nnext[R]] = L;
            t->nid[R] = -1;
            t->nnext[R] = -1;
            if (t->nprev[L] >= 0 && !push_pair(t, &hn, t->nprev[L])) goto oom;
            if (!push_pair(t, &hn, L)) goto oom;
        }
    }
    for (int32_t i = 0; i >= 0; i = t->nnext[i]) {
        vkt_status st = vkt_ids_push(out, t->nid[i], err);
        if (st) return st;
    }
    return VKT_OK;
oom:
    return vkt_fail(err, VKT_ERR_NOMEM, "BPE: out of host memory");
}

/* ---------------------------------------------------------------------------------------------
 * cache */

static void cache_clear(vkt_tokenizer *t)
{
    memset(t->cache, 0, CACHE_SLOTS * sizeof *t->cache);
    t->cache_count = 0;
    t->cache_keys_n = 0;
    t->cache_ids_n = 0;
}

static const cache_slot *cache_find(const vkt_tokenizer *t, const uint8_t *key, size_t n,
                                    uint32_t h)
{
    for (uint32_t i = h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
        const cache_slot *s = &t->cache[i];
        if (s->key_len == 0) return NULL;
        if (s->hash == h && s->key_len == n && memcmp(t->cache_keys + s->key_off, key, n) == 0)
            return s;
    }
}

/* Remembers key -> ids; silently skips on OOM (the cache is only a speed-up). */
static void cache_put(vkt_tokenizer *t, const uint8_t *key, size_t n, uint32_t h,
                      const int32_t *ids, size_t n_ids)
{
    if (n == 0 || n > CACHE_MAX_KEY || n_ids > CACHE_MAX_KEY) return;
    if (t->cache_count >= CACHE_MAX_ENTRIES || t->cache_keys_n + n > UINT32_MAX / 2 ||
        t->cache_ids_n + n_ids > UINT32_MAX / 2)
        cache_clear(t);
    if (!grow((void **)&t->cache_keys, &t->cache_keys_cap, t->cache_keys_n + n, 1) ||
        !grow((void **)&t->cache_ids, &t->cache_ids_cap, t->cache_ids_n + n_ids,
              sizeof *t->cache_ids))
        return;
    uint32_t i = h & (CACHE_SLOTS - 1);
    while (t->cache[i].key_len != 0)
        i = (i + 1) & (CACHE_SLOTS - 1);
    t->cache[i] = (cache_slot){h, (uint32_t)t->cache_keys_n, (uint32_t)n, (uint32_t)t->cache_ids_n,
                               (uint32_t)n_ids};
    memcpy(t->cache_keys + t->cache_keys_n, key, n);
    memcpy(t->cache_ids + t->cache_ids_n, ids, n_ids * sizeof *ids);
    t->cache_keys_n += n;
    t->cache_ids_n += n_ids;
    t->cache_count++;
}

/* ---------------------------------------------------------------------------------------------
 * pre-tokenizer:  <|startoftext|> | <|endoftext|> | 's | 't | 're | 've | 'm | 'll | 'd |
 *                 [\p{L}]+ | [\p{N}] | [^\s\p{L}\p{N}]+      (case-insensitive, findall) */

/* Case-insensitive equality with an ASCII pattern letter as the regex module does it on
 * lower-cased text: only U+017F (long s) folds onto an ASCII letter used here. */
static bool ci_eq(int32_t c, char p)
{
    return c == p || (p == 's' && c == 0x17F);
}

static size_t match_lit(const int32_t *c, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    if (k > n) return 0;
    for (size_t i = 0; i < k; i++)
        if (!ci_eq(c[i], lit[i])) return 0;
    return k;
}

static bool exact_lit(const int32_t *c, const char *lit)
{
    for (size_t i = 0; lit[i]; i++)
        if (c[i] != lit[i]) return false;
    return true;
}

vkt_status vkt_tokenizer_encode(vkt_tokenizer *t, const char *text, size_t len, vkt_ids *out,
                                vkt_err *err)
{
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    size_t n0 = out->n, n = 0;
    int32_t *cp = NULL;
    uint8_t *buf = NULL;
    vkt_status st = clean_cps(text, len, &cp, &n, err);
    if (st) return st;
    size_t buf_bytes;
    if (!vkt_mul_ok(n, 4, &buf_bytes) || !(buf = vkt_malloc(buf_bytes + 1))) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "tokenizer: out of host memory");
        goto done;
    }
    for (size_t i = 0; i < n;) {
        int32_t c = cp[i];
        size_t j = i;
        if (vkt_text_is_regex_space(c)) {
            i++;
            continue;
        }
        if (c == '<') {
            size_t k = match_lit(cp + i, n - i, "<|startoftext|>");
            int32_t special = VKT_CLIP_BOS;
            if (!k) k = match_lit(cp + i, n - i, "<|endoftext|>"), special = VKT_CLIP_EOS;
            if (k &&
                exact_lit(cp + i, special == VKT_CLIP_BOS ? "<|startoftext|>" : "<|endoftext|>")) {
                st = vkt_ids_push(out, special, err); /* HF's bpe cache maps them to themselves */
                if (st) goto done;
                i += k;
                continue;
            }
            j = i + k;
        }
        if (j == i && c == '\'') {
            for (size_t q = 0; q < sizeof contractions / sizeof *contractions && j == i; q++)
                j = i + match_lit(cp + i, n - i, contractions[q]);
        }
        if (j == i) {
            if (vkt_text_is_letter(c)) {
                while (j < n && vkt_text_is_letter(cp[j]))
                    j++;
            } else if (vkt_text_is_number(c)) {
                j = i + 1;
            } else {
                while (j < n && !vkt_text_is_regex_space(cp[j]) && !vkt_text_is_letter(cp[j]) &&
                       !vkt_text_is_number(cp[j]))
                    j++;
            }
        }
        size_t nb = 0;
        for (size_t q = i; q < j; q++)
            nb += (size_t)utf8proc_encode_char(cp[q], buf + nb);
        uint32_t h = fnv1a(buf, nb);
        const cache_slot *hit = cache_find(t, buf, nb, h);
        if (hit) {
            for (uint32_t q = 0; q < hit->ids_len; q++) {
                st = vkt_ids_push(out, t->cache_ids[hit->ids_off + q], err);
                if (st) goto done;
            }
        } else {
            size_t before = out->n;
            st = bpe(t, buf, nb, out, err);
            if (st) goto done;
            cache_put(t, buf, nb, h, out->v + before, out->n - before);
        }
        i = j;
    }
done:
    if (st) out->n = n0;
    free(cp);
    free(buf);
    return st;
}
