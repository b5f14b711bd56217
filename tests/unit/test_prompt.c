/* text/prompt: the webui's emphasis grammar, BREAK, chunking with comma back-tracking and
 * embeddings, worked out by hand from ../shared/spec/tokenizer-and-prompts.md §5-§6 and the
 * webui's parse_prompt_attention docstring. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "testkit.h"
#include "text/prompt.h"
#include "text/tokenizer.h"

static vkt_tokenizer *tok;

typedef struct want_frag {
    const char *text;
    double weight; /* compared with ==: the same double operations as the webui's Python */
} want_frag;

static void expect_frags(const char *prompt, const want_frag *want, size_t n)
{
    vkt_prompt_frags f = {0};
    vkt_err err = {0};
    vkt_status st = vkt_prompt_parse(prompt, SIZE_MAX, true, &f, &err);
    int ok = st == VKT_OK && f.n == n;
    for (size_t i = 0; ok && i < n; i++) {
        ok = strcmp(f.v[i].text, want[i].text) == 0 && f.v[i].weight == want[i].weight;
        if (!ok)
            fprintf(stderr, "  fragment %zu: \"%s\" %.17g, want \"%s\" %.17g\n", i, f.v[i].text,
                    f.v[i].weight, want[i].text, want[i].weight);
    }
    TK_CHECK(ok, "parse \"%s\": st %d %s, %zu fragments (want %zu)", prompt, st, err.msg, f.n, n);
    vkt_prompt_frags_fini(&f);
}
#define FRAGS(p, ...)                                                                              \
    do {                                                                                           \
        const want_frag w_[] = {__VA_ARGS__};                                                      \
        expect_frags(p, w_, sizeof w_ / sizeof *w_);                                               \
    } while (0)

static void test_parse(void)
{
    const double r = 1.1, s = 1.0 / 1.1;
    FRAGS("a (red) cat", {"a ", 1.0}, {"red", r}, {" cat", 1.0});
    FRAGS("a ((red)) cat", {"a ", 1.0}, {"red", 1.0 * r * r}, {" cat", 1.0});
    FRAGS("a [red] cat", {"a ", 1.0}, {"red", s}, {" cat", 1.0});
    FRAGS("a (red:1.5) cat", {"a ", 1.0}, {"red", 1.5}, {" cat", 1.0});
    FRAGS("a (red cat", {"a ", 1.0}, {"red cat", r});
    FRAGS("a \\(red\\) cat", {"a (red) cat", 1.0});
    FRAGS("((a):0.5)", {"a", 1.0 * r * 0.5});
    FRAGS("(a) (b)", {"a", r}, {" ", 1.0}, {"b", r});
    FRAGS("x:1.2) y", {"x:1.2) y", 1.0});
    FRAGS("normal text", {"normal text", 1.0});
    FRAGS("(unnecessary)(parens)", {"unnecessaryparens", r});
    FRAGS("\\(literal\\]", {"(literal]", 1.0});
    /* the webui docstring example, with its exact doubles */
    FRAGS("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).", {"a ", 1.0},
          {"house", 1.5730000000000004}, {" ", 1.1}, {"on", 1.0}, {" a ", 1.1}, {"hill", 0.55},
          {", sun, ", 1.1}, {"sky", 1.4641000000000006}, {".", 1.1});
    /* spaces around the weight, signs, a lone colon, (x:) */
    FRAGS("(weighted: 0.5 ) and (neg:-1) and (bare:)", {"weighted", 0.5}, {" and ", 1.0},
          {"neg", -1.0}, {" and ", 1.0}, {"bare:", r});
    FRAGS("(a: +.25)", {"a", 0.25});
    FRAGS("(a:\xd9\xa2)", {"a", 2.0}); /* U+0662 ARABIC-INDIC TWO: \d and float() accept it */
    /* unbalanced closers are text; open groups close at the end, round ones first */
    FRAGS("closed] only) here:", {"closed] only) here:", 1.0});
    FRAGS("(a [b", {"a ", r}, {"b", 1.0 * r * s});
    FRAGS("[a (b", {"a ", s}, {"b", 1.0 * r * s});
    /* escapes: \\ is a backslash, a lone backslash vanishes */
    FRAGS("a \\x b \\\\ c \\", {"a x b \\ c ", 1.0});
    /* a weight where no round group is open is text; in a square group too */
    FRAGS("[a:1.5]", {"a:1.5", s});
    /* BREAK: word-bounded, eats the spaces around it; the marker is ("BREAK", -1) */
    FRAGS("a cat BREAK a dog", {"a cat", 1.0}, {"BREAK", -1.0}, {"a dog", 1.0});
    FRAGS("a BREAKfast xBREAK _BREAK", {"a BREAKfast xBREAK _BREAK", 1.0});
    FRAGS("BREAK", {"", 1.0}, {"BREAK", -1.0}, {"", 1.0});
    /* inside a group the marker is multiplied too, so it is no longer a BREAK (webui quirk) */
    FRAGS("(a BREAK b)", {"a", r}, {"BREAK", -1.0 * r}, {"b", r});
    /* weights 0 and -0 are equal: fragments merge across the marker (webui quirk) */
    FRAGS("(a BREAK b:0)", {"aBREAKb", 0.0});
    FRAGS("", {"", 1.0});
    FRAGS("()", {"", 1.0});

    /* emphasis mode None: one fragment, brackets are text */
    vkt_prompt_frags f = {0};
    vkt_err err = {0};
    TK_CHECK(vkt_prompt_parse("(a) BREAK [b]", SIZE_MAX, false, &f, &err) == VKT_OK && f.n == 1 &&
                 strcmp(f.v[0].text, "(a) BREAK [b]") == 0 && f.v[0].weight == 1.0 &&
                 !f.v[0].is_break,
             "emphasis None");
    vkt_prompt_frags_fini(&f);

    /* errors: malformed weights in an open group (the webui raises), non-finite, bad UTF-8 */
    /* 1e305 times 1e5 overflows to inf; a weight of 600 digits is refused outright */
    char huge[400], digits[700];
    snprintf(huge, sizeof huge, "((a:1%0305d):100000)", 0);
    snprintf(digits, sizeof digits, "(a:1%0600d)", 0);
    const char *bad[] = {"(a:1.2.3)", "(a:.)", "(a:-.)", huge, digits, "a\xff", "(\xc3(a:2)"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        vkt_status st = vkt_prompt_parse(bad[i], SIZE_MAX, true, &f, &err);
        TK_CHECK(st == VKT_ERR_FORMAT && f.n == 0, "bad prompt %zu: %d %s", i, st, err.msg);
        vkt_prompt_frags_fini(&f);
    }
    TK_CHECK(vkt_prompt_parse("a:1.2.3) b", SIZE_MAX, true, &f, &err) == VKT_OK && f.n == 1,
             "malformed weight outside a group is text");
    vkt_prompt_frags_fini(&f);
}

