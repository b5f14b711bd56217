/* The webui's prompt handling (modules/prompt_parser.py parse_prompt_attention, modules/
 * sd_hijack_clip.py tokenize_line, textual_inversion.py EmbeddingDatabase), written from
 * ../shared/spec/tokenizer-and-prompts.md §5-§6. Knows nothing of Vulkan or embedding files. */
#define _GNU_SOURCE /* strtod_l */
#include "text/prompt.h"

#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/checked.h"
#include "base/fault.h"
#include "text/text_util.h"

/* ---------------------------------------------------------------------------------------------
 * fragments */

typedef struct frag_list {
    vkt_prompt_frag *v;
    size_t n, cap;
} frag_list;

static vkt_status frag_push(frag_list *f, const char *s, size_t n, double w, vkt_err *err)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16, bytes;
        if (!vkt_mul_ok(cap, sizeof *f->v, &bytes))
            return vkt_fail(err, VKT_ERR_NOMEM, "prompt: too many fragments");
        vkt_prompt_frag *v = vkt_realloc(f->v, bytes);
        if (!v) return vkt_fail(err, VKT_ERR_NOMEM, "prompt: out of host memory");
        f->v = v;
        f->cap = cap;
    }
    char *t = vkt_malloc(n + 1);
    if (!t) return vkt_fail(err, VKT_ERR_NOMEM, "prompt: out of host memory");
    memcpy(t, s, n);
    t[n] = 0;
    f->v[f->n++] = (vkt_prompt_frag){t, n, w, false};
    return VKT_OK;
}

void vkt_prompt_frags_fini(vkt_prompt_frags *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].text);
    free(f->v);
    f->v = NULL;
    f->n = 0;
}

/* The decoded prompt: code points and the byte offset of each (off[n] = byte length). */
typedef struct cps {
    const char *s;
    int32_t *c;
    size_t *off;
    size_t n;
} cps;

static vkt_status decode(const char *s, size_t len, cps *out, vkt_err *err)
{
    size_t b1, b2;
    if (!vkt_mul_ok(len + 1, sizeof(int32_t), &b1) || !vkt_mul_ok(len + 1, sizeof(size_t), &b2))
        return vkt_fail(err, VKT_ERR_NOMEM, "prompt: too long");
    out->s = s;
    out->c = vkt_malloc(b1);
    out->off = vkt_malloc(b2);
    out->n = 0;
    if (!out->c || !out->off) return vkt_fail(err, VKT_ERR_NOMEM, "prompt: out of host memory");
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0 || c < 0) {
            return vkt_fail(err, VKT_ERR_FORMAT, "prompt: invalid UTF-8 at byte %zu (0x%02x)", i,
                            (unsigned)(uint8_t)s[i]);
        }
        out->c[out->n] = c;
        out->off[out->n++] = i;
        i += (size_t)k;
    }
    out->off[out->n] = len;
    return VKT_OK;
}

static vkt_status push_range(frag_list *f, const cps *p, size_t a, size_t b, double w, vkt_err *err)
{
    return frag_push(f, p->s + p->off[a], p->off[b] - p->off[a], w, err);
}

static bool word_at(const cps *p, size_t lo, size_t hi, size_t i)
{
    return i >= lo && i < hi && vkt_text_is_word(p->c[i]);
}

/* Text outside brackets: re.split(r"\s*\bBREAK\b\s*", text) on the run [a, b) (a string of its
 * own, so \b sees nothing before a or after b), a ("BREAK", -1) marker between the parts. */
static vkt_status push_text(frag_list *f, const cps *p, size_t a, size_t b, vkt_err *err)
{
    size_t s = a, i = a;
    vkt_status st;
    while (i < b) {
        size_t q = i;
        while (q < b && vkt_text_is_py_space(p->c[q]))
            q++;
        bool hit = q + 5 <= b && p->c[q] == 'B' && p->c[q + 1] == 'R' && p->c[q + 2] == 'E' &&
                   p->c[q + 3] == 'A' && p->c[q + 4] == 'K' && !word_at(p, a, b, q - 1) &&
                   !word_at(p, a, b, q + 5);
        if (!hit) {
            /* every start inside this whitespace run reaches the same q and fails the same way */
            i = q > i ? q + 1 : i + 1;
            continue;
        }
        size_t e = q + 5;
        while (e < b && vkt_text_is_py_space(p->c[e]))
            e++;
        if ((st = push_range(f, p, s, i, 1.0, err))) return st;
        if ((st = frag_push(f, "BREAK", 5, -1.0, err))) return st;
        s = i = e;
    }
    return push_range(f, p, s, b, 1.0, err);
}

