/* train/prefetch: the worker-thread loader delivers exactly what vkt_dataset_load gives, in
 * order, stops at a failed item with its message, and can be destroyed at any point (the ASan
 * build checks that nothing leaks). Fixture images are small PNGs written by the test. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/file.h"
#include "io/image.h"
#include "testkit.h"
#include "text/template.h"
#include "train/dataset.h"
#include "train/prefetch.h"

enum { N_IMG = 9, CORRUPT = 4 };

static char dir_buf[2048];

static const char *join(const char *dir, const char *file)
{
    static char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return p;
}

/* A w x h picture with c channels; pattern varies with seed; alpha (c == 4) ramps along x. */
static void write_png(const char *dir, const char *name, int w, int h, int c, int seed)
{
    uint8_t *px = malloc((size_t)w * h * c);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                px[((size_t)y * w + x) * c + k] =
                    (uint8_t)(k == 3 ? x * 255 / (w - 1)
                                     : (x * 5 + y * 3 + k * 70 + seed * 17) % 256);
    vkt_err err = {0};
    if (vkt_image_write_png(join(dir, name), px, w, h, c, NULL, 0, &err))
        fprintf(stderr, "fixture: %s\n", err.msg);
    free(px);
}

/* N_IMG images a.png, b.png, ... of assorted sizes, with and without alpha, some captioned. */
static const char *make_dir(const char *name)
{
    snprintf(dir_buf, sizeof dir_buf, "%s", tk_tmpdir(name));
    for (int i = 0; i < N_IMG; i++) {
        char f[16];
        snprintf(f, sizeof f, "%c.png", 'a' + i);
        write_png(dir_buf, f, 32 + 8 * (i % 4), 32 + 4 * (i % 3), i % 2 ? 4 : 3, i);
        if (i % 3 == 0) {
            snprintf(f, sizeof f, "%c.txt", 'a' + i);
            const char *cap = "red, blue, green, tall";
            vkt_err err = {0};
            vkt_write_file(join(dir_buf, f), cap, strlen(cap), &err);
        }
    }
    return dir_buf;
}

