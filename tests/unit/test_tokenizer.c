/* text/tokenizer: vocabulary layout, the spec's worked examples, cleaning rules, Unicode
 * properties, invalid UTF-8, --vocab files, long words, the cache, allocation failures. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/fault.h"
#include "base/file.h"
#include "testkit.h"
#include "text/tokenizer.h"

static vkt_tokenizer *tok;

/* Encodes s and compares with the expected ids (terminated by -1). */
static void expect_ids(const char *s, size_t len, const int32_t *want, const char *what)
{
    vkt_ids ids = {0};
    vkt_err err = {0};
    vkt_status st = vkt_tokenizer_encode(tok, s, len, &ids, &err);
    size_t n = 0;
    while (want[n] >= 0)
        n++;
    int ok = st == VKT_OK && ids.n == n && (n == 0 || memcmp(ids.v, want, n * sizeof *want) == 0);
    TK_CHECK(ok, "%s: st %d (%s), %zu ids (first %d), want %zu (first %d)", what, st, err.msg,
             ids.n, ids.n ? ids.v[0] : -1, n, n ? want[0] : -1);
    vkt_ids_fini(&ids);
}
#define EXPECT(s, ...) expect_ids(s, strlen(s), (const int32_t[]){__VA_ARGS__, -1}, s)

/* True when a and b encode to the same ids. */
static int same_ids(const char *a, size_t na, const char *b, size_t nb)
{
    vkt_ids x = {0}, y = {0};
    vkt_err err = {0};
    int ok = vkt_tokenizer_encode(tok, a, na, &x, &err) == VKT_OK &&
             vkt_tokenizer_encode(tok, b, nb, &y, &err) == VKT_OK && x.n == y.n &&
             (x.n == 0 || memcmp(x.v, y.v, x.n * sizeof *x.v) == 0);
    vkt_ids_fini(&x);
    vkt_ids_fini(&y);
    return ok;
}
#define SAME(a, b)                                                                                 \
    TK_CHECK(same_ids(a, strlen(a), b, strlen(b)), "same ids: \"%s\" vs \"%s\"", a, b)

