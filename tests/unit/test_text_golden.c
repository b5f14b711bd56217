/* Golden tokenizer cases: tests/golden/tokenizer_visible.json (the project's shared examples) and
 * tests/golden/tokenizer_reference.json (tests/reference/tokenizer_reference.py), run through the
 * library, or with `--cli VKTRAIN` through `vktrain tokenize --json` (prompt on stdin). */
#include <cjson/cJSON.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/file.h"
#include "testkit.h"
#include "text/prompt.h"
#include "text/tokenizer.h"

extern char **environ;

static int n_cases, n_cases_ok;

static int ints_equal(const cJSON *arr, const int32_t *v, size_t n)
{
    if (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != n) return 0;
    size_t i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) if (!cJSON_IsNumber(x) || x->valuedouble != v[i++]) return 0;
    return 1;
}

/* Compares one case with what the library gives. */
static int check_library(vkt_tokenizer *tok, const cJSON *c, const char *text, size_t len,
                         const vkt_prompt_embs *embs, const vkt_prompt_opts *opts)
{
    vkt_err err = {0};
    vkt_ids bpe = {0};
    vkt_prompt_result r = {0};
    int ok = 1;
    vkt_status st = vkt_tokenizer_encode(tok, text, len, &bpe, &err);
    if (st == VKT_OK) st = vkt_prompt_tokenize(tok, embs, text, len, opts, &r, &err);
    if (cJSON_IsTrue(cJSON_GetObjectItem(c, "error"))) {
        ok = st == VKT_ERR_FORMAT;
        goto done;
    }
    if (st != VKT_OK) {
        fprintf(stderr, "  error: %s\n", err.msg);
        ok = 0;
        goto done;
    }
    if (!ints_equal(cJSON_GetObjectItem(c, "bpe_ids"), bpe.v, bpe.n)) {
        fprintf(stderr, "  bpe_ids differ (%zu ids)\n", bpe.n);
        ok = 0;
    }
    const cJSON *chunks = cJSON_GetObjectItem(c, "chunks");
    if ((size_t)cJSON_GetArraySize(chunks) != r.n_chunks) {
        fprintf(stderr, "  %zu chunks, want %d\n", r.n_chunks, cJSON_GetArraySize(chunks));
        ok = 0;
        goto done;
    }
    for (size_t k = 0; k < r.n_chunks; k++) {
        const cJSON *ch = cJSON_GetArrayItem(chunks, (int)k);
        const vkt_prompt_chunk *got = &r.chunks[k];
        if (!ints_equal(cJSON_GetObjectItem(ch, "ids"), got->ids, VKT_PROMPT_CHUNK_IDS)) {
            fprintf(stderr, "  chunk %zu: ids differ\n", k);
            ok = 0;
        }
        const cJSON *m = cJSON_GetObjectItem(ch, "multipliers");
        for (int i = 0; i < VKT_PROMPT_CHUNK_IDS; i++) {
            double want = cJSON_GetArrayItem(m, i)->valuedouble;
            /* the golden files round multipliers to 6 decimals: |error| <= 5e-7 (+ slack) */
            if (!(fabs(got->multipliers[i] - want) <= 6e-7)) {
                fprintf(stderr, "  chunk %zu pos %d: multiplier %.9g, want %.9g\n", k, i,
                        got->multipliers[i], want);
                ok = 0;
            }
        }
        const cJSON *e = cJSON_GetObjectItem(ch, "embeddings");
        if ((size_t)cJSON_GetArraySize(e) != got->n_fixes) {
            fprintf(stderr, "  chunk %zu: %zu embeddings, want %d\n", k, got->n_fixes,
                    cJSON_GetArraySize(e));
            ok = 0;
            continue;
        }
        for (size_t f = 0; f < got->n_fixes; f++) {
            const cJSON *w = cJSON_GetArrayItem(e, (int)f);
            if (strcmp(cJSON_GetObjectItem(w, "name")->valuestring, got->fixes[f].name) != 0 ||
                cJSON_GetObjectItem(w, "position")->valueint != got->fixes[f].position ||
                cJSON_GetObjectItem(w, "vectors")->valueint != got->fixes[f].vectors) {
                fprintf(stderr, "  chunk %zu: embedding %zu differs (%s at %d)\n", k, f,
                        got->fixes[f].name, got->fixes[f].position);
                ok = 0;
            }
        }
    }
done:
    vkt_ids_fini(&bpe);
    vkt_prompt_result_fini(&r);
    return ok;
}

