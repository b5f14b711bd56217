/* Check bookkeeping, comparisons and finite differences. */
#include "nn/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"

const vkt_op_entry *vkt_op_table_find(const char *family)
{
    for (const vkt_op_entry *e = vkt_op_table; e->family; e++)
        if (strcmp(e->family, family) == 0) return e;
    return NULL;
}

void vkt_checklist_fini(vkt_checklist *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

uint32_t vkt_checklist_failures(const vkt_checklist *l)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < l->n; i++) n += !l->v[i].pass;
    return n;
}

uint64_t vkt_rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double vkt_rng_uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * (double)(vkt_rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

void vkt_rng_fill(uint64_t *s, float *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)vkt_rng_uniform(s, lo, hi);
}

void vkt_round_f16(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = vkt_f16_to_f32(vkt_f32_to_f16(x[i]));
}

double *vkt_to_double(const float *x, size_t n)
{
    double *d = vkt_malloc((n ? n : 1) * sizeof *d);
    if (d)
        for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static vkt_check_result *push(vkt_check_ctx *ctx)
{
    vkt_checklist *l = ctx->list;
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 64;
        vkt_check_result *nv = vkt_realloc(l->v, cap * sizeof *nv);
        if (!nv) return NULL;
        l->v = nv;
        l->cap = cap;
    }
    vkt_check_result *r = &l->v[l->n++];
    memset(r, 0, sizeof *r);
    return r;
}

static void fill_names(vkt_check_result *r, const char *op, const char *variant, const char *what, const char *shape)
{
    snprintf(r->op, sizeof r->op, "%s", op);
    snprintf(r->variant, sizeof r->variant, "%s", variant);
    snprintf(r->what, sizeof r->what, "%s", what);
    snprintf(r->shape, sizeof r->shape, "%s", shape);
}

void vkt_check_compare(vkt_check_ctx *ctx, const char *op, const char *variant, const char *what, const char *shape,
                       const float *got, const double *want, size_t n, double atol, double rtol)
{
    vkt_check_result *r = push(ctx);
    if (!r) return;
    fill_names(r, op, variant, what, shape);
    double max_abs = 0, score = 0;
    bool finite = true;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!isfinite(got[i]) || !isfinite(d)) finite = false;
        if (d > max_abs) max_abs = d;
        double s = d / (atol + rtol * fabs(want[i]));
        if (s > score) score = s;
    }
    r->max_abs = finite ? max_abs : INFINITY;
    r->score = finite ? score : INFINITY;
    r->pass = finite && score <= 1.0;
}

void vkt_check_compare_mag(vkt_check_ctx *ctx, const char *op, const char *variant, const char *what,
                           const char *shape, const float *got, const double *want, const double *mag, size_t n,
                           double atol, double rtol, double mtol)
{
    vkt_check_result *r = push(ctx);
    if (!r) return;
    fill_names(r, op, variant, what, shape);
    double max_abs = 0, score = 0;
    bool finite = true;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]), tol = atol + rtol * fabs(want[i]) + mtol * mag[i];
        if (!isfinite(got[i]) || !isfinite(d)) finite = false;
        if (d > max_abs) max_abs = d;
        double s = tol > 0 ? d / tol : d > 0 ? INFINITY : 0;
        if (s > score) score = s;
    }
    r->max_abs = finite ? max_abs : INFINITY;
    r->score = finite ? score : INFINITY;
    r->pass = finite && score <= 1.0;
}

void vkt_check_fd(vkt_check_ctx *ctx, const char *op, const char *what, const char *shape, vkt_fd_fn f, void *user,
                  double *x, size_t nx, size_t ny, const double *dy, const double *dx, double eps, double atol,
                  double rtol, int max_probes)
{
    vkt_check_result *r = push(ctx);
    if (!r) return;
    fill_names(r, op, "ref", what, shape);
    double *y = vkt_malloc((ny ? ny : 1) * sizeof *y);
    if (!y) {
        r->score = INFINITY;
        return;
    }
    size_t stride = nx > (size_t)max_probes ? nx / (size_t)max_probes : 1;
    double max_abs = 0, score = 0;
    for (size_t i = 0; i < nx; i += stride) {
        double keep = x[i], lp = 0, lm = 0;
        x[i] = keep + eps;
        f(user, x, y);
        for (size_t j = 0; j < ny; j++) lp += y[j] * dy[j];
        x[i] = keep - eps;
        f(user, x, y);
        for (size_t j = 0; j < ny; j++) lm += y[j] * dy[j];
        x[i] = keep;
        double num = (lp - lm) / (2 * eps), d = fabs(num - dx[i]);
        if (d > max_abs) max_abs = d;
        double s = d / (atol + rtol * fabs(num));
        if (s > score || !isfinite(s)) score = isfinite(s) ? s : INFINITY;
    }
    free(y);
    r->max_abs = max_abs;
    r->score = score;
    r->pass = score <= 1.0;
}

vkt_status vkt_check_tensor(vkt_check_ctx *ctx, vkt_dtype dt, int ndim, const int64_t *shape, const float *host,
                            const char *what, vkt_tensor *out, vkt_err *err)
{
    vkt_tensor t;
    vkt_status st = vkt_tensor_alloc(ctx->dev, dt, ndim, shape, what, &t, err);
    if (st) return st;
    st = host ? vkt_tensor_upload_f32(ctx->dev, &t, host, err) : vkt_tensor_zero(ctx->dev, &t, err);
    if (st) {
        vkt_tensor_free(ctx->dev, &t);
        return st;
    }
    *out = t;
    return VKT_OK;
}
