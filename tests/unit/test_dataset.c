/* train/dataset: folder scanning and validation (every bad input named), captions and
 * filewords, prompt draws (fixed vs per use, dropout and shuffle statistics), batches per epoch
 * with buckets, pixels and alpha loss weights, concurrent loads, and every allocation failure.
 * Fixture images are written by the test (our PNG writer, stb_image_write JPEG, libwebp). */
#define _DEFAULT_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb_image_write.h>
#include <webp/encode.h>

#include "base/fault.h"
#include "base/file.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "testkit.h"
#include "text/template.h"
#include "train/dataset.h"

static char dir_buf[2048];

static const char *fresh_dir(const char *name)
{
    snprintf(dir_buf, sizeof dir_buf, "%s", tk_tmpdir(name));
    return dir_buf;
}

static const char *join(const char *dir, const char *file)
{
    static char p[2][4096];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, file);
    return p[k];
}

/* A w x h picture with c channels; pattern varies with seed; alpha (c == 4) ramps along x. */
static uint8_t *picture(int w, int h, int c, int seed)
{
    uint8_t *p = malloc((size_t)w * h * c);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                p[((size_t)y * w + x) * c + k] =
                    (uint8_t)(k == 3 ? x * 255 / (w - 1)
                                     : (x * 5 + y * 3 + k * 70 + seed * 17) % 256);
    return p;
}

static void write_png(const char *dir, const char *name, int w, int h, int c, int seed)
{
    uint8_t *px = picture(w, h, c, seed);
    vkt_err err = {0};
    if (vkt_image_write_png(join(dir, name), px, w, h, c, NULL, 0, &err))
        fprintf(stderr, "fixture: %s\n", err.msg);
    free(px);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    vkt_err err = {0};
    vkt_write_file(join(dir, name), text, strlen(text), &err);
}

static vkt_template *tmpl_of(const char *text)
{
    vkt_template *t = NULL;
    vkt_err err = {0};
    if (vkt_template_parse(text, strlen(text), "test", &t, &err)) fprintf(stderr, "%s\n", err.msg);
    return t;
}

static vkt_dataset_opts opts_for(const vkt_template *t, int w, int h)
{
    vkt_dataset_opts o = vkt_dataset_defaults();
    o.size.width = w;
    o.size.height = h;
    o.tmpl = t;
    o.name = "myemb";
    o.seed = 42;
    return o;
}

static int has(const vkt_err *e, const char *s)
{
    return strstr(e->msg, s) != NULL;
}

