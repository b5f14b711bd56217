/* Op checks shared by `vktrain selftest` and the unit tests: random inputs, comparison of GPU
 * results with the double-precision CPU references, and central finite differences of the
 * references. Each op family has one check function (src/nn/checks/<family>_check.c) that the
 * generated op table lists.
 *
 *   vkt_check_ctx ctx = {.dev = dev, .step = step, .list = &list, .seed = 1};
 *   vkt_op_table_find("act")->run(&ctx, &err);
 *   for each list.v[i]: op, variant, what, shape, err, pass
 */
#ifndef VKT_NN_CHECK_H
#define VKT_NN_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "nn/step.h"

typedef struct vkt_check_result {
    char op[32];       /* family, e.g. "groupnorm" */
    char variant[64];  /* shader variant or "ref" for finite-difference checks */
    char what[32];     /* "fwd", "bwd:dx", "fd:dgamma" ... */
    char shape[96];    /* human-readable case description */
    double max_abs;    /* max |got - want| */
    double score;      /* max |got - want| / (atol + rtol*|want|); pass when <= 1 */
    bool pass;
} vkt_check_result;

typedef struct vkt_checklist {
    vkt_check_result *v;
    uint32_t n, cap;
} vkt_checklist;

typedef struct vkt_check_ctx {
    vkt_device *dev;     /* borrowed */
    vkt_step *step;      /* borrowed; checks begin/run it as they need */
    vkt_checklist *list; /* results are appended here */
    uint64_t seed;
    bool quick;          /* selftest on a user's GPU: fewer cases */
    bool no_fd;          /* skip finite-difference checks (they test the reference, not the GPU) */
} vkt_check_ctx;

typedef struct vkt_op_entry {
    const char *family;
    vkt_status (*run)(vkt_check_ctx *ctx, vkt_err *err); /* non-OK only when a check cannot run */
} vkt_op_entry;

extern const vkt_op_entry vkt_op_table[]; /* generated from the files in src/nn/checks/; {0}-terminated */
const vkt_op_entry *vkt_op_table_find(const char *family);

void vkt_checklist_fini(vkt_checklist *l);
uint32_t vkt_checklist_failures(const vkt_checklist *l);

/* Deterministic random numbers (splitmix64). */
uint64_t vkt_rng_next(uint64_t *state);
double vkt_rng_uniform(uint64_t *state, double lo, double hi);
/* Fills x[n] uniformly in [lo, hi); when round_f16, each value is rounded to the nearest f16 so
 * that f16 and f32 variants see the same inputs. */
void vkt_rng_fill(uint64_t *state, float *x, size_t n, double lo, double hi);

/* Appends the result of comparing got[n] (GPU) with want[n] (reference). */
void vkt_check_compare(vkt_check_ctx *ctx, const char *op, const char *variant, const char *what,
                       const char *shape, const float *got, const double *want, size_t n, double atol,
                       double rtol);

/* Like vkt_check_compare, for results that are sums: element i passes when |got - want| <=
 * atol + rtol*|want[i]| + mtol*mag[i], where mag[i] is the sum of |terms| that make want[i] (the
 * scale of the rounding error of a float sum, which |want| alone understates after cancellation).
 * With a zero tolerance an element must match exactly. */
void vkt_check_compare_mag(vkt_check_ctx *ctx, const char *op, const char *variant, const char *what,
                           const char *shape, const float *got, const double *want, const double *mag, size_t n,
                           double atol, double rtol, double mtol);

/* Reference forward as a function of one input (the others live in user): y[ny] = f(x[nx]). */
typedef void (*vkt_fd_fn)(void *user, const double *x, double *y);
/* Checks dx_analytic (reference backward with upstream gradient dy) against central differences
 * of L(x) = sum(f(x) * dy) with step eps, on up to max_probes evenly spread elements of x. x is
 * modified during the check and restored. */
void vkt_check_fd(vkt_check_ctx *ctx, const char *op, const char *what, const char *shape, vkt_fd_fn f,
                  void *user, double *x, size_t nx, size_t ny, const double *dy, const double *dx_analytic,
                  double eps, double atol, double rtol, int max_probes);

/* Helpers for check functions: float <-> double copies, f16 rounding of host data. */
double *vkt_to_double(const float *x, size_t n);         /* malloc'd; NULL on OOM */
void vkt_round_f16(float *x, size_t n);
/* Allocates a device tensor and uploads host data (host may be NULL: zeroed). */
vkt_status vkt_check_tensor(vkt_check_ctx *ctx, vkt_dtype dt, int ndim, const int64_t *shape, const float *host,
                            const char *what, vkt_tensor *out, vkt_err *err);

#endif