/* Decimal value of a Unicode Nd digit: Nd characters come in contiguous runs 0..9. */
static int digit_value(int32_t c)
{
    int32_t z = c;
    while (z > 0 && utf8proc_category(z - 1) == UTF8PROC_CATEGORY_ND)
        z--;
    return (int)((c - z) % 10);
}

/* float() of the weight [+-]?[.\d]+ matched in [a, b): a malformed number ("1.2.3", ".") fails
 * as Python's float() raises ValueError. */
static vkt_status parse_weight(const cps *p, size_t a, size_t b, double *out, vkt_err *err)
{
    char buf[512];
    size_t n = 0, dots = 0, digits = 0;
    bool too_long = false;
    for (size_t i = a; i < b; i++) {
        int32_t c = p->c[i];
        char ch;
        if (c == '+' || c == '-' || c == '.')
            ch = (char)c;
        else
            ch = (char)('0' + digit_value(c)), digits++;
        dots += c == '.';
        if (n + 1 < sizeof buf)
            buf[n++] = ch;
        else
            too_long = true;
    }
    buf[n] = 0;
    if (dots > 1 || digits == 0) {
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "prompt: malformed emphasis weight \"%.*s\" at byte %zu",
                        (int)(p->off[b] - p->off[a]), p->s + p->off[a], p->off[a]);
    }
    if (too_long) {
        /* more digits than a double can tell apart: the value is huge or tiny either way */
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "prompt: emphasis weight at byte %zu has too many digits", p->off[a]);
    }
    locale_t c_loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c_loc) return vkt_fail(err, VKT_ERR_NOMEM, "prompt: cannot create the C locale");
    *out = strtod_l(buf, NULL, c_loc);
    freelocale(c_loc);
    return VKT_OK;
}

/* Matches `:\s*([+-]?[.\d]+)\s*\)` at i (p->c[i] == ':'); returns the end or 0, the number's
 * range in [*na, *nb). */
static size_t match_weight(const cps *p, size_t i, size_t *na, size_t *nb)
{
    size_t j = i + 1, n = p->n;
    while (j < n && vkt_text_is_py_space(p->c[j]))
        j++;
    size_t k = j;
    if (k < n && (p->c[k] == '+' || p->c[k] == '-')) k++;
    size_t d = k;
    while (k < n && (p->c[k] == '.' || utf8proc_category(p->c[k]) == UTF8PROC_CATEGORY_ND))
        k++;
    if (k == d) return 0;
    size_t m = k;
    while (m < n && vkt_text_is_py_space(p->c[m]))
        m++;
    if (m >= n || p->c[m] != ')') return 0;
    *na = j;
    *nb = k;
    return m + 1;
}

static void multiply_range(frag_list *f, size_t start, double m)
{
    for (size_t i = start; i < f->n; i++)
        f->v[i].weight *= m;
}

typedef struct stack {
    size_t *v;
    size_t n, cap;
} stack;

static bool stack_push(stack *s, size_t x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        size_t *v = vkt_realloc(s->v, cap * sizeof *v);
        if (!v) return false;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return true;
}

static bool is_special(int32_t c)
{
    return c == '\\' || c == '(' || c == ')' || c == '[' || c == ']' || c == ':';
}

