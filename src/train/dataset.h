/* Training dataset as the webui builds it (training.md §4, modules/textual_inversion/dataset.py):
 * a folder of images with optional same-stem .txt captions, prompts from a template with
 * [name]/[filewords], tag shuffling and dropout, alpha-channel loss weights, batches per epoch
 * with size buckets. Every random choice comes from base/rng streams keyed by the seed, so a run
 * (and a resumed run) repeats exactly. Host code only (no Vulkan); vkt_dataset_load may run on a
 * worker thread.
 *
 *   vkt_template *tmpl; vkt_template_load("style_filewords", &tmpl, &err);
 *   vkt_dataset_opts o = vkt_dataset_defaults();
 *   o.tmpl = tmpl; o.name = "myemb"; o.seed = 1234;
 *   vkt_dataset *ds;
 *   if (vkt_dataset_open("data/", &o, &ds, &err)) return err.code;  // checks every header
 *   for (uint64_t epoch = 0; ...; epoch++) {
 *       vkt_epoch_plan plan;
 *       vkt_dataset_epoch(ds, epoch, &plan, &err);
 *       for (size_t b = 0; b < plan.n_batches; b++)        // mini-batches, G per update
 *           for (size_t m = 0; m < plan.batch; m++) {
 *               size_t item = plan.items[b * plan.batch + m];
 *               char *prompt;
 *               vkt_epoch_plan_prompt(ds, &plan, b, m, &prompt, &err);
 *               ...
 *               free(prompt);
 *           }
 *       vkt_epoch_plan_fini(&plan);
 *   }
 *   vkt_train_image px; vkt_dataset_load(ds, item, &px, &err);      // pixels for the VAE, weights
 *   vkt_dataset_destroy(ds);
 *
 * Differences from the webui (all deliberate, see the notes at each field): files are taken in
 * byte order of their names (the webui uses os.listdir order); the random streams are our own
 * (same distributions, not Python's numbers); an image smaller than the training size is an error
 * unless allow_upscale (the webui silently upscales); `repeats` works (the webui ignores its
 * setting); the alpha weight map is resized to (w, h) (the webui swaps them for non-square
 * latents) and a constant alpha gives weight 1 (the webui divides 0 by 0).
 */
#ifndef VKT_TRAIN_DATASET_H
#define VKT_TRAIN_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/rng.h"
#include "io/image.h"
#include "text/template.h"
#include "train/resize.h"

/* VAE downsampling factor: latent size = floor(pixels / 8) (sd1-architecture §4). */
#define VKT_LATENT_FACTOR 8

typedef struct vkt_dataset_opts {
    vkt_resize_rule size; /* width x height (webui 512 x 512, multiples of 8), varsize, crop */
    bool allow_upscale;   /* without varsize, accept images smaller than width x height */
    bool use_weight;      /* alpha channel as loss weight (§4.3) */
    bool shuffle_tags;    /* shuffle the caption's comma-separated tags at every use */
    double tag_dropout;   /* drop each tag with this probability at every use, in [0, 1] */
    const char *filename_regex; /* NULL/"": caption from the file name as is (webui default) */
    const char *filewords_join; /* joins regex matches; NULL = " " (webui default) */
    const vkt_template *tmpl;   /* borrowed, required: prompt template lines */
    const char *name;           /* replaces [name] (the embedding / hypernetwork name) */
    int batch;                  /* images per mini-batch, > 0; clamped to the image count */
    int grad_accum;             /* mini-batches per update, > 0; clamped to floor(n / batch) */
    int repeats;                /* each image appears this often per epoch (>= 1; vktrain extra:
                                   the webui's setting has no effect, i.e. behaves as 1) */
    uint64_t seed;              /* every random choice derives from it */
    vkt_image_limits limits;    /* {0} = io/image defaults */
} vkt_dataset_opts;

/* webui defaults: 512 x 512, no varsize, no weights, no shuffle/dropout, batch 1, accumulation 1,
 * repeats 1, seed 0, join " "; tmpl and name must still be set. */
vkt_dataset_opts vkt_dataset_defaults(void);

typedef struct vkt_dataset_item {
    char *path;          /* owned: directory + "/" + file name */
    char *caption;       /* owned: filewords source (.txt content or from the file name) */
    vkt_image_info info; /* format, original size, alpha band */
    int w, h;            /* training size in pixels (after resize or crop) */
    size_t group;        /* size bucket */
    char *fixed_prompt;  /* owned: the prompt drawn once at open when neither shuffle nor
                            dropout is on (webui: one prompt per image for the whole run);
                            NULL otherwise */
} vkt_dataset_item;

typedef struct vkt_dataset_group {
    int w, h;
    size_t n;          /* images in the bucket */
    uint32_t *members; /* owned: item indices, ascending */
} vkt_dataset_group;

