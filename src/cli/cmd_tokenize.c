/* `vktrain tokenize`: a prompt through the CLIP tokenizer and the webui's prompt handling. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/fault.h"
#include "cli/cli.h"
#include "io/embedding_db.h"
#include "text/prompt.h"
#include "text/tokenizer.h"
#include "train/embedding_names.h"

static const char *HELP =
    "usage: vktrain tokenize [options] \"PROMPT\"\n\n"
    "Shows how SD1 sees a prompt: the plain CLIP BPE ids, then the webui's 77-token chunks (BOS,\n"
    "75 tokens, EOS, EOS padding) with the emphasis multiplier of every position and where\n"
    "textual-inversion embeddings sit (their positions hold id 0). PROMPT \"-\" reads stdin;\n"
    "\"--\" ends the options (for a prompt that starts with \"-\").\n\n"
    "options:\n"
    "  --json                    one JSON document: "
    "{\"bpe_ids\":[...],\"chunks\":[{\"ids\":[...],\n"
    "                            "
    "\"multipliers\":[...],\"embeddings\":[{\"name\",\"position\",\"vectors\"}]}]}\n"
    "  --embedding NAME:N        treat NAME as an embedding with N vectors (repeatable)\n"
    "  --embeddings DIR          embeddings from a folder, loaded as the webui does (.pt, .bin,\n"
    "                            .safetensors, .png, .webp; trigger word = file name without\n"
    "                            extension); unreadable files and duplicates are warnings\n"
    "  --vocab FILE              CLIP merges file, gzip'd or plain (default: the embedded\n"
    "                            bpe_simple_vocab_16e6.txt.gz)\n"
    "  --comma-backtrack N       webui \"Prompt word wrap length limit\", 0..74 (default 20)\n"
    "  --emphasis MODE           original | no-norm | ignore | none (default original; only none\n"
    "                            changes tokenization: brackets become plain text)\n\n"
    "example:\n  vktrain tokenize --embedding myemb:3 \"a photo of myemb, (red:1.2) hair\"\n";

typedef struct emb_opt {
    char name[256];
    int vectors;
} emb_opt;

/* 6 decimals, trailing zeros trimmed but one kept: 1.0, 1.21, 0.909091 (as the golden files). */
static void print_mult(FILE *f, double m)
{
    char buf[400];
    snprintf(buf, sizeof buf, "%.6f", m);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *e = buf + strlen(buf) - 1;
        while (e > dot + 1 && *e == '0')
            *e-- = 0;
    }
    fputs(buf, f);
}

static void print_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void print_json(const vkt_ids *bpe, const vkt_prompt_result *r)
{
    printf("{\"bpe_ids\":[");
    for (size_t i = 0; i < bpe->n; i++)
        printf(i ? ",%d" : "%d", bpe->v[i]);
    printf("],\"chunks\":[");
    for (size_t c = 0; c < r->n_chunks; c++) {
        const vkt_prompt_chunk *ch = &r->chunks[c];
        printf(c ? ",{\"ids\":[" : "{\"ids\":[");
        for (int i = 0; i < VKT_PROMPT_CHUNK_IDS; i++)
            printf(i ? ",%d" : "%d", ch->ids[i]);
        printf("],\"multipliers\":[");
        for (int i = 0; i < VKT_PROMPT_CHUNK_IDS; i++) {
            if (i) putchar(',');
            print_mult(stdout, ch->multipliers[i]);
        }
        printf("],\"embeddings\":[");
        for (size_t k = 0; k < ch->n_fixes; k++) {
            printf(k ? ",{\"name\":" : "{\"name\":");
            print_json_string(stdout, ch->fixes[k].name);
            printf(",\"position\":%d,\"vectors\":%d}", ch->fixes[k].position, ch->fixes[k].vectors);
        }
        printf("]}");
    }
    printf("]}\n");
}

/* The embedding placed at position i of the chunk, or NULL. */
static const vkt_prompt_fix *fix_at(const vkt_prompt_chunk *ch, int i)
{
    for (size_t k = 0; k < ch->n_fixes; k++)
        if (i >= ch->fixes[k].position && i < ch->fixes[k].position + ch->fixes[k].vectors)
            return &ch->fixes[k];
    return NULL;
}

