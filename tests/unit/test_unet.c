/* UNet blocks and the whole UNet on the tiny model (generated in memory, seed 0) against the
 * golden data of tests/reference/make_golden.py, fp32 and (where the device stores f16) fp16.
 *
 *   test_unet resblock|st|unet|plan
 *
 * Error measure (spec eval-case.md): max |got - ref| / max |ref| per tensor; tolerances: fp32
 * forward 1e-4, gradients 1e-3; fp16 storage 1e-2 / 3e-2. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "io/safetensors.h"
#include "io/torch_file.h"
#include "models/schedule.h"
#include "models/tiny_model.h"
#include "models/unet.h"
#include "models/unet_blocks.h"
#include "nn/ops/act.h"
#include "nn/ops/binary.h"
#include "nn/ops/cast.h"
#include "nn/ops/layernorm.h"
#include "nn/ops/loss.h"
#include "nn/ops/matmul.h"
#include "testkit.h"
#include "tiny_fixture.h"

#define TOL_FWD_F32 1e-4
#define TOL_GRAD_F32 1e-3
#define TOL_FWD_F16 1e-2
#define TOL_GRAD_F16 3e-2

typedef tk_tiny env;

/* A change to one tensor of the generated model, for the loader's error paths. */
typedef struct mutation {
    const char *key; /* full key; NULL: none */
    enum { MUT_DROP = 1, MUT_FLATTEN, MUT_DIM1 } op;
    int64_t v; /* MUT_DIM1: the new shape[1] */
} mutation;

/* tk_tiny_edit_fn applying mutation user to its tensor. */
static bool mutate(vkt_gen_tensor *t, void *user)
{
    const mutation *m = user;
    if (m && m->key && !strcmp(m->key, t->key)) {
        if (m->op == MUT_DROP) return false;
        if (m->op == MUT_FLATTEN) t->ndim = 2; /* [C, C, 1, 1] -> [C, C] */
        if (m->op == MUT_DIM1) t->shape[1] = m->v;
    }
    return true;
}

/* Compares step tensor t (after the step ran) with golden `name`: max|d| / max|ref| <= tol. */
static void compare(env *e, const char *what, const vkt_tensor *t, const char *name, double tol)
{
    vkt_err err = {0};
    size_t n = 0;
    float *ref = tk_st_f32(e->gold, name, &n, &err);
    vkt_tensor r = vkt_step_resolve(e->step, t);
    float *got = vkt_malloc(n * sizeof *got);
    TK_CHECK(ref && got && (size_t)vkt_tensor_numel(&r) == n, "%s: %s: %s", what, name, err.msg);
    if (!ref || !got || (size_t)vkt_tensor_numel(&r) != n) goto done;
    TK_CHECK(vkt_tensor_download_f32(e->dev, &r, got, &err) == VKT_OK, "%s: download: %s", what, err.msg);
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= md)) md = d; /* NaN propagates */
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    double rel = md / (mr > 0 ? mr : 1);
    printf("  %-28s %-14s err %.3e (tol %.0e)\n", what, name, rel, tol);
    TK_CHECK(rel <= tol, "%s: %s error %.3e > %.0e", what, name, rel, tol);
done:
    free(ref);
    free(got);
}

static void free_all(env *e, vkt_tensor *ts, int n)
{
    for (int i = 0; i < n; i++)
        if (ts[i].buf) vkt_tensor_free(e->dev, &ts[i]);
}

/* The end of a block case: keeps the block's output y, its grad_x dx and the gradient d of its second
 * input, runs the step recorded so far (when st is VKT_OK) and compares them with the golden file's
 * out, grad_x and dname. Returns the run's status. */
static vkt_status run_block_case(env *e, const char *file, const char *prefix, bool f16, vkt_status st,
                                 vkt_tensor *y, vkt_tensor *dx, vkt_tensor *d, const char *dname, vkt_err *err)
{
    if (!st) st = vkt_step_keep(e->step, y, err);
    if (!st) st = vkt_step_keep(e->step, dx, err);
    if (!st) st = vkt_step_keep(e->step, d, err);
    if (!st) st = vkt_step_run(e->step, err);
    TK_CHECK(st == VKT_OK, "%s: %s", file, err->msg);
    if (!st) {
        char what[64];
        snprintf(what, sizeof what, "%s %s", prefix, f16 ? "fp16" : "fp32");
        compare(e, what, y, "out", f16 ? TOL_FWD_F16 : TOL_FWD_F32);
        compare(e, what, dx, "grad_x", f16 ? TOL_GRAD_F16 : TOL_GRAD_F32);
        compare(e, what, d, dname, f16 ? TOL_GRAD_F16 : TOL_GRAD_F32);
    }
    return st;
}

/* ------------------------------------------------------------------------------------------ */

/* One ResBlock golden: out, grad_x, grad_emb for the file's x, emb, grad_out. */
static void resblock_case(const char *file, const char *prefix, vkt_dtype dt)
{
    env e;
    vkt_err err = {0};
    vkt_weights *w = NULL;
    vkt_tensor in[3] = {{0}}; /* x, emb, grad_out */
    const bool f16 = dt == VKT_F16;
    vkt_status st = tk_tiny_init(&e, true, file, &err);
    if (!st && f16 && !vkt_step_dtype_ok(e.step, VKT_F16)) {
        printf("%s: no f16 storage on this device, fp16 case skipped\n", file);
        goto done;
    }
    vkt_unet_res r;
    if (!st) st = vkt_weights_create(e.dev, dt, &w, &err);
    if (!st) st = vkt_unet_res_load(w, &e.src, prefix, -1, 128, &r, &err);
    if (!st) st = tk_st_upload(e.dev, e.gold, "x", dt, &in[0], &err);
    if (!st) st = tk_st_upload(e.dev, e.gold, "emb", dt, &in[1], &err);
    if (!st) st = tk_st_upload(e.dev, e.gold, "grad_out", dt, &in[2], &err);
    vkt_tensor ea, y, dx, dea, demb;
    vkt_unet_res_saved sv;
    if (!st) st = vkt_step_begin_planned(e.step, &err);
    if (!st) st = vkt_unet_tmp(e.step, dt, 2, in[1].shape, "emb act", &ea, &err);
    if (!st) st = vkt_op_act_fwd(e.step, VKT_ACT_SILU, 0, &in[1], &ea, &err);
    if (!st) st = vkt_unet_res_fwd(e.step, &r, &in[0], &ea, &y, &sv, &err);
    if (!st) st = vkt_unet_tmp(e.step, dt, 4, in[0].shape, "dx", &dx, &err);
    if (!st) st = vkt_unet_tmp(e.step, dt, 2, in[1].shape, "d emb act", &dea, &err);
    if (!st) st = vkt_unet_tmp(e.step, dt, 2, in[1].shape, "d emb", &demb, &err);
    if (!st) st = vkt_unet_res_bwd(e.step, &r, &sv, &in[2], &dx, VKT_GRAD_OVERWRITE, &dea, VKT_GRAD_OVERWRITE, &err);
    if (!st) st = vkt_op_act_bwd(e.step, VKT_ACT_SILU, 0, &in[1], &dea, &demb, VKT_GRAD_OVERWRITE, &err);
    run_block_case(&e, file, prefix, f16, st, &y, &dx, &demb, "grad_emb", &err);
done:
    free_all(&e, in, 3);
    vkt_weights_destroy(w);
    tk_tiny_fini(&e);
}