vkt_status vkt_prompt_parse(const char *text, size_t len, bool parse, vkt_prompt_frags *out,
                            vkt_err *err)
{
    /* webui: round_bracket_multiplier = 1.1, square_bracket_multiplier = 1 / 1.1 (multiplied,
     * never divided, so the last bit matches) */
    const double round_mult = 1.1, square_mult = 1.0 / 1.1;
    vkt_status st = VKT_OK;
    frag_list f = {0};
    stack round = {0}, square = {0};
    cps p = {0};
    if (len == SIZE_MAX) len = strlen(text);
    if ((st = decode(text, len, &p, err))) goto done;
    if (!parse) {
        st = frag_push(&f, text, len, 1.0, err);
        goto finish;
    }
    for (size_t i = 0; i < p.n;) {
        int32_t c = p.c[i];
        size_t na, nb, e;
        if (c == '\\') {
            int32_t d = i + 1 < p.n ? p.c[i + 1] : 0;
            if (d == '(' || d == ')' || d == '[' || d == ']' || d == '\\') {
                st = push_range(&f, &p, i + 1, i + 2, 1.0, err);
                i += 2;
            } else {
                st = frag_push(&f, "", 0, 1.0, err); /* a lone backslash yields an empty piece */
                i += 1;
            }
        } else if (c == '(') {
            if (!stack_push(&round, f.n))
                st = vkt_fail(err, VKT_ERR_NOMEM, "prompt: out of host memory");
            i++;
        } else if (c == '[') {
            if (!stack_push(&square, f.n))
                st = vkt_fail(err, VKT_ERR_NOMEM, "prompt: out of host memory");
            i++;
        } else if (c == ':' && (e = match_weight(&p, i, &na, &nb)) != 0) {
            if (round.n) {
                double w = 1.0;
                if ((st = parse_weight(&p, na, nb, &w, err))) goto done;
                multiply_range(&f, round.v[--round.n], w);
            } else {
                st = push_text(&f, &p, i, e, err);
            }
            i = e;
        } else if (c == ')' && round.n) {
            multiply_range(&f, round.v[--round.n], round_mult);
            i++;
        } else if (c == ']' && square.n) {
            multiply_range(&f, square.v[--square.n], square_mult);
            i++;
        } else if (c == ')' || c == ']' || c == ':') {
            st = push_text(&f, &p, i, i + 1, err);
            i++;
        } else {
            size_t j = i;
            while (j < p.n && !is_special(p.c[j]))
                j++;
            st = push_text(&f, &p, i, j, err);
            i = j;
        }
        if (st) goto done;
    }
    for (size_t k = 0; k < round.n; k++)
        multiply_range(&f, round.v[k], round_mult);
    for (size_t k = 0; k < square.n; k++)
        multiply_range(&f, square.v[k], square_mult);
finish:
    if (st) goto done;
    if (f.n == 0 && (st = frag_push(&f, "", 0, 1.0, err))) goto done;
    /* merge runs of identical weights (Python ==, so 0.0 and -0.0 merge too) */
    size_t m = 0;
    for (size_t i = 0; i < f.n; i++) {
        if (m > 0 && f.v[m - 1].weight == f.v[i].weight) {
            size_t a = f.v[m - 1].len, b = f.v[i].len;
            char *t = vkt_realloc(f.v[m - 1].text, a + b + 1);
            if (!t) {
                for (size_t k = m; k < f.n; k++)
                    f.v[m++] = f.v[k]; /* keep ownership tidy */
                f.n = m;
                st = vkt_fail(err, VKT_ERR_NOMEM, "prompt: out of host memory");
                goto done;
            }
            memcpy(t + a, f.v[i].text, b + 1);
            f.v[m - 1].text = t;
            f.v[m - 1].len = a + b;
            free(f.v[i].text);
        } else {
            f.v[m++] = f.v[i];
        }
    }
    f.n = m;
    for (size_t i = 0; i < f.n; i++) {
        if (!isfinite(f.v[i].weight)) {
            st = vkt_fail(err, VKT_ERR_FORMAT,
                          "prompt: emphasis weight of \"%.40s\" is not finite (%g)", f.v[i].text,
                          f.v[i].weight);
            goto done;
        }
        f.v[i].is_break =
            f.v[i].weight == -1.0 && f.v[i].len == 5 && memcmp(f.v[i].text, "BREAK", 5) == 0;
    }
    out->v = f.v;
    out->n = f.n;
    f.v = NULL;
    f.n = 0;
done : {
    vkt_prompt_frags tmp = {f.v, f.n};
    vkt_prompt_frags_fini(&tmp);
}
    free(round.v);
    free(square.v);
    free(p.c);
    free(p.off);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * embedding names */

typedef struct emb_entry {
    char *name;
    int32_t *ids;
    size_t n_ids;
    int vectors;
    void *user;
    uint64_t seq; /* registration order */
} emb_entry;

struct vkt_prompt_embs {
    emb_entry *v;
    size_t n, cap;
    size_t *order; /* entry indices sorted by (first id, longer first, earlier registration) */
    uint64_t next_seq;
};

vkt_status vkt_prompt_embs_create(vkt_prompt_embs **out, vkt_err *err)
{
    vkt_prompt_embs *e = vkt_calloc(1, sizeof *e);
    if (!e) return vkt_fail(err, VKT_ERR_NOMEM, "embedding names: out of host memory");
    *out = e;
    return VKT_OK;
}

void vkt_prompt_embs_destroy(vkt_prompt_embs *e)
{
    if (!e) return;
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].name);
        free(e->v[i].ids);
    }
    free(e->v);
    free(e->order);
    free(e);
}