static void test_validation(void)
{
    vkt_template *t = tmpl_of("[name], [filewords]\n");
    vkt_dataset_opts o = opts_for(t, 32, 32);
    vkt_dataset *ds = NULL;
    vkt_err err = {0};

    TK_CHECK(vkt_dataset_open("/nonexistent/data", &o, &ds, &err) == VKT_ERR_USAGE &&
                 has(&err, "does not exist"),
             "missing dir: %s", err.msg);
    const char *d = fresh_dir("ds_empty");
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_ERR_USAGE && has(&err, "is empty"),
             "empty dir: %s", err.msg);
    write_text(d, "notes.txt", "hello");
    mkdir(join(d, "sub"), 0755);
    write_text(d, "anim.gif", "GIF89a\1\0\1\0");
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_ERR_USAGE && has(&err, "no images found"),
             "no images: %s", err.msg);

    d = fresh_dir("ds_bad");
    write_png(d, "good.png", 40, 40, 3, 0);
    write_text(d, "broken.png", "this is not a png at all");
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_ERR_FORMAT && has(&err, "broken.png"),
             "unreadable image named: %s", err.msg);

    d = fresh_dir("ds_small");
    write_png(d, "big.png", 40, 40, 3, 0);
    write_png(d, "tiny.png", 40, 24, 3, 0);
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_ERR_USAGE && has(&err, "tiny.png") &&
                 has(&err, "40x24") && has(&err, "smaller than the training size 32x32"),
             "too small: %s", err.msg);
    o.allow_upscale = true;
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_OK && ds->n == 2, "upscale allowed: %s",
             err.msg);
    vkt_dataset_destroy(ds);
    o.allow_upscale = false;
    o.size.varsize = true;
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_OK && ds->n == 2 && ds->n_groups == 2,
             "varsize: %s", err.msg);
    vkt_dataset_destroy(ds);
    o.size.varsize_multiple = 32;
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_ERR_USAGE && has(&err, "tiny.png"),
             "varsize crop leaves nothing: %s", err.msg);
    o.size.varsize = false;
    o.size.varsize_multiple = 0;

    /* A PNG header declaring 100000 x 100000 pixels. */
    d = fresh_dir("ds_huge");
    static const uint8_t huge[] = {0x89, 'P',  'N', 'G', '\r', '\n', 0x1a, '\n', 0,    0, 0,
                                   13,   'I',  'H', 'D', 'R',  0,    1,    0x86, 0xa0, 0, 1,
                                   0x86, 0xa0, 8,   2,   0,    0,    0,    0,    0,    0, 0};
    vkt_write_file(join(d, "huge.png"), huge, sizeof huge, &err);
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_ERR_FORMAT && has(&err, "huge.png") &&
                 has(&err, "100000x100000"),
             "huge: %s", err.msg);

    d = fresh_dir("ds_caption");
    write_png(d, "a.png", 32, 32, 3, 0);
    write_text(d, "a.txt", "bad \xff utf8");
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_ERR_FORMAT && has(&err, "a.txt"),
             "bad caption: %s", err.msg);

    vkt_dataset_opts b = o;
    b.batch = 0;
    TK_CHECK(vkt_dataset_open(d, &b, &ds, &err) == VKT_ERR_USAGE && has(&err, "batch"), "batch 0");
    b = o;
    b.tag_dropout = 1.5;
    TK_CHECK(vkt_dataset_open(d, &b, &ds, &err) == VKT_ERR_USAGE && has(&err, "dropout"),
             "dropout");
    b = o;
    b.size.width = 100;
    TK_CHECK(vkt_dataset_open(d, &b, &ds, &err) == VKT_ERR_USAGE && has(&err, "multiples of 8"),
             "width 100");
    b = o;
    b.tmpl = NULL;
    TK_CHECK(vkt_dataset_open(d, &b, &ds, &err) == VKT_ERR_USAGE && has(&err, "template"),
             "no template");
    b = o;
    b.filename_regex = "(";
    remove(join(d, "a.txt"));
    TK_CHECK(vkt_dataset_open(d, &b, &ds, &err) == VKT_ERR_USAGE && has(&err, "regex"),
             "bad regex: %s", err.msg);
    vkt_template_destroy(t);
}