static void test_resblock(void)
{
    for (int f16 = 0; f16 < 2; f16++) {
        vkt_dtype dt = f16 ? VKT_F16 : VKT_F32;
        resblock_case("block_unet_resblock.safetensors", "input_blocks.3.0.", dt);
        resblock_case("block_unet_resblock_out1.safetensors", "output_blocks.1.0.", dt);
    }
}


/* ------------------------------------------------------------------------------------------ */
/* A test hypernetwork on the k/v hook: the webui's residual MLP m(c) = c + MLP(c) (spec §6), read
 * from a webui .pt (tests/golden/hn_ln.pt: linear / hardswish / LayerNorm layers), with input
 * gradients chained through the hook and its own parameter gradients accumulated, to show that
 * the hook gives a hypernetwork everything its training needs. */

#define HN_MAX_LAYERS 16
#define HN_MAX_APPLY 32

typedef struct hn_layer {
    int kind; /* 0 linear, 1 activation, 2 LayerNorm */
    int idx;  /* the `linear.<idx>` index */
    vkt_tensor w, b, dw, db;
} hn_layer;

typedef struct hn_module {
    int64_t dim;
    int n;
    hn_layer l[HN_MAX_LAYERS];
} hn_module;

typedef struct hn_saved { /* one module application */
    const hn_module *mod;
    vkt_tensor in[HN_MAX_LAYERS], m[HN_MAX_LAYERS], r[HN_MAX_LAYERS];
} hn_saved;

typedef struct test_hn {
    vkt_device *dev;
    vkt_dtype dt;
    vkt_act act;
    int n_sizes;
    hn_module mods[2][2]; /* [size][0: k, 1: v] */
    hn_saved saved[HN_MAX_APPLY][2];
    int n_calls_fwd, n_calls_bwd;
} test_hn;

static vkt_status upload_td(vkt_device *dev, vkt_dtype dt, const vkt_tensor_data *td, const char *what,
                            vkt_tensor *out, vkt_err *err)
{
    int64_t shape[VKT_MAX_DIMS];
    for (int i = 0; i < td->ndim; i++) shape[i] = td->shape[i];
    float *v = vkt_malloc(vkt_tensor_data_numel(td) * sizeof *v);
    if (!v) return vkt_fail(err, VKT_ERR_NOMEM, "%s", what);
    vkt_status st = vkt_tensor_data_to_f32(td, v, err);
    if (!st) st = vkt_tensor_alloc(dev, dt, td->ndim, shape, what, out, err);
    if (!st) st = vkt_tensor_upload_f32(dev, out, v, err);
    free(v);
    return st;
}

static vkt_status test_hn_load(test_hn *h, vkt_device *dev, vkt_dtype dt, const char *path, vkt_err *err)
{
    memset(h, 0, sizeof *h);
    h->dev = dev;
    h->dt = dt;
    vkt_torch *t = NULL;
    vkt_status st = vkt_torch_open(path, 0, &t, err);
    if (st) return st;
    const vkt_py *root = vkt_torch_root(t);
    const int64_t sizes[2] = {128, 64};
    const char *act = vkt_py_str(vkt_py_get(root, "activation_func"));
    if (act && !strcmp(act, "relu")) h->act = VKT_ACT_RELU;
    else if (act && (!strcmp(act, "swish") || !strcmp(act, "hardswish"))) h->act = VKT_ACT_HARDSWISH; /* webui quirk */
    else st = vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: activation %s not in the test hypernetwork", path, act ? act : "?");
    for (int si = 0; si < 2 && !st; si++) {
        const vkt_py *pair = vkt_py_get_int(root, sizes[si]);
        if (vkt_py_len(pair) != 2) {
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: no module pair for size %lld", path, (long long)sizes[si]);
            break;
        }
        for (int j = 0; j < 2 && !st; j++) {
            const vkt_py *sd = vkt_py_item(pair, (size_t)j);
            hn_module *m = &h->mods[si][j];
            m->dim = sizes[si];
            int max_idx = -1;
            for (size_t e = 0; e < vkt_py_len(sd); e++) {
                int idx;
                const char *k = vkt_py_str(vkt_py_key(sd, e));
                if (k && sscanf(k, "linear.%d.", &idx) == 1 && idx > max_idx) max_idx = idx;
            }
            for (int idx = 0; idx <= max_idx && idx < HN_MAX_LAYERS && !st; idx++) {
                char kw[64], kb[64];
                snprintf(kw, sizeof kw, "linear.%d.weight", idx);
                snprintf(kb, sizeof kb, "linear.%d.bias", idx);
                const vkt_tensor_data *w = vkt_py_tensor(vkt_py_get(sd, kw)), *b = vkt_py_tensor(vkt_py_get(sd, kb));
                hn_layer *l = &m->l[m->n++];
                l->idx = idx;
                if (!w) {
                    l->kind = 1;
                    continue;
                }
                l->kind = w->ndim == 2 ? 0 : 2;
                st = upload_td(dev, dt, w, kw, &l->w, err);
                if (!st) st = upload_td(dev, dt, b, kb, &l->b, err);
                if (!st) st = vkt_tensor_alloc(dev, dt, l->w.ndim, l->w.shape, "dw", &l->dw, err);
                if (!st) st = vkt_tensor_alloc(dev, dt, 1, l->b.shape, "db", &l->db, err);
                if (!st) st = vkt_tensor_zero(dev, &l->dw, err);
                if (!st) st = vkt_tensor_zero(dev, &l->db, err);
            }
        }
    }
    h->n_sizes = 2;
    vkt_torch_close(t);
    return st;
}

static void test_hn_free(test_hn *h)
{
    for (int si = 0; si < 2; si++)
        for (int j = 0; j < 2; j++)
            for (int i = 0; i < h->mods[si][j].n; i++) {
                hn_layer *l = &h->mods[si][j].l[i];
                if (l->kind == 1) continue;
                vkt_tensor *ts[4] = {&l->w, &l->b, &l->dw, &l->db};
                for (int k = 0; k < 4; k++)
                    if (ts[k]->buf) vkt_tensor_free(h->dev, ts[k]);
            }
}

