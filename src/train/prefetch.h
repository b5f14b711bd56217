/* Prefetching image loader: decodes and resizes dataset items (vkt_dataset_load) on one worker
 * thread, in order, into a bounded queue, so the GPU never waits for the disk. How
 * encode_latents (train/ti_train.c) uses it:
 *
 *   vkt_prefetch *pf = NULL;          // at the top, with the other owned pointers
 *   // before vkt_vae_load, so the first decodes overlap loading the VAE too; items 0..n-1:
 *   if ((st = vkt_prefetch_create(tr->ds, NULL, n, NULL, &pf, err))) goto done;
 *   for (size_t k = 0; k < n && !st; k++) {
 *       size_t i;                     // = k here: items come back in the order given
 *       vkt_train_image px = {0};
 *       if ((st = vkt_prefetch_next(pf, &i, &px, err))) break; // message names the file
 *       ... VAE-encode px as item i on the GPU while the worker decodes item i + 1 ...
 *   }
 * done:
 *   vkt_prefetch_destroy(pf);         // also mid-stream: stops and joins the worker
 *
 * Memory: at most `depth` decoded images are held by the prefetcher (waiting in the queue plus
 * the one being decoded), besides the images the caller has taken and not yet released.
 *
 * Results are exactly those of vkt_dataset_load(ds, items[k]) for k = 0, 1, ... (byte for byte,
 * and the same error messages). The first failing item's error is returned by the call that
 * would have returned that item; the items before it are all delivered, and the worker decodes
 * nothing after it.
 *
 * Synchronous mode (no thread; vkt_prefetch_next loads the item in place, same results): opts
 * .sync, or the environment variable VKTRAIN_NO_PREFETCH set to anything but "" or "0" (for
 * debugging), or VKTRAIN_FAIL_ALLOC set (base/fault's allocation counter is not thread-safe, and
 * a fault-injection run must fail the same allocation every time), or pthread_create failing.
 *
 * Thread safety of what the worker runs, checked for this module: vkt_dataset_load only reads
 * the dataset (read-only after open, like vkt_dataset_prompt / vkt_dataset_epoch, which the main
 * thread may call meanwhile), and uses no Vulkan; io/image keeps no state (stb_image's failure
 * reason and its flip/unpremultiply flags are thread-local in Debian's libstb 2.27, libwebp's
 * decoder initialises its tables under pthread_once/a mutex, zlib has no globals); resize keeps
 * no state; base/err writes only the caller's vkt_err; base/log is not called on this path.
 * The worker blocks asynchronous signals (SIGINT, SIGTERM, ...) so handlers run on the caller's
 * thread as before. A prefetcher itself is used from one thread (its creator) at a time.
 */
#ifndef VKT_TRAIN_PREFETCH_H
#define VKT_TRAIN_PREFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "train/dataset.h"

/* Default queue depth. */
#define VKT_PREFETCH_DEPTH 2

typedef struct vkt_prefetch_opts {
    int depth; /* decoded images held at most (queued + being decoded), >= 1; 0 = default (2) */
    bool sync; /* no worker thread: vkt_prefetch_next decodes in place */
} vkt_prefetch_opts;

typedef struct vkt_prefetch vkt_prefetch;

/* Starts decoding items[0..n) of ds in that order (an item may repeat); items NULL means
 * 0, 1, ..., n - 1. items is copied; ds is borrowed and must outlive the prefetcher. opts NULL
 * = defaults. Fails (VKT_ERR_USAGE) for an item index >= ds->n or a negative depth. n = 0 is
 * allowed (nothing to deliver). */
vkt_status vkt_prefetch_create(const vkt_dataset *ds, const uint32_t *items, size_t n,
                               const vkt_prefetch_opts *opts, vkt_prefetch **out, vkt_err *err);

/* The next item, in order, waiting for the worker if it is not decoded yet: *item is its dataset
 * index and *out receives the image (owned by the caller: vkt_train_image_fini). On a failed
 * item: that item's error (vkt_dataset_load's message, which names the file), *item set, *out
 * untouched; every later call returns the same error. After all n items: VKT_ERR_USAGE. */
vkt_status vkt_prefetch_next(vkt_prefetch *p, size_t *item, vkt_train_image *out, vkt_err *err);

/* Items delivered by vkt_prefetch_next so far, and how many are decoded and waiting (0 in
 * synchronous mode). Diagnostics and tests. */
size_t vkt_prefetch_delivered(const vkt_prefetch *p);
size_t vkt_prefetch_ready(vkt_prefetch *p);
/* True when a worker thread runs (false in synchronous mode). */
bool vkt_prefetch_threaded(const vkt_prefetch *p);

/* Stops the worker (it finishes at most the one image it is decoding), joins it, and frees
 * everything not yet delivered. NULL is a no-op. */
void vkt_prefetch_destroy(vkt_prefetch *p);

#endif