static void test_captions_prompts(void)
{
    const char *d = fresh_dir("ds_captions");
    write_png(d, "000001-1-a man in suit.png", 32, 32, 3, 1);
    write_png(d, "cat.png", 32, 32, 3, 2);
    write_text(d, "cat.txt", "tabby, cute,sleeping\r\n");
    write_text(d, "readme.md", "not an image");
    vkt_template *t = tmpl_of("a photo of [name], [filewords]\n");
    vkt_dataset_opts o = opts_for(t, 32, 32);
    vkt_dataset *ds = NULL;
    vkt_err err = {0};
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_OK, "%s", err.msg);
    if (!ds) return;
    TK_CHECK(ds->n == 2 && ds->n_skipped == 2, "2 images, 2 skipped (%zu, %zu)", ds->n,
             ds->n_skipped);
    /* bytewise order: "000001-..." before "cat.png" */
    TK_CHECK(!strcmp(ds->items[0].caption, "a man in suit"), "filename caption: %s",
             ds->items[0].caption);
    TK_CHECK(!strcmp(ds->items[1].caption, "tabby, cute,sleeping\n"), "txt caption, CRLF -> LF");
    TK_CHECK(!strcmp(ds->items[0].fixed_prompt, "a photo of myemb, a man in suit"),
             "fixed prompt: %s", ds->items[0].fixed_prompt);
    char *p = NULL;
    vkt_dataset_prompt(ds, 1, 12345, &p, &err);
    TK_CHECK(p && !strcmp(p, ds->items[1].fixed_prompt), "no shuffle/dropout: the fixed prompt");
    free(p);
    vkt_dataset_destroy(ds);

    o.filename_regex = "[a-z]+";
    o.filewords_join = ", ";
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_OK, "%s", err.msg);
    TK_CHECK(ds && !strcmp(ds->items[0].caption, "a, man, in, suit"), "regex + join: %s",
             ds ? ds->items[0].caption : "");
    vkt_dataset_destroy(ds);
    vkt_template_destroy(t);

    /* Template lines drawn per image: with 3 lines and 60 images every line appears. */
    d = fresh_dir("ds_lines");
    for (int i = 0; i < 60; i++) {
        char name[32];
        snprintf(name, sizeof name, "img%02d.png", i);
        write_png(d, name, 8, 8, 3, i);
    }
    t = tmpl_of("one [name]\ntwo [filewords]\n  three  \n");
    o = opts_for(t, 8, 8);
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_OK, "%s", err.msg);
    int seen[3] = {0};
    for (size_t i = 0; ds && i < ds->n; i++) {
        const char *fp = ds->items[i].fixed_prompt;
        seen[0] += !strcmp(fp, "one myemb");
        seen[1] += !strncmp(fp, "two img", 7);
        seen[2] += !strcmp(fp, "three");
    }
    TK_CHECK(seen[0] && seen[1] && seen[2] && seen[0] + seen[1] + seen[2] == 60,
             "lines drawn per image: %d %d %d", seen[0], seen[1], seen[2]);
    vkt_dataset_destroy(ds);
    vkt_template_destroy(t);
}

static void test_filewords(void)
{
    vkt_rng r = vkt_rng_seeded(1);
    vkt_err err = {0};
    char *s = NULL;
    vkt_dataset_filewords("a, b,c", 0, false, &r, &s, &err);
    TK_CHECK(s && !strcmp(s, "a, b,c"), "identity: %s", s);
    free(s);
    vkt_dataset_filewords("a, b,c", 1.0, false, &r, &s, &err);
    TK_CHECK(s && !strcmp(s, ""), "dropout 1 removes every tag: \"%s\"", s);
    free(s);
    vkt_dataset_filewords("", 0, true, &r, &s, &err);
    TK_CHECK(s && !strcmp(s, ""), "empty caption");
    free(s);
    /* Shuffle keeps the tags with their spaces ("a", " b", "c"); all 6 orders, each about
     * 1000 times in 6000 draws (binomial sd 28.9; 5 sd bound). */
    const char *perms[6] = {"a, b,c", "a,c, b", " b,a,c", " b,c,a", "c,a, b", "c, b,a"};
    int cnt[6] = {0}, other = 0;
    for (int i = 0; i < 6000; i++) {
        vkt_dataset_filewords("a, b,c", 0, true, &r, &s, &err);
        int k = 0;
        while (k < 6 && strcmp(s, perms[k]))
            k++;
        if (k < 6)
            cnt[k]++;
        else
            other++;
        free(s);
    }
    for (int k = 0; k < 6; k++)
        TK_CHECK(fabs(cnt[k] - 1000.0) < 5 * 28.9, "perm \"%s\": %d", perms[k], cnt[k]);
    TK_CHECK(!other, "shuffle only permutes");
    /* Dropout 0.3 on 10 tags: kept fraction 0.7 (20000 tags, sd 0.0032). */
    int kept = 0;
    for (int i = 0; i < 2000; i++) {
        vkt_dataset_filewords("0,1,2,3,4,5,6,7,8,9", 0.3, false, &r, &s, &err);
        if (*s) kept += 1;
        for (char *c = s; *c; c++)
            kept += *c == ',';
        free(s);
    }
    TK_CHECK(fabs(kept / 20000.0 - 0.7) < 5 * 0.0032, "dropout keeps %.4f", kept / 20000.0);
}