/* y = c + MLP(c), saving each layer's input (and LayerNorm statistics). */
static vkt_status hn_module_fwd(vkt_step *s, vkt_act act, const hn_module *m, const vkt_tensor *c, vkt_tensor *y,
                                hn_saved *sv, vkt_err *err)
{
    vkt_tensor h = *c;
    vkt_status st = VKT_OK;
    sv->mod = m;
    for (int i = 0; i < m->n && !st; i++) {
        const hn_layer *l = &m->l[i];
        vkt_tensor out;
        int64_t sh[3] = {h.shape[0], h.shape[1], l->kind == 0 ? l->w.shape[0] : h.shape[2]};
        sv->in[i] = h;
        st = vkt_unet_tmp(s, h.dtype, 3, sh, "hn layer", &out, err);
        if (st) break;
        if (l->kind == 0) {
            st = vkt_op_linear_fwd(s, &h, &l->w, &l->b, &out, err);
        } else if (l->kind == 1) {
            st = vkt_op_act_fwd(s, act, 0.0f, &h, &out, err);
        } else {
            st = vkt_unet_tmp(s, VKT_F32, 2, sh, "hn ln mean", &sv->m[i], err);
            if (!st) st = vkt_unet_tmp(s, VKT_F32, 2, sh, "hn ln rstd", &sv->r[i], err);
            if (!st) st = vkt_op_layernorm_fwd(s, &h, &l->w, &l->b, 1e-5f, &out, &sv->m[i], &sv->r[i], err);
        }
        h = out;
    }
    if (!st) st = vkt_unet_tmp(s, c->dtype, 3, c->shape, "hn out", y, err);
    if (!st) st = vkt_op_add_fwd(s, c, &h, y, err);
    return st;
}

/* dc += d/dc of the module for upstream dy; parameter gradients accumulate. */
static vkt_status hn_module_bwd(vkt_step *s, vkt_act act, const hn_saved *sv, const vkt_tensor *dy, vkt_tensor *dc,
                                vkt_err *err)
{
    const hn_module *m = sv->mod;
    vkt_tensor dh = *dy;
    vkt_status st = VKT_OK;
    for (int i = m->n - 1; i >= 0 && !st; i--) {
        const hn_layer *l = &m->l[i];
        vkt_tensor dprev;
        st = vkt_unet_tmp(s, dy->dtype, 3, sv->in[i].shape, "d hn layer", &dprev, err);
        if (st) break;
        if (l->kind == 0)
            st = vkt_op_linear_bwd(s, &sv->in[i], &l->w, &dh, &dprev, VKT_GRAD_OVERWRITE, (vkt_tensor *)&l->dw,
                                   (vkt_tensor *)&l->db, VKT_GRAD_ACCUMULATE, err);
        else if (l->kind == 1)
            st = vkt_op_act_bwd(s, act, 0.0f, &sv->in[i], &dh, &dprev, VKT_GRAD_OVERWRITE, err);
        else
            st = vkt_op_layernorm_bwd(s, &sv->in[i], &l->w, &sv->m[i], &sv->r[i], &dh, &dprev, VKT_GRAD_OVERWRITE,
                                      (vkt_tensor *)&l->dw, (vkt_tensor *)&l->db, VKT_GRAD_ACCUMULATE, err);
        dh = dprev;
    }
    if (!st) st = vkt_op_axpy(s, 1.0f, &dh, 1.0f, dc, err);
    if (!st) st = vkt_op_axpy(s, 1.0f, dy, 1.0f, dc, err);
    return st;
}

/* The modules run in f32 whatever the UNet's dtype (spec §6: vktrain computes them in fp32). */
static vkt_status hn_fwd(void *user, vkt_step *s, const vkt_unet_attn_info *a, const vkt_tensor *c, vkt_tensor *ck,
                         vkt_tensor *cv, vkt_err *err)
{
    test_hn *h = user;
    h->n_calls_fwd++;
    for (int si = 0; si < h->n_sizes; si++) {
        if (h->mods[si][0].dim != a->dim) continue;
        if (a->index >= HN_MAX_APPLY) return vkt_fail(err, VKT_ERR_UNSUPPORTED, "test hn: attention %d", a->index);
        vkt_tensor c32 = *c, k32, v32;
        vkt_status st = VKT_OK;
        if (c->dtype != VKT_F32) {
            st = vkt_unet_tmp(s, VKT_F32, 3, c->shape, "hn in f32", &c32, err);
            if (!st) st = vkt_op_cast(s, c, &c32, err);
        }
        if (!st) st = hn_module_fwd(s, h->act, &h->mods[si][0], &c32, &k32, &h->saved[a->index][0], err);
        if (!st) st = hn_module_fwd(s, h->act, &h->mods[si][1], &c32, &v32, &h->saved[a->index][1], err);
        if (!st && c->dtype != VKT_F32) {
            st = vkt_unet_tmp(s, c->dtype, 3, c->shape, "hn c_k", ck, err);
            if (!st) st = vkt_op_cast(s, &k32, ck, err);
            if (!st) st = vkt_unet_tmp(s, c->dtype, 3, c->shape, "hn c_v", cv, err);
            if (!st) st = vkt_op_cast(s, &v32, cv, err);
        } else if (!st) {
            *ck = k32;
            *cv = v32;
        }
        return st;
    }
    *ck = *cv = *c; /* no module of this size: unchanged */
    return VKT_OK;
}

static vkt_status hn_bwd(void *user, vkt_step *s, const vkt_unet_attn_info *a, const vkt_tensor *dck,
                         const vkt_tensor *dcv, vkt_tensor *dc, vkt_err *err)
{
    test_hn *h = user;
    h->n_calls_bwd++;
    vkt_tensor dk32 = *dck, dv32 = *dcv, dc32;
    vkt_status st = vkt_unet_tmp(s, VKT_F32, 3, dck->shape, "hn dc f32", &dc32, err);
    if (!st) st = vkt_unet_zero(s, &dc32, err);
    if (!st && dck->dtype != VKT_F32) {
        st = vkt_unet_tmp(s, VKT_F32, 3, dck->shape, "hn dck f32", &dk32, err);
        if (!st) st = vkt_op_cast(s, dck, &dk32, err);
        if (!st) st = vkt_unet_tmp(s, VKT_F32, 3, dcv->shape, "hn dcv f32", &dv32, err);
        if (!st) st = vkt_op_cast(s, dcv, &dv32, err);
    }
    if (!st) st = hn_module_bwd(s, h->act, &h->saved[a->index][0], &dk32, &dc32, err);
    if (!st) st = hn_module_bwd(s, h->act, &h->saved[a->index][1], &dv32, &dc32, err);
    if (!st && dc && dc->dtype != VKT_F32) { /* dc += dc32 in dc's dtype */
        vkt_tensor t;
        st = vkt_unet_tmp(s, dc->dtype, 3, dc->shape, "hn dc", &t, err);
        if (!st) st = vkt_op_cast(s, &dc32, &t, err);
        if (!st) st = vkt_op_axpy(s, 1.0f, &t, 1.0f, dc, err);
    } else if (!st && dc) {
        st = vkt_op_axpy(s, 1.0f, &dc32, 1.0f, dc, err);
    }
    return st;
}

