/* `vktrain embedding <sub>`: textual-inversion embeddings. `create` makes a new webui .pt from an
 * init text (training.md §6); `train` comes with the training loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "cli/cli.h"
#include "io/embedding_file.h"
#include "io/hash.h"
#include "io/json_util.h"
#include "io/model_file.h"
#include "text/embedding_name.h"
#include "text/prompt.h"
#include "text/tokenizer.h"
#include "train/embedding_init.h"

static const char *HELP = "usage: vktrain embedding <subcommand> [options]\n\n"
                          "Textual-inversion embeddings in the webui's format.\n\n"
                          "subcommands:\n"
                          "  create NAME --model M     a new embedding .pt from an init text\n"
                          "  train --model M --embedding NAME|FILE --data DIR\n"
                          "                            textual-inversion training (the webui's Train tab)\n\n"
                          "example:\n  vktrain embedding create mycat --model v1-5.safetensors "
                          "--init-text cat --vectors 4\n\n"
                          "`vktrain embedding <subcommand> --help` describes each one.\n";

static const char *HELP_CREATE =
    "usage: vktrain embedding create NAME --model M [options]\n\n"
    "Writes a new textual-inversion embedding OUT/NAME.pt exactly as the webui's Create embedding\n"
    "tab does: {string_to_token, string_to_param: {'*': float32 [N, W]}, name, step 0,\n"
    "sd_checkpoint, sd_checkpoint_name}. Vector i is the token-embedding row of init token\n"
    "floor(i * n / N), where n <= N are the first init tokens (\"a b\" with 4 vectors: a a b b);\n"
    "an empty init text gives zero vectors. NAME keeps only letters, digits, '.', '_', '-' and\n"
    "spaces (the webui's rule). Unlike the webui, which leaves them None here, sd_checkpoint and\n"
    "sd_checkpoint_name record the model (first 10 hex digits of its sha256, its file name).\n\n"
    "options:\n"
    "  --model M                 SD 1.x checkpoint (.safetensors, .ckpt) or diffusers folder\n"
    "                            (required; only its token-embedding table is read)\n"
    "  --init-text TEXT          initialization text (default \"*\"; \"\" for zero vectors)\n"
    "  --vectors N               vectors per token, 1..75 (default 1)\n"
    "  --out DIR                 folder to write to, created if missing (default embeddings)\n"
    "  --overwrite               replace an existing OUT/NAME.pt (default: refuse)\n"
    "  --vocab FILE              CLIP merges file (default: the embedded one)\n"
    "  --json                    print {\"path\",\"name\",\"vectors\",\"width\",\"init_ids\",\n"
    "                            \"sd_checkpoint\",\"sd_checkpoint_name\"} on stdout\n\n"
    "example:\n  vktrain embedding create mycat --model v1-5.safetensors --init-text \"a cat\" "
    "--vectors 4\n";

/* The webui's checkpoint name: the file name without its extension (a folder: its name). */
static void model_name(const char *path, char *buf, size_t n)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && path[start - 1] != '/')
        start--;
    snprintf(buf, n, "%.*s", (int)(len - start), path + start);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
        char *dot = strrchr(buf, '.');
        if (dot && dot != buf) *dot = 0;
    }
    for (char *p = buf; *p; p++)
        if (*p == '\\') *p = '_';
}