/* Read-only after open. */
typedef struct vkt_dataset {
    vkt_dataset_opts opts; /* strings copied (owned); tmpl still borrowed */
    vkt_dataset_item *items;
    size_t n;                  /* images, in byte order of their file names */
    vkt_dataset_group *groups; /* buckets in order of first appearance; one unless varsize */
    size_t n_groups;
    size_t n_skipped;         /* directory entries that are not images (captions, folders, ...) */
    size_t n_entries;         /* n * repeats: the dataset length the batching sees */
    int batch, grad_accum;    /* after clamping */
    size_t batches_per_epoch; /* floor(n_entries / batch) */
    size_t used_per_epoch;    /* mini-batches used per epoch: batches - batches % grad_accum */
    size_t steps_per_epoch;   /* updates per epoch: floor(n_entries / batch / grad_accum) */
} vkt_dataset;

/* Scans dir (not recursive), validates options and every image header, reads captions and draws
 * the fixed prompts. Fails with a message naming the folder or file for: a missing or empty
 * folder, no images, an image whose header cannot be read or whose size is over the limits, an
 * image smaller than the training size (unless varsize or allow_upscale), a caption that is not
 * UTF-8, a bad filename regex, bad options. Files of formats vktrain does not decode (GIF, TIFF,
 * ...) are skipped with a warning; other non-images are skipped silently, as the webui does. */
vkt_status vkt_dataset_open(const char *dir, const vkt_dataset_opts *opts, vkt_dataset **out,
                            vkt_err *err);
void vkt_dataset_destroy(vkt_dataset *ds);

/* The mini-batches of one epoch (webui GroupedBatchSampler): per bucket a shuffled list cut into
 * complete batches, plus floor-rounding compensation batches drawn with replacement from a bucket
 * chosen by its remainder weight, all batches shuffled; only the first used_per_epoch are kept so
 * accumulation never spans epochs. With one bucket: a permutation, the incomplete tail dropped.
 * Depends only on (seed, epoch). */
typedef struct vkt_epoch_plan {
    uint64_t epoch;
    size_t n_batches; /* = ds->used_per_epoch */
    size_t batch;     /* = ds->batch */
    uint32_t *items;  /* owned: [n_batches][batch] item indices (same bucket within a batch) */
} vkt_epoch_plan;

vkt_status vkt_dataset_epoch(const vkt_dataset *ds, uint64_t epoch, vkt_epoch_plan *out,
                             vkt_err *err);
void vkt_epoch_plan_fini(vkt_epoch_plan *p);

/* Epoch and mini-batch position of global mini-batch number k (k = step * grad_accum + g when
 * every epoch is used in full): resuming at update s starts at vkt_dataset_locate(ds, s * G). */
void vkt_dataset_locate(const vkt_dataset *ds, uint64_t k, uint64_t *epoch, size_t *batch_index);

/* Prompt of item i for one use identified by `use` (any key unique per use; the fixed prompt when
 * neither shuffle nor dropout is on): a random template line, the caption split on ',' with each
 * tag kept iff uniform() > tag_dropout, shuffled if asked, re-joined with ','; then [filewords]
 * and [name] substituted (webui create_text). *out is malloc'd. */
vkt_status vkt_dataset_prompt(const vkt_dataset *ds, size_t i, uint64_t use, char **out,
                              vkt_err *err);
/* vkt_dataset_prompt for member m of mini-batch b of the plan (use = epoch, slot). */
vkt_status vkt_epoch_plan_prompt(const vkt_dataset *ds, const vkt_epoch_plan *p, size_t b, size_t m,
                                 char **out, vkt_err *err);

/* The filewords step alone: caption split on ',', dropout with probability p (tag kept iff
 * vkt_rng_f64() > p), Fisher-Yates shuffle (Python's random.shuffle order of draws) when asked,
 * joined with ','. *out is malloc'd. */
vkt_status vkt_dataset_filewords(const char *caption, double p, bool shuffle, vkt_rng *r,
                                 char **out, vkt_err *err);

/* What the VAE encodes for one image, and its loss weight. */
typedef struct vkt_train_image {
    int w, h;      /* training size */
    float *x;      /* owned: [3][h][w], uint8 / 127.5 - 1 (webui dataset.py) */
    int lw, lh;    /* latent size: floor(w / 8), floor(h / 8) */
    float *weight; /* owned: [lh][lw] loss weight, min 0 and mean 1 (the same for the 4 latent
                      channels); all ones for an image without alpha; NULL unless use_weight */
    bool weight_constant; /* alpha was constant: weight 1 instead of the webui's 0/0 = NaN */
} vkt_train_image;

/* Decodes item i, converts to RGB (alpha dropped, not composited), resizes/crops it by the
 * rule, and (use_weight) resizes its alpha plane (cropped like the pixels) to latent size with
 * the same Pillow bicubic. Safe to call from several threads at once. */
vkt_status vkt_dataset_load(const vkt_dataset *ds, size_t i, vkt_train_image *out, vkt_err *err);
void vkt_train_image_fini(vkt_train_image *t);

#endif
