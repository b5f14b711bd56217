/* Learning-rate (and clip-value) schedules in the webui's syntax, with every edge case of its
 * LearnScheduleIterator / LearnRateScheduler (training.md §3), plus vktrain's linear warmup and
 * cosine annealing (training.md §11). Host code only.
 *
 *   vkt_lr_schedule lr;
 *   if (vkt_lr_schedule_parse("0.005:100, 1e-3:1000, 1e-5", max_steps, s0, "learning rate", &lr,
 *                             &err)) return err.code;          // before training starts
 *   // before every mini-batch, with step = completed updates:
 *   vkt_lr_schedule_check(&lr, step);
 *   if (lr.finished) break;                                    // the schedule ran out
 *   double rate = vkt_lr_effective(&extras, lr.rate, step, max_steps);
 *   ...
 *   vkt_lr_schedule_fini(&lr);
 *
 * Syntax: comma-separated items, each `rate:end_step` or a bare `rate`; blank items are skipped.
 * Parsed against the start step s0 (0, or the step stored in a resumed file) and max_steps:
 *   - `rate:end` with end > s0 adds (rate, min(end, max_steps)); parsing stops if end > max_steps;
 *   - `rate:-1` adds (rate, max_steps) and stops; any other end <= s0 drops the item (already
 *     passed; its rate is not even read);
 *   - a bare rate (or an item with 3+ ':'-parts: only the first is read) adds (rate, max_steps)
 *     and stops; items after a stop are never read (tail_ignored tells the caller);
 *   - end must be an integer as Python's int() reads it ("100", " +100 ", "1_000"; not "1e3" or
 *     "100.0"); rate a number as float() reads it ("1e-3", ".5", "inf"... but see below);
 *   - nothing added (e.g. "0.005:100" resumed at step 150) or a bad number: error.
 * Stricter than the webui: a rate that is negative, NaN or infinite is refused (torch's AdamW
 * refuses some of these only for the first rate).
 * Use: the current pair starts as the first; before every mini-batch, when the completed step
 * count reaches the current end, the next pair becomes current (one per check, even if its own
 * end has also passed); with no next pair the schedule is finished, which stops training (a
 * clip-value schedule keeps its last value).
 */
#ifndef VKT_TRAIN_LR_SCHEDULE_H
#define VKT_TRAIN_LR_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct vkt_lr_pair {
    double rate;
    int64_t end; /* the pair is left once the completed step count reaches end */
} vkt_lr_pair;

typedef struct vkt_lr_schedule {
    vkt_lr_pair *pairs; /* owned */
    size_t n;           /* >= 1 after a successful parse */
    size_t cur;         /* index of the current pair */
    double rate;        /* = pairs[cur].rate */
    int64_t end;        /* = pairs[cur].end */
    bool finished;      /* a check found the last pair's end reached */
    bool tail_ignored;  /* non-blank items followed the item that stopped parsing */
} vkt_lr_schedule;

/* Parses text (see above). `what` names the setting in messages ("learning rate", "gradient clip
 * value"). Fails with VKT_ERR_USAGE and a message quoting the text. */
vkt_status vkt_lr_schedule_parse(const char *text, int64_t max_steps, int64_t s0, const char *what,
                                 vkt_lr_schedule *out, vkt_err *err);
void vkt_lr_schedule_fini(vkt_lr_schedule *s);

/* The webui's LearnRateScheduler.step(step), called before every mini-batch with the completed
 * update count: returns true when the rate changed (the caller sets it on the optimizer). Sets
 * finished (and returns false) when the last pair's end is reached. */
bool vkt_lr_schedule_check(vkt_lr_schedule *s, int64_t step);

/* Rates of updates s0, s0+1, ... as a training loop with grad_accum mini-batches per update sees
 * them (checks before every mini-batch; a finish inside an update abandons it). Writes at most
 * cap rates and returns how many updates run before the schedule finishes or max_steps. s is
 * not modified. */
int64_t vkt_lr_schedule_simulate(const vkt_lr_schedule *s, int64_t s0, int64_t max_steps,
                                 int grad_accum, double *rates, int64_t cap);

/* vktrain extras on top of the scheduled rate (DALLE2 trainer, training.md §11). */
typedef struct vkt_lr_extras {
    int64_t warmup;       /* W > 0: multiply by min(1, (k + 1) / W) for update k = 0, 1, ... */
    bool cosine;          /* anneal: lr_min + (rate - lr_min) * (1 + cos(pi * min(k, T) / T)) / 2 */
    int64_t cosine_steps; /* T; 0 = max_steps */
    double lr_min;        /* eta_min, default 0 */
} vkt_lr_extras;

/* Effective rate of update k (0-based, counted from the start of training, not of a resume)
 * given the scheduled rate. With no extras this is `scheduled`. Warmup multiplies the annealed
 * rate; k beyond T stays at lr_min (torch would climb back up the cosine). */
double vkt_lr_effective(const vkt_lr_extras *x, double scheduled, int64_t k, int64_t max_steps);

/* Checks extras: warmup >= 0, cosine_steps >= 0, lr_min finite and >= 0. */
vkt_status vkt_lr_extras_check(const vkt_lr_extras *x, vkt_err *err);

#endif