/* Compares every grad_hn.* of the golden file with the hook's accumulated parameter gradients.
 * Tensors listed in vktrain.zero_in_exact_arithmetic are compared against the largest max|ref|
 * of the family (eval-case.md: absolute tolerance for gradients that are rounding noise). */
static void test_hn_compare(env *e, test_hn *h, double scale, double tol)
{
    const char *zero = vkt_safetensors_meta(e->gold, "vktrain.zero_in_exact_arithmetic");
    double fam = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int si = 0; si < 2; si++)
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < h->mods[si][j].n; i++) {
                    hn_layer *l = &h->mods[si][j].l[i];
                    if (l->kind == 1) continue;
                    for (int wb = 0; wb < 2; wb++) {
                        char name[96];
                        snprintf(name, sizeof name, "grad_hn.%lld.%d.linear.%d.%s", (long long)h->mods[si][j].dim, j,
                                 l->idx, wb ? "bias" : "weight");
                        vkt_err err = {0};
                        size_t k = 0;
                        float *ref = tk_st_f32(e->gold, name, &k, &err);
                        float *got = vkt_malloc((k ? k : 1) * sizeof *got);
                        const vkt_tensor *t = wb ? &l->db : &l->dw;
                        TK_CHECK(ref && got && (size_t)vkt_tensor_numel(t) == k, "%s: %s", name, err.msg);
                        if (ref && got && (size_t)vkt_tensor_numel(t) == k &&
                            vkt_tensor_download_f32(e->dev, t, got, &err) == VKT_OK) {
                            double md = 0, mr = 0;
                            for (size_t q = 0; q < k; q++) {
                                double d = fabs((double)got[q] / scale - ref[q]);
                                if (!(d <= md)) md = d;
                                if (fabs(ref[q]) > mr) mr = fabs(ref[q]);
                            }
                            if (pass == 0) {
                                if (mr > fam) fam = mr;
                            } else {
                                bool z = zero && strstr(zero, name);
                                double rel = md / (z ? fam : (mr > 0 ? mr : 1));
                                TK_CHECK(rel <= tol, "%s error %.3e > %.0e%s", name, rel, tol, z ? " (abs/family)" : "");
                                if (z) printf("  %-40s err %.3e of the family's max (zero in exact arithmetic)\n", name, rel);
                                else printf("  %-40s err %.3e (tol %.0e)\n", name, rel, tol);
                            }
                        }
                        free(ref);
                        free(got);
                    }
                }
}

/* One SpatialTransformer golden: out, grad_x, grad_context for the file's x, context, grad_out. */
static void st_case(const char *file, const char *prefix, vkt_dtype dt, bool with_hn)
{
    test_hn *hn = NULL;
    vkt_unet_kv_hook hk = {hn_fwd, hn_bwd, NULL}, *hook = NULL;
    env e;
    vkt_err err = {0};
    vkt_weights *w = NULL;
    vkt_tensor in[3] = {{0}}; /* x, context, grad_out */
    const bool f16 = dt == VKT_F16;
    vkt_status st = tk_tiny_init(&e, true, file, &err);
    if (!st && f16 && !vkt_step_dtype_ok(e.step, VKT_F16)) {
        printf("%s: no f16 storage on this device, fp16 case skipped\n", file);
        goto done;
    }
    vkt_unet_st *t = vkt_calloc(1, sizeof *t);
    int idx = 0;
    if (!t) st = vkt_fail(&err, VKT_ERR_NOMEM, "st");
    if (!st) st = vkt_weights_create(e.dev, dt, &w, &err);
    if (!st) st = vkt_unet_st_load(w, &e.src, prefix, -1, -1, 4, &idx, t, &err);
    if (!st) TK_CHECK(idx == 2 && t->depth == 1 && t->ctx == 128 && t->c == 64, "st dims: %d attentions, depth %d",
                      idx, t->depth);
    if (!st && with_hn) {
        if (!(hn = vkt_calloc(1, sizeof *hn))) st = vkt_fail(&err, VKT_ERR_NOMEM, "hn");
        if (!st) st = test_hn_load(hn, e.dev, VKT_F32, tk_src("tests/golden/hn_ln.pt"), &err);
        hk.user = hn;
        hook = &hk;
    }
    if (!st) st = tk_st_upload(e.dev, e.gold, "x", dt, &in[0], &err);
    if (!st) st = tk_st_upload(e.dev, e.gold, "context", dt, &in[1], &err);
    if (!st) st = tk_st_upload(e.dev, e.gold, "grad_out", dt, &in[2], &err);
    vkt_tensor y, dx, dc;
    vkt_unet_st_saved *sv = vkt_calloc(1, sizeof *sv);
    if (!st && !sv) st = vkt_fail(&err, VKT_ERR_NOMEM, "saved");
    if (!st) st = vkt_step_begin_planned(e.step, &err);
    if (!st) st = vkt_unet_st_fwd(e.step, t, &in[0], &in[1], hook, &y, sv, &err);
    if (!st) st = vkt_unet_tmp(e.step, dt, 4, in[0].shape, "dx", &dx, &err);
    if (!st) st = vkt_unet_tmp(e.step, dt, 3, in[1].shape, "d context", &dc, &err);
    if (!st) st = vkt_op_scale_fwd(e.step, &in[1], 0.0f, 0.0f, &dc, &err); /* zero: the backward accumulates */
    if (!st) st = vkt_unet_st_bwd(e.step, t, sv, hook, &in[2], &dx, VKT_GRAD_OVERWRITE, &dc, &err);
    st = run_block_case(&e, file, prefix, f16, st, &y, &dx, &dc, "grad_context", &err);
    if (!st && hn) {
        TK_CHECK(hn->n_calls_fwd == 2 && hn->n_calls_bwd == 2, "hook calls: %d fwd, %d bwd", hn->n_calls_fwd,
                 hn->n_calls_bwd);
        test_hn_compare(&e, hn, 1.0, f16 ? TOL_GRAD_F16 : TOL_GRAD_F32);
    }
    if (hn) test_hn_free(hn);
    free(hn);
    free(sv);
    free(t);
done:
    free_all(&e, in, 3);
    vkt_weights_destroy(w);
    tk_tiny_fini(&e);
}

