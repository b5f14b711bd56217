/* Training dataset (webui modules/textual_inversion/dataset.py: PersonalizedBase,
 * GroupedBatchSampler). Host code only; see dataset.h for the rules and the deliberate
 * differences. */
#define _DEFAULT_SOURCE
#include "train/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/checked.h"
#include "base/fault.h"
#include "base/log.h"

/* Stream tags of base/rng (one per purpose, so adding a draw never shifts another). */
#define TAG_FIXED VKT_RNG_TAG('f', 'i', 'x', 'd')
#define TAG_PROMPT VKT_RNG_TAG('p', 'r', 'm', 't')
#define TAG_EPOCH VKT_RNG_TAG('e', 'p', 'c', 'h')

vkt_dataset_opts vkt_dataset_defaults(void)
{
    return (vkt_dataset_opts){.size = {.width = 512, .height = 512},
                              .filewords_join = " ",
                              .batch = 1,
                              .grad_accum = 1,
                              .repeats = 1};
}

static char *dup_str(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s);
    char *d = vkt_malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Extensions of files that must be images (an unreadable one is an error, not skipped). */
static bool image_ext(const char *name)
{
    static const char *ext[] = {".png", ".jpg", ".jpeg", ".jpe", ".jfif",
                                ".bmp", ".dib", ".tga",  ".webp"};
    const char *dot = strrchr(name, '.');
    if (!dot) return false;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (!strcasecmp(dot, ext[i])) return true;
    return false;
}

static vkt_status check_opts(const vkt_dataset_opts *o, vkt_err *err)
{
    const vkt_resize_rule *r = &o->size;
    if (!r->varsize && (r->width < 8 || r->height < 8 || r->width % 8 || r->height % 8 ||
                        r->width > VKT_IMAGE_MAX_SIDE || r->height > VKT_IMAGE_MAX_SIDE))
        return vkt_fail(err, VKT_ERR_USAGE,
                        "training size %dx%d: width and height must be multiples of 8 in 8..%d",
                        r->width, r->height, VKT_IMAGE_MAX_SIDE);
    if (r->varsize && r->varsize_multiple < 0)
        return vkt_fail(err, VKT_ERR_USAGE, "varsize multiple %d must be >= 0",
                        r->varsize_multiple);
    if (o->batch <= 0)
        return vkt_fail(err, VKT_ERR_USAGE, "batch size %d must be positive", o->batch);
    if (o->grad_accum <= 0)
        return vkt_fail(err, VKT_ERR_USAGE, "gradient accumulation %d must be positive",
                        o->grad_accum);
    if (o->repeats <= 0)
        return vkt_fail(err, VKT_ERR_USAGE, "repeats %d must be positive", o->repeats);
    if (!(o->tag_dropout >= 0 && o->tag_dropout <= 1))
        return vkt_fail(err, VKT_ERR_USAGE, "tag dropout %g must be in [0, 1]", o->tag_dropout);
    if (!o->tmpl || !o->tmpl->n_lines)
        return vkt_fail(err, VKT_ERR_USAGE, "no prompt template given");
    return VKT_OK;
}

vkt_status vkt_dataset_filewords(const char *caption, double p, bool shuffle, vkt_rng *r,
                                 char **out, vkt_err *err)
{
    /* tags = caption.split(','): n commas give n + 1 tags, empty ones included */
    size_t n_tags = 1, len = strlen(caption);
    for (const char *s = caption; *s; s++)
        n_tags += *s == ',';
    const char **start = vkt_malloc(n_tags * sizeof *start);
    size_t *tlen = vkt_malloc(n_tags * sizeof *tlen);
    char *res = vkt_malloc(len + 1);
    if (!start || !tlen || !res) {
        free(start);
        free(tlen);
        free(res);
        return vkt_fail(err, VKT_ERR_NOMEM, "filewords: out of host memory");
    }
    size_t k = 0;
    const char *a = caption;
    for (const char *s = caption;; s++) {
        if (*s == ',' || !*s) {
            start[k] = a;
            tlen[k++] = (size_t)(s - a);
            a = s + 1;
            if (!*s) break;
        }
    }
    /* webui create_text: [t for t in tags if random.random() > p], then random.shuffle(tags) */
    size_t kept = 0;
    for (size_t i = 0; i < n_tags; i++) {
        if (p != 0 && !(vkt_rng_f64(r) > p)) continue;
        start[kept] = start[i];
        tlen[kept++] = tlen[i];
    }
    if (shuffle) {
        for (size_t i = kept; i-- > 1;) { /* for i in reversed(range(1, n)): j = randbelow(i+1) */
            size_t j = (size_t)vkt_rng_below(r, i + 1);
            const char *ts = start[i];
            size_t tl = tlen[i];
            start[i] = start[j], tlen[i] = tlen[j];
            start[j] = ts, tlen[j] = tl;
        }
    }
    size_t w = 0;
    for (size_t i = 0; i < kept; i++) {
        if (i) res[w++] = ',';
        memcpy(res + w, start[i], tlen[i]);
        w += tlen[i];
    }
    res[w] = 0;
    free(start);
    free(tlen);
    *out = res;
    return VKT_OK;
}