static void test_vocab_layout(void)
{
    struct {
        int32_t id;
        const char *sym;
    } rows[] = {
        {0, "!"},
        {255, "\xc5\x83"} /* U+0143 = byte 173 */,
        {188, "\xc4\x80"} /* byte 0 = U+0100 */,
        {256, "!</w>"},
        {265, "*</w>"},
        {267, ",</w>"},
        {320, "a</w>"},
        {512, "in"} /* merge 0: "i n" */,
        {49405, "jekyll</w>"} /* last used merge "jeky ll</w>" */,
        {49406, "<|startoftext|>"},
        {49407, "<|endoftext|>"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        const char *s = vkt_tokenizer_symbol(tok, rows[i].id);
        TK_CHECK(s && strcmp(s, rows[i].sym) == 0, "symbol %d: %s, want %s", rows[i].id,
                 s ? s : "(null)", rows[i].sym);
    }
    TK_CHECK(vkt_tokenizer_symbol(tok, -1) == NULL && vkt_tokenizer_symbol(tok, 49408) == NULL,
             "out-of-range ids have no symbol");
    char buf[64];
    TK_CHECK(vkt_tokenizer_decode_id(tok, 320, buf, sizeof buf) == 2 && strcmp(buf, "a ") == 0,
             "decode a</w>");
    TK_CHECK(vkt_tokenizer_decode_id(tok, 1125, buf, sizeof buf) == 6 && strcmp(buf, "photo ") == 0,
             "decode photo");
    TK_CHECK(vkt_tokenizer_decode_id(tok, 188, buf, sizeof buf) == 1 && buf[0] == 0,
             "decode byte 0");
    TK_CHECK(vkt_tokenizer_decode_id(tok, 1125, buf, 3) == 6 && strcmp(buf, "ph") == 0,
             "decode truncates");
    TK_CHECK(vkt_tokenizer_decode_id(tok, 49408, buf, sizeof buf) == -1, "decode bad id");
}

static void test_spec_examples(void)
{
    /* ../shared/spec/tokenizer-and-prompts.md §4 */
    EXPECT("a photo of a cat", 320, 1125, 539, 320, 2368);
    EXPECT("hello world!", 3306, 1002, 256);
    EXPECT("don't", 847, 713);
    EXPECT("emb-name_v2", 908, 321, 268, 1981, 318, 341, 273);
    EXPECT("naïve café 123", 1097, 35689, 563, 15304, 272, 273, 274);
    EXPECT(",", 267);
    EXPECT("*", 265);
    EXPECT("a", 320);
    expect_ids("", 0, (const int32_t[]){-1}, "empty");
    expect_ids(" \t\n ", 4, (const int32_t[]){-1}, "only whitespace");
    /* the special-token strings become their ids directly, in any case (text is lower-cased) */
    EXPECT("<|startoftext|>", 49406);
    EXPECT("<|endoftext|>", 49407);
    EXPECT("<|ENDOFTEXT|>a", 49407, 320);
}

static void test_rules(void)
{
    /* lower-casing, whitespace collapsing and stripping, NFC */
    SAME("A Photo Of A CAT", "a photo of a cat");
    SAME("  a \t\n\r photo\u3000of\u00a0a\u2003cat  ", "a photo of a cat");
    SAME("cafe\u0301 nai\u0308ve", "café naïve");
    /* every digit is its own pre-token; letters group; punctuation runs group */
    SAME("123", "1 2 3");
    SAME("a1b", "a 1 b");
    SAME("x٣y", "x ٣ y"); /* Arabic-Indic digit is \p{N} */
    SAME("it's", "it 's");
    SAME("we'll", "we 'll");
    SAME("they've", "they 've");
    /* an apostrophe not at a pre-token start belongs to the punctuation run: "!'" then "s" */
    SAME("!'s", "!' s");
    /* U+017F long s matches 's under the regex's IGNORECASE, and stays itself */
    SAME("it'\u017f", "it '\u017f");
    /* a combining mark without a precomposed form is not a letter: it splits the word */
    SAME("q\u0303x", "q \u0303 x");
    /* Python str.lower(): final sigma by context, U+0130 -> i + U+0307 */
    char *c = NULL;
    vkt_err err = {0};
    TK_CHECK(vkt_tokenizer_clean("ΟΔΟΣ ΣΑΣ.", strlen("ΟΔΟΣ ΣΑΣ."), &c, NULL, &err) == VKT_OK &&
                 strcmp(c, "οδος σας.") == 0,
             "final sigma: %s", c ? c : err.msg);
    free(c);
    c = NULL;
    TK_CHECK(vkt_tokenizer_clean("İ", strlen("İ"), &c, NULL, &err) == VKT_OK &&
                 strcmp(c, "i\xcc\x87") == 0,
             "dotted capital I");
    free(c);
    c = NULL;
    /* strip() also removes U+001C..U+001F at the ends; inside, \s of the regex module does not */
    TK_CHECK(vkt_tokenizer_clean("\x1c a\x1d b \x1f", 8, &c, NULL, &err) == VKT_OK &&
                 strcmp(c, "a\x1d b") == 0,
             "information separators: \"%s\"", c ? c : err.msg);
    free(c);
    c = NULL;
    TK_CHECK(vkt_tokenizer_clean("a\0b", 3, &c, NULL, &err) == VKT_OK && memcmp(c, "a\0b", 4) == 0,
             "NUL is an ordinary character");
    free(c);
    /* CJK, emoji, RTL: bytes beyond the vocabulary's words fall back to byte symbols; nothing is
     * lost */
    const char *texts[] = {"東京タワー", "👨‍👩‍👧 ❤️", "שלום مرحبا",
                           "\xf0\x9f\x98\x80"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        vkt_ids ids = {0};
        TK_CHECK(vkt_tokenizer_encode(tok, texts[i], strlen(texts[i]), &ids, &err) == VKT_OK &&
                     ids.n > 0,
                 "unicode %zu", i);
        char out[256] = {0}, piece[64];
        size_t k = 0;
        for (size_t j = 0; j < ids.n; j++) {
            int n = vkt_tokenizer_decode_id(tok, ids.v[j], piece, sizeof piece);
            TK_CHECK(n > 0, "decode");
            if (n > 0 && k + (size_t)n < sizeof out)
                memcpy(out + k, piece, (size_t)n), k += (size_t)n;
        }
        /* decoding gives the pre-tokens, each ended by a space */
        char *spaced = strdup(texts[i]);
        size_t m = 0;
        for (size_t j = 0; out[j]; j++)
            if (out[j] != ' ') out[m++] = out[j];
        out[m] = 0;
        m = 0;
        for (size_t j = 0; spaced[j]; j++)
            if (spaced[j] != ' ') spaced[m++] = spaced[j];
        spaced[m] = 0;
        TK_CHECK(strcmp(out, spaced) == 0, "round trip %zu: \"%s\" vs \"%s\"", i, out, spaced);
        free(spaced);
        vkt_ids_fini(&ids);
    }
}

static void test_invalid_utf8(void)
{
    struct {
        const char *s;
        size_t n;
        size_t at;
    } bad[] = {
        {"\xff", 1, 0},
        {"ab\xc3", 3, 2},
        {"a\xed\xa0\x80", 4, 1} /* surrogate */,
        {"\xc0\xaf", 2, 0} /* overlong */,
        {"ok \xf4\x90\x80\x80", 7, 3} /* > U+10FFFF */,
        {"\x80", 1, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        vkt_ids ids = {0};
        vkt_err err = {0};
        vkt_ids_push(&ids, 7, &err);
        vkt_status st = vkt_tokenizer_encode(tok, bad[i].s, bad[i].n, &ids, &err);
        char want[64];
        snprintf(want, sizeof want, "at byte %zu", bad[i].at);
        TK_CHECK(st == VKT_ERR_FORMAT && strstr(err.msg, "invalid UTF-8") && strstr(err.msg, want),
                 "invalid UTF-8 case %zu: %d %s", i, st, err.msg);
        TK_CHECK(ids.n == 1 && ids.v[0] == 7, "ids untouched on failure");
        vkt_ids_fini(&ids);
    }
}

static int write_bytes(const char *path, const void *p, size_t n)
{
    vkt_err err = {0};
    return vkt_write_file(path, p, n, &err) == VKT_OK;
}

static void test_vocab_files(void)
{
    vkt_err err = {0};
    const char *dir = tk_tmpdir("tokenizer");
    char gz_path[2100], plain_path[2100], short_path[2100], bad_path[2100], trunc_path[2100];
    snprintf(gz_path, sizeof gz_path, "%s", tk_src("assets/clip/bpe_simple_vocab_16e6.txt.gz"));
    snprintf(plain_path, sizeof plain_path, "%s/merges.txt", dir);
    snprintf(short_path, sizeof short_path, "%s/short.txt", dir);
    snprintf(bad_path, sizeof bad_path, "%s/bad.txt", dir);
    snprintf(trunc_path, sizeof trunc_path, "%s/trunc.gz", dir);

    /* a plain copy of the first 60000 lines, with CRLF line ends (HF merges.txt may have them) */
    gzFile g = gzopen(gz_path, "rb");
    TK_CHECK(g != NULL, "open %s", gz_path);
    size_t cap = 4 << 20, n = 0;
    char *text = malloc(cap);
    int lines = 0;
    while (g && lines < 60000) {
        int c = gzgetc(g);
        if (c < 0) break;
        if (c == '\n') text[n++] = '\r', lines++;
        text[n++] = (char)c;
    }
    if (g) gzclose(g);
    TK_CHECK(write_bytes(plain_path, text, n), "write plain copy");
    vkt_tokenizer *t2 = NULL;
    TK_CHECK(vkt_tokenizer_create(plain_path, &t2, &err) == VKT_OK, "plain merges: %s", err.msg);
    vkt_tokenizer *t3 = NULL;
    TK_CHECK(vkt_tokenizer_create(gz_path, &t3, &err) == VKT_OK, "gz merges from a path: %s",
             err.msg);
    const char *probe = "A photo of a café, 東京, emoji 😀 and jekyll's 12";
    vkt_ids a = {0}, b = {0}, c = {0};
    vkt_tokenizer_encode(tok, probe, strlen(probe), &a, &err);
    if (t2) vkt_tokenizer_encode(t2, probe, strlen(probe), &b, &err);
    if (t3) vkt_tokenizer_encode(t3, probe, strlen(probe), &c, &err);
    TK_CHECK(a.n > 0 && a.n == b.n && a.n == c.n && !memcmp(a.v, b.v, a.n * 4) &&
                 !memcmp(a.v, c.v, a.n * 4),
             "same ids from embedded, plain and gz files");
    vkt_ids_fini(&a);
    vkt_ids_fini(&b);
    vkt_ids_fini(&c);
    vkt_tokenizer_destroy(t2);
    vkt_tokenizer_destroy(t3);

    /* too few merges */
    size_t cut = 0;
    for (int l = 0; l < 1000; cut++)
        if (text[cut] == '\n') l++;
    TK_CHECK(write_bytes(short_path, text, cut), "write short");
    t2 = NULL;
    vkt_status st = vkt_tokenizer_create(short_path, &t2, &err);
    TK_CHECK(st == VKT_ERR_FORMAT && t2 == NULL && strstr(err.msg, "48894"), "short file: %s",
             err.msg);
    /* a malformed line: file line 3 (the second merge) has one field */
    {
        size_t bn = 0, bcap = 48894 * 4 + 64;
        char *bad = malloc(bcap);
        bn += (size_t)sprintf(bad, "#version: 0.2\ni n\nxyz\n");
        for (int l = 0; l < 48894; l++)
            bn += (size_t)sprintf(bad + bn, "a b\n");
        TK_CHECK(write_bytes(bad_path, bad, bn), "write bad");
        free(bad);
        st = vkt_tokenizer_create(bad_path, &t2, &err);
        TK_CHECK(st == VKT_ERR_FORMAT && strstr(err.msg, "line 3"), "bad line: %s", err.msg);
    }
    free(text);
    /* a truncated gzip */
    uint8_t *gz = NULL;
    size_t gz_n = 0;
    TK_CHECK(vkt_read_file(gz_path, 64 << 20, &gz, &gz_n, &err) == VKT_OK, "read gz");
    if (gz) {
        TK_CHECK(write_bytes(trunc_path, gz, 4000), "write truncated");
        st = vkt_tokenizer_create(trunc_path, &t2, &err);
        TK_CHECK(st == VKT_ERR_FORMAT, "truncated gzip: %d %s", st, err.msg);
        gz[100] ^= 0x55;
        st = vkt_tokenizer_create_from_memory(gz, gz_n, "corrupt", &t2, &err);
        TK_CHECK(st == VKT_ERR_FORMAT && t2 == NULL, "corrupt gzip: %d %s", st, err.msg);
        free(gz);
    }
    st = vkt_tokenizer_create("/nonexistent/merges.txt", &t2, &err);
    TK_CHECK(st == VKT_ERR_IO && t2 == NULL, "missing file: %d %s", st, err.msg);
    st = vkt_tokenizer_create_from_memory((const uint8_t *)"", 0, "empty", &t2, &err);
    TK_CHECK(st == VKT_ERR_FORMAT && t2 == NULL, "empty file: %s", err.msg);
}

static void test_long_and_cache(void)
{
    vkt_err err = {0};
    /* a 200,000-letter word: one pre-token; decoding gives it back with the word end */
    size_t n = 200000;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = "abcdefghij"[(i * 7 + i / 13) % 10];
    s[n] = 0;
    vkt_ids ids = {0};
    TK_CHECK(vkt_tokenizer_encode(tok, s, n, &ids, &err) == VKT_OK && ids.n > 0 && ids.n < n,
             "long word");
    size_t k = 0;
    int ok = 1;
    char piece[128];
    for (size_t i = 0; i < ids.n && ok; i++) {
        int m = vkt_tokenizer_decode_id(tok, ids.v[i], piece, sizeof piece);
        ok = m > 0 && k + (size_t)m <= n + 1 &&
             memcmp(piece, s + k, (size_t)m - (i + 1 == ids.n)) == 0;
        k += (size_t)m;
    }
    TK_CHECK(ok && k == n + 1, "long word decodes back (%zu of %zu bytes)", k, n + 1);
    vkt_ids_fini(&ids);
    free(s);

    /* more distinct words than the cache holds: results stay the same after it is cleared */
    enum { W = 40000 };
    static char words[W][8];
    static int32_t first[W][8];
    static size_t nfirst[W];
    unsigned x = 12345;
    for (int i = 0; i < W; i++) {
        for (int j = 0; j < 6; j++)
            x = x * 1103515245u + 12345u, words[i][j] = (char)('a' + (x >> 16) % 26);
        words[i][6] = 0;
    }
    ok = 1;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < W; i++) {
            vkt_ids w = {0};
            if (vkt_tokenizer_encode(tok, words[i], 6, &w, &err) != VKT_OK || w.n > 8) {
                ok = 0;
                break;
            }
            if (pass == 0) {
                memcpy(first[i], w.v, w.n * sizeof *w.v);
                nfirst[i] = w.n;
            } else if (w.n != nfirst[i] || memcmp(first[i], w.v, w.n * sizeof *w.v) != 0) {
                ok = 0;
            }
            vkt_ids_fini(&w);
        }
    }
    TK_CHECK(ok, "40000 words encode the same after the cache fills and clears");
}