size_t vkt_prompt_embs_count(const vkt_prompt_embs *e)
{
    return e ? e->n : 0;
}

/* Insertion sort: registrations are few, and it needs no global context. */
static void embs_sort(vkt_prompt_embs *e)
{
    for (size_t i = 0; i < e->n; i++)
        e->order[i] = i;
    for (size_t i = 1; i < e->n; i++) {
        size_t x = e->order[i], j = i;
        while (j > 0) {
            const emb_entry *a = &e->v[e->order[j - 1]], *b = &e->v[x];
            bool after = a->ids[0] > b->ids[0] ||
                         (a->ids[0] == b->ids[0] &&
                          (a->n_ids < b->n_ids || (a->n_ids == b->n_ids && a->seq > b->seq)));
            if (!after) break;
            e->order[j] = e->order[j - 1];
            j--;
        }
        e->order[j] = x;
    }
}

vkt_status vkt_prompt_embs_add(vkt_prompt_embs *e, vkt_tokenizer *tok, const char *name,
                               int n_vectors, void *user, vkt_err *err)
{
    vkt_status st;
    vkt_ids ids = {0};
    char *copy;
    if (n_vectors < 1 || n_vectors > VKT_PROMPT_CHUNK) {
        return vkt_fail(err, VKT_ERR_USAGE, "embedding \"%s\": %d vectors, expected 1..%d", name,
                        n_vectors, VKT_PROMPT_CHUNK);
    }
    if ((st = vkt_tokenizer_encode(tok, name, strlen(name), &ids, err))) {
        vkt_err_prefix(err, "embedding name \"%.60s\"", name);
        return st;
    }
    if (ids.n == 0) {
        vkt_ids_fini(&ids);
        return vkt_fail(err, VKT_ERR_USAGE, "embedding name \"%s\" has no tokens", name);
    }
    size_t idx = e->n;
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->v[i].name, name) == 0) idx = i;
    if (idx == e->n) {
        if (e->n == e->cap) {
            size_t cap = e->cap ? 2 * e->cap : 8;
            emb_entry *v = vkt_realloc(e->v, cap * sizeof *v);
            if (v) e->v = v;
            size_t *order = v ? vkt_realloc(e->order, cap * sizeof *order) : NULL;
            if (order) e->order = order;
            if (!order) goto oom;
            e->cap = cap;
        }
        if (!(copy = vkt_malloc(strlen(name) + 1))) goto oom;
        strcpy(copy, name);
        e->v[idx] = (emb_entry){copy, NULL, 0, 0, NULL, 0};
        e->n++;
    }
    free(e->v[idx].ids);
    e->v[idx].ids = ids.v;
    e->v[idx].n_ids = ids.n;
    e->v[idx].vectors = n_vectors;
    e->v[idx].user = user;
    e->v[idx].seq = e->next_seq++;
    embs_sort(e);
    return VKT_OK;
oom:
    vkt_ids_fini(&ids);
    return vkt_fail(err, VKT_ERR_NOMEM, "embedding names: out of host memory");
}