/* One prompt for item i from stream r: template line, then filewords, then render. */
static vkt_status draw_prompt(const vkt_dataset *ds, size_t i, vkt_rng *r, char **out, vkt_err *err)
{
    const vkt_template *t = ds->opts.tmpl;
    const char *line = t->lines[vkt_rng_below(r, t->n_lines)];
    char *fw = NULL;
    vkt_status st = vkt_dataset_filewords(ds->items[i].caption, ds->opts.tag_dropout,
                                          ds->opts.shuffle_tags, r, &fw, err);
    if (!st) st = vkt_template_render(line, ds->opts.name, fw, out, err);
    free(fw);
    return st;
}

static bool prompts_vary(const vkt_dataset *ds)
{
    return ds->opts.shuffle_tags || ds->opts.tag_dropout != 0;
}

vkt_status vkt_dataset_prompt(const vkt_dataset *ds, size_t i, uint64_t use, char **out,
                              vkt_err *err)
{
    if (i >= ds->n) return vkt_fail(err, VKT_ERR_USAGE, "dataset item %zu of %zu", i, ds->n);
    if (!prompts_vary(ds)) {
        *out = dup_str(ds->items[i].fixed_prompt);
        return *out ? VKT_OK : vkt_fail(err, VKT_ERR_NOMEM, "prompt: out of host memory");
    }
    vkt_rng r = vkt_rng_keyed(ds->opts.seed, TAG_PROMPT, i, use);
    return draw_prompt(ds, i, &r, out, err);
}

vkt_status vkt_epoch_plan_prompt(const vkt_dataset *ds, const vkt_epoch_plan *p, size_t b, size_t m,
                                 char **out, vkt_err *err)
{
    if (b >= p->n_batches || m >= p->batch)
        return vkt_fail(err, VKT_ERR_USAGE, "mini-batch %zu member %zu outside the plan", b, m);
    uint64_t slot = (uint64_t)b * p->batch + m;
    return vkt_dataset_prompt(ds, p->items[b * p->batch + m], (p->epoch << 32) ^ slot, out, err);
}

void vkt_dataset_destroy(vkt_dataset *ds)
{
    if (!ds) return;
    for (size_t i = 0; i < ds->n; i++) {
        free(ds->items[i].path);
        free(ds->items[i].caption);
        free(ds->items[i].fixed_prompt);
    }
    free(ds->items);
    for (size_t g = 0; g < ds->n_groups; g++)
        free(ds->groups[g].members);
    free(ds->groups);
    free((char *)ds->opts.filename_regex);
    free((char *)ds->opts.filewords_join);
    free((char *)ds->opts.name);
    free(ds);
}

/* Reads the directory's entry names, sorted bytewise. */
static vkt_status list_dir(const char *dir, char ***out, size_t *out_n, vkt_err *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return vkt_fail(err, VKT_ERR_USAGE, "%s: dataset directory does not exist", dir);
        if (errno == ENOTDIR)
            return vkt_fail(err, VKT_ERR_USAGE, "%s: dataset path is not a directory", dir);
        return vkt_fail(err, VKT_ERR_IO, "%s: %s", dir, strerror(errno));
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    vkt_status st = VKT_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = vkt_realloc(names, cap * sizeof *nn);
            if (!nn) {
                st = vkt_fail(err, VKT_ERR_NOMEM, "%s: out of host memory", dir);
                break;
            }
            names = nn;
        }
        if (!(names[n] = dup_str(de->d_name))) {
            st = vkt_fail(err, VKT_ERR_NOMEM, "%s: out of host memory", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (st) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return st;
    }
    if (n) qsort(names, n, sizeof *names, cmp_str);
    *out = names;
    *out_n = n;
    return VKT_OK;
}

