/* Embedding folder loading, after the webui's EmbeddingDatabase.load_from_dir()/load_from_file()
 * (textual_inversion.py). Knows nothing of Vulkan or of tokenizers. */
#define _GNU_SOURCE
#include "io/embedding_db.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/fault.h"

#define MAX_DEPTH 32

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = vkt_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

const char *vkt_embedding_db_note_kind_name(vkt_embedding_note_kind k)
{
    switch (k) {
    case VKT_EMB_NOTE_ERROR:
        return "error";
    case VKT_EMB_NOTE_SKIPPED:
        return "skipped";
    case VKT_EMB_NOTE_REPLACED:
        return "replaced";
    }
    return "?";
}

vkt_status vkt_embedding_db_create(vkt_embedding_db **out, vkt_err *err)
{
    vkt_embedding_db *db = vkt_calloc(1, sizeof *db);
    if (!db) return vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
    *out = db;
    return VKT_OK;
}

void vkt_embedding_db_destroy(vkt_embedding_db *db)
{
    if (!db) return;
    for (size_t i = 0; i < db->n; i++) {
        vkt_embedding_file_destroy(db->embs[i]);
        free(db->paths[i]);
    }
    for (size_t i = 0; i < db->n_notes; i++) {
        free(db->notes[i].path);
        free(db->notes[i].msg);
    }
    free(db->embs);
    free(db->paths);
    free(db->notes);
    free(db);
}

vkt_status vkt_embedding_db_note(vkt_embedding_db *db, vkt_embedding_note_kind kind,
                                 const char *path, const char *msg, vkt_err *err)
{
    vkt_embedding_note *nn = vkt_realloc(db->notes, (db->n_notes + 1) * sizeof *nn);
    if (!nn) return vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
    db->notes = nn;
    vkt_embedding_note *n = &db->notes[db->n_notes];
    n->kind = kind;
    n->path = dupstr(path);
    n->msg = dupstr(msg);
    if (!n->path || !n->msg) {
        free(n->path);
        free(n->msg);
        return vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
    }
    db->n_notes++;
    return VKT_OK;
}

const vkt_embedding *vkt_embedding_db_find(const vkt_embedding_db *db, const char *name)
{
    for (size_t i = 0; i < db->n; i++)
        if (strcmp(db->embs[i]->name, name) == 0) return db->embs[i];
    return NULL;
}

/* Removes entry i without destroying it; returns it (path in *path, caller frees). */
static vkt_embedding *take(vkt_embedding_db *db, size_t i, char **path)
{
    vkt_embedding *e = db->embs[i];
    *path = db->paths[i];
    memmove(&db->embs[i], &db->embs[i + 1], (db->n - i - 1) * sizeof *db->embs);
    memmove(&db->paths[i], &db->paths[i + 1], (db->n - i - 1) * sizeof *db->paths);
    db->n--;
    return e;
}

vkt_status vkt_embedding_db_drop(vkt_embedding_db *db, size_t i, const char *why, vkt_err *err)
{
    if (i >= db->n) return vkt_fail(err, VKT_ERR_INTERNAL, "embedding db: no entry %zu", i);
    char *path;
    vkt_embedding *e = take(db, i, &path);
    vkt_status st = vkt_embedding_db_note(db, VKT_EMB_NOTE_SKIPPED, path, why, err);
    vkt_embedding_file_destroy(e);
    free(path);
    return st;
}

static bool all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return false;
    return true;
}

vkt_status vkt_embedding_db_add(vkt_embedding_db *db, vkt_embedding *e, const char *path,
                                int expected_width, vkt_err *err)
{
    char msg[300];
    vkt_status st = VKT_OK;
    char *p = NULL;
    int shape = vkt_embedding_file_shape(e);
    /* webui: registered if expected_shape == -1 or equal to embedding.shape, else "skipped" */
    if (expected_width > 0 && shape != expected_width) {
        snprintf(msg, sizeof msg, "embedding \"%s\" has width %d, the model's is %d", e->name,
                 shape, expected_width);
        st = vkt_embedding_db_note(db, VKT_EMB_NOTE_SKIPPED, path, msg, err);
        goto done;
    }
    if (!all_finite(e->vectors, (size_t)e->n_vectors * (size_t)e->width) ||
        (e->vectors_g && !all_finite(e->vectors_g, (size_t)e->n_vectors * (size_t)e->width_g))) {
        snprintf(msg, sizeof msg, "embedding \"%s\" has NaN or Inf values", e->name);
        st = vkt_embedding_db_note(db, VKT_EMB_NOTE_SKIPPED, path, msg, err);
        goto done;
    }
    for (size_t i = 0; i < db->n; i++) {
        if (strcmp(db->embs[i]->name, e->name) != 0) continue;
        /* webui register_embedding_by_name(): the new one replaces the old and goes last */
        char *old_path;
        vkt_embedding *old = take(db, i, &old_path);
        snprintf(msg, sizeof msg, "embedding \"%s\" replaced by %s", e->name, path);
        vkt_embedding_file_destroy(old);
        st = vkt_embedding_db_note(db, VKT_EMB_NOTE_REPLACED, old_path, msg, err);
        free(old_path);
        if (st) goto done;
        break;
    }
    vkt_embedding **ne = vkt_realloc(db->embs, (db->n + 1) * sizeof *ne);
    if (ne) db->embs = ne;
    char **np = vkt_realloc(db->paths, (db->n + 1) * sizeof *np);
    if (np) db->paths = np;
    if (!ne || !np || !(p = dupstr(path))) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
        goto done;
    }
    db->embs[db->n] = e;
    db->paths[db->n++] = p;
    e = NULL;