static void test_st(void)
{
    st_case("block_unet_st.safetensors", "input_blocks.3.1.", VKT_F32, false);
    st_case("block_unet_st.safetensors", "input_blocks.3.1.", VKT_F16, false);
    st_case("block_unet_st_hn.safetensors", "input_blocks.3.1.", VKT_F32, true);
    st_case("block_unet_st_hn.safetensors", "input_blocks.3.1.", VKT_F16, true);
}

/* ------------------------------------------------------------------------------------------ */
/* The whole UNet on an eval case with a given context (eval-case.md): x_noisy from the schedule,
 * eps = unet(x_noisy, t, context), loss = mean_b mean (eps - noise)^2, d loss / d context. */

static vkt_status load_unet(env *e, vkt_dtype dt, vkt_unet **u, vkt_err *err)
{
    return vkt_unet_load(e->dev, &e->src, dt,
                         vkt_unet_heads_from_meta(vkt_safetensors_meta(e->model, "vktrain.unet_heads")), u, err);
}

static void unet_case(const char *name, const char *hn_file, vkt_dtype dt)
{
    env e;
    vkt_err err = {0};
    vkt_unet *u = NULL;
    vkt_tensor in[4] = {{0}}; /* x_noisy, t, context, noise */
    test_hn *hn = NULL;
    vkt_unet_kv_hook hk = {hn_fwd, hn_bwd, NULL}, *hook = NULL;
    float *lat = NULL, *noise = NULL;
    int32_t tt[64];
    const bool f16 = dt == VKT_F16;
    char file[128];
    snprintf(file, sizeof file, "%s.case.safetensors", name);
    vkt_status st = tk_tiny_init(&e, true, file, &err);
    if (!st && f16 && !vkt_step_dtype_ok(e.step, VKT_F16)) {
        printf("%s: no f16 storage on this device, fp16 case skipped\n", name);
        tk_tiny_fini(&e);
        return;
    }
    if (!st) st = load_unet(&e, dt, &u, &err);
    if (!st && hn_file) {
        if (!(hn = vkt_calloc(1, sizeof *hn))) st = vkt_fail(&err, VKT_ERR_NOMEM, "hn");
        char rel[128];
        snprintf(rel, sizeof rel, "tests/golden/%s", hn_file);
        if (!st) st = test_hn_load(hn, e.dev, VKT_F32, tk_src(rel), &err);
        hk.user = hn;
        hook = &hk;
    }
    /* x_noisy = sqrt(abar_t) latent + sqrt(1 - abar_t) noise with the float32 tables (spec §5) */
    size_t n = 0, nn = 0;
    const vkt_tensor_data *tl = vkt_safetensors_find(e.gold, "latent"), *tt_d = vkt_safetensors_find(e.gold, "timestep");
    if (!st && (!tl || !tt_d || tt_d->ndim != 1 || tt_d->shape[0] > 64))
        st = vkt_fail(&err, VKT_ERR_FORMAT, "%s: latent/timestep", file);
    if (!st && !(lat = tk_st_f32(e.gold, "latent", &n, &err))) st = err.code;
    if (!st && !(noise = tk_st_f32(e.gold, "noise", &nn, &err))) st = err.code;
    if (!st) {
        vkt_schedule sch;
        vkt_schedule_init(&sch, 0.00085, 0.012);
        const int64_t B = tl->shape[0], per = (int64_t)n / B;
        for (int64_t b = 0; b < B; b++) {
            tt[b] = (int32_t)vkt_tensor_data_get(tt_d, (size_t)b);
            double a = (float)sqrt(sch.alphas_cumprod[tt[b]]), c = (float)sqrt(1.0 - sch.alphas_cumprod[tt[b]]);
            for (int64_t i = 0; i < per; i++)
                lat[b * per + i] = (float)(a * lat[b * per + i] + c * noise[b * per + i]);
        }
        int64_t shape[4] = {tl->shape[0], tl->shape[1], tl->shape[2], tl->shape[3]};
        st = vkt_tensor_alloc(e.dev, dt, 4, shape, "x_noisy", &in[0], &err);
        if (!st) st = vkt_tensor_upload_f32(e.dev, &in[0], lat, &err);
        if (!st) st = vkt_tensor_alloc(e.dev, VKT_I32, 1, &shape[0], "t", &in[1], &err);
        if (!st) st = vkt_buffer_upload(e.dev, in[1].buf, 0, tt, (size_t)B * 4, &err);
        if (!st) st = vkt_tensor_alloc(e.dev, VKT_F32, 4, shape, "noise", &in[3], &err);
        if (!st) st = vkt_tensor_upload_f32(e.dev, &in[3], noise, &err);
    }
    if (!st) st = tk_st_upload(e.dev, e.gold, "context", dt, &in[2], &err);
    vkt_tensor eps, ps, loss, deps, dc;
    vkt_unet_saved *sv = NULL;
    if (!st) st = vkt_step_begin_planned(e.step, &err);
    vkt_tensor eps16, deps32;
    if (!st) st = vkt_unet_fwd(u, e.step, &in[0], &in[1], &in[2], hook, &eps, &sv, &err);
    if (!st && f16) { /* the loss runs in f32 */
        eps16 = eps;
        st = vkt_unet_tmp(e.step, VKT_F32, 4, eps.shape, "eps f32", &eps, &err);
        if (!st) st = vkt_op_cast(e.step, &eps16, &eps, &err);
    }
    if (!st) st = vkt_unet_tmp(e.step, VKT_F32, 1, in[1].shape, "per sample", &ps, &err);
    if (!st) st = vkt_unet_tmp(e.step, VKT_F32, 1, (int64_t[]){1}, "loss", &loss, &err);
    if (!st) st = vkt_op_mse_fwd(e.step, &eps, &in[3], NULL, &ps, &loss, &err);
    if (!st) st = vkt_unet_tmp(e.step, VKT_F32, 4, eps.shape, "d eps f32", &deps32, &err);
    /* fp16: loss scaling (unet.h), undone on the f32 context gradient and the hook's gradients */
    const float S = f16 ? VKT_UNET_F16_LOSS_SCALE : 1.0f;
    if (!st) st = vkt_op_mse_bwd(e.step, &eps, &in[3], NULL, S, &deps32, VKT_GRAD_OVERWRITE, &err);
    if (!st) st = vkt_unet_tmp(e.step, dt, 4, eps.shape, "d eps", &deps, &err);
    if (!st) st = vkt_op_cast(e.step, &deps32, &deps, &err);
    if (!st) st = vkt_unet_tmp(e.step, dt, 3, in[2].shape, "d context", &dc, &err);
    if (!st) st = vkt_unet_bwd(u, e.step, sv, &deps, &dc, VKT_GRAD_OVERWRITE, &err);
    if (!st && f16) {
        vkt_tensor d32;
        st = vkt_unet_tmp(e.step, VKT_F32, 3, dc.shape, "d context f32", &d32, &err);
        if (!st) st = vkt_op_cast(e.step, &dc, &d32, &err);
        if (!st) st = vkt_op_scale_fwd(e.step, &d32, 1.0f / S, 0.0f, &d32, &err);
        dc = d32;
    }
    vkt_unet_saved_destroy(sv);
    if (!st) st = vkt_step_keep(e.step, &eps, &err);
    if (!st) st = vkt_step_keep(e.step, &loss, &err);
    if (!st) st = vkt_step_keep(e.step, &dc, &err);
    if (!st) st = vkt_step_end(e.step, &err);
    if (!st) {
        printf("  %s %s: step peak %.2f MiB, naive %.2f MiB, weights %.2f MiB\n", name, f16 ? "fp16" : "fp32",
               vkt_step_peak_bytes(e.step) / 1048576.0, vkt_step_naive_bytes(e.step) / 1048576.0,
               vkt_unet_weight_bytes(u) / 1048576.0);
        st = vkt_step_submit(e.step, &err);
    }
    TK_CHECK(st == VKT_OK, "%s: %s", name, err.msg);
    if (!st) {
        char ref[128], what[64];
        snprintf(ref, sizeof ref, "tests/golden/%s.ref.safetensors", name);
        vkt_safetensors_close(e.gold);
        e.gold = NULL;
        st = vkt_safetensors_open(tk_src(ref), &e.gold, &err);
        TK_CHECK(st == VKT_OK, "%s", err.msg);
        snprintf(what, sizeof what, "%s %s", name, f16 ? "fp16" : "fp32");
        if (!st) {
            compare(&e, what, &eps, "unet_out", f16 ? TOL_FWD_F16 : TOL_FWD_F32);
            compare(&e, what, &loss, "loss", f16 ? TOL_FWD_F16 : TOL_FWD_F32);
            compare(&e, what, &dc, "grad_context", f16 ? TOL_GRAD_F16 : TOL_GRAD_F32);
            if (hn) test_hn_compare(&e, hn, S, f16 ? TOL_GRAD_F16 : TOL_GRAD_F32);
        }
    }
    if (hn) test_hn_free(hn);
    free(hn);
    free(lat);
    free(noise);
    free_all(&e, in, 4);
    vkt_unet_destroy(u);
    tk_tiny_fini(&e);
}