/* Classifies and probes one directory entry. Returns VKT_OK with *is_image false for entries to
 * skip. */
static vkt_status probe_entry(const char *path, const char *name, const vkt_image_limits *lim,
                              bool *is_image, vkt_image_info *info, vkt_err *err)
{
    *is_image = false;
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return VKT_OK; /* folders, dangling links */
    size_t nlen = strlen(name);
    if (nlen >= 4 && !strcasecmp(name + nlen - 4, ".txt")) return VKT_OK;
    uint8_t head[16] = {0};
    FILE *fp = fopen(path, "rb");
    if (!fp) return vkt_fail(err, VKT_ERR_IO, "%s: %s", path, strerror(errno));
    size_t got = fread(head, 1, sizeof head, fp);
    fclose(fp);
    vkt_image_format f = vkt_image_sniff(head, got, name);
    if (f == VKT_IMAGE_OTHER) {
        vkt_log(VKT_LOG_WARN,
                "%s: image format not supported (use PNG, JPEG, BMP, TGA or WebP); "
                "skipped",
                path);
        return VKT_OK;
    }
    if (f == VKT_IMAGE_UNKNOWN) {
        if (image_ext(name))
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: not a readable image (unrecognised content)",
                            path);
        return VKT_OK; /* the webui skips whatever Pillow cannot open */
    }
    vkt_status st = vkt_image_probe(path, lim, info, err);
    if (st) return st;
    *is_image = true;
    return VKT_OK;
}

