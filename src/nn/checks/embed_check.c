/* Checks for the embedding gather: forward with and without learned-vector overrides, both
 * backward ops in both grad modes, repeated ids and repeated vector placements, invalid ids, the
 * two-range table split (f32 and f16, odd D) and its "too large" error; f32 and f16; reference
 * backward vs central differences. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "nn/checks/checkutil.h"
#include "nn/ops/embed.h"
#include "nn/ref/embed_ref.h"

typedef struct ecase {
    int64_t B, T, V, D, J; /* J = 0: no overrides */
    uint64_t limit, limit_bwd; /* per-binding byte limits for the table / dtable split (0: device) */
} ecase;

typedef struct fd_user {
    const int32_t *ids, *src;
    size_t P;
    int64_t V, J, D;
    const double *table, *vectors;
    bool wrt_table;
} fd_user;

static void fd_fwd(void *u, const double *x, double *y)
{
    fd_user *f = u;
    vkt_ref_embed_fwd(f->ids, f->src, f->P, f->wrt_table ? x : f->table, f->V, f->wrt_table ? f->vectors : x, f->J,
                      f->D, y);
}

static double max_abs(const double *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

static vkt_status one_case(vkt_check_ctx *ctx, const ecase *c, vkt_dtype dt, vkt_err *err)
{
    vkt_status st = VKT_OK;
    size_t P = (size_t)(c->B * c->T), D = (size_t)c->D, V = (size_t)c->V, J = (size_t)c->J;
    size_t ny = P * D, nt = V * D, nv = (J ? J : 1) * D, nmax = ny > nt ? ny : nt;
    char desc[96], var[64];
    snprintf(desc, sizeof desc, "ids[%lld,%lld] table[%lld,%lld] J=%lld%s", (long long)c->B, (long long)c->T,
             (long long)c->V, (long long)c->D, (long long)c->J, c->limit ? " split" : "");
    int32_t *ids = vkt_malloc(P * 4), *src = vkt_malloc(P * 4);
    float *htab = vkt_malloc(nt * 4), *hvec = vkt_malloc(nv * 4), *hdy = vkt_malloc(ny * 4),
          *hacc_t = vkt_malloc(nt * 4), *hacc_v = vkt_malloc(nv * 4), *got = vkt_malloc(nmax * 4);
    double *dtab = NULL, *dvec = NULL, *ddy = NULL, *want = vkt_malloc(nmax * 8), *gt = vkt_malloc(nt * 8),
           *gv = vkt_malloc(nv * 8), *st_abs = vkt_malloc(nt * 8), *sv_abs = vkt_malloc(nv * 8);
    vkt_tensor tids = {0}, tsrc = {0}, ttab = {0}, tvec = {0}, ty = {0}, tdy = {0}, tdt = {0}, tdv = {0};
    if (!ids || !src || !htab || !hvec || !hdy || !hacc_t || !hacc_v || !got || !want || !gt || !gv || !st_abs ||
        !sv_abs) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "embed check");
        goto done;
    }
    uint64_t rng = ctx->seed ^ (P * 7919u + V * 31u + D);
    /* Ids: first half from a small set (repeats), the rest spread over the table; one id past the
     * end, one negative (zero rows, no gradient) and the last row when P allows. Overrides: vector 0 twice,
     * the others once, at positions that also hold repeated ids. */
    for (size_t p = 0; p < P; p++) {
        uint64_t r = vkt_rng_next(&rng);
        ids[p] = (int32_t)(p < P / 2 ? r % 5 : r % V);
        src[p] = -1;
    }
    if (P > 12) {
        ids[P - 1] = (int32_t)V;
        ids[P - 2] = -3;
        ids[P - 3] = (int32_t)V - 1; /* the last row: in the Hi range when split */
    }
    if (J) {
        src[1] = 0;
        src[P / 2 + 1] = 0;
        for (size_t j = 1; j < J; j++) src[(2 + 3 * j) % P] = (int32_t)j;
    }
    vkt_rng_fill(&rng, htab, nt, -1.0, 1.0);
    vkt_rng_fill(&rng, hvec, nv, -1.0, 1.0);
    vkt_rng_fill(&rng, hdy, ny, -1.0, 1.0);
    vkt_rng_fill(&rng, hacc_t, nt, -1.0, 1.0);
    vkt_rng_fill(&rng, hacc_v, nv, -1.0, 1.0);
    if (dt == VKT_F16) { vkt_round_f16(htab, nt); vkt_round_f16(hdy, ny); }
    dtab = vkt_to_double(htab, nt);
    dvec = vkt_to_double(hvec, nv);
    ddy = vkt_to_double(hdy, ny);
    if (!dtab || !dvec || !ddy) { st = vkt_fail(err, VKT_ERR_NOMEM, "embed check"); goto done; }

    const int64_t pos_shape[2] = {c->B, c->T}, y_shape[3] = {c->B, c->T, c->D}, t_shape[2] = {c->V, c->D},
                  v_shape[2] = {J ? c->J : 1, c->D};
    if ((st = ck_tensor_i32(ctx, 2, pos_shape, ids, "ids", &tids, err))) goto done;
    if ((st = ck_tensor_i32(ctx, 2, pos_shape, src, "src", &tsrc, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 2, t_shape, htab, "table", &ttab, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 2, v_shape, hvec, "vectors", &tvec, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 3, y_shape, NULL, "y", &ty, err))) goto done;
    if ((st = vkt_check_tensor(ctx, dt, 3, y_shape, hdy, "dy", &tdy, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 2, t_shape, hacc_t, "dtable", &tdt, err))) goto done;
    if ((st = vkt_check_tensor(ctx, VKT_F32, 2, v_shape, hacc_v, "dvectors", &tdv, err))) goto done;

    const vkt_tensor *psrc = J ? &tsrc : NULL, *pvec = J ? &tvec : NULL;
    const int32_t *rsrc = J ? src : NULL;
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_embed_fwd_limit(ctx->step, &tids, &ttab, psrc, pvec, &ty, c->limit, err))) goto done;
    if ((st = vkt_op_embed_bwd_table_limit(ctx->step, &tids, psrc, &tdy, &tdt, VKT_GRAD_ACCUMULATE, c->limit_bwd, err)))
        goto done;
    if (J && (st = vkt_op_embed_bwd_vectors(ctx->step, &tsrc, &tdy, &tdv, VKT_GRAD_ACCUMULATE, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;

    /* Forward is a copy: bit-exact in f32; in f16 the f32 vectors are rounded on store
     * (CK_F16_STORE_*). */
    vkt_ref_embed_fwd(ids, rsrc, P, dtab, c->V, dvec, c->J, c->D, want);
    if ((st = vkt_tensor_download_f32(ctx->dev, &ty, got, err))) goto done;
    vkt_check_compare(ctx, "embed", vkt_variant_name(var, sizeof var, "embed", "fwd", dt), "fwd", desc, got, want,
                      ny, dt == VKT_F16 ? CK_F16_STORE_ABS : 1e-30, dt == VKT_F16 ? CK_F16_STORE_REL : 0);

    /* Backward: f32 sums of at most P terms in a sequential loop (plus the accumulated value):
     * ck_sum_bound(P + 1, largest sum of |terms|). */
    vkt_ref_embed_bwd(ids, rsrc, P, c->V, c->J, c->D, ddy, gt, J ? gv : NULL);
    {
        double *ady = vkt_malloc(ny * 8);
        if (!ady) { st = vkt_fail(err, VKT_ERR_NOMEM, "embed check"); goto done; }
        for (size_t i = 0; i < ny; i++) ady[i] = fabs(ddy[i]);
        vkt_ref_embed_bwd(ids, rsrc, P, c->V, c->J, c->D, ady, st_abs, J ? sv_abs : NULL);
        free(ady);
    }
    double atol_t = ck_sum_bound((double)P + 1, max_abs(st_abs, nt) + 1.0);
    double atol_v = ck_sum_bound((double)P + 1, (J ? max_abs(sv_abs, nv) : 0) + 1.0);
    snprintf(var, sizeof var, "embed_bwd_%s_table", vkt_dtype_name(dt));
    for (size_t i = 0; i < nt; i++) want[i] = gt[i] + hacc_t[i];
    if ((st = vkt_tensor_download_f32(ctx->dev, &tdt, got, err))) goto done;
    vkt_check_compare(ctx, "embed", var, "bwd:dtable+=", desc, got, want, nt, atol_t, 0);
    if (J) {
        snprintf(var, sizeof var, "embed_bwd_%s_vectors", vkt_dtype_name(dt));
        for (size_t i = 0; i < nv; i++) want[i] = gv[i] + hacc_v[i];
        if ((st = vkt_tensor_download_f32(ctx->dev, &tdv, got, err))) goto done;
        vkt_check_compare(ctx, "embed", var, "bwd:dvec+=", desc, got, want, nv, atol_v, 0);
    }

    /* Overwrite mode on the same buffers (dtable: rows that no id hits must become 0). */
    if ((st = vkt_step_begin(ctx->step, err))) goto done;
    if ((st = vkt_op_embed_bwd_table_limit(ctx->step, &tids, psrc, &tdy, &tdt, VKT_GRAD_OVERWRITE, c->limit_bwd, err)))
        goto done;
    if (J && (st = vkt_op_embed_bwd_vectors(ctx->step, &tsrc, &tdy, &tdv, VKT_GRAD_OVERWRITE, err))) goto done;
    if ((st = vkt_step_run(ctx->step, err))) goto done;
    snprintf(var, sizeof var, "embed_bwd_%s_table", vkt_dtype_name(dt));
    if ((st = vkt_tensor_download_f32(ctx->dev, &tdt, got, err))) goto done;
    vkt_check_compare(ctx, "embed", var, "bwd:dtable", desc, got, gt, nt, atol_t, 0);
    if (J) {
        snprintf(var, sizeof var, "embed_bwd_%s_vectors", vkt_dtype_name(dt));
        if ((st = vkt_tensor_download_f32(ctx->dev, &tdv, got, err))) goto done;
        vkt_check_compare(ctx, "embed", var, "bwd:dvec", desc, got, gv, nv, atol_v, 0);
    }

    if (!ctx->no_fd && dt == VKT_F32) {
        /* Linear in table and vectors: central differences exact up to double rounding. */
        fd_user u = {ids, rsrc, P, c->V, c->J, c->D, dtab, dvec, true};
        vkt_check_fd(ctx, "embed", "fd:dtable", desc, fd_fwd, &u, dtab, nt, ny, ddy, gt, 1e-3, 1e-9, 1e-9, 64);
        if (J) {
            u.wrt_table = false;
            vkt_check_fd(ctx, "embed", "fd:dvec", desc, fd_fwd, &u, dvec, nv, ny, ddy, gv, 1e-3, 1e-9, 1e-9, 64);
        }
    }
done:
    vkt_tensor_free(ctx->dev, &tids);
    vkt_tensor_free(ctx->dev, &tsrc);
    vkt_tensor_free(ctx->dev, &ttab);
    vkt_tensor_free(ctx->dev, &tvec);
    vkt_tensor_free(ctx->dev, &ty);
    vkt_tensor_free(ctx->dev, &tdy);
    vkt_tensor_free(ctx->dev, &tdt);
    vkt_tensor_free(ctx->dev, &tdv);
    free(ids); free(src); free(htab); free(hvec); free(hdy); free(hacc_t); free(hacc_v); free(got);
    free(dtab); free(dvec); free(ddy); free(want); free(gt); free(gv); free(st_abs); free(sv_abs);
    return st;
}

/* A table that needs three bindings under the limit must fail with VKT_ERR_UNSUPPORTED. */
static vkt_status too_large_case(vkt_check_ctx *ctx, vkt_err *err)
{
    const int64_t ts[2] = {150, 13}, ps[2] = {1, 2}, ys[3] = {1, 2, 13};
    const int32_t ids[2] = {0, 149};
    vkt_tensor tids = {0}, ttab = {0}, ty = {0};
    vkt_status st = ck_tensor_i32(ctx, 2, ps, ids, "ids", &tids, err);
    if (!st) st = vkt_check_tensor(ctx, VKT_F32, 2, ts, NULL, "table", &ttab, err);
    if (!st) st = vkt_check_tensor(ctx, VKT_F32, 3, ys, NULL, "y", &ty, err);
    if (!st) st = vkt_step_begin(ctx->step, err);
    if (!st) {
        vkt_err e2 = {0};
        vkt_status got_st = vkt_op_embed_fwd_limit(ctx->step, &tids, &ttab, NULL, NULL, &ty, 2000, &e2);
        float got = got_st == VKT_ERR_UNSUPPORTED && strstr(e2.msg, "f16") ? 0.0f : 1.0f;
        double want = 0;
        vkt_check_compare(ctx, "embed", "embed_fwd_f32", "error:range", "table[150,13] limit 2000", &got, &want, 1,
                          0.5, 0);
        st = vkt_step_run(ctx->step, err);
    }
    vkt_tensor_free(ctx->dev, &tids);
    vkt_tensor_free(ctx->dev, &ttab);
    vkt_tensor_free(ctx->dev, &ty);
    return st;
}

vkt_status vkt_opcheck_embed(vkt_check_ctx *ctx, vkt_err *err)
{
    static const ecase cases[] = {
        {3, 7, 37, 13, 3, 0, 0}, /* overrides, repeats, invalid ids */
        {2, 5, 11, 7, 0, 0, 0},  /* plain lookup */
        /* f32 table / dtable rows of 52 B: split at row 64 (an f16 table fits one binding) */
        {2, 9, 150, 13, 2, 4500, 4500},
        /* f16 table rows of 26 B: split at row 128; f32 dtable split at row 128 under 9000 B
         * (the f32 forward would need three bindings: skipped) */
        {2, 9, 300, 13, 2, 4500, 9000},
    };
    vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    for (int d = 0; d < 2; d++) {
        if (!vkt_step_dtype_ok(ctx->step, dts[d])) continue;
        int nc = ctx->quick ? 2 : (int)(sizeof cases / sizeof *cases);
        for (int i = 0; i < nc; i++) {
            if (i == 3 && dts[d] == VKT_F32) continue;
            vkt_status st = one_case(ctx, &cases[i], dts[d], err);
            if (st) return st;
        }
    }
    return too_large_case(ctx, err);
}