done:
    vkt_embedding_file_destroy(e);
    return st;
}

/* ---- the walk ---- */

typedef struct visit {
    dev_t dev;
    ino_t ino;
} visit;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool wanted_ext(const char *name)
{
    static const char *exts[] = {".pt", ".bin", ".safetensors", ".png", ".webp", ".jxl", ".avif"};
    const char *dot = strrchr(name, '.');
    const char *p = name;
    while (*p == '.')
        p++;
    if (!dot || dot < p) return false;
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++)
        if (strcasecmp(dot, exts[i]) == 0) return true;
    return false;
}

static vkt_status walk(vkt_embedding_db *db, const char *dir, int expected_width, visit *chain,
                       int depth, vkt_err *err)
{
    vkt_status st = VKT_OK;
    char **names = NULL, **subdirs = NULL;
    size_t n_names = 0, n_sub = 0, cap = 0;
    char msg[300];
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(msg, sizeof msg, "cannot open folder: %s", strerror(errno));
        return vkt_embedding_db_note(db, VKT_EMB_NOTE_ERROR, dir, msg, err);
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (n_names == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nn = vkt_realloc(names, nc * sizeof *nn);
            if (!nn) {
                st = vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
                goto done;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n_names] = dupstr(de->d_name))) {
            st = vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
            goto done;
        }
        n_names++;
    }
    if (n_names) qsort(names, n_names, sizeof *names, cmp_str);
    if (n_names && !(subdirs = vkt_calloc(n_names, sizeof *subdirs))) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
        goto done;
    }
    /* os.walk(followlinks=True): this folder's files first, then each sub-folder */
    for (size_t i = 0; i < n_names; i++) {
        size_t len = strlen(dir) + 1 + strlen(names[i]) + 1;
        char *full = vkt_malloc(len);
        if (!full) {
            st = vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
            goto done;
        }
        snprintf(full, len, "%s/%s", dir, names[i]);
        struct stat sb;
        if (stat(full, &sb) != 0) {
            /* a dangling link: os.walk lists it as a file, os.stat then raises */
            snprintf(msg, sizeof msg, "%s", strerror(errno));
            st = wanted_ext(names[i])
                     ? vkt_embedding_db_note(db, VKT_EMB_NOTE_ERROR, full, msg, err)
                     : VKT_OK;
            free(full);
            if (st) goto done;
            continue;
        }
        if (S_ISDIR(sb.st_mode)) {
            subdirs[n_sub++] = full;
            continue;
        }
        if (!S_ISREG(sb.st_mode) || sb.st_size == 0 || !wanted_ext(names[i])) {
            free(full);
            continue;
        }
        vkt_embedding *e = NULL;
        vkt_err ferr = {0};
        vkt_status fs = vkt_embedding_file_read(full, &e, &ferr);
        if (fs == VKT_ERR_NOMEM) {
            *err = ferr;
            st = fs;
        } else if (fs) {
            /* the reader's message starts with the path, which the note holds already */
            size_t fl = strlen(full);
            const char *m = ferr.msg;
            if (strncmp(m, full, fl) == 0 && m[fl] == ':' && m[fl + 1] == ' ') m += fl + 2;
            st = vkt_embedding_db_note(db, VKT_EMB_NOTE_ERROR, full, m, err);
        } else if (e) {
            st = vkt_embedding_db_add(db, e, full, expected_width, err);
        }
        free(full);
        if (st) goto done;
    }
    for (size_t i = 0; i < n_sub; i++) {
        struct stat sb;
        if (stat(subdirs[i], &sb) != 0) continue;
        bool cycle = false;
        for (int k = 0; k < depth; k++)
            if (chain[k].dev == sb.st_dev && chain[k].ino == sb.st_ino) cycle = true;
        if (cycle || depth + 1 >= MAX_DEPTH) {
            snprintf(msg, sizeof msg, "folder not entered: %s",
                     cycle ? "a link back to a folder above it" : "too deep");
            if ((st = vkt_embedding_db_note(db, VKT_EMB_NOTE_ERROR, subdirs[i], msg, err)))
                goto done;
            continue;
        }
        chain[depth] = (visit){sb.st_dev, sb.st_ino};
        if ((st = walk(db, subdirs[i], expected_width, chain, depth + 1, err))) goto done;
    }
done:
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    for (size_t i = 0; i < n_sub; i++)
        free(subdirs[i]);
    free(names);
    free(subdirs);
    closedir(d);
    return st;
}

vkt_status vkt_embedding_db_load_dir(vkt_embedding_db *db, const char *dir, int expected_width,
                                     vkt_err *err)
{
    struct stat sb;
    if (stat(dir, &sb) != 0) return vkt_fail(err, VKT_ERR_IO, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return vkt_fail(err, VKT_ERR_IO, "%s: not a folder", dir);
    DIR *d = opendir(dir);
    if (!d) return vkt_fail(err, VKT_ERR_IO, "%s: %s", dir, strerror(errno));
    closedir(d);
    visit chain[MAX_DEPTH];
    chain[0] = (visit){sb.st_dev, sb.st_ino};
    /* strip trailing slashes so paths read "dir/x.pt" */
    size_t len = strlen(dir);
    char *root = dupstr(dir);
    if (!root) return vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
    while (len > 1 && root[len - 1] == '/')
        root[--len] = 0;
    vkt_status st = walk(db, root, expected_width, chain, 1, err);
    free(root);
    return st;
}