/* n copies of "cat" (one token each, id 2368) separated by spaces */
static char *cats(int n, const char *tail)
{
    size_t len = (size_t)n * 4 + strlen(tail) + 1;
    char *s = malloc(len);
    s[0] = 0;
    for (int i = 0; i < n; i++)
        strcat(s, "cat ");
    strcat(s, tail);
    return s;
}

static vkt_status tokenize(const char *prompt, const vkt_prompt_embs *embs,
                           const vkt_prompt_opts *o, vkt_prompt_result *r)
{
    vkt_err err = {0};
    vkt_status st = vkt_prompt_tokenize(tok, embs, prompt, SIZE_MAX, o, r, &err);
    if (st) fprintf(stderr, "  tokenize: %s\n", err.msg);
    return st;
}

static int is_padding(const vkt_prompt_chunk *c, int from)
{
    for (int i = from; i < VKT_PROMPT_CHUNK_IDS; i++)
        if (c->ids[i] != VKT_CLIP_EOS || c->multipliers[i] != 1.0) return 0;
    return 1;
}

static void test_chunks(void)
{
    vkt_prompt_result r = {0};
    /* "" -> one chunk BOS + 76 EOS */
    TK_CHECK(tokenize("", NULL, NULL, &r) == VKT_OK && r.n_chunks == 1 &&
                 r.chunks[0].ids[0] == VKT_CLIP_BOS && is_padding(&r.chunks[0], 1) &&
                 r.n_tokens == 0,
             "empty prompt");
    vkt_prompt_result_fini(&r);
    /* exactly 75 tokens fit one chunk; the 76th opens a second */
    char *s = cats(75, "");
    TK_CHECK(tokenize(s, NULL, NULL, &r) == VKT_OK && r.n_chunks == 1 &&
                 r.chunks[0].ids[75] == 2368 && r.chunks[0].ids[76] == VKT_CLIP_EOS &&
                 r.n_tokens == 75,
             "75 tokens");
    vkt_prompt_result_fini(&r);
    free(s);
    s = cats(76, "");
    TK_CHECK(tokenize(s, NULL, NULL, &r) == VKT_OK && r.n_chunks == 2 &&
                 r.chunks[1].ids[1] == 2368 && is_padding(&r.chunks[1], 2) && r.n_tokens == 76,
             "76 tokens");
    vkt_prompt_result_fini(&r);
    free(s);
    /* > 3 chunks */
    s = cats(300, "");
    TK_CHECK(tokenize(s, NULL, NULL, &r) == VKT_OK && r.n_chunks == 4 &&
                 r.chunks[3].ids[75] == 2368 && r.chunks[3].ids[76] == VKT_CLIP_EOS,
             "300 tokens -> 4 chunks");
    vkt_prompt_result_fini(&r);
    free(s);
    /* padding a batch row to more chunks */
    vkt_err err = {0};
    TK_CHECK(tokenize("cat", NULL, NULL, &r) == VKT_OK &&
                 vkt_prompt_result_pad(&r, 3, &err) == VKT_OK && r.n_chunks == 3 &&
                 r.chunks[0].ids[1] == 2368 && r.chunks[2].ids[0] == VKT_CLIP_BOS &&
                 is_padding(&r.chunks[1], 1) && is_padding(&r.chunks[2], 1) &&
                 r.chunks[2].n_fixes == 0 && vkt_prompt_result_pad(&r, 2, &err) == VKT_OK &&
                 r.n_chunks == 3,
             "pad to 3 chunks");
    vkt_prompt_result_fini(&r);
    /* BREAK: at the start (an empty first chunk), at the end (nothing more), right at 75 */
    TK_CHECK(tokenize("BREAK cat", NULL, NULL, &r) == VKT_OK && r.n_chunks == 2 &&
                 is_padding(&r.chunks[0], 1) && r.chunks[1].ids[1] == 2368,
             "BREAK first");
    vkt_prompt_result_fini(&r);
    TK_CHECK(tokenize("cat BREAK", NULL, NULL, &r) == VKT_OK && r.n_chunks == 1, "BREAK last");
    vkt_prompt_result_fini(&r);
    TK_CHECK(tokenize("cat BREAK BREAK cat", NULL, NULL, &r) == VKT_OK && r.n_chunks == 3 &&
                 is_padding(&r.chunks[1], 1),
             "two BREAKs: an empty chunk between");
    vkt_prompt_result_fini(&r);
    s = cats(75, "BREAK dog");
    TK_CHECK(tokenize(s, NULL, NULL, &r) == VKT_OK && r.n_chunks == 2 &&
                 r.chunks[1].ids[1] == 1929 && is_padding(&r.chunks[1], 2),
             "BREAK at a full chunk");
    vkt_prompt_result_fini(&r);
    free(s);
    /* BREAK inside a group is the word "break" (id 2568), weighted */
    TK_CHECK(tokenize("(a BREAK b)", NULL, NULL, &r) == VKT_OK && r.n_chunks == 1 &&
                 r.chunks[0].ids[2] == 2568 && r.chunks[0].multipliers[2] == -1.1,
             "BREAK in a group");
    vkt_prompt_result_fini(&r);
}