static void test_varying_prompts(void)
{
    const char *d = fresh_dir("ds_vary");
    write_png(d, "x.png", 8, 8, 3, 0);
    write_text(d, "x.txt", "red,green,blue,big");
    vkt_template *t = tmpl_of("[filewords]\n");
    vkt_dataset_opts o = opts_for(t, 8, 8);
    o.shuffle_tags = true;
    vkt_dataset *ds = NULL;
    vkt_err err = {0};
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_OK, "%s", err.msg);
    if (!ds) return;
    TK_CHECK(!ds->items[0].fixed_prompt, "no fixed prompt with shuffle");
    char *a = NULL, *b = NULL, *c = NULL;
    vkt_dataset_prompt(ds, 0, 7, &a, &err);
    vkt_dataset_prompt(ds, 0, 7, &b, &err);
    int differ = 0;
    for (uint64_t u = 0; u < 20; u++) {
        vkt_dataset_prompt(ds, 0, u, &c, &err);
        differ += strcmp(c, a) != 0;
        free(c);
    }
    TK_CHECK(a && b && !strcmp(a, b), "same use, same prompt");
    TK_CHECK(differ > 10, "other uses shuffle differently (%d of 20)", differ);
    free(a);
    free(b);
    vkt_dataset_destroy(ds);
    o.shuffle_tags = false;
    o.tag_dropout = 1;
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_OK, "%s", err.msg);
    vkt_dataset_prompt(ds, 0, 3, &a, &err);
    TK_CHECK(a && !strcmp(a, ""), "tag dropout 1: empty filewords");
    free(a);
    vkt_dataset_destroy(ds);
    vkt_template_destroy(t);
}