static void print_table(const vkt_tokenizer *tok, const vkt_ids *bpe, const vkt_prompt_result *r)
{
    printf("bpe ids (%zu):", bpe->n);
    for (size_t i = 0; i < bpe->n; i++)
        printf(" %d", bpe->v[i]);
    printf("\n%zu chunk%s, %zu tokens\n", r->n_chunks, r->n_chunks == 1 ? "" : "s", r->n_tokens);
    for (size_t c = 0; c < r->n_chunks; c++) {
        const vkt_prompt_chunk *ch = &r->chunks[c];
        int last = VKT_PROMPT_CHUNK_IDS - 1; /* last position that is not trailing EOS padding */
        while (last > 1 && ch->ids[last - 1] == VKT_CLIP_EOS && ch->multipliers[last - 1] == 1.0 &&
               !fix_at(ch, last - 1))
            last--;
        printf("\nchunk %zu\n  %4s  %6s  %10s  %s\n", c, "pos", "id", "weight", "token");
        for (int i = 0; i <= last; i++) {
            const vkt_prompt_fix *fx = fix_at(ch, i);
            char shown[300];
            if (fx && ch->ids[i] == 0) {
                snprintf(shown, sizeof shown, "[%s vector %d/%d]", fx->name, i - fx->position + 1,
                         fx->vectors);
            } else {
                const char *s = vkt_tokenizer_symbol(tok, ch->ids[i]);
                snprintf(shown, sizeof shown, "%s", s ? s : "?");
            }
            printf("  %4d  %6d  %10.6g  %s\n", i, ch->ids[i], ch->multipliers[i], shown);
        }
        if (last < VKT_PROMPT_CHUNK_IDS - 1)
            printf("  %d..%d: %d (padding)\n", last + 1, VKT_PROMPT_CHUNK_IDS - 1, VKT_CLIP_EOS);
        for (size_t k = 0; k < ch->n_fixes; k++)
            printf("  embedding %s at %d, %d vector%s\n", ch->fixes[k].name, ch->fixes[k].position,
                   ch->fixes[k].vectors, ch->fixes[k].vectors == 1 ? "" : "s");
    }
}

static char *read_stdin(size_t *n)
{
    size_t cap = 4096, len = 0;
    char *buf = vkt_malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len, stdin);
        len += got;
        if (got == 0) break;
        if (len == cap) {
            char *b = vkt_realloc(buf, cap * 2);
            if (!b) free(buf);
            buf = b;
            cap *= 2;
        }
    }
    *n = len;
    return buf;
}