/* Runs argv with `in` on stdin; returns the exit status, stdout in *out (malloc'd). */
static int run(char **argv, const char *in, size_t in_n, char **out)
{
    int pin[2], pout[2];
    if (pipe(pin) || pipe(pout)) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
    posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
    posix_spawn_file_actions_addclose(&fa, pin[1]);
    posix_spawn_file_actions_addclose(&fa, pout[0]);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pin[0]);
    close(pout[1]);
    if (rc != 0) {
        close(pin[1]);
        close(pout[0]);
        return -1;
    }
    /* vktrain reads all of stdin before it writes anything */
    size_t off = 0;
    while (off < in_n) {
        ssize_t w = write(pin[1], in + off, in_n - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    close(pin[1]);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 4096 > cap) buf = realloc(buf, cap *= 2);
        ssize_t r = read(pout[0], buf + n, cap - n - 1);
        if (r <= 0) break;
        n += (size_t)r;
    }
    buf[n] = 0;
    close(pout[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    *out = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int check_cli(const char *exe, const cJSON *c, const char *text, size_t len,
                     const cJSON *regs, int backtrack)
{
    char *argv[64];
    char store[32][300];
    int a = 0, s = 0;
    argv[a++] = (char *)exe;
    argv[a++] = "tokenize";
    argv[a++] = "--json";
    const cJSON *r;
    cJSON_ArrayForEach(r, regs)
    {
        if (a > 56 || s >= 32) break;
        snprintf(store[s], sizeof store[s], "%s:%d", cJSON_GetObjectItem(r, "name")->valuestring,
                 cJSON_GetObjectItem(r, "vectors")->valueint);
        argv[a++] = "--embedding";
        argv[a++] = store[s++];
    }
    snprintf(store[s], sizeof store[s], "--comma-backtrack=%d", backtrack);
    argv[a++] = store[s++];
    argv[a++] = "-";
    argv[a] = NULL;
    char *out = NULL;
    int rc = run(argv, text, len, &out);
    int ok;
    if (cJSON_IsTrue(cJSON_GetObjectItem(c, "error"))) {
        ok = rc == 1 && out && out[0] == 0;
    } else {
        /* the exact shape: one compact object, keys in this order, then a newline */
        cJSON *got = out ? cJSON_Parse(out) : NULL;
        ok = rc == 0 && got && strncmp(out, "{\"bpe_ids\":[", 12) == 0 &&
             strstr(out, "],\"chunks\":[{\"ids\":[") && out[strlen(out) - 1] == '\n';
        if (ok) {
            /* bpe_ids and chunks must be equal to the golden values exactly: the CLI rounds
             * multipliers to 6 decimals as the golden files do */
            cJSON *want_b = cJSON_GetObjectItem(c, "bpe_ids"),
                  *got_b = cJSON_GetObjectItem(got, "bpe_ids");
            cJSON *want_c = cJSON_GetObjectItem(c, "chunks"),
                  *got_c = cJSON_GetObjectItem(got, "chunks");
            ok = cJSON_Compare(want_b, got_b, 1) && cJSON_Compare(want_c, got_c, 1) &&
                 cJSON_GetArraySize(got) == 2;
        }
        if (!ok) fprintf(stderr, "  rc %d, output: %.300s\n", rc, out ? out : "(none)");
        cJSON_Delete(got);
    }
    free(out);
    return ok;
}

static void run_file(vkt_tokenizer *tok, const char *rel, const char *cli)
{
    vkt_err err = {0};
    uint8_t *data = NULL;
    size_t n = 0;
    if (vkt_read_file(tk_src(rel), 16 << 20, &data, &n, &err) != VKT_OK) {
        TK_CHECK(0, "%s: %s", rel, err.msg);
        return;
    }
    cJSON *root = cJSON_ParseWithLength((const char *)data, n);
    free(data);
    const cJSON *cases = cJSON_GetObjectItem(root, "cases");
    TK_CHECK(cJSON_GetArraySize(cases) > 0, "%s: cases", rel);
    const cJSON *c;
    int file_cases = 0, file_ok = 0;
    cJSON_ArrayForEach(c, cases)
    {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        size_t len = strlen(text); /* cJSON strings stop at a NUL; no case holds \u0000 */
        /* registered embeddings: listed, or (visible file) those that appear in the chunks */
        cJSON *regs = cJSON_CreateArray();
        const cJSON *listed = cJSON_GetObjectItem(c, "registered"), *x;
        if (listed) {
            cJSON_ArrayForEach(x, listed) cJSON_AddItemToArray(regs, cJSON_Duplicate(x, 1));
        } else {
            const cJSON *ch, *e;
            cJSON_ArrayForEach(ch, cJSON_GetObjectItem(c, "chunks"))
                cJSON_ArrayForEach(e, cJSON_GetObjectItem(ch, "embeddings"))
            {
                int dup = 0;
                cJSON_ArrayForEach(x, regs) dup |=
                    strcmp(cJSON_GetObjectItem(x, "name")->valuestring,
                           cJSON_GetObjectItem(e, "name")->valuestring) == 0;
                if (!dup) {
                    cJSON *o = cJSON_CreateObject();
                    cJSON_AddStringToObject(o, "name", cJSON_GetObjectItem(e, "name")->valuestring);
                    cJSON_AddNumberToObject(o, "vectors",
                                            cJSON_GetObjectItem(e, "vectors")->valueint);
                    cJSON_AddItemToArray(regs, o);
                }
            }
        }
        vkt_prompt_opts opts = vkt_prompt_opts_default();
        const cJSON *bt = cJSON_GetObjectItem(c, "comma_backtrack");
        if (bt) opts.comma_backtrack = bt->valueint;
        int ok;
        if (cli) {
            ok = check_cli(cli, c, text, len, regs, opts.comma_backtrack);
        } else {
            vkt_prompt_embs *embs = NULL;
            ok = vkt_prompt_embs_create(&embs, &err) == VKT_OK;
            cJSON_ArrayForEach(x, regs) ok =
                ok && vkt_prompt_embs_add(embs, tok, cJSON_GetObjectItem(x, "name")->valuestring,
                                          cJSON_GetObjectItem(x, "vectors")->valueint, NULL,
                                          &err) == VKT_OK;
            ok = ok && check_library(tok, c, text, len, embs, &opts);
            vkt_prompt_embs_destroy(embs);
        }
        TK_CHECK(ok, "%s: case %d \"%.80s\"", rel, file_cases, text);
        file_cases++;
        file_ok += ok;
        cJSON_Delete(regs);
    }
    printf("%s: %d/%d cases agree%s\n", rel, file_ok, file_cases,
           cli ? " (vktrain tokenize --json)" : "");
    n_cases += file_cases;
    n_cases_ok += file_ok;
    cJSON_Delete(root);
}

/* The readable table, --help and the error exits. */
static void check_cli_misc(const char *exe)
{
    char *out = NULL;
    char *a1[] = {(char *)exe, "tokenize", "--embedding", "myemb:2", "-", NULL};
    const char *p = "a (red) cat, myemb";
    int rc = run(a1, p, strlen(p), &out);
    TK_CHECK(rc == 0 && out && strstr(out, "red</w>") && strstr(out, "1.1") &&
                 strstr(out, "[myemb vector 2/2]") &&
                 strstr(out, "embedding myemb at 5, 2 vectors") && strstr(out, "(padding)"),
             "table output: %.400s", out ? out : "");
    free(out);
    char *a2[] = {(char *)exe, "tokenize", "--help", NULL};
    rc = run(a2, "", 0, &out);
    TK_CHECK(rc == 0 && out && strstr(out, "usage: vktrain tokenize"), "--help");
    free(out);
    char *a3[] = {(char *)exe, "tokenize", "-", NULL};
    rc = run(a3, "a\xff", 2, &out);
    TK_CHECK(rc == 1 && out && !out[0], "invalid UTF-8 exits 1");
    free(out);
    char *a4[] = {(char *)exe, "tokenize", "--embeddings", "/nonexistent", "x", NULL};
    rc = run(a4, "", 0, &out);
    TK_CHECK(rc == 1, "--embeddings DIR not available yet");
    free(out);
    char *a5[] = {(char *)exe, "tokenize", "--embedding", "x:0", "x", NULL};
    rc = run(a5, "", 0, &out);
    TK_CHECK(rc == 2, "bad --embedding is a usage error");
    free(out);
    char *a6[] = {(char *)exe, "tokenize", "--json", "--", "-x (y)", NULL};
    rc = run(a6, "", 0, &out);
    TK_CHECK(rc == 0 && out && strstr(out, "\"multipliers\":[1.0,1.0,1.0,1.1,1.0"),
             "-- ends options: %.200s", out ? out : "");
    free(out);
}

int main(int argc, char **argv)
{
    const char *cli = argc == 3 && strcmp(argv[1], "--cli") == 0 ? argv[2] : NULL;
    vkt_err err = {0};
    vkt_tokenizer *tok = NULL;
    if (vkt_tokenizer_create(NULL, &tok, &err) != VKT_OK) {
        fprintf(stderr, "tokenizer: %s\n", err.msg);
        return 1;
    }
    run_file(tok, "tests/golden/tokenizer_visible.json", cli);
    run_file(tok, "tests/golden/tokenizer_reference.json", cli);
    if (cli) check_cli_misc(cli);
    vkt_tokenizer_destroy(tok);
    return tk_finish(cli ? "e2e.cli.tokenize" : "golden.text.tokenizer");
}