static void test_unet(void)
{
    unet_case("unet_ctx_8x16", NULL, VKT_F32);
    unet_case("hn_ln", "hn_ln.pt", VKT_F32);
    unet_case("hn_relu", "hn_relu.pt", VKT_F32);
    unet_case("unet_ctx_8x16", NULL, VKT_F16);
    unet_case("hn_ln", "hn_ln.pt", VKT_F16);
}

/* ------------------------------------------------------------------------------------------ */
/* Memory plan of one UNet training step (forward, MSE loss, backward to the context), measured
 * with vkt_step_end_dry (nothing allocated, nothing submitted):
 *
 *   test_unet plan                                  the tiny model (generated), 8x8 latent, B=2
 *   test_unet plan MODEL.safetensors H W B fp16|fp32 any SD1 file, e.g. make-tiny-model --sd15
 */
static void test_plan(int argc, char **argv)
{
    env e;
    vkt_err err = {0};
    vkt_unet *u = NULL;
    vkt_safetensors *file = NULL;
    int64_t H = 8, W = 8, B = 2, T = 77;
    vkt_dtype dt = VKT_F32;
    vkt_status st;
    if (argc >= 3) {
        memset(&e, 0, sizeof e);
        st = vkt_device_create(&(vkt_device_opts){.validation = -1}, &e.dev, &err);
        if (!st) st = vkt_step_create(e.dev, &e.step, &err);
        if (!st) st = vkt_safetensors_open(argv[2], &file, &err);
        if (!st) {
            e.model = file;
            e.src = vkt_weight_source_safetensors(file, "model.diffusion_model.", argv[2]);
        }
        if (argc >= 6) {
            H = atoll(argv[3]);
            W = atoll(argv[4]);
            B = atoll(argv[5]);
        }
        if (argc >= 7 && !strcmp(argv[6], "fp16")) dt = VKT_F16;
    } else {
        st = tk_tiny_init(&e, true, NULL, &err);
    }
    if (!st) st = load_unet(&e, dt, &u, &err);
    vkt_tensor x = {0}, t = {0}, ctx = {0}, noise = {0};
    if (!st) st = vkt_tensor_alloc(e.dev, dt, 4, (int64_t[]){B, 4, H, W}, "x", &x, &err);
    if (!st) st = vkt_tensor_alloc(e.dev, VKT_I32, 1, &B, "t", &t, &err);
    if (!st) st = vkt_tensor_alloc(e.dev, dt, 3, (int64_t[]){B, T, vkt_unet_get_config(u)->ctx}, "ctx", &ctx, &err);
    if (!st) st = vkt_tensor_alloc(e.dev, VKT_F32, 4, (int64_t[]){B, 4, H, W}, "noise", &noise, &err);
    vkt_tensor eps, e32, ps, loss, d32, deps, dc;
    vkt_unet_saved *sv = NULL;
    if (!st) st = vkt_step_begin_planned(e.step, &err);
    if (!st) st = vkt_unet_fwd(u, e.step, &x, &t, &ctx, NULL, &eps, &sv, &err);
    if (!st) st = vkt_unet_tmp(e.step, VKT_F32, 4, eps.shape, "eps f32", &e32, &err);
    if (!st) st = vkt_op_cast(e.step, &eps, &e32, &err);
    if (!st) st = vkt_unet_tmp(e.step, VKT_F32, 1, &B, "per sample", &ps, &err);
    if (!st) st = vkt_unet_tmp(e.step, VKT_F32, 1, (int64_t[]){1}, "loss", &loss, &err);
    if (!st) st = vkt_op_mse_fwd(e.step, &e32, &noise, NULL, &ps, &loss, &err);
    if (!st) st = vkt_unet_tmp(e.step, VKT_F32, 4, eps.shape, "d eps f32", &d32, &err);
    if (!st) st = vkt_op_mse_bwd(e.step, &e32, &noise, NULL, 1.0f, &d32, VKT_GRAD_OVERWRITE, &err);
    if (!st) st = vkt_unet_tmp(e.step, dt, 4, eps.shape, "d eps", &deps, &err);
    if (!st) st = vkt_op_cast(e.step, &d32, &deps, &err);
    if (!st) st = vkt_unet_tmp(e.step, dt, 3, ctx.shape, "d context", &dc, &err);
    if (!st) st = vkt_unet_bwd(u, e.step, sv, &deps, &dc, VKT_GRAD_OVERWRITE, &err);
    vkt_unet_saved_destroy(sv);
    if (!st) st = vkt_step_keep(e.step, &loss, &err);
    if (!st) st = vkt_step_keep(e.step, &dc, &err);
    uint32_t n_rec = vkt_cmd_n_records(e.step->cmd);
    if (!st) st = vkt_step_end_dry(e.step, &err);
    TK_CHECK(st == VKT_OK, "plan: %s", err.msg);
    if (!st) {
        uint64_t peak = vkt_step_peak_bytes(e.step), naive = vkt_step_naive_bytes(e.step);
        const vkt_unet_config *c = vkt_unet_get_config(u);
        printf("UNet mc %lld, %d levels, %d attentions, %s weights %.1f MiB\n", (long long)c->mc, c->n_levels,
               c->n_attn, vkt_dtype_name(dt), vkt_unet_weight_bytes(u) / 1048576.0);
        printf("step [B=%lld, 4, %lld, %lld], T=%lld: planned peak %.1f MiB, naive %.1f MiB (%.1fx), dispatches %u\n",
               (long long)B, (long long)H, (long long)W, (long long)T, peak / 1048576.0, naive / 1048576.0,
               peak ? (double)naive / peak : 0, n_rec);
        TK_CHECK(peak > 0 && peak < naive, "peak %llu, naive %llu", (unsigned long long)peak, (unsigned long long)naive);
    }
    vkt_tensor ts[4] = {x, t, ctx, noise};
    free_all(&e, ts, 4);
    vkt_unet_destroy(u);
    tk_tiny_fini(&e);
}