static void test_batches(void)
{
    const char *d = fresh_dir("ds_batches");
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "i%d.png", i);
        write_png(d, name, 16, 16, 3, i);
    }
    vkt_template *t = tmpl_of("[name]\n");
    vkt_dataset_opts o = opts_for(t, 16, 16);
    o.batch = 3;
    o.grad_accum = 2;
    vkt_dataset *ds = NULL;
    vkt_err err = {0};
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_OK, "%s", err.msg);
    if (!ds) return;
    /* n 10, B 3: 3 mini-batches, 2 used (accumulation 2), 1 update per epoch */
    TK_CHECK(ds->batch == 3 && ds->grad_accum == 2 && ds->batches_per_epoch == 3 &&
                 ds->used_per_epoch == 2 && ds->steps_per_epoch == 1,
             "epoch arithmetic");
    vkt_epoch_plan p0, p0b, p1;
    vkt_dataset_epoch(ds, 0, &p0, &err);
    vkt_dataset_epoch(ds, 0, &p0b, &err);
    vkt_dataset_epoch(ds, 1, &p1, &err);
    TK_CHECK(p0.n_batches == 2 && p0.batch == 3, "plan shape");
    TK_CHECK(!memcmp(p0.items, p0b.items, 6 * sizeof *p0.items), "epoch plan repeats");
    TK_CHECK(memcmp(p0.items, p1.items, 6 * sizeof *p0.items) != 0, "epochs differ");
    int seen[10] = {0}, dup = 0;
    for (int k = 0; k < 6; k++)
        dup += seen[p0.items[k]]++ > 0;
    TK_CHECK(!dup, "one bucket: a permutation, no repeats within the epoch");
    /* every image is used over many epochs, each about equally often (used 6 of 10 per epoch) */
    int cnt[10] = {0};
    for (uint64_t e = 0; e < 500; e++) {
        vkt_epoch_plan p;
        vkt_dataset_epoch(ds, e, &p, &err);
        for (int k = 0; k < 6; k++)
            cnt[p.items[k]]++;
        vkt_epoch_plan_fini(&p);
    }
    int lo = 1 << 30, hi = 0;
    for (int i = 0; i < 10; i++)
        lo = cnt[i] < lo ? cnt[i] : lo, hi = cnt[i] > hi ? cnt[i] : hi;
    /* 300 expected per image, hypergeometric sd ~ 11 */
    TK_CHECK(lo > 300 - 60 && hi < 300 + 60, "usage spread %d..%d", lo, hi);
    char *pr = NULL;
    TK_CHECK(vkt_epoch_plan_prompt(ds, &p0, 1, 2, &pr, &err) == VKT_OK && pr &&
                 !strcmp(pr, "myemb"),
             "plan prompt");
    free(pr);
    TK_CHECK(vkt_epoch_plan_prompt(ds, &p0, 2, 0, &pr, &err) == VKT_ERR_USAGE, "outside plan");
    uint64_t e;
    size_t bi;
    vkt_dataset_locate(ds, 5, &e, &bi);
    TK_CHECK(e == 2 && bi == 1, "locate mini-batch 5");
    vkt_epoch_plan_fini(&p0);
    vkt_epoch_plan_fini(&p0b);
    vkt_epoch_plan_fini(&p1);
    vkt_dataset_destroy(ds);

    /* clamping: batch 20 > 10 images; accumulation to floor(10 / 10) = 1 */
    o.batch = 20;
    o.grad_accum = 4;
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_OK && ds->batch == 10 &&
                 ds->grad_accum == 1 && ds->used_per_epoch == 1,
             "clamped");
    vkt_dataset_destroy(ds);
    /* repeats 2: 20 entries, batch 4 -> 5 batches, each image exactly twice per epoch */
    o.batch = 4;
    o.grad_accum = 1;
    o.repeats = 2;
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_OK && ds->n_entries == 20 &&
                 ds->used_per_epoch == 5,
             "repeats");
    vkt_epoch_plan p;
    vkt_dataset_epoch(ds, 3, &p, &err);
    int c2[10] = {0}, twice = 1;
    for (int k = 0; k < 20; k++)
        c2[p.items[k]]++;
    for (int i = 0; i < 10; i++)
        twice &= c2[i] == 2;
    TK_CHECK(twice, "each image twice per epoch");
    vkt_epoch_plan_fini(&p);
    vkt_dataset_destroy(ds);
    vkt_template_destroy(t);
}

static void test_buckets(void)
{
    /* varsize: 5 images 16x16 and 3 images 16x32; batch 2 -> nb 4; expected 5.0 and 3.0, bases
     * 2 and 1, one compensation batch with weights 0.5 / 0.5 (webui GroupedBatchSampler). */
    const char *d = fresh_dir("ds_buckets");
    for (int i = 0; i < 8; i++) {
        char name[32];
        snprintf(name, sizeof name, "b%d.png", i);
        write_png(d, name, 16, i < 5 ? 16 : 32, 3, i);
    }
    vkt_template *t = tmpl_of("[name]\n");
    vkt_dataset_opts o = opts_for(t, 512, 512);
    o.size.varsize = true;
    o.batch = 2;
    vkt_dataset *ds = NULL;
    vkt_err err = {0};
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_OK, "%s", err.msg);
    if (!ds) return;
    TK_CHECK(ds->n_groups == 2 && ds->groups[0].n == 5 && ds->groups[1].n == 3 &&
                 ds->groups[1].h == 32,
             "two buckets");
    int single = 1, from_small = 0, total = 0;
    for (uint64_t e = 0; e < 400; e++) {
        vkt_epoch_plan p;
        vkt_dataset_epoch(ds, e, &p, &err);
        total += (int)p.n_batches;
        for (size_t b = 0; b < p.n_batches; b++) {
            size_t g = ds->items[p.items[b * 2]].group;
            single &= ds->items[p.items[b * 2 + 1]].group == g;
            from_small += g == 0;
        }
        vkt_epoch_plan_fini(&p);
    }
    TK_CHECK(single, "a batch never mixes buckets");
    TK_CHECK(total == 1600, "4 batches per epoch (%d)", total);
    /* per epoch: 2 complete batches from bucket 0, 1 from bucket 1, 1 extra 50/50: expected
     * bucket-0 share 2.5 of 4 -> 1000 of 1600 (sd of the extra: 0.5 * 20 = 10) */
    TK_CHECK(abs(from_small - 1000) < 60, "bucket 0 batches %d of 1600", from_small);
    vkt_train_image img;
    TK_CHECK(vkt_dataset_load(ds, 6, &img, &err) == VKT_OK && img.w == 16 && img.h == 32 &&
                 img.lw == 2 && img.lh == 4,
             "varsize load keeps the size: %s", err.msg);
    vkt_train_image_fini(&img);
    vkt_dataset_destroy(ds);
    vkt_template_destroy(t);
}