int vkt_cmd_tokenize(int argc, char **argv)
{
    bool json = false, missing = false;
    const char *vocab = NULL, *prompt = NULL, *v = NULL, *emb_dir = NULL;
    vkt_prompt_opts opts = vkt_prompt_opts_default();
    emb_opt *embs = NULL;
    size_t n_embs = 0;
    int rc = 0;
    vkt_err err = {0};
    vkt_tokenizer *tok = NULL;
    vkt_prompt_embs *pe = NULL;
    vkt_embedding_db *db = NULL;
    vkt_prompt_result res = {0};
    vkt_ids bpe = {0};
    char *input = NULL;
    size_t input_n = 0;

    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        if (options_done) {
            if (prompt) {
                rc = vkt_cli_usage("tokenize", "one PROMPT only (quote it)");
                goto done;
            }
            prompt = argv[i];
        } else if (strcmp(argv[i], "--") == 0) {
            options_done = true;
        } else if (vkt_cli_is_help(argv[i])) {
            fputs(HELP, stdout);
            rc = 0;
            goto done;
        } else if (vkt_cli_flag(argv, i, "--json")) {
            json = true;
        } else if (vkt_cli_opt(argc, argv, &i, "--vocab", &vocab, &missing)) {
            if (missing) {
                rc = vkt_cli_usage("tokenize", "--vocab needs a file");
                goto done;
            }
        } else if (vkt_cli_opt(argc, argv, &i, "--embeddings", &v, &missing)) {
            if (missing) {
                rc = vkt_cli_usage("tokenize", "--embeddings needs a folder");
                goto done;
            }
            emb_dir = v;
        } else if (vkt_cli_opt(argc, argv, &i, "--embedding", &v, &missing)) {
            const char *colon = missing ? NULL : strrchr(v, ':');
            char *end = NULL;
            long n = colon ? strtol(colon + 1, &end, 10) : 0;
            if (!colon || colon == v || !end || *end || colon[1] == 0 || n < 1 ||
                n > VKT_PROMPT_CHUNK || (size_t)(colon - v) >= sizeof embs->name) {
                rc = vkt_cli_usage(
                    "tokenize", "--embedding expects NAME:VECTORS with 1..%d vectors, got \"%s\"",
                    VKT_PROMPT_CHUNK, missing ? "" : v);
                goto done;
            }
            emb_opt *e = vkt_realloc(embs, (n_embs + 1) * sizeof *e);
            if (!e) {
                vkt_fail(&err, VKT_ERR_NOMEM, "out of host memory");
                rc = vkt_cli_fail(&err);
                goto done;
            }
            embs = e;
            memcpy(embs[n_embs].name, v, (size_t)(colon - v));
            embs[n_embs].name[colon - v] = 0;
            embs[n_embs++].vectors = (int)n;
        } else if (vkt_cli_opt(argc, argv, &i, "--comma-backtrack", &v, &missing)) {
            char *end = NULL;
            long n = missing ? -1 : strtol(v, &end, 10);
            if (missing || !end || *end || n < 0 || n >= VKT_PROMPT_CHUNK) {
                rc = vkt_cli_usage("tokenize", "--comma-backtrack expects 0..%d",
                                   VKT_PROMPT_CHUNK - 1);
                goto done;
            }
            opts.comma_backtrack = (int)n;
        } else if (vkt_cli_opt(argc, argv, &i, "--emphasis", &v, &missing)) {
            if (!missing && strcasecmp(v, "none") == 0)
                opts.parse_emphasis = false;
            else if (!missing && (strcasecmp(v, "original") == 0 || strcasecmp(v, "no-norm") == 0 ||
                                  strcasecmp(v, "no norm") == 0 || strcasecmp(v, "ignore") == 0))
                opts.parse_emphasis = true;
            else {
                rc = vkt_cli_usage("tokenize",
                                   "--emphasis expects original, no-norm, ignore or none");
                goto done;
            }
        } else if (argv[i][0] == '-' && argv[i][1] != 0) {
            rc = vkt_cli_usage("tokenize", "unknown option %s", argv[i]);
            goto done;
        } else if (prompt) {
            rc = vkt_cli_usage("tokenize", "one PROMPT only (quote it)");
            goto done;
        } else {
            prompt = argv[i];
        }
    }
    if (!prompt) {
        rc = vkt_cli_usage("tokenize", "missing PROMPT");
        goto done;
    }
    if (strcmp(prompt, "-") == 0) {
        if (!(input = read_stdin(&input_n))) {
            vkt_fail(&err, VKT_ERR_IO, "reading the prompt from stdin failed");
            rc = vkt_cli_fail(&err);
            goto done;
        }
    }
    const char *text = input ? input : prompt;
    size_t text_n = input ? input_n : strlen(prompt);
    if (vkt_tokenizer_create(vocab, &tok, &err) || vkt_prompt_embs_create(&pe, &err)) {
        rc = vkt_cli_fail(&err);
        goto done;
    }
    if (emb_dir) {
        /* any width: tokenize has no model to compare with */
        if (vkt_embedding_db_create(&db, &err) || vkt_embedding_db_load_dir(db, emb_dir, 0, &err) ||
            vkt_embedding_names_register(db, tok, pe, &err)) {
            vkt_err_prefix(&err, "--embeddings");
            rc = vkt_cli_fail(&err);
            goto done;
        }
        for (size_t k = 0; k < db->n_notes; k++)
            fprintf(stderr, "vktrain: warning: %s: %s\n", db->notes[k].path, db->notes[k].msg);
    }
    for (size_t k = 0; k < n_embs; k++) {
        if (vkt_prompt_embs_add(pe, tok, embs[k].name, embs[k].vectors, NULL, &err)) {
            rc = vkt_cli_fail(&err);
            goto done;
        }
    }
    if (vkt_tokenizer_encode(tok, text, text_n, &bpe, &err) ||
        vkt_prompt_tokenize(tok, pe, text, text_n, &opts, &res, &err)) {
        vkt_err_prefix(&err, "tokenize");
        rc = vkt_cli_fail(&err);
        goto done;
    }
    if (json)
        print_json(&bpe, &res);
    else
        print_table(tok, &bpe, &res);
    if (fflush(stdout) != 0) {
        vkt_fail(&err, VKT_ERR_IO, "writing stdout: %s", strerror(errno));
        rc = vkt_cli_fail(&err);
    }
done:
    vkt_prompt_result_fini(&res);
    vkt_ids_fini(&bpe);
    vkt_prompt_embs_destroy(pe);
    vkt_embedding_db_destroy(db);
    vkt_tokenizer_destroy(tok);
    free(embs);
    free(input);
    return rc;
}