/* ------------------------------------------------------------------------------------------ */
/* Loading: the tiny model's dims from its shapes, and the loader's refusals. */

static void load_fails(const mutation *m, vkt_status want, const char *needle)
{
    env e;
    vkt_err err = {0};
    vkt_unet *u = NULL;
    vkt_status st = tk_tiny_init(&e, false, NULL, &err);
    if (!st) st = tk_tiny_unet(&e, mutate, (void *)m, &err);
    TK_CHECK(st == VKT_OK, "make model: %s", err.msg);
    if (!st) {
        st = vkt_unet_load(e.dev, &e.src, VKT_F32, 4, &u, &err);
        TK_CHECK(st == want && strstr(err.msg, needle), "%s: status %d (want %d), \"%s\" lacks \"%s\"", m->key, st,
                 want, err.msg, needle);
        printf("  %-60s -> %s\n", m->key, err.msg);
    }
    vkt_unet_destroy(u);
    tk_tiny_fini(&e);
}

static void test_load(void)
{
    env e;
    vkt_err err = {0};
    vkt_unet *u = NULL;
    vkt_status st = tk_tiny_init(&e, true, NULL, &err);
    if (!st) st = vkt_unet_load(e.dev, &e.src, VKT_F32,
                                vkt_unet_heads_from_meta(vkt_safetensors_meta(e.model, "vktrain.unet_heads")), &u, &err);
    TK_CHECK(st == VKT_OK, "load: %s", err.msg);
    if (!st) {
        /* sd1-architecture.md §8: the TINY UNet */
        const vkt_unet_config *c = vkt_unet_get_config(u);
        TK_CHECK(c->mc == 32 && c->in_ch == 4 && c->out_ch == 4 && c->temb == 128 && c->ctx == 128, "dims");
        TK_CHECK(c->n_levels == 2 && c->mults[0] == 1 && c->mults[1] == 2 && c->res_blocks == 1, "levels");
        TK_CHECK(!c->attn[0] && c->attn[1] && c->depth == 1 && c->heads == 4, "attention levels, depth, heads");
        TK_CHECK(c->n_input == 4 && c->n_output == 4 && c->n_st == 4 && c->n_attn == 8, "blocks %d/%d, %d ST, %d attn",
                 c->n_input, c->n_output, c->n_st, c->n_attn);
        const char *a0 = vkt_unet_attn_name(u, 0), *a7 = vkt_unet_attn_name(u, 7);
        TK_CHECK(a0 && !strcmp(a0, "input_blocks.3.1.transformer_blocks.0.attn1"), "attention 0: %s", a0 ? a0 : "-");
        TK_CHECK(a7 && !strcmp(a7, "output_blocks.1.1.transformer_blocks.0.attn2"), "attention 7: %s", a7 ? a7 : "-");
        TK_CHECK(vkt_unet_attn_name(u, 8) == NULL, "attention 8");
        TK_CHECK(vkt_unet_weight_bytes(u) > 4000000, "weight bytes");
    }
    TK_CHECK(vkt_unet_heads_from_meta(NULL) == 8 && vkt_unet_heads_from_meta("4") == 4 &&
                 vkt_unet_heads_from_meta("4x") == 8 && vkt_unet_heads_from_meta("0") == 8, "heads from metadata");
    /* forward argument checks */
    vkt_tensor x = {0}, t = {0}, ctx = {0}, eps;
    if (!st) st = vkt_tensor_alloc(e.dev, VKT_F32, 4, (int64_t[]){1, 4, 7, 8}, "x", &x, &err);
    if (!st) st = vkt_tensor_alloc(e.dev, VKT_I32, 1, (int64_t[]){1}, "t", &t, &err);
    if (!st) st = vkt_tensor_alloc(e.dev, VKT_F32, 3, (int64_t[]){1, 77, 96}, "ctx", &ctx, &err);
    if (!st) st = vkt_step_begin_planned(e.step, &err);
    if (!st) {
        vkt_status r = vkt_unet_fwd(u, e.step, &x, &t, &ctx, NULL, &eps, NULL, &err);
        TK_CHECK(r == VKT_ERR_SHAPE && strstr(err.msg, "divisible by 2"), "odd latent: %s", err.msg);
        x.shape[2] = 8;
        r = vkt_unet_fwd(u, e.step, &x, &t, &ctx, NULL, &eps, NULL, &err);
        TK_CHECK(r == VKT_ERR_SHAPE && strstr(err.msg, "context"), "context width: %s", err.msg);
        st = vkt_step_end_dry(e.step, &err);
    }
    vkt_tensor ts[3] = {x, t, ctx};
    free_all(&e, ts, 3);
    vkt_unet_destroy(u);
    tk_tiny_fini(&e);

    const mutation drop = {"model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_v.weight", MUT_DROP, 0};
    load_fails(&drop, VKT_ERR_FORMAT, "middle_block.1.transformer_blocks.0.attn2.to_v.weight\" is missing");
    const mutation cin = {"model.diffusion_model.output_blocks.1.0.in_layers.2.weight", MUT_DIM1, 95};
    load_fails(&cin, VKT_ERR_FORMAT, "expected float [*,96,3,3]");
    const mutation lin = {"model.diffusion_model.input_blocks.3.1.proj_in.weight", MUT_FLATTEN, 0};
    load_fails(&lin, VKT_ERR_UNSUPPORTED, "linear");
    const mutation inp = {"model.diffusion_model.input_blocks.0.0.weight", MUT_DIM1, 9};
    load_fails(&inp, VKT_ERR_UNSUPPORTED, "inpainting");
}