static int create(int argc, char **argv)
{
    const char *name = NULL, *model = NULL, *init = "*", *out_dir = "embeddings", *vocab = NULL,
               *v = NULL;
    long n_vectors = 1;
    bool overwrite = false, json = false, missing = false;
    int rc = 0;
    vkt_err err = {0};
    char *clean = NULL, *path = NULL;
    vkt_model_file *mf = NULL;
    vkt_tokenizer *tok = NULL;
    vkt_embedding *e = NULL;
    vkt_ids ids = {0};

    for (int i = 1; i < argc; i++) {
        if (vkt_cli_is_help(argv[i])) {
            fputs(HELP_CREATE, stdout);
            goto done;
        } else if (vkt_cli_flag(argv, i, "--overwrite")) {
            overwrite = true;
        } else if (vkt_cli_flag(argv, i, "--json")) {
            json = true;
        } else if (vkt_cli_opt(argc, argv, &i, "--model", &model, &missing) ||
                   vkt_cli_opt(argc, argv, &i, "--init-text", &init, &missing) ||
                   vkt_cli_opt(argc, argv, &i, "--out", &out_dir, &missing) ||
                   vkt_cli_opt(argc, argv, &i, "--vocab", &vocab, &missing)) {
            if (missing) {
                rc = vkt_cli_usage("embedding create", "%s needs a value", argv[i]);
                goto done;
            }
        } else if (vkt_cli_opt(argc, argv, &i, "--vectors", &v, &missing)) {
            char *end = NULL;
            n_vectors = missing ? 0 : strtol(v, &end, 10);
            if (missing || !end || *end || n_vectors < 1 || n_vectors > VKT_PROMPT_CHUNK) {
                rc = vkt_cli_usage("embedding create", "--vectors expects 1..%d", VKT_PROMPT_CHUNK);
                goto done;
            }
        } else if (argv[i][0] == '-' && argv[i][1] != 0) {
            rc = vkt_cli_usage("embedding create", "unknown option %s", argv[i]);
            goto done;
        } else if (name) {
            rc = vkt_cli_usage("embedding create", "one NAME only (quote it)");
            goto done;
        } else {
            name = argv[i];
        }
    }
    if (!name || !model) {
        rc = vkt_cli_usage("embedding create", "%s", !name ? "missing NAME" : "missing --model M");
        goto done;
    }
    if (vkt_embedding_name_sanitize(name, &clean, &err)) {
        rc = vkt_cli_usage("embedding create", "%s", err.msg);
        goto done;
    }
    size_t plen = strlen(out_dir) + 1 + strlen(clean) + 4;
    if (!(path = malloc(plen))) {
        vkt_fail(&err, VKT_ERR_NOMEM, "out of host memory");
        rc = vkt_cli_fail(&err);
        goto done;
    }
    snprintf(path, plen, "%s/%s.pt", out_dir, clean);
    struct stat sb;
    if (!overwrite && stat(path, &sb) == 0) {
        vkt_fail(&err, VKT_ERR_IO, "%s already exists (use --overwrite to replace it)", path);
        rc = vkt_cli_fail(&err);
        goto done;
    }
    vkt_model_opts mo = {0};
    if (vkt_model_file_open(model, &mo, &mf, &err) || vkt_tokenizer_create(vocab, &tok, &err) ||
        vkt_embedding_init_from_text(mf, tok, clean, init, (int)n_vectors, &e, &ids, &err)) {
        rc = vkt_cli_fail(&err);
        goto done;
    }
    char mname[512];
    model_name(model, mname, sizeof mname);
    if (stat(model, &sb) == 0 && S_ISREG(sb.st_mode)) {
        /* webui: sd_checkpoint = the model's short hash (sha256 of the file, 10 hex digits) */
        vkt_file_hash h;
        if (vkt_hash_file(model, true, &h, &err)) {
            rc = vkt_cli_fail(&err);
            goto done;
        }
        h.sha256[10] = 0;
        vkt_embedding_file_set_str(&e->sd_checkpoint, h.sha256, &err);
    }
    if (vkt_embedding_file_set_str(&e->sd_checkpoint_name, mname, &err) ||
        vkt_mkdirs(out_dir, &err) || vkt_embedding_file_write_pt(e, path, &err)) {
        rc = vkt_cli_fail(&err);
        goto done;
    }
    if (json) {
        vkt_buf b = {0};
        vkt_buf_puts(&b, "{\"path\":");
        vkt_buf_json_str(&b, path);
        vkt_buf_puts(&b, ",\"name\":");
        vkt_buf_json_str(&b, e->name);
        vkt_buf_printf(&b, ",\"vectors\":%d,\"width\":%d,\"init_ids\":[", e->n_vectors, e->width);
        for (size_t k = 0; k < ids.n; k++)
            vkt_buf_printf(&b, k ? ",%d" : "%d", ids.v[k]);
        vkt_buf_puts(&b, "],\"sd_checkpoint\":");
        if (e->sd_checkpoint)
            vkt_buf_json_str(&b, e->sd_checkpoint);
        else
            vkt_buf_puts(&b, "null");
        vkt_buf_puts(&b, ",\"sd_checkpoint_name\":");
        vkt_buf_json_str(&b, e->sd_checkpoint_name);
        vkt_buf_puts(&b, "}\n");
        if (!b.failed) fwrite(b.data, 1, b.len, stdout);
        vkt_buf_free(&b);
    } else {
        printf("created %s: %d vector%s of width %d", path, e->n_vectors,
               e->n_vectors == 1 ? "" : "s", e->width);
        if (ids.n) {
            printf(" from %zu init token%s (", ids.n, ids.n == 1 ? "" : "s");
            for (size_t k = 0; k < ids.n; k++)
                printf(k ? " %d" : "%d", ids.v[k]);
            printf(")");
        } else {
            printf(", all zero");
        }
        printf(", model %s [%s]\n", mname, e->sd_checkpoint ? e->sd_checkpoint : "no hash");
    }
    if (fflush(stdout) != 0) {
        vkt_fail(&err, VKT_ERR_IO, "writing stdout: %s", strerror(errno));
        rc = vkt_cli_fail(&err);
    }
done:
    vkt_ids_fini(&ids);
    vkt_embedding_file_destroy(e);
    vkt_tokenizer_destroy(tok);
    vkt_model_file_close(mf);
    free(clean);
    free(path);
    return rc;
}

int vkt_cmd_embedding(int argc, char **argv)
{
    if (argc < 2) {
        fputs(HELP, stderr);
        return 2;
    }
    if (vkt_cli_is_help(argv[1])) {
        fputs(HELP, stdout);
        return 0;
    }
    if (strcmp(argv[1], "create") == 0) return create(argc - 1, argv + 1);
    if (strcmp(argv[1], "train") == 0) return vkt_cmd_embedding_train(argc - 1, argv + 1);
    return vkt_cli_usage("embedding", "unknown subcommand \"%s\"", argv[1]);
}