static void test_commas(void)
{
    vkt_prompt_result r = {0};
    /* 70 cats, a comma (position 71), 4 dogs fill the chunk; the next token moves the 4 dogs */
    char *s = cats(70, ", dog dog dog dog mouse");
    TK_CHECK(tokenize(s, NULL, NULL, &r) == VKT_OK && r.n_chunks == 2, "comma backtrack: 2 chunks");
    if (r.n_chunks == 2) {
        TK_CHECK(r.chunks[0].ids[71] == VKT_CLIP_COMMA && is_padding(&r.chunks[0], 72),
                 "tail cut after the comma");
        TK_CHECK(r.chunks[1].ids[1] == 1929 && r.chunks[1].ids[4] == 1929 &&
                     r.chunks[1].ids[5] == 9301 && is_padding(&r.chunks[1], 6),
                 "tail moved: %d %d", r.chunks[1].ids[1], r.chunks[1].ids[5]);
    }
    vkt_prompt_result_fini(&r);
    /* backtrack 0: no move; backtrack 4: too short (75 - comma index 70 = 5 > 4); 5 moves */
    vkt_prompt_opts o = vkt_prompt_opts_default();
    for (int bt = 0; bt <= 4; bt += 4) {
        o.comma_backtrack = bt;
        TK_CHECK(tokenize(s, NULL, &o, &r) == VKT_OK && r.n_chunks == 2 &&
                     r.chunks[0].ids[75] == 1929 && r.chunks[1].ids[1] == 9301,
                 "backtrack %d: no move", bt);
        vkt_prompt_result_fini(&r);
    }
    o.comma_backtrack = 5;
    TK_CHECK(tokenize(s, NULL, &o, &r) == VKT_OK && r.n_chunks == 2 && r.chunks[1].ids[1] == 1929,
             "backtrack 5: moves");
    vkt_prompt_result_fini(&r);
    o.comma_backtrack = 75;
    vkt_err err = {0};
    TK_CHECK(vkt_prompt_tokenize(tok, NULL, "a", 1, &o, &r, &err) == VKT_ERR_USAGE,
             "backtrack 75 rejected");
    free(s);
    /* a comma as the 76th token never triggers the rule; a chunk of only commas */
    s = cats(75, ", dog");
    TK_CHECK(tokenize(s, NULL, NULL, &r) == VKT_OK && r.n_chunks == 2 &&
                 r.chunks[1].ids[1] == VKT_CLIP_COMMA && r.chunks[1].ids[2] == 1929,
             "comma at 76");
    vkt_prompt_result_fini(&r);
    free(s);
    /* the comma position is per chunk: a comma in chunk 0 does not move tokens of chunk 1 */
    s = cats(74, ", ");
    char *t = malloc(strlen(s) + 400);
    strcpy(t, s);
    for (int i = 0; i < 80; i++)
        strcat(t, "dog ");
    TK_CHECK(tokenize(t, NULL, NULL, &r) == VKT_OK && r.n_chunks == 3 &&
                 r.chunks[0].ids[75] == VKT_CLIP_COMMA && r.chunks[1].ids[75] == 1929 &&
                 r.chunks[2].ids[5] == 1929,
             "last_comma resets per chunk");
    vkt_prompt_result_fini(&r);
    free(s);
    free(t);
}

