/* Fuzz target: prompt parser + chunking + CLIP tokenizer on arbitrary bytes.
 * Input: byte 0 picks the options (bit 0: emphasis mode None, bit 1: move embeddings with the
 * comma tail, bits 2-7: comma backtrack mod 75); the rest is the prompt. Traps when an invariant
 * breaks: every chunk is BOS + 75 + EOS with ids in the vocabulary and finite multipliers,
 * placements lie inside the chunk, errors are only FORMAT/NOMEM, encoding is deterministic. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/prompt.h"
#include "text/tokenizer.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_prompt: invariant failed: %s (line %d)\n", #c, __LINE__);        \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

typedef struct state {
    vkt_tokenizer *tok;
    vkt_prompt_embs *embs;
} state;

static state *get_state(void)
{
    static state s; /* built once per process: loading the merges is the slow part */
    if (!s.tok) {
        vkt_err err = {0};
        CHECK(vkt_tokenizer_create(NULL, &s.tok, &err) == VKT_OK);
        CHECK(vkt_prompt_embs_create(&s.embs, &err) == VKT_OK);
        CHECK(vkt_prompt_embs_add(s.embs, s.tok, "myemb", 3, NULL, &err) == VKT_OK);
        CHECK(vkt_prompt_embs_add(s.embs, s.tok, "cat", 1, NULL, &err) == VKT_OK);
        CHECK(vkt_prompt_embs_add(s.embs, s.tok, "big", 75, NULL, &err) == VKT_OK);
        CHECK(vkt_prompt_embs_add(s.embs, s.tok, "style-one", 4, NULL, &err) == VKT_OK);
    }
    return &s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    state *s = get_state();
    vkt_prompt_opts o = vkt_prompt_opts_default();
    o.parse_emphasis = !(data[0] & 1);
    o.move_embeddings_with_tail = (data[0] & 2) != 0;
    o.comma_backtrack = (data[0] >> 2) % VKT_PROMPT_CHUNK;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    vkt_err err = {0};

    vkt_ids a = {0}, b = {0};
    vkt_status st = vkt_tokenizer_encode(s->tok, text, len, &a, &err);
    CHECK(st == VKT_OK || st == VKT_ERR_FORMAT);
    if (st == VKT_OK) {
        CHECK(vkt_tokenizer_encode(s->tok, text, len, &b, &err) == VKT_OK && a.n == b.n &&
              (a.n == 0 || memcmp(a.v, b.v, a.n * sizeof *a.v) == 0));
        for (size_t i = 0; i < a.n; i++)
            CHECK(a.v[i] >= 0 && a.v[i] <= VKT_CLIP_EOS);
    }
    vkt_ids_fini(&a);
    vkt_ids_fini(&b);

    vkt_prompt_result r = {0};
    st = vkt_prompt_tokenize(s->tok, s->embs, text, len, &o, &r, &err);
    CHECK(st == VKT_OK || st == VKT_ERR_FORMAT);
    if (st != VKT_OK) {
        CHECK(r.n_chunks == 0 && err.msg[0]);
        return 0;
    }
    CHECK(r.n_chunks >= 1);
    for (size_t c = 0; c < r.n_chunks; c++) {
        const vkt_prompt_chunk *ch = &r.chunks[c];
        CHECK(ch->ids[0] == VKT_CLIP_BOS && ch->ids[VKT_PROMPT_CHUNK_IDS - 1] == VKT_CLIP_EOS);
        CHECK(ch->multipliers[0] == 1.0 && ch->multipliers[VKT_PROMPT_CHUNK_IDS - 1] == 1.0);
        for (int i = 0; i < VKT_PROMPT_CHUNK_IDS; i++) {
            CHECK(ch->ids[i] >= 0 && ch->ids[i] <= VKT_CLIP_EOS);
            CHECK(isfinite(ch->multipliers[i]));
        }
        for (size_t k = 0; k < ch->n_fixes; k++) {
            const vkt_prompt_fix *f = &ch->fixes[k];
            CHECK(f->vectors >= 1 && f->position >= 1 &&
                  f->position + f->vectors - 1 <= VKT_PROMPT_CHUNK);
            CHECK(f->name && f->emb >= 0 && (size_t)f->emb < vkt_prompt_embs_count(s->embs));
            if (o.move_embeddings_with_tail)
                for (int j = 0; j < f->vectors; j++)
                    CHECK(ch->ids[f->position + j] == 0);
        }
    }
    vkt_prompt_result_fini(&r);
    return 0;
}

#ifndef VKT_LIBFUZZER
/* Replays every regular file of the directories (or files) given. */
static int replay(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) return 0;
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 1;
}

int main(int argc, char **argv)
{
    int n = 0;
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) {
            n += replay(argv[a]);
            continue;
        }
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[a], e->d_name);
            n += replay(p);
        }
        closedir(d);
    }
    state *s = get_state();
    vkt_prompt_embs_destroy(s->embs);
    vkt_tokenizer_destroy(s->tok);
    printf("fuzz.prompt: %d passed, 0 failed\n", n);
    return n > 0 ? 0 : 1;
}
#endif