vkt_status vkt_dataset_open(const char *dir, const vkt_dataset_opts *opts, vkt_dataset **out,
                            vkt_err *err)
{
    vkt_status st = check_opts(opts, err);
    if (st) return st;
    char **names = NULL;
    size_t n_names = 0;
    char *path = NULL;
    vkt_dataset *ds = vkt_calloc(1, sizeof *ds);
    if (!ds) return vkt_fail(err, VKT_ERR_NOMEM, "dataset: out of host memory");
    ds->opts = *opts;
    ds->opts.filename_regex = NULL;
    ds->opts.filewords_join = NULL;
    ds->opts.name = NULL;
    if ((opts->filename_regex && !(ds->opts.filename_regex = dup_str(opts->filename_regex))) ||
        !(ds->opts.filewords_join = dup_str(opts->filewords_join ? opts->filewords_join : " ")) ||
        (opts->name && !(ds->opts.name = dup_str(opts->name)))) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "dataset: out of host memory");
        goto done;
    }

    st = list_dir(dir, &names, &n_names, err);
    if (st) goto done;
    if (!n_names) {
        st = vkt_fail(err, VKT_ERR_USAGE, "%s: dataset directory is empty", dir);
        goto done;
    }
    ds->items = vkt_calloc(n_names, sizeof *ds->items);
    ds->groups = vkt_calloc(n_names, sizeof *ds->groups);
    size_t dlen = strlen(dir);
    path = vkt_malloc(dlen + 2 + 4096);
    if (!ds->items || !ds->groups || !path) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "dataset: out of host memory");
        goto done;
    }
    const vkt_resize_rule *rule = &opts->size;
    for (size_t k = 0; k < n_names; k++) {
        if (strlen(names[k]) >= 4096) continue;
        sprintf(path, "%s%s%s", dir, dlen && dir[dlen - 1] == '/' ? "" : "/", names[k]);
        bool is_image;
        vkt_image_info info;
        st = probe_entry(path, names[k], &opts->limits, &is_image, &info, err);
        if (st) goto done;
        if (!is_image) {
            ds->n_skipped++;
            continue;
        }
        int tw, th;
        if (!rule->varsize && !opts->allow_upscale &&
            (info.w < rule->width || info.h < rule->height)) {
            st = vkt_fail(err, VKT_ERR_USAGE,
                          "%s: image is %dx%d, smaller than the training size %dx%d (train with "
                          "varsize, or allow upscaling)",
                          path, info.w, info.h, rule->width, rule->height);
            goto done;
        }
        if (!vkt_resize_train_size(rule, info.w, info.h, &tw, &th) || tw < VKT_LATENT_FACTOR ||
            th < VKT_LATENT_FACTOR) {
            st = vkt_fail(err, VKT_ERR_USAGE,
                          "%s: image is %dx%d, too small to train at its own size (needs at least "
                          "%d px per side)",
                          path, info.w, info.h,
                          rule->varsize_multiple > VKT_LATENT_FACTOR ? rule->varsize_multiple
                                                                     : VKT_LATENT_FACTOR);
            goto done;
        }
        vkt_dataset_item *it = &ds->items[ds->n++]; /* counted now: destroy frees it on failure */
        it->info = info;
        it->w = tw;
        it->h = th;
        if (!(it->path = dup_str(path))) {
            st = vkt_fail(err, VKT_ERR_NOMEM, "dataset: out of host memory");
            goto done;
        }
        st = vkt_filewords_for_image(path, ds->opts.filename_regex, ds->opts.filewords_join,
                                     &it->caption, err);
        if (st) goto done;
        /* bucket by training size, in order of first appearance */
        size_t g = 0;
        while (g < ds->n_groups && !(ds->groups[g].w == tw && ds->groups[g].h == th))
            g++;
        if (g == ds->n_groups) {
            ds->groups[g].w = tw;
            ds->groups[g].h = th;
            ds->groups[g].members = vkt_malloc(n_names * sizeof(uint32_t));
            if (!ds->groups[g].members) {
                st = vkt_fail(err, VKT_ERR_NOMEM, "dataset: out of host memory");
                goto done;
            }
            ds->n_groups++;
        }
        ds->groups[g].members[ds->groups[g].n++] = (uint32_t)(ds->n - 1);
        it->group = g;
    }
    if (!ds->n) {
        st = vkt_fail(err, VKT_ERR_USAGE,
                      "%s: no images found (PNG, JPEG, BMP, TGA or WebP; %zu other entries)", dir,
                      ds->n_skipped);
        goto done;
    }
    if (!vkt_mul_ok(ds->n, (size_t)opts->repeats, &ds->n_entries) || ds->n_entries > UINT32_MAX) {
        st = vkt_fail(err, VKT_ERR_USAGE, "%zu images x %d repeats is too many", ds->n,
                      opts->repeats);
        goto done;
    }
    /* webui: batch = min(batch, n); accumulation = min(G, n // batch) */
    ds->batch = (size_t)opts->batch < ds->n_entries ? opts->batch : (int)ds->n_entries;
    size_t max_g = ds->n_entries / (size_t)ds->batch;
    ds->grad_accum = (size_t)opts->grad_accum < max_g ? opts->grad_accum : (int)max_g;
    ds->batches_per_epoch = ds->n_entries / (size_t)ds->batch;
    ds->used_per_epoch = ds->batches_per_epoch - ds->batches_per_epoch % (size_t)ds->grad_accum;
    ds->steps_per_epoch = ds->n_entries / (size_t)ds->batch / (size_t)ds->grad_accum;

    if (!prompts_vary(ds)) {
        for (size_t i = 0; i < ds->n; i++) {
            vkt_rng r = vkt_rng_keyed(opts->seed, TAG_FIXED, i, 0);
            st = draw_prompt(ds, i, &r, &ds->items[i].fixed_prompt, err);
            if (st) goto done;
        }
    }
    if (ds->n_groups > 1) {
        vkt_log(VKT_LOG_INFO, "dataset: %zu size buckets", ds->n_groups);
        for (size_t g = 0; g < ds->n_groups; g++)
            vkt_log(VKT_LOG_INFO, "  %dx%d: %zu", ds->groups[g].w, ds->groups[g].h,
                    ds->groups[g].n);
    }
    *out = ds;
    ds = NULL;
done:
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    free(path);
    vkt_dataset_destroy(ds);
    return st;
}

void vkt_dataset_locate(const vkt_dataset *ds, uint64_t k, uint64_t *epoch, size_t *batch_index)
{
    *epoch = k / ds->used_per_epoch;
    *batch_index = (size_t)(k % ds->used_per_epoch);
}