static void test_embeddings(void)
{
    vkt_err err = {0};
    vkt_prompt_embs *e = NULL;
    vkt_prompt_result r = {0};
    int tag = 42;
    TK_CHECK(vkt_prompt_embs_create(&e, &err) == VKT_OK, "create");
    TK_CHECK(vkt_prompt_embs_add(e, tok, "myemb", 3, &tag, &err) == VKT_OK, "add myemb");
    /* the spec's example */
    TK_CHECK(tokenize("a photo of myemb, (red:1.2) hair", e, NULL, &r) == VKT_OK && r.n_chunks == 1,
             "spec example");
    if (r.n_chunks == 1) {
        const int32_t want[] = {49406, 320, 1125, 539, 0, 0, 0, 267, 736, 2225, 49407};
        const vkt_prompt_chunk *c = &r.chunks[0];
        TK_CHECK(memcmp(c->ids, want, sizeof want) == 0 && is_padding(c, 11), "spec example ids");
        TK_CHECK(c->multipliers[8] == 1.2 && c->multipliers[7] == 1.0 && c->multipliers[4] == 1.0,
                 "multipliers");
        TK_CHECK(c->n_fixes == 1 && c->fixes[0].position == 4 && c->fixes[0].vectors == 3 &&
                     strcmp(c->fixes[0].name, "myemb") == 0 && c->fixes[0].user == &tag &&
                     c->fixes[0].emb == 0,
                 "placement");
    }
    vkt_prompt_result_fini(&r);
    /* matching is on ids: "myembs" and "my emb" are not the embedding; weights reach placeholders
     */
    TK_CHECK(tokenize("myembs my emb (myemb:1.3)", e, NULL, &r) == VKT_OK &&
                 r.chunks[0].n_fixes == 1 &&
                 r.chunks[0].multipliers[r.chunks[0].fixes[0].position] == 1.3 &&
                 r.chunks[0].multipliers[r.chunks[0].fixes[0].position + 2] == 1.3,
             "id matching, weight");
    vkt_prompt_result_fini(&r);
    /* more vectors than fit: 73 tokens + 3 vectors -> the embedding opens the next chunk */
    char *s = cats(73, "myemb dog");
    TK_CHECK(tokenize(s, e, NULL, &r) == VKT_OK && r.n_chunks == 2 && r.chunks[0].n_fixes == 0 &&
                 is_padding(&r.chunks[0], 74) && r.chunks[1].n_fixes == 1 &&
                 r.chunks[1].fixes[0].position == 1 && r.chunks[1].ids[4] == 1929,
             "embedding does not straddle");
    vkt_prompt_result_fini(&r);
    free(s);
    s = cats(72, "myemb dog");
    TK_CHECK(tokenize(s, e, NULL, &r) == VKT_OK && r.n_chunks == 2 && r.chunks[0].n_fixes == 1 &&
                 r.chunks[0].fixes[0].position == 73 && r.chunks[0].ids[75] == 0 &&
                 r.chunks[1].ids[1] == 1929,
             "embedding exactly fills the chunk");
    vkt_prompt_result_fini(&r);
    free(s);
    /* 75 vectors: a chunk of its own */
    TK_CHECK(vkt_prompt_embs_add(e, tok, "big", 75, NULL, &err) == VKT_OK, "add big");
    TK_CHECK(tokenize("x big big", e, NULL, &r) == VKT_OK && r.n_chunks == 3 &&
                 r.chunks[1].fixes[0].position == 1 && r.chunks[2].fixes[0].vectors == 75 &&
                 r.n_tokens == 75 * 2 + 75,
             "75-vector embedding");
    vkt_prompt_result_fini(&r);
    /* longest match first: "style-one" (several ids) beats "style" */
    TK_CHECK(vkt_prompt_embs_add(e, tok, "style", 2, NULL, &err) == VKT_OK &&
                 vkt_prompt_embs_add(e, tok, "style-one", 4, NULL, &err) == VKT_OK,
             "add styles");
    TK_CHECK(tokenize("style-one style", e, NULL, &r) == VKT_OK && r.chunks[0].n_fixes == 2 &&
                 strcmp(r.chunks[0].fixes[0].name, "style-one") == 0 &&
                 r.chunks[0].fixes[1].position == 5 &&
                 strcmp(r.chunks[0].fixes[1].name, "style") == 0,
             "longest match first");
    vkt_prompt_result_fini(&r);
    /* re-registering a name replaces it (same index, new vector count) */
    size_t count = vkt_prompt_embs_count(e);
    TK_CHECK(vkt_prompt_embs_add(e, tok, "style", 5, NULL, &err) == VKT_OK &&
                 vkt_prompt_embs_count(e) == count,
             "replace");
    TK_CHECK(tokenize("style", e, NULL, &r) == VKT_OK && r.chunks[0].fixes[0].vectors == 5,
             "replaced vectors");
    vkt_prompt_result_fini(&r);
    /* names that tokenize alike (case): the earlier registration wins */
    TK_CHECK(vkt_prompt_embs_add(e, tok, "MyEmb", 2, NULL, &err) == VKT_OK, "add MyEmb");
    TK_CHECK(tokenize("MYEMB", e, NULL, &r) == VKT_OK &&
                 strcmp(r.chunks[0].fixes[0].name, "myemb") == 0,
             "equal ids: earlier registration wins");
    vkt_prompt_result_fini(&r);
    /* the comma rule moving an embedding: the webui leaves the placement behind (default) ... */
    s = cats(71, ", myemb dog");
    TK_CHECK(tokenize(s, e, NULL, &r) == VKT_OK && r.n_chunks == 2 && r.chunks[0].n_fixes == 1 &&
                 r.chunks[0].fixes[0].position == 73 && r.chunks[0].ids[73] == VKT_CLIP_EOS &&
                 r.chunks[1].ids[1] == 0 && r.chunks[1].n_fixes == 0,
             "moved tail: webui placement quirk");
    vkt_prompt_result_fini(&r);
    /* ... or, on request, moves it along */
    vkt_prompt_opts o = vkt_prompt_opts_default();
    o.move_embeddings_with_tail = true;
    TK_CHECK(tokenize(s, e, &o, &r) == VKT_OK && r.n_chunks == 2 && r.chunks[0].n_fixes == 0 &&
                 r.chunks[1].n_fixes == 1 && r.chunks[1].fixes[0].position == 1 &&
                 r.chunks[1].ids[3] == 0,
             "moved tail: placement moved");
    vkt_prompt_result_fini(&r);
    free(s);
    /* bad registrations */
    TK_CHECK(vkt_prompt_embs_add(e, tok, "x", 0, NULL, &err) == VKT_ERR_USAGE, "0 vectors");
    TK_CHECK(vkt_prompt_embs_add(e, tok, "x", 76, NULL, &err) == VKT_ERR_USAGE, "76 vectors");
    TK_CHECK(vkt_prompt_embs_add(e, tok, "  ", 1, NULL, &err) == VKT_ERR_USAGE,
             "name without tokens");
    TK_CHECK(vkt_prompt_embs_add(e, tok, "a\xc3", 1, NULL, &err) == VKT_ERR_FORMAT,
             "bad UTF-8 name");
    vkt_prompt_embs_destroy(e);
}