/* A context of T = 154 made of the T = 77 context twice gives the same eps (every key and value
 * appears twice, so each softmax weight halves and the sum is unchanged), and each copy gets
 * half of the T = 77 context gradient. Checks any-T attention and the context gradient's sum
 * without golden data. */
static void test_context_t(void)
{
    env e;
    vkt_err err = {0};
    vkt_unet *u = NULL;
    vkt_tensor in[5] = {{0}}; /* x, t, ctx77, ctx154, noise */
    vkt_status st = tk_tiny_init(&e, true, "unet_ctx_8x16.case.safetensors", &err);
    if (!st) st = load_unet(&e, VKT_F32, &u, &err);
    float *c = NULL, *c2 = NULL;
    size_t n = 0;
    if (!st && !(c = tk_st_f32(e.gold, "context", &n, &err))) st = err.code;
    if (!st && !(c2 = vkt_malloc(2 * n * sizeof *c2))) st = vkt_fail(&err, VKT_ERR_NOMEM, "ctx");
    if (!st) {
        for (int b = 0; b < 2; b++)
            for (int r = 0; r < 2; r++) memcpy(c2 + (size_t)(2 * b + r) * (n / 2), c + (size_t)b * (n / 2), n / 2 * 4);
        st = tk_st_upload(e.dev, e.gold, "latent", VKT_F32, &in[0], &err);
    }
    int32_t tt[2] = {999, 250};
    if (!st) st = vkt_tensor_alloc(e.dev, VKT_I32, 1, (int64_t[]){2}, "t", &in[1], &err);
    if (!st) st = vkt_buffer_upload(e.dev, in[1].buf, 0, tt, sizeof tt, &err);
    if (!st) st = tk_st_upload(e.dev, e.gold, "context", VKT_F32, &in[2], &err);
    if (!st) st = vkt_tensor_alloc(e.dev, VKT_F32, 3, (int64_t[]){2, 154, 128}, "ctx154", &in[3], &err);
    if (!st) st = vkt_tensor_upload_f32(e.dev, &in[3], c2, &err);
    if (!st) st = tk_st_upload(e.dev, e.gold, "noise", VKT_F32, &in[4], &err);
    vkt_tensor eps[2], dc[2];
    for (int k = 0; k < 2 && !st; k++) { /* two UNet passes in one step */
        vkt_tensor ps, loss, deps;
        vkt_unet_saved *sv = NULL;
        if (k == 0) st = vkt_step_begin_planned(e.step, &err);
        if (!st) st = vkt_unet_fwd(u, e.step, &in[0], &in[1], &in[2 + k], NULL, &eps[k], &sv, &err);
        if (!st) st = vkt_unet_tmp(e.step, VKT_F32, 1, (int64_t[]){2}, "ps", &ps, &err);
        if (!st) st = vkt_unet_tmp(e.step, VKT_F32, 1, (int64_t[]){1}, "loss", &loss, &err);
        if (!st) st = vkt_op_mse_fwd(e.step, &eps[k], &in[4], NULL, &ps, &loss, &err);
        if (!st) st = vkt_unet_tmp(e.step, VKT_F32, 4, eps[k].shape, "deps", &deps, &err);
        if (!st) st = vkt_op_mse_bwd(e.step, &eps[k], &in[4], NULL, 1.0f, &deps, VKT_GRAD_OVERWRITE, &err);
        if (!st) st = vkt_unet_tmp(e.step, VKT_F32, 3, in[2 + k].shape, "dc", &dc[k], &err);
        if (!st) st = vkt_unet_bwd(u, e.step, sv, &deps, &dc[k], VKT_GRAD_OVERWRITE, &err);
        vkt_unet_saved_destroy(sv);
        if (!st) st = vkt_step_keep(e.step, &eps[k], &err);
        if (!st) st = vkt_step_keep(e.step, &dc[k], &err);
    }
    if (!st) st = vkt_step_run(e.step, &err);
    TK_CHECK(st == VKT_OK, "T=154: %s", err.msg);
    if (!st) {
        size_t ne = (size_t)vkt_tensor_numel(&eps[0]);
        float *a = vkt_malloc(ne * 4), *b = vkt_malloc(ne * 4), *g1 = vkt_malloc(n * 4), *g2 = vkt_malloc(2 * n * 4);
        vkt_tensor r;
        r = vkt_step_resolve(e.step, &eps[0]);
        vkt_tensor_download_f32(e.dev, &r, a, &err);
        r = vkt_step_resolve(e.step, &eps[1]);
        vkt_tensor_download_f32(e.dev, &r, b, &err);
        r = vkt_step_resolve(e.step, &dc[0]);
        vkt_tensor_download_f32(e.dev, &r, g1, &err);
        r = vkt_step_resolve(e.step, &dc[1]);
        vkt_tensor_download_f32(e.dev, &r, g2, &err);
        double me = 0, mr = 0, mg = 0, gr = 0;
        for (size_t i = 0; i < ne; i++) {
            me = fmax(me, fabs((double)a[i] - b[i]));
            mr = fmax(mr, fabs(a[i]));
        }
        for (int bb = 0; bb < 2; bb++)
            for (size_t i = 0; i < n / 2; i++) {
                double g = g1[(size_t)bb * (n / 2) + i];
                for (int rr = 0; rr < 2; rr++)
                    mg = fmax(mg, fabs(2.0 * g2[(size_t)(2 * bb + rr) * (n / 2) + i] - g));
                gr = fmax(gr, fabs(g));
            }
        /* the same float computation but for the order of the softmax sums: float32 rounding */
        printf("  T=154 duplicate context: eps diff %.3e, 2*grad diff %.3e of max|ref|\n", me / mr, mg / gr);
        TK_CHECK(me / mr <= 1e-5 && mg / gr <= 1e-4, "eps %.3e, grad %.3e", me / mr, mg / gr);
        free(a);
        free(b);
        free(g1);
        free(g2);
    }
    free(c);
    free(c2);
    free_all(&e, in, 5);
    vkt_unet_destroy(u);
    tk_tiny_fini(&e);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_unet resblock|st|unet|load|context|plan [MODEL H W B fp16|fp32]\n");
        return 2;
    }
    if (!strcmp(argv[1], "resblock")) test_resblock();
    else if (!strcmp(argv[1], "st")) test_st();
    else if (!strcmp(argv[1], "unet")) test_unet();
    else if (!strcmp(argv[1], "plan")) test_plan(argc, argv);
    else if (!strcmp(argv[1], "load")) test_load();
    else if (!strcmp(argv[1], "context")) test_context_t();
    else {
        fprintf(stderr, "test_unet: unknown test %s\n", argv[1]);
        return 2;
    }
    return tk_finish(argv[1]);
}