static void test_load(void)
{
    const char *d = fresh_dir("ds_load");
    write_png(d, "a_rgb.png", 48, 40, 3, 3);
    write_png(d, "b_alpha.png", 40, 40, 4, 4);
    /* constant alpha */
    uint8_t *flat = picture(40, 40, 4, 5);
    for (int i = 0; i < 40 * 40; i++)
        flat[i * 4 + 3] = 128;
    vkt_err err = {0};
    vkt_image_write_png(join(d, "c_flat.png"), flat, 40, 40, 4, NULL, 0, &err);
    free(flat);
    uint8_t *rgb = picture(40, 40, 3, 6);
    stbi_write_jpg(join(d, "d.jpg"), 40, 40, 3, rgb, 90);
    uint8_t *webp = NULL;
    size_t wn = WebPEncodeLosslessRGB(rgb, 40, 40, 40 * 3, &webp);
    vkt_write_file(join(d, "e.webp"), webp, wn, &err);
    WebPFree(webp);

    vkt_template *t = tmpl_of("[name]\n");
    vkt_dataset_opts o = opts_for(t, 32, 16); /* non-square: latent 4 x 2 */
    o.use_weight = true;
    vkt_dataset *ds = NULL;
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_OK && ds && ds->n == 5, "%s", err.msg);
    if (!ds) return;
    vkt_train_image im;
    /* RGB: the pixels are Pillow's bicubic squash, scaled to [-1, 1], channel-major */
    TK_CHECK(vkt_dataset_load(ds, 0, &im, &err) == VKT_OK, "%s", err.msg);
    uint8_t *src = picture(48, 40, 3, 3), want[32 * 16 * 3];
    vkt_resize_bicubic(src, 48, 40, 3, want, 32, 16, &err);
    int bad = 0;
    for (int p = 0; im.x && p < 32 * 16; p++)
        for (int c = 0; c < 3; c++)
            bad += im.x[c * 512 + p] != (float)(want[p * 3 + c] / 127.5 - 1.0);
    TK_CHECK(im.w == 32 && im.h == 16 && im.lw == 4 && im.lh == 2 && !bad, "pixels (%d bad)", bad);
    TK_CHECK(im.weight && !im.weight_constant, "weights of an image without alpha");
    int ones = 1;
    for (int p = 0; im.weight && p < 8; p++)
        ones &= im.weight[p] == 1.0f;
    TK_CHECK(ones, "no alpha: weight 1");
    vkt_train_image_fini(&im);
    free(src);

    /* alpha ramps along x: weight rows identical, increasing along x, min 0, mean 1 */
    TK_CHECK(vkt_dataset_load(ds, 1, &im, &err) == VKT_OK && im.weight, "%s", err.msg);
    double mn = 1e9, sum = 0;
    int incr = 1, rows = 1;
    for (int y = 0; im.weight && y < 2; y++)
        for (int x = 0; x < 4; x++) {
            float v = im.weight[y * 4 + x];
            mn = v < mn ? v : mn;
            sum += v;
            if (x) incr &= v > im.weight[y * 4 + x - 1];
            rows &= v == im.weight[x];
        }
    TK_CHECK(mn == 0 && fabs(sum / 8 - 1) < 1e-6 && incr && rows,
             "alpha weight: min %g mean %g, along x %d", mn, sum / 8, incr);
    vkt_train_image_fini(&im);
    TK_CHECK(vkt_dataset_load(ds, 2, &im, &err) == VKT_OK && im.weight_constant &&
                 im.weight[0] == 1.0f,
             "constant alpha: weight 1 (the webui's 0/0)");
    vkt_train_image_fini(&im);
    TK_CHECK(vkt_dataset_load(ds, 3, &im, &err) == VKT_OK && im.w == 32, "jpeg: %s", err.msg);
    vkt_train_image_fini(&im);
    TK_CHECK(vkt_dataset_load(ds, 4, &im, &err) == VKT_OK && im.w == 32, "webp: %s", err.msg);
    vkt_train_image_fini(&im);
    TK_CHECK(vkt_dataset_load(ds, 5, &im, &err) == VKT_ERR_USAGE, "item out of range");
    vkt_dataset_destroy(ds);
    vkt_template_destroy(t);
    free(rgb);
}