static void test_emphasis_none_and_errors(void)
{
    vkt_prompt_result r = {0};
    vkt_prompt_opts o = vkt_prompt_opts_default();
    o.parse_emphasis = false;
    /* "(a)" as text: "(" "a" ")" are tokens of weight 1 */
    TK_CHECK(tokenize("(a)", NULL, &o, &r) == VKT_OK && r.chunks[0].ids[1] != 320 &&
                 r.chunks[0].multipliers[2] == 1.0,
             "emphasis None keeps brackets");
    vkt_prompt_result_fini(&r);
    vkt_err err = {0};
    r.n_chunks = 0;
    TK_CHECK(vkt_prompt_tokenize(tok, NULL, "(a:1..2)", SIZE_MAX, NULL, &r, &err) ==
                     VKT_ERR_FORMAT &&
                 r.n_chunks == 0 && strstr(err.msg, "1..2"),
             "malformed weight: %s", err.msg);
    TK_CHECK(vkt_prompt_tokenize(tok, NULL, "ok \xe2\x82", SIZE_MAX, NULL, &r, &err) ==
                     VKT_ERR_FORMAT &&
                 strstr(err.msg, "byte 3"),
             "invalid UTF-8: %s", err.msg);
    /* NUL bytes are characters when a length is given */
    TK_CHECK(vkt_prompt_tokenize(tok, NULL, "a\0b", 3, NULL, &r, &err) == VKT_OK &&
                 r.chunks[0].ids[1] == 320 && r.chunks[0].ids[2] == 444 &&
                 r.chunks[0].ids[3] == 321,
             "NUL inside");
    vkt_prompt_result_fini(&r);
}

