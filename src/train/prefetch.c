/* Prefetching image loader: one worker thread runs vkt_dataset_load over a list of items into a
 * ring of `depth` slots; the caller takes them in order. See prefetch.h. */
#define _POSIX_C_SOURCE 200809L
#include "train/prefetch.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/env.h"
#include "base/fault.h"

/* One decoded item (or the error that ended the stream). */
typedef struct slot {
    size_t item;
    vkt_status st;
    vkt_err err;
    vkt_train_image img;
} slot;

struct vkt_prefetch {
    const vkt_dataset *ds; /* borrowed */
    uint32_t *items;       /* owned: [n] */
    size_t n;
    size_t next;           /* items delivered so far (consumer side) */
    vkt_status failed;     /* sticky: the error returned once the stream broke */
    vkt_err fail_err;
    size_t fail_item;
    bool threaded;

    /* Worker state: everything below is guarded by mu. */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t not_full;  /* worker waits: a slot free (or stop) */
    pthread_cond_t not_empty; /* consumer waits: a slot filled */
    slot *ring;               /* owned: [depth] */
    int depth;
    size_t head, count; /* oldest filled slot, filled slots */
    bool stop;
};

static void *worker(void *arg)
{
    vkt_prefetch *p = arg;
    pthread_mutex_lock(&p->mu);
    for (size_t k = 0; k < p->n; k++) {
        /* Wait for room before decoding, so queued + in-flight images never exceed depth. */
        while (!p->stop && p->count + 1 > (size_t)p->depth)
            pthread_cond_wait(&p->not_full, &p->mu);
        if (p->stop) break;
        pthread_mutex_unlock(&p->mu);

        slot s = {.item = p->items[k]};
        s.st = vkt_dataset_load(p->ds, s.item, &s.img, &s.err);

        pthread_mutex_lock(&p->mu);
        if (p->stop) {
            vkt_train_image_fini(&s.img);
            break;
        }
        p->ring[(p->head + p->count) % (size_t)p->depth] = s;
        p->count++;
        pthread_cond_signal(&p->not_empty);
        if (s.st) break; /* the stream ends at the first failed item */
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Starts the worker with asynchronous signals blocked (it inherits the mask), so SIGINT and the
 * like keep going to the caller's threads. Synchronous signals (faults) stay deliverable. */
static bool start_worker(vkt_prefetch *p)
{
    sigset_t all, old;
    sigfillset(&all);
    int sync_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS};
    for (size_t k = 0; k < sizeof sync_sigs / sizeof *sync_sigs; k++)
        sigdelset(&all, sync_sigs[k]);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&p->thread, NULL, worker, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0;
}

vkt_status vkt_prefetch_create(const vkt_dataset *ds, const uint32_t *items, size_t n,
                               const vkt_prefetch_opts *opts, vkt_prefetch **out, vkt_err *err)
{
    vkt_prefetch_opts o = opts ? *opts : (vkt_prefetch_opts){0};
    if (!ds) return vkt_fail(err, VKT_ERR_USAGE, "prefetch: no dataset");
    if (o.depth < 0) return vkt_fail(err, VKT_ERR_USAGE, "prefetch: depth %d < 0", o.depth);
    if (o.depth == 0) o.depth = VKT_PREFETCH_DEPTH;
    for (size_t k = 0; items && k < n; k++)
        if (items[k] >= ds->n)
            return vkt_fail(err, VKT_ERR_USAGE, "prefetch: item %u (entry %zu) of a dataset of %zu",
                            (unsigned)items[k], k, ds->n);
    if (!items && n > ds->n)
        return vkt_fail(err, VKT_ERR_USAGE, "prefetch: %zu items of a dataset of %zu", n, ds->n);

    vkt_prefetch *p = vkt_calloc(1, sizeof *p);
    if (!p) return vkt_fail(err, VKT_ERR_NOMEM, "prefetch: out of host memory");
    p->ds = ds;
    p->n = n;
    p->depth = o.depth;
    p->items = vkt_malloc((n ? n : 1) * sizeof *p->items);
    p->ring = vkt_calloc((size_t)o.depth, sizeof *p->ring);
    if (!p->items || !p->ring) {
        free(p->items);
        free(p->ring);
        free(p);
        return vkt_fail(err, VKT_ERR_NOMEM, "prefetch: out of host memory");
    }
    for (size_t k = 0; k < n; k++)
        p->items[k] = items ? items[k] : (uint32_t)k;

    /* VKTRAIN_FAIL_ALLOC: base/fault counts allocations in a plain global. */
    bool sync = o.sync || n == 0 || vkt_env_flag("VKTRAIN_NO_PREFETCH") || getenv("VKTRAIN_FAIL_ALLOC");
    if (!sync) {
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->not_full, NULL);
        pthread_cond_init(&p->not_empty, NULL);
        p->threaded = start_worker(p);
        if (!p->threaded) { /* no thread to be had: the same results, synchronously */
            pthread_cond_destroy(&p->not_empty);
            pthread_cond_destroy(&p->not_full);
            pthread_mutex_destroy(&p->mu);
        }
    }
    *out = p;
    return VKT_OK;
}

vkt_status vkt_prefetch_next(vkt_prefetch *p, size_t *item, vkt_train_image *out, vkt_err *err)
{
    if (p->failed) {
        *item = p->fail_item;
        if (err) *err = p->fail_err;
        return p->failed;
    }
    if (p->next >= p->n)
        return vkt_fail(err, VKT_ERR_USAGE, "prefetch: all %zu items already delivered", p->n);
    slot s;
    if (p->threaded) {
        pthread_mutex_lock(&p->mu);
        while (p->count == 0) /* the worker fills every slot up to n or the first error */
            pthread_cond_wait(&p->not_empty, &p->mu);
        s = p->ring[p->head];
        p->ring[p->head] = (slot){0};
        p->head = (p->head + 1) % (size_t)p->depth;
        p->count--;
        pthread_cond_signal(&p->not_full);
        pthread_mutex_unlock(&p->mu);
    } else {
        s = (slot){.item = p->items[p->next]};
        s.st = vkt_dataset_load(p->ds, s.item, &s.img, &s.err);
    }
    p->next++;
    *item = s.item;
    if (s.st) {
        p->failed = s.st;
        p->fail_err = s.err;
        p->fail_item = s.item;
        if (err) *err = s.err;
        return s.st;
    }
    *out = s.img;
    return VKT_OK;
}

size_t vkt_prefetch_delivered(const vkt_prefetch *p) { return p->next; }

size_t vkt_prefetch_ready(vkt_prefetch *p)
{
    if (!p->threaded) return 0;
    pthread_mutex_lock(&p->mu);
    size_t c = p->count;
    pthread_mutex_unlock(&p->mu);
    return c;
}

bool vkt_prefetch_threaded(const vkt_prefetch *p) { return p->threaded; }

void vkt_prefetch_destroy(vkt_prefetch *p)
{
    if (!p) return;
    if (p->threaded) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_broadcast(&p->not_full);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
        pthread_cond_destroy(&p->not_empty);
        pthread_cond_destroy(&p->not_full);
        pthread_mutex_destroy(&p->mu);
        for (size_t k = 0; k < p->count; k++)
            vkt_train_image_fini(&p->ring[(p->head + k) % (size_t)p->depth].img);
    }
    free(p->ring);
    free(p->items);
    free(p);
}