/* The webui's own formulas (tests/reference/make_dataset_golden.py, Pillow + torch) on three
 * PNGs at 48x32: pixels and alpha weights must match bit for bit. */
static void test_golden(void)
{
    vkt_safetensors *st = NULL;
    vkt_err err = {0};
    TK_CHECK(vkt_safetensors_open(tk_src("tests/golden/dataset_webui.safetensors"), &st, &err) ==
                 VKT_OK,
             "%s", err.msg);
    if (!st) return;
    const char *d = fresh_dir("ds_golden");
    char files[256];
    snprintf(files, sizeof files, "%s", vkt_safetensors_meta(st, "files"));
    int n = 0;
    for (char *tok = strtok(files, ","); tok; tok = strtok(NULL, ","), n++) {
        char key[32];
        snprintf(key, sizeof key, "img%d.file", n);
        const vkt_tensor_data *f = vkt_safetensors_find(st, key);
        if (f) vkt_write_file(join(d, tok), f->data, f->bytes, &err);
    }
    vkt_template *t = tmpl_of("[name]\n");
    vkt_dataset_opts o = opts_for(t, 48, 32);
    o.use_weight = true;
    vkt_dataset *ds = NULL;
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_OK && ds && (int)ds->n == n, "%s", err.msg);
    for (int i = 0; ds && i < n; i++) {
        char key[32];
        vkt_train_image im;
        if (vkt_dataset_load(ds, (size_t)i, &im, &err)) {
            TK_CHECK(0, "%s", err.msg);
            continue;
        }
        snprintf(key, sizeof key, "img%d.x", i);
        const vkt_tensor_data *x = vkt_safetensors_find(st, key);
        snprintf(key, sizeof key, "img%d.weight", i);
        const vkt_tensor_data *w = vkt_safetensors_find(st, key);
        float *wx = malloc(3 * 48 * 32 * sizeof *wx), ww[24];
        vkt_tensor_data_to_f32(x, wx, &err);
        vkt_tensor_data_to_f32(w, ww, &err);
        int bx = 0, bw = 0;
        for (int k = 0; k < 3 * 48 * 32; k++)
            bx += im.x[k] != wx[k];
        for (int k = 0; k < 24; k++)
            bw += im.weight[k] != ww[k];
        /* exact: same resize, same float64 -> float32 scaling, same float32 normalisation */
        TK_CHECK(im.lw == 6 && im.lh == 4 && !bx && !bw, "%s: %d pixels, %d weights differ",
                 ds->items[i].path, bx, bw);
        free(wx);
        vkt_train_image_fini(&im);
    }
    vkt_dataset_destroy(ds);
    vkt_template_destroy(t);
    vkt_safetensors_close(st);
}