/* The longest registered name whose ids equal ids[i..] (webui find_embedding_at_position). */
static const emb_entry *find_at(const vkt_prompt_embs *e, const int32_t *ids, size_t n, size_t i,
                                size_t *index)
{
    if (!e || e->n == 0) return NULL;
    size_t lo = 0, hi = e->n;
    while (lo < hi) { /* first entry with ids[0] >= ids[i] */
        size_t mid = (lo + hi) / 2;
        if (e->v[e->order[mid]].ids[0] < ids[i])
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < e->n && e->v[e->order[lo]].ids[0] == ids[i]; lo++) {
        const emb_entry *x = &e->v[e->order[lo]];
        if (x->n_ids <= n - i && memcmp(x->ids, ids + i, x->n_ids * sizeof *ids) == 0) {
            *index = e->order[lo];
            return x;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * chunking (webui sd_hijack_clip.py tokenize_line) */

vkt_prompt_opts vkt_prompt_opts_default(void)
{
    return (vkt_prompt_opts){20, true, false};
}

typedef struct builder {
    int32_t ids[VKT_PROMPT_CHUNK];
    double mults[VKT_PROMPT_CHUNK];
    size_t n;
    vkt_prompt_fix *fixes;
    size_t n_fixes, fixes_cap;
    int last_comma;
    vkt_prompt_result *res;
    size_t chunks_cap;
} builder;

static vkt_status fix_push(builder *b, vkt_prompt_fix fx, vkt_err *err)
{
    if (b->n_fixes == b->fixes_cap) {
        size_t cap = b->fixes_cap ? 2 * b->fixes_cap : 4;
        vkt_prompt_fix *v = vkt_realloc(b->fixes, cap * sizeof *v);
        if (!v) return vkt_fail(err, VKT_ERR_NOMEM, "prompt: out of host memory");
        b->fixes = v;
        b->fixes_cap = cap;
    }
    b->fixes[b->n_fixes++] = fx;
    return VKT_OK;
}

/* next_chunk(): pad with EOS to 75, frame with BOS/EOS, append, start an empty chunk. */
static vkt_status close_chunk(builder *b, bool is_last, vkt_err *err)
{
    vkt_prompt_result *r = b->res;
    if (r->n_chunks == b->chunks_cap) {
        size_t cap = b->chunks_cap ? 2 * b->chunks_cap : 2, bytes;
        if (!vkt_mul_ok(cap, sizeof *r->chunks, &bytes))
            return vkt_fail(err, VKT_ERR_NOMEM, "prompt: too many chunks");
        vkt_prompt_chunk *v = vkt_realloc(r->chunks, bytes);
        if (!v) return vkt_fail(err, VKT_ERR_NOMEM, "prompt: out of host memory");
        r->chunks = v;
        b->chunks_cap = cap;
    }
    vkt_prompt_chunk *c = &r->chunks[r->n_chunks++];
    r->n_tokens += is_last ? b->n : VKT_PROMPT_CHUNK;
    c->ids[0] = VKT_CLIP_BOS;
    c->multipliers[0] = 1.0;
    for (size_t i = 0; i < VKT_PROMPT_CHUNK; i++) {
        c->ids[1 + i] = i < b->n ? b->ids[i] : VKT_CLIP_EOS;
        c->multipliers[1 + i] = i < b->n ? b->mults[i] : 1.0;
    }
    c->ids[VKT_PROMPT_CHUNK_IDS - 1] = VKT_CLIP_EOS;
    c->multipliers[VKT_PROMPT_CHUNK_IDS - 1] = 1.0;
    c->fixes = b->fixes;
    c->n_fixes = b->n_fixes;
    b->fixes = NULL;
    b->n_fixes = b->fixes_cap = 0;
    b->n = 0;
    b->last_comma = -1;
    return VKT_OK;
}

void vkt_prompt_result_fini(vkt_prompt_result *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n_chunks; i++)
        free(r->chunks[i].fixes);
    free(r->chunks);
    r->chunks = NULL;
    r->n_chunks = 0;
    r->n_tokens = 0;
}

vkt_status vkt_prompt_result_pad(vkt_prompt_result *r, size_t n_chunks, vkt_err *err)
{
    if (r->n_chunks >= n_chunks) return VKT_OK;
    size_t bytes;
    if (!vkt_mul_ok(n_chunks, sizeof *r->chunks, &bytes))
        return vkt_fail(err, VKT_ERR_NOMEM, "prompt: too many chunks");
    vkt_prompt_chunk *v = vkt_realloc(r->chunks, bytes);
    if (!v) return vkt_fail(err, VKT_ERR_NOMEM, "prompt: out of host memory");
    r->chunks = v;
    for (size_t k = r->n_chunks; k < n_chunks; k++) {
        vkt_prompt_chunk *c = &r->chunks[k];
        for (int i = 0; i < VKT_PROMPT_CHUNK_IDS; i++) {
            c->ids[i] = i == 0 ? VKT_CLIP_BOS : VKT_CLIP_EOS;
            c->multipliers[i] = 1.0;
        }
        c->fixes = NULL;
        c->n_fixes = 0;
    }
    r->n_chunks = n_chunks;
    return VKT_OK;
}

vkt_status vkt_prompt_tokenize(vkt_tokenizer *tok, const vkt_prompt_embs *embs, const char *text,
                               size_t len, const vkt_prompt_opts *opts, vkt_prompt_result *out,
                               vkt_err *err)
{
    vkt_prompt_opts o = opts ? *opts : vkt_prompt_opts_default();
    vkt_status st;
    vkt_prompt_frags frags = {0};
    vkt_prompt_result res = {0};
    builder b = {.last_comma = -1, .res = &res};
    vkt_ids ids = {0};
    if (o.comma_backtrack < 0 || o.comma_backtrack >= VKT_PROMPT_CHUNK) {
        return vkt_fail(err, VKT_ERR_USAGE, "comma backtrack %d, expected 0..%d", o.comma_backtrack,
                        VKT_PROMPT_CHUNK - 1);
    }
    if ((st = vkt_prompt_parse(text, len, o.parse_emphasis, &frags, err))) goto done;
    for (size_t fi = 0; fi < frags.n; fi++) {
        const vkt_prompt_frag *fr = &frags.v[fi];
        if (fr->is_break) {
            if ((st = close_chunk(&b, false, err))) goto done;
            continue;
        }
        ids.n = 0;
        if ((st = vkt_tokenizer_encode(tok, fr->text, fr->len, &ids, err))) goto done;
        for (size_t i = 0; i < ids.n;) {
            int32_t t = ids.v[i];
            if (t == VKT_CLIP_COMMA) {
                b.last_comma = (int)b.n;
            } else if (o.comma_backtrack != 0 && b.n == VKT_PROMPT_CHUNK && b.last_comma != -1 &&
                       (int)b.n - b.last_comma <= o.comma_backtrack) {
                /* move the tail after the last comma into the next chunk */
                size_t cut = (size_t)b.last_comma + 1, n_moved = b.n - cut;
                int32_t moved_ids[VKT_PROMPT_CHUNK];
                double moved_mults[VKT_PROMPT_CHUNK];
                memcpy(moved_ids, b.ids + cut, n_moved * sizeof *moved_ids);
                memcpy(moved_mults, b.mults + cut, n_moved * sizeof *moved_mults);
                vkt_prompt_fix moved_fixes[VKT_PROMPT_CHUNK];
                size_t n_moved_fixes = 0;
                if (o.move_embeddings_with_tail) {
                    size_t keep = 0;
                    for (size_t k = 0; k < b.n_fixes; k++) {
                        vkt_prompt_fix fx = b.fixes[k];
                        if ((size_t)fx.position - 1 >= cut) {
                            fx.position -= (int32_t)cut;
                            moved_fixes[n_moved_fixes++] = fx;
                        } else {
                            b.fixes[keep++] = fx;
                        }
                    }
                    b.n_fixes = keep;
                }
                b.n = cut;
                if ((st = close_chunk(&b, false, err))) goto done;
                memcpy(b.ids, moved_ids, n_moved * sizeof *moved_ids);
                memcpy(b.mults, moved_mults, n_moved * sizeof *moved_mults);
                b.n = n_moved;
                for (size_t k = 0; k < n_moved_fixes; k++)
                    if ((st = fix_push(&b, moved_fixes[k], err))) goto done;
            }
            if (b.n == VKT_PROMPT_CHUNK && (st = close_chunk(&b, false, err))) goto done;
            size_t emb_index = 0;
            const emb_entry *emb = find_at(embs, ids.v, ids.n, i, &emb_index);
            if (!emb) {
                b.ids[b.n] = t;
                b.mults[b.n++] = fr->weight;
                i++;
                continue;
            }
            if (b.n + (size_t)emb->vectors > VKT_PROMPT_CHUNK && (st = close_chunk(&b, false, err)))
                goto done;
            vkt_prompt_fix fx = {(int32_t)b.n + 1, emb->vectors, (int32_t)emb_index, emb->name,
                                 emb->user};
            if ((st = fix_push(&b, fx, err))) goto done;
            for (int k = 0; k < emb->vectors; k++) {
                b.ids[b.n] = 0;
                b.mults[b.n++] = fr->weight;
            }
            i += emb->n_ids;
        }
    }
    if ((b.n > 0 || res.n_chunks == 0) && (st = close_chunk(&b, true, err))) goto done;
    *out = res;
    res = (vkt_prompt_result){0};
done:
    vkt_ids_fini(&ids);
    vkt_prompt_frags_fini(&frags);
    free(b.fixes);
    vkt_prompt_result_fini(&res);
    return st;
}