static vkt_dataset *open_ds(const char *dir, vkt_template **t)
{
    const char *text = "[name], [filewords]\na photo of [filewords]\n";
    vkt_err err = {0};
    *t = NULL;
    if (vkt_template_parse(text, strlen(text), "test", t, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return NULL;
    }
    vkt_dataset_opts o = vkt_dataset_defaults();
    o.size.width = 32;
    o.size.height = 32;
    o.tmpl = *t;
    o.name = "myemb";
    o.seed = 7;
    o.use_weight = true;
    o.shuffle_tags = true;
    o.batch = 2;
    o.repeats = 2;
    vkt_dataset *ds = NULL;
    TK_CHECK(vkt_dataset_open(dir, &o, &ds, &err) == VKT_OK && ds->n == N_IMG, "open: %s",
             err.msg);
    return ds;
}

static bool same_image(const vkt_train_image *a, const vkt_train_image *b)
{
    if (a->w != b->w || a->h != b->h || a->lw != b->lw || a->lh != b->lh ||
        a->weight_constant != b->weight_constant || !a->x || !b->x)
        return false;
    if (memcmp(a->x, b->x, 3 * (size_t)a->w * a->h * sizeof *a->x)) return false;
    if (!a->weight != !b->weight) return false;
    return !a->weight || !memcmp(a->weight, b->weight, (size_t)a->lw * a->lh * sizeof *a->weight);
}

/* Reference: vkt_dataset_load of every item, sequentially. */
static void load_all(const vkt_dataset *ds, vkt_train_image *ref)
{
    for (size_t i = 0; i < ds->n; i++) {
        vkt_err err = {0};
        TK_CHECK(vkt_dataset_load(ds, i, &ref[i], &err) == VKT_OK, "reference load %zu: %s", i,
                 err.msg);
    }
}

/* Takes every item of items[0..n) (NULL = 0..n-1) from a prefetcher and compares it with ref;
 * meanwhile the main thread draws prompts from the same dataset. Returns the number delivered
 * identical and in order. */
static size_t drain_compare(const vkt_dataset *ds, const uint32_t *items, size_t n,
                            const vkt_prefetch_opts *o, const vkt_train_image *ref,
                            bool expect_thread, const char *what)
{
    vkt_prefetch *p = NULL;
    vkt_err err = {0};
    if (vkt_prefetch_create(ds, items, n, o, &p, &err)) {
        TK_CHECK(0, "%s: create: %s", what, err.msg);
        return 0;
    }
    TK_CHECK(vkt_prefetch_threaded(p) == expect_thread, "%s: threaded = %d", what,
             (int)vkt_prefetch_threaded(p));
    int depth = o && o->depth ? o->depth : VKT_PREFETCH_DEPTH;
    size_t good = 0;
    bool bounded = true;
    for (size_t k = 0; k < n; k++) {
        size_t want = items ? items[k] : k, got = (size_t)-1;
        char *prompt = NULL;
        if (vkt_dataset_prompt(ds, want, k, &prompt, &err) == VKT_OK) free(prompt);
        if (vkt_prefetch_ready(p) > (size_t)depth) bounded = false;
        vkt_train_image im = {0};
        vkt_status st = vkt_prefetch_next(p, &got, &im, &err);
        if (st == VKT_OK && got == want && same_image(&im, &ref[want])) good++;
        else fprintf(stderr, "%s: entry %zu: status %d, item %zu of %zu: %s\n", what, k, (int)st,
                     got, want, st ? err.msg : "pixels differ");
        vkt_train_image_fini(&im);
    }
    TK_CHECK(bounded, "%s: never more than depth %d images waiting", what, depth);
    TK_CHECK(vkt_prefetch_delivered(p) == n, "%s: delivered %zu of %zu", what,
             vkt_prefetch_delivered(p), n);
    size_t got;
    vkt_train_image im = {0};
    TK_CHECK(vkt_prefetch_next(p, &got, &im, &err) == VKT_ERR_USAGE && !im.x,
             "%s: past the end: %s", what, err.msg);
    vkt_prefetch_destroy(p);
    return good;
}

static void test_identical(const vkt_dataset *ds, const vkt_train_image *ref)
{
    /* Every item in order, at several depths (1, the default, 3, deeper than the list). */
    int depths[] = {1, 0, 3, 16};
    for (size_t d = 0; d < sizeof depths / sizeof *depths; d++) {
        vkt_prefetch_opts o = {.depth = depths[d]};
        char what[32];
        snprintf(what, sizeof what, "range depth %d", depths[d]);
        TK_CHECK(drain_compare(ds, NULL, ds->n, &o, ref, true, what) == ds->n,
                 "%s: all %zu items byte-identical to vkt_dataset_load", what, ds->n);
    }
    /* An epoch plan's order: a permutation with repeats. */
    vkt_epoch_plan plan;
    vkt_err err = {0};
    if (vkt_dataset_epoch(ds, 3, &plan, &err)) {
        TK_CHECK(0, "epoch: %s", err.msg);
        return;
    }
    size_t n = plan.n_batches * plan.batch;
    TK_CHECK(drain_compare(ds, plan.items, n, NULL, ref, true, "epoch plan") == n,
             "epoch plan: all %zu entries identical", n);
    vkt_prefetch_opts o1 = {.depth = 1};
    TK_CHECK(drain_compare(ds, plan.items, n, &o1, ref, true, "epoch plan depth 1") == n,
             "epoch plan depth 1: all %zu entries identical", n);
    vkt_epoch_plan_fini(&plan);
}

static void test_sync(const vkt_dataset *ds, const vkt_train_image *ref)
{
    vkt_prefetch_opts o = {.sync = true};
    TK_CHECK(drain_compare(ds, NULL, ds->n, &o, ref, false, "opts.sync") == ds->n,
             "opts.sync: identical");
    setenv("VKTRAIN_NO_PREFETCH", "1", 1);
    TK_CHECK(drain_compare(ds, NULL, ds->n, NULL, ref, false, "VKTRAIN_NO_PREFETCH=1") == ds->n,
             "VKTRAIN_NO_PREFETCH=1: identical, no thread");
    setenv("VKTRAIN_NO_PREFETCH", "0", 1);
    TK_CHECK(drain_compare(ds, NULL, ds->n, NULL, ref, true, "VKTRAIN_NO_PREFETCH=0") == ds->n,
             "VKTRAIN_NO_PREFETCH=0: threaded again");
    unsetenv("VKTRAIN_NO_PREFETCH");
}

/* Item CORRUPT truncated after the dataset was opened: items before it arrive, then its error
 * (the same message as vkt_dataset_load's, naming the file), then the same error again. */
static void test_corrupt(const char *dir, const vkt_dataset *ds, const vkt_train_image *ref)
{
    char name[16];
    snprintf(name, sizeof name, "%c.png", 'a' + CORRUPT);
    uint8_t *data = NULL;
    size_t n = 0;
    vkt_err err = {0};
    if (vkt_read_file(join(dir, name), 1 << 20, &data, &n, &err) || n < 80) {
        TK_CHECK(0, "read %s: %s", name, err.msg);
        free(data);
        return;
    }
    vkt_write_file(join(dir, name), data, 70, &err); /* signature, IHDR, a bit of IDAT */
    free(data);
    vkt_err want = {0};
    vkt_train_image im = {0};
    TK_CHECK(vkt_dataset_load(ds, CORRUPT, &im, &want) == VKT_ERR_FORMAT && strstr(want.msg, name),
             "reference: truncated %s fails: %s", name, want.msg);

    for (int mode = 0; mode < 3; mode++) {
        vkt_prefetch_opts o = {.depth = mode == 1 ? 1 : 2, .sync = mode == 2};
        const char *what = mode == 0 ? "threaded" : mode == 1 ? "threaded depth 1" : "sync";
        vkt_prefetch *p = NULL;
        if (vkt_prefetch_create(ds, NULL, ds->n, &o, &p, &err)) {
            TK_CHECK(0, "%s: create: %s", what, err.msg);
            continue;
        }
        size_t good = 0, got = 0;
        vkt_status st = VKT_OK;
        for (size_t k = 0; k < CORRUPT; k++) {
            vkt_train_image x = {0};
            st = vkt_prefetch_next(p, &got, &x, &err);
            if (!st && got == k && same_image(&x, &ref[k])) good++;
            vkt_train_image_fini(&x);
        }
        TK_CHECK(good == CORRUPT, "%s: the %d items before the bad one delivered (%zu)", what,
                 CORRUPT, good);
        vkt_train_image x = {0};
        memset(&err, 0, sizeof err);
        st = vkt_prefetch_next(p, &got, &x, &err);
        TK_CHECK(st == VKT_ERR_FORMAT && got == CORRUPT && !x.x && err.code == VKT_ERR_FORMAT &&
                     !strcmp(err.msg, want.msg),
                 "%s: error at item %zu names the file: %s", what, got, err.msg);
        memset(&err, 0, sizeof err);
        st = vkt_prefetch_next(p, &got, &x, &err);
        TK_CHECK(st == VKT_ERR_FORMAT && got == CORRUPT && !x.x && !strcmp(err.msg, want.msg),
                 "%s: the error sticks: %s", what, err.msg);
        TK_CHECK(vkt_prefetch_ready(p) == 0, "%s: nothing decoded after the failed item", what);
        vkt_prefetch_destroy(p);
    }
    /* Destroy right after a failure was queued but before it was taken. */
    vkt_prefetch *p = NULL;
    uint32_t items[] = {CORRUPT, 0, 1};
    if (!vkt_prefetch_create(ds, items, 3, NULL, &p, &err)) {
        for (int spin = 0; spin < 20000 && vkt_prefetch_ready(p) < 1; spin++)
            usleep(1000);
        TK_CHECK(vkt_prefetch_ready(p) == 1, "failed first item queued alone");
        vkt_prefetch_destroy(p);
    }
}

/* Destroy mid-stream: right after create (worker decoding), and after one item of many with
 * the worker blocked on a full queue; the queued images are freed (ASan) and the join returns
 * (a hang would hit the ctest timeout). */
static void test_early_destroy(const vkt_dataset *ds, const vkt_train_image *ref)
{
    enum { REPS = 200 };
    uint32_t *items = malloc(REPS * N_IMG * sizeof *items);
    for (size_t k = 0; k < REPS * N_IMG; k++)
        items[k] = (uint32_t)(k % N_IMG);
    vkt_err err = {0};
    for (int depth = 1; depth <= 3; depth++) {
        vkt_prefetch_opts o = {.depth = depth};
        vkt_prefetch *p = NULL;
        if (vkt_prefetch_create(ds, items, REPS * N_IMG, &o, &p, &err)) {
            TK_CHECK(0, "create: %s", err.msg);
            continue;
        }
        vkt_prefetch_destroy(p); /* immediately: worker in its first decode or waiting */

        TK_CHECK(vkt_prefetch_create(ds, items, REPS * N_IMG, &o, &p, &err) == VKT_OK, "%s",
                 err.msg);
        size_t got = 99;
        vkt_train_image im = {0};
        TK_CHECK(vkt_prefetch_next(p, &got, &im, &err) == VKT_OK && got == 0 &&
                     same_image(&im, &ref[0]),
                 "depth %d: first item", depth);
        vkt_train_image_fini(&im);
        /* Wait (bounded polling, no timing) until the worker fills the queue and blocks. */
        for (int spin = 0; spin < 20000 && vkt_prefetch_ready(p) < (size_t)depth; spin++)
            usleep(1000);
        size_t ready = vkt_prefetch_ready(p);
        usleep(20000); /* give a misbehaving worker the chance to overfill */
        TK_CHECK(ready == (size_t)depth && vkt_prefetch_ready(p) == (size_t)depth,
                 "depth %d: queue full at %zu (then %zu), not more", depth, ready,
                 vkt_prefetch_ready(p));
        vkt_prefetch_destroy(p);
        TK_CHECK(1, "depth %d: destroy after 1 of %d items returned", depth, REPS * N_IMG);
    }
    free(items);
    vkt_prefetch_destroy(NULL);
}

static void test_usage(const vkt_dataset *ds)
{
    vkt_prefetch *p = NULL;
    vkt_err err = {0};
    uint32_t bad[] = {0, N_IMG};
    TK_CHECK(vkt_prefetch_create(ds, bad, 2, NULL, &p, &err) == VKT_ERR_USAGE && !p,
             "item out of range: %s", err.msg);
    TK_CHECK(vkt_prefetch_create(ds, NULL, N_IMG + 1, NULL, &p, &err) == VKT_ERR_USAGE && !p,
             "range longer than the dataset: %s", err.msg);
    vkt_prefetch_opts o = {.depth = -1};
    TK_CHECK(vkt_prefetch_create(ds, NULL, 1, &o, &p, &err) == VKT_ERR_USAGE && !p,
             "negative depth: %s", err.msg);
    TK_CHECK(vkt_prefetch_create(ds, NULL, 0, NULL, &p, &err) == VKT_OK && p, "empty list");
    if (p) {
        size_t got;
        vkt_train_image im = {0};
        TK_CHECK(vkt_prefetch_next(p, &got, &im, &err) == VKT_ERR_USAGE, "empty list: %s",
                 err.msg);
        vkt_prefetch_destroy(p);
    }
}

int main(void)
{
    const char *dir = make_dir("prefetch");
    vkt_template *t = NULL;
    vkt_dataset *ds = open_ds(dir, &t);
    if (ds) {
        vkt_train_image ref[N_IMG] = {0};
        load_all(ds, ref);
        test_identical(ds, ref);
        test_sync(ds, ref);
        test_usage(ds);
        test_early_destroy(ds, ref);
        test_corrupt(dir, ds, ref); /* last: breaks one file */
        for (int i = 0; i < N_IMG; i++)
            vkt_train_image_fini(&ref[i]);
    }
    vkt_dataset_destroy(ds);
    vkt_template_destroy(t);
    return tk_finish("prefetch");
}