/* Two threads loading the same items give the same floats as one thread. */
typedef struct job {
    const vkt_dataset *ds;
    float sum;
    int fails;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    for (int rep = 0; rep < 5; rep++)
        for (size_t i = 0; i < j->ds->n; i++) {
            vkt_train_image im;
            vkt_err err = {0};
            if (vkt_dataset_load(j->ds, i, &im, &err)) {
                j->fails++;
                continue;
            }
            for (int k = 0; k < 3 * im.w * im.h; k++)
                j->sum += im.x[k];
            vkt_train_image_fini(&im);
        }
    return NULL;
}

static void test_threads(void)
{
    const char *d = fresh_dir("ds_threads");
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "t%d.png", i);
        write_png(d, name, 64, 48, 4, i);
    }
    vkt_template *t = tmpl_of("[name]\n");
    vkt_dataset_opts o = opts_for(t, 32, 32);
    o.use_weight = true;
    vkt_dataset *ds = NULL;
    vkt_err err = {0};
    TK_CHECK(vkt_dataset_open(d, &o, &ds, &err) == VKT_OK, "%s", err.msg);
    if (!ds) return;
    job a = {ds}, b = {ds}, c = {ds};
    worker(&c);
    pthread_t ta, tb;
    pthread_create(&ta, NULL, worker, &a);
    pthread_create(&tb, NULL, worker, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    TK_CHECK(!a.fails && !b.fails && a.sum == c.sum && b.sum == c.sum, "concurrent loads agree");
    vkt_dataset_destroy(ds);
    vkt_template_destroy(t);
}

/* Every allocation in open / epoch / prompt / load failing in turn: NOMEM or OK, never a crash
 * or a leak (ASan build). */
static void test_alloc_failures(void)
{
    const char *d = fresh_dir("ds_fault");
    write_png(d, "x1.png", 24, 24, 4, 1);
    write_png(d, "x2.png", 24, 16, 3, 2);
    write_text(d, "x1.txt", "a,b,c");
    vkt_template *t = tmpl_of("[name] [filewords]\nb [filewords]\n");
    vkt_dataset_opts o = opts_for(t, 16, 16);
    o.use_weight = true;
    o.shuffle_tags = true;
    int ok_runs = 0, nomem = 0, other = 0;
    for (int k = 1; k < 400; k++) {
        char v[16];
        snprintf(v, sizeof v, "%d", k);
        setenv("VKTRAIN_FAIL_ALLOC", v, 1);
        vkt_fault_reset();
        vkt_err err = {0};
        vkt_dataset *ds = NULL;
        vkt_status st = vkt_dataset_open(d, &o, &ds, &err);
        if (!st) {
            vkt_epoch_plan p;
            st = vkt_dataset_epoch(ds, 0, &p, &err);
            if (!st) {
                char *pr = NULL;
                st = vkt_epoch_plan_prompt(ds, &p, 0, 0, &pr, &err);
                free(pr);
                vkt_epoch_plan_fini(&p);
            }
            vkt_train_image im;
            if (!st && !(st = vkt_dataset_load(ds, 0, &im, &err))) vkt_train_image_fini(&im);
            vkt_dataset_destroy(ds);
        }
        if (st == VKT_OK)
            ok_runs++;
        else if (st == VKT_ERR_NOMEM)
            nomem++;
        else
            other++, fprintf(stderr, "alloc %d: %s\n", k, err.msg);
    }
    unsetenv("VKTRAIN_FAIL_ALLOC");
    vkt_fault_reset();
    TK_CHECK(nomem > 20 && ok_runs > 0 && !other, "allocation failures: %d NOMEM, %d ok, %d other",
             nomem, ok_runs, other);
    vkt_template_destroy(t);
}

int main(void)
{
    test_validation();
    test_captions_prompts();
    test_filewords();
    test_varying_prompts();
    test_batches();
    test_buckets();
    test_load();
    test_golden();
    test_threads();
    test_alloc_failures();
    return tk_finish("dataset");
}