static void test_alloc_failures(void)
{
    /* every allocation of create, then of encode, failing in turn: an error, never a crash or a
     * leak (the ASan build checks the leaks) */
    int failures = 0, successes = 0;
    for (int n = 1; n <= 40; n++) {
        char v[16];
        snprintf(v, sizeof v, "%d", n);
        setenv("VKTRAIN_FAIL_ALLOC", v, 1);
        vkt_fault_reset();
        vkt_err err = {0};
        vkt_tokenizer *t = NULL;
        vkt_status st = vkt_tokenizer_create(NULL, &t, &err);
        if (st == VKT_OK)
            successes++;
        else
            failures += st == VKT_ERR_NOMEM;
        vkt_tokenizer_destroy(t);
    }
    TK_CHECK(failures > 3 && successes > 0, "create: NOMEM %d times, then ok %d times", failures,
             successes);
    unsetenv("VKTRAIN_FAIL_ALLOC");
    vkt_fault_reset();
    failures = successes = 0;
    vkt_err err = {0};
    vkt_tokenizer *t = NULL;
    TK_CHECK(vkt_tokenizer_create(NULL, &t, &err) == VKT_OK, "create");
    for (int n = 1; t && n <= 60; n++) {
        char v[16], text[128];
        snprintf(v, sizeof v, "%d", n);
        /* a new word each time so the cache cannot answer */
        snprintf(text, sizeof text, "a photo of a café, 東京 😀 x%dqz%c%c %c", n, 'a' + n % 26,
                 'a' + n / 26, 'b' + n % 20);
        setenv("VKTRAIN_FAIL_ALLOC", v, 1);
        vkt_fault_reset();
        vkt_ids ids = {0};
        vkt_status st = vkt_tokenizer_encode(t, text, strlen(text), &ids, &err);
        if (st == VKT_OK)
            successes++;
        else
            failures += st == VKT_ERR_NOMEM && ids.n == 0;
        vkt_ids_fini(&ids);
    }
    unsetenv("VKTRAIN_FAIL_ALLOC");
    vkt_fault_reset();
    vkt_tokenizer_destroy(t);
    TK_CHECK(failures > 3 && successes > 0, "encode: NOMEM %d times, then ok %d times", failures,
             successes);
}

int main(void)
{
    vkt_err err = {0};
    if (vkt_tokenizer_create(NULL, &tok, &err) != VKT_OK) {
        fprintf(stderr, "tokenizer: %s\n", err.msg);
        return 1;
    }
    test_vocab_layout();
    test_spec_examples();
    test_rules();
    test_invalid_utf8();
    test_vocab_files();
    test_long_and_cache();
    test_alloc_failures();
    vkt_tokenizer_destroy(tok);
    return tk_finish("text.tokenizer");
}