static void test_alloc_failures(void)
{
    int nomem = 0, ok = 0;
    for (int n = 1; n < 200; n++) {
        char v[16];
        snprintf(v, sizeof v, "%d", n);
        setenv("VKTRAIN_FAIL_ALLOC", v, 1);
        vkt_fault_reset();
        vkt_err err = {0};
        vkt_prompt_embs *e = NULL;
        vkt_prompt_result r = {0};
        vkt_status st = vkt_prompt_embs_create(&e, &err);
        if (!st) st = vkt_prompt_embs_add(e, tok, "myemb", 3, NULL, &err);
        if (!st) st = vkt_prompt_embs_add(e, tok, "other", 2, NULL, &err);
        if (!st)
            st =
                vkt_prompt_tokenize(tok, e, "a (b:1.2) [c] myemb, BREAK d e f g, h i j k l m n o p",
                                    SIZE_MAX, NULL, &r, &err);
        if (!st)
            ok++;
        else
            nomem += st == VKT_ERR_NOMEM;
        vkt_prompt_result_fini(&r);
        vkt_prompt_embs_destroy(e);
    }
    unsetenv("VKTRAIN_FAIL_ALLOC");
    vkt_fault_reset();
    TK_CHECK(nomem > 10 && ok > 0, "allocation failures: %d NOMEM, %d ok", nomem, ok);
}

int main(void)
{
    vkt_err err = {0};
    if (vkt_tokenizer_create(NULL, &tok, &err) != VKT_OK) {
        fprintf(stderr, "tokenizer: %s\n", err.msg);
        return 1;
    }
    test_parse();
    test_chunks();
    test_commas();
    test_embeddings();
    test_emphasis_none_and_errors();
    test_alloc_failures();
    vkt_tokenizer_destroy(tok);
    return tk_finish("text.prompt");
}