static void shuffle_u32(vkt_rng *r, uint32_t *v, size_t n)
{
    for (size_t i = n; i-- > 1;) {
        size_t j = (size_t)vkt_rng_below(r, i + 1);
        uint32_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

vkt_status vkt_dataset_epoch(const vkt_dataset *ds, uint64_t epoch, vkt_epoch_plan *out,
                             vkt_err *err)
{
    size_t B = (size_t)ds->batch, n = ds->n_entries, nb = ds->batches_per_epoch;
    size_t G = ds->n_groups, R = (size_t)ds->opts.repeats;
    vkt_status st = VKT_OK;
    vkt_rng r = vkt_rng_keyed(ds->opts.seed, TAG_EPOCH, epoch, 0);
    /* Every bucket's entries (each image `repeats` times), shuffled. */
    uint32_t **mem = vkt_calloc(G, sizeof *mem);
    double *prob = vkt_calloc(G, sizeof *prob);
    uint32_t *all = NULL, *order = NULL, *items = NULL;
    if (!mem || !prob) goto oom;
    size_t n_base = 0, sum_base = 0;
    for (size_t g = 0; g < G; g++) {
        size_t m = ds->groups[g].n * R;
        if (!(mem[g] = vkt_malloc(m * sizeof **mem))) goto oom;
        for (size_t k = 0; k < m; k++)
            mem[g][k] = ds->groups[g].members[k / R];
        shuffle_u32(&r, mem[g], m);
        /* expected = len(g) / n * n_batch * batch_size; base = int(expected) // batch_size */
        double expected = (double)m / (double)n * (double)nb * (double)B;
        sum_base += (size_t)expected / B;
        prob[g] = fmod(expected, (double)B);
        n_base += m / B;
    }
    size_t n_rand = nb - sum_base;
    for (size_t g = 0; g < G; g++)
        prob[g] = n_rand ? prob[g] / (double)n_rand / (double)B : 0;
    size_t total = n_base + n_rand;
    all = vkt_malloc(total * B * sizeof *all);
    order = vkt_malloc(total * sizeof *order);
    if (!all || !order) goto oom;
    size_t k = 0;
    for (size_t g = 0; g < G; g++)
        for (size_t i = 0; i + B <= ds->groups[g].n * R; i += B, k++)
            memcpy(all + k * B, mem[g] + i, B * sizeof *all);
    for (size_t e = 0; e < n_rand; e++, k++) {
        /* random.choices(groups, probs): cumulative weights, bisect(cum, random() * total) */
        double cum = 0, tot = 0;
        for (size_t g = 0; g < G; g++)
            tot += prob[g];
        double u = vkt_rng_f64(&r) * tot;
        size_t g = 0;
        for (; g + 1 < G; g++) {
            cum += prob[g];
            if (u < cum) break;
        }
        while (g > 0 && prob[g] == 0)
            g--; /* never pick an empty-weight bucket at the edge */
        size_t m = ds->groups[g].n * R;
        for (size_t i = 0; i < B; i++)
            all[k * B + i] = mem[g][vkt_rng_below(&r, m)];
    }
    for (size_t i = 0; i < total; i++)
        order[i] = (uint32_t)i;
    shuffle_u32(&r, order, total);
    size_t used = ds->used_per_epoch < total ? ds->used_per_epoch : total;
    items = vkt_malloc((used ? used : 1) * B * sizeof *items);
    if (!items) goto oom;
    for (size_t b = 0; b < used; b++)
        memcpy(items + b * B, all + (size_t)order[b] * B, B * sizeof *items);
    *out = (vkt_epoch_plan){.epoch = epoch, .n_batches = used, .batch = B, .items = items};
    items = NULL;
    goto done;
oom:
    st = vkt_fail(err, VKT_ERR_NOMEM, "dataset: out of host memory planning epoch %llu",
                  (unsigned long long)epoch);
done:
    for (size_t g = 0; mem && g < G; g++)
        free(mem[g]);
    free(mem);
    free(prob);
    free(all);
    free(order);
    free(items);
    return st;
}

void vkt_epoch_plan_fini(vkt_epoch_plan *p)
{
    if (!p) return;
    free(p->items);
    *p = (vkt_epoch_plan){0};
}

void vkt_train_image_fini(vkt_train_image *t)
{
    if (!t) return;
    free(t->x);
    free(t->weight);
    *t = (vkt_train_image){0};
}

vkt_status vkt_dataset_load(const vkt_dataset *ds, size_t i, vkt_train_image *out, vkt_err *err)
{
    if (i >= ds->n) return vkt_fail(err, VKT_ERR_USAGE, "dataset item %zu of %zu", i, ds->n);
    const vkt_dataset_item *it = &ds->items[i];
    const vkt_resize_rule *rule = &ds->opts.size;
    vkt_image img = {0};
    uint8_t *rgb = NULL, *alpha = NULL, *aw = NULL;
    vkt_train_image t = {0};
    vkt_status st = vkt_image_load(it->path, &ds->opts.limits, &img, err);
    if (st) return st;
    if (img.w != it->info.w || img.h != it->info.h) {
        st = vkt_fail(err, VKT_ERR_IO,
                      "%s: image changed since the dataset was opened (%dx%d, "
                      "was %dx%d)",
                      it->path, img.w, img.h, it->info.w, it->info.h);
        goto done;
    }
    int tw, th;
    st = vkt_resize_train_rgb(rule, img.rgba, img.w, img.h, &rgb, &tw, &th, err);
    if (st) {
        vkt_err_prefix(err, "%s", it->path);
        goto done;
    }
    t.w = tw;
    t.h = th;
    t.lw = tw / VKT_LATENT_FACTOR;
    t.lh = th / VKT_LATENT_FACTOR;
    size_t hw = (size_t)tw * th, lhw = (size_t)t.lw * t.lh;
    t.x = vkt_malloc(3 * hw * sizeof *t.x);
    if (!t.x) goto oom;
    /* npimage / 127.5 - 1.0 in float64, then float32; HWC -> CHW */
    for (size_t p = 0; p < hw; p++)
        for (int c = 0; c < 3; c++)
            t.x[c * hw + p] = (float)(rgb[p * 3 + c] / 127.5 - 1.0);

    if (ds->opts.use_weight) {
        t.weight = vkt_malloc(lhw * sizeof *t.weight);
        if (!t.weight) goto oom;
        if (!it->info.has_alpha) {
            for (size_t p = 0; p < lhw; p++)
                t.weight[p] = 1.0f;
        } else {
            /* the alpha plane at the original size (cropped like the pixels under varsize),
             * resized to the latent size with Pillow's bicubic (the 'L' image default) */
            int x0, y0, cw, ch;
            vkt_resize_train_crop(rule, img.w, img.h, &x0, &y0, &cw, &ch);
            alpha = vkt_malloc((size_t)cw * ch);
            aw = vkt_malloc(lhw);
            if (!alpha || !aw) goto oom;
            for (int y = 0; y < ch; y++)
                for (int x = 0; x < cw; x++)
                    alpha[(size_t)y * cw + x] =
                        img.rgba[((size_t)(y + y0) * img.w + x + x0) * 4 + 3];
            st = vkt_resize_bicubic(alpha, cw, ch, 1, aw, t.lw, t.lh, err);
            if (st) goto done;
            /* weight -= weight.min(); weight /= weight.mean()  (float32) */
            uint8_t mn = 255;
            for (size_t p = 0; p < lhw; p++)
                mn = aw[p] < mn ? aw[p] : mn;
            double sum = 0;
            for (size_t p = 0; p < lhw; p++)
                sum += (float)(aw[p] - mn);
            float mean = (float)(sum / (double)lhw);
            if (mean == 0) {
                t.weight_constant = true;
                for (size_t p = 0; p < lhw; p++)
                    t.weight[p] = 1.0f;
            } else {
                for (size_t p = 0; p < lhw; p++)
                    t.weight[p] = (float)(aw[p] - mn) / mean;
            }
        }
    }
    *out = t;
    t = (vkt_train_image){0};
    goto done;
oom:
    st = vkt_fail(err, VKT_ERR_NOMEM, "%s: out of host memory", it->path);
done:
    vkt_train_image_fini(&t);
    vkt_image_fini(&img);
    free(rgb);
    free(alpha);
    free(aw);
    return st;
}
