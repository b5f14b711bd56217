/* Hypernetworks (src/models/hypernetwork.h): files, the module MLP, the UNet hook and training.
 *
 *   test_hypernetwork files        webui .pt loading rules, defaults, errors, save/load, .optim
 *   test_hypernetwork module       module forward/backward vs torch (every activation) and vs a
 *                                  double reference (dropout, accumulate mode, multiplier)
 *   test_hypernetwork st           SpatialTransformer + hook vs block_unet_st_hn / _chain goldens
 *   test_hypernetwork train        AdamW updates on the tiny UNet lower a fixed-noise loss
 *   test_hypernetwork --write DIR  files for tests/reference/check_hn_load.py
 *
 * Error measure (eval-case.md): max |got - ref| / max |ref| per tensor. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fault.h"
#include "base/file.h"
#include "base/rng.h"
#include "io/pt_writer.h"
#include "io/safetensors.h"
#include "models/hypernetwork.h"
#include "models/schedule.h"
#include "models/tiny_model.h"
#include "models/unet.h"
#include "nn/ops/binary.h"
#include "nn/philox.h"
#include "nn/ref/act_ref.h"
#include "nn/ref/rng_ref.h"
#include "train/ti_step.h"
#include "testkit.h"
#include "tiny_fixture.h"

#define TOL_FWD_F32 1e-4
#define TOL_GRAD_F32 1e-3
#define TOL_FWD_F16 1e-2
#define TOL_GRAD_F16 3e-2

/* ------------------------------------------------------------------------------------------ */
/* shared helpers */

typedef tk_tiny env;

/* max |got - ref| / scale with scale = max |ref| (or the given one when > 0). */
static double rel_err(const float *got, const double *ref, size_t n, double scale)
{
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= md)) md = d; /* NaN propagates */
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    if (scale > 0) mr = scale;
    return md / (mr > 0 ? mr : 1);
}

static double *to_double(const float *f, size_t n)
{
    double *d = vkt_malloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; d && i < n; i++)
        d[i] = f[i];
    return d;
}

/* Downloads device tensor t (resolved through the step) as floats. */
static float *download(env *e, const vkt_tensor *t)
{
    vkt_tensor r = vkt_step_resolve(e->step, t);
    size_t n = (size_t)vkt_tensor_numel(&r);
    float *v = vkt_malloc((n ? n : 1) * sizeof *v);
    vkt_err err = {0};
    if (v && vkt_tensor_download_f32(e->dev, &r, v, &err)) {
        free(v);
        return NULL;
    }
    return v;
}

static vkt_hn_options base_options(const char *act, const double *ls, int n_ls, bool ln, bool ao)
{
    vkt_hn_options o;
    memset(&o, 0, sizeof o);
    o.n_layers = n_ls;
    for (int i = 0; i < n_ls; i++)
        o.layer_structure[i] = ls[i];
    snprintf(o.activation, sizeof o.activation, "%s", act);
    o.layer_norm = ln;
    o.activate_output = ao;
    snprintf(o.weight_init, sizeof o.weight_init, "Normal");
    vkt_hn_default_dropout(&o, false, false);
    return o;
}

/* The Create tab's hypernetwork (weight init by `init`). */
static vkt_hypernetwork *make_hn(const char *name, const int64_t *sizes, int n,
                                 const vkt_hn_options *o, const char *init, uint64_t seed)
{
    vkt_hn_create_opts c = {.name = name, .sizes = sizes, .n_sizes = n, .opt = *o, .seed = seed};
    if (init) snprintf(c.opt.weight_init, sizeof c.opt.weight_init, "%s", init);
    vkt_hypernetwork *hn = NULL;
    vkt_err err = {0};
    vkt_status st = vkt_hn_create(&c, &hn, &err);
    TK_CHECK(st == VKT_OK, "create %s: %s", name, err.msg);
    return hn;
}

/* ------------------------------------------------------------------------------------------ */
/* files */

static const char *tmp_path(const char *dir, const char *name)
{
    static char buf[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* A state dict of a module from key/shape pairs filled with a pattern. */
static vkt_pt_val *sd_of(vkt_pt *b, const char *const *keys, const int64_t (*shapes)[2],
                         const int *ndims, int n, float *store)
{
    vkt_pt_val *d = vkt_pt_ordered_dict(b);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        int64_t numel = ndims[i] == 2 ? shapes[i][0] * shapes[i][1] : shapes[i][0];
        for (int64_t k = 0; k < numel; k++)
            store[off + (size_t)k] = (float)((off + (size_t)k) % 13) * 0.125f - 0.5f;
        vkt_pt_set_str(b, d, keys[i],
                       vkt_pt_tensor(b, VKT_IO_F32, ndims[i], shapes[i], store + off, false));
        off += (size_t)numel;
    }
    return d;
}

static void test_files(void)
{
    vkt_err err = {0};
    vkt_hypernetwork *hn = NULL;
    const char *dir = tk_tmpdir("hn_files");

    /* the goldens written by torch.save from real torch.nn modules */
    vkt_status st = vkt_hn_load(tk_src("tests/golden/hn_ln.pt"), &hn, &err);
    TK_CHECK(st == VKT_OK, "hn_ln.pt: %s", err.msg);
    if (!st) {
        TK_CHECK(hn->n_sizes == 2 && hn->sizes[0].dim == 128 && hn->sizes[1].dim == 64,
                 "hn_ln sizes");
        TK_CHECK(!strcmp(hn->opt.activation, "swish") && hn->opt.layer_norm &&
                     hn->opt.activate_output && hn->opt.n_layers == 4 &&
                     hn->opt.layer_structure[2] == 0.25 && !hn->opt.use_dropout,
                 "hn_ln options");
        const vkt_hn_module *m = &hn->sizes[0].mod[0];
        TK_CHECK(m->n_layers == 9 && m->n_params == 12 &&
                     !strcmp(m->params[11].key, "linear.8.bias") &&
                     m->layers[1].kind == VKT_HN_ACT && m->layers[2].kind == VKT_HN_LAYERNORM &&
                     m->layers[6].out == 128 && m->layers[3].in == 64 && m->layers[3].out == 32,
                 "hn_ln layout: %d layers, %d params", m->n_layers, m->n_params);
        TK_CHECK(!strcmp(hn->name, "hn_ln") && hn->step == 0 && !hn->sd_checkpoint &&
                     hn->optional_info,
                 "hn_ln meta");
        TK_CHECK(vkt_hn_param_count(hn) == 37856, "hn_ln params %lld",
                 (long long)vkt_hn_param_count(hn));
        /* save, load back: every field and value equal */
        const char *p = tmp_path(dir, "resave.pt");
        TK_CHECK(vkt_hn_save(hn, p, &err) == VKT_OK, "save: %s", err.msg);
        vkt_hypernetwork *h2 = NULL;
        TK_CHECK(vkt_hn_load(p, &h2, &err) == VKT_OK, "reload: %s", err.msg);
        if (h2) {
            bool same = h2->n_sizes == hn->n_sizes && !memcmp(&h2->opt, &hn->opt, sizeof hn->opt) &&
                        !strcmp(h2->name, hn->name) &&
                        !strcmp(h2->optional_info, hn->optional_info);
            for (int s = 0; same && s < hn->n_sizes; s++)
                for (int j = 0; same && j < 2; j++)
                    for (int i = 0; same && i < hn->sizes[s].mod[j].n_params; i++) {
                        const vkt_hn_param *a = &hn->sizes[s].mod[j].params[i],
                                           *b = &h2->sizes[s].mod[j].params[i];
                        size_t n = (size_t)(a->ndim == 2 ? a->shape[0] * a->shape[1] : a->shape[0]);
                        same =
                            !strcmp(a->key, b->key) && !memcmp(a->host, b->host, n * sizeof(float));
                    }
            TK_CHECK(same, "save/load round trip");
        }
        vkt_hn_destroy(h2);
    }
    vkt_hn_destroy(hn);
    hn = NULL;
    st = vkt_hn_load(tk_src("tests/golden/hn_relu.pt"), &hn, &err);
    TK_CHECK(st == VKT_OK && hn->sizes[0].mod[1].n_layers == 3 && !hn->opt.activate_output &&
                 !strcmp(hn->sizes[0].mod[1].params[2].key, "linear.2.weight"),
             "hn_relu.pt: %s", err.msg);
    vkt_hn_destroy(hn);
    hn = NULL;

    /* an old-style file: legacy linear1/linear2 keys, no option keys at all, a string key "768"
     * (ignored), int key 8 */
    vkt_pt *b = NULL;
    vkt_pt_create(&b, &err);
    float store[4096];
    const char *lk[] = {"linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"};
    const int64_t ls8[4][2] = {{16, 8}, {16, 0}, {8, 16}, {8, 0}};
    const int nd[4] = {2, 1, 2, 1};
    vkt_pt_val *root = vkt_pt_dict(b), *pair = vkt_pt_tuple(b), *pair2 = vkt_pt_tuple(b);
    vkt_pt_append(b, pair, sd_of(b, lk, ls8, nd, 4, store));
    vkt_pt_append(b, pair, sd_of(b, lk, ls8, nd, 4, store + 512));
    vkt_pt_set_int(b, root, 8, pair);
    vkt_pt_append(b, pair2, vkt_pt_dict(b));
    vkt_pt_append(b, pair2, vkt_pt_dict(b));
    vkt_pt_set_str(b, root, "768", pair2);
    TK_CHECK(vkt_pt_write(b, root, tmp_path(dir, "old style.pt"), &err) == VKT_OK, "write old: %s",
             err.msg);
    vkt_pt_destroy(b);
    st = vkt_hn_load(tmp_path(dir, "old style.pt"), &hn, &err);
    TK_CHECK(st == VKT_OK, "old style: %s", err.msg);
    if (!st) {
        TK_CHECK(hn->n_sizes == 1 && hn->sizes[0].dim == 8 && !strcmp(hn->name, "old style") &&
                     hn->step == 0,
                 "old style: sizes/name (%s)", hn->name);
        TK_CHECK(hn->opt.n_layers == 3 && hn->opt.layer_structure_int && hn->opt.activation_none &&
                     hn->opt.activate_output && !hn->opt.use_dropout &&
                     hn->opt.dropout_structure[1] == 0 && !strcmp(hn->opt.weight_init, "Normal"),
                 "old style: webui defaults");
        TK_CHECK(!strcmp(hn->sizes[0].mod[0].params[2].key, "linear.1.weight") &&
                     hn->sizes[0].mod[1].params[0].host[1] == store[512 + 1],
                 "old style: legacy keys renamed, values read");
    }
    vkt_hn_destroy(hn);
    hn = NULL;

    /* missing activate_output (-> True): relu after the last Linear too; missing dropout
     * structure with use_dropout + last_layer_dropout -> [0, 0.3, 0.3, 0] */
    vkt_pt_create(&b, &err);
    root = vkt_pt_dict(b);
    pair = vkt_pt_tuple(b);
    const char *dk[] = {"linear.0.weight", "linear.0.bias",   "linear.3.weight",
                        "linear.3.bias",   "linear.6.weight", "linear.6.bias"};
    const int64_t ds8[6][2] = {{16, 8}, {16, 0}, {16, 16}, {16, 0}, {8, 16}, {8, 0}};
    const int nd6[6] = {2, 1, 2, 1, 2, 1};
    vkt_pt_append(b, pair, sd_of(b, dk, ds8, nd6, 6, store));
    vkt_pt_append(b, pair, sd_of(b, dk, ds8, nd6, 6, store + 1024));
    vkt_pt_set_int(b, root, 8, pair);
    vkt_pt_val *lsv = vkt_pt_list(b);
    vkt_pt_append(b, lsv, vkt_pt_int(b, 1));
    vkt_pt_append(b, lsv, vkt_pt_float(b, 2.0));
    vkt_pt_append(b, lsv, vkt_pt_int(b, 2));
    vkt_pt_append(b, lsv, vkt_pt_int(b, 1));
    vkt_pt_set_str(b, root, "layer_structure", lsv);
    vkt_pt_set_str(b, root, "activation_func", vkt_pt_str(b, "relu"));
    vkt_pt_set_str(b, root, "use_dropout", vkt_pt_bool(b, true));
    vkt_pt_set_str(b, root, "last_layer_dropout", vkt_pt_bool(b, true));
    vkt_pt_set_str(b, root, "name", vkt_pt_str(b, "dropper"));
    vkt_pt_set_str(b, root, "step", vkt_pt_int(b, 1234));
    vkt_pt_set_str(b, root, "sd_checkpoint", vkt_pt_str(b, "0123456789"));
    TK_CHECK(vkt_pt_write(b, root, tmp_path(dir, "x.pt"), &err) == VKT_OK, "write: %s", err.msg);
    vkt_pt_destroy(b);
    st = vkt_hn_load(tmp_path(dir, "x.pt"), &hn, &err);
    TK_CHECK(st == VKT_OK, "dropper: %s", err.msg);
    if (!st) {
        const vkt_hn_module *m = &hn->sizes[0].mod[0];
        TK_CHECK(hn->opt.activate_output && hn->opt.use_dropout &&
                     hn->opt.dropout_structure[1] == 0.3 && hn->opt.dropout_structure[2] == 0.3 &&
                     hn->opt.dropout_structure[3] == 0 && !hn->opt.layer_structure_int,
                 "dropper options");
        /* Linear ReLU Dropout Linear ReLU Dropout Linear ReLU */
        TK_CHECK(m->n_layers == 8 && m->layers[7].kind == VKT_HN_ACT &&
                     m->layers[2].kind == VKT_HN_DROPOUT && fabsf(m->layers[5].p - 0.3f) < 1e-7f &&
                     vkt_hn_has_dropout(hn),
                 "dropper layout (%d layers)", m->n_layers);
        TK_CHECK(!strcmp(hn->name, "dropper") && hn->step == 1234 && hn->sd_checkpoint &&
                     !strcmp(hn->sd_checkpoint, "0123456789"),
                 "dropper meta");
        /* saved: the derived structure, last_layer_dropout = ds[-2] != 0, ints kept */
        const char *p = tmp_path(dir, "dropper2.pt");
        vkt_hn_destroy(NULL);
        TK_CHECK(vkt_hn_save(hn, p, &err) == VKT_OK, "save dropper: %s", err.msg);
        vkt_hypernetwork *h2 = NULL;
        TK_CHECK(vkt_hn_load(p, &h2, &err) == VKT_OK &&
                     !memcmp(&h2->opt, &hn->opt, sizeof hn->opt) && h2->step == 1234,
                 "dropper round trip: %s", err.msg);
        vkt_hn_destroy(h2);

        /* .optim: state for some parameters, hash of the file just written */
        vkt_hn_param *p0 = &hn->sizes[0].mod[1].params[2];
        size_t n0 = 16 * 16;
        p0->m_host = vkt_malloc(n0 * 4);
        p0->v_host = vkt_malloc(n0 * 4);
        for (size_t i = 0; i < n0; i++)
            p0->m_host[i] = 0.001f * (float)i, p0->v_host[i] = 1e-6f * (float)i;
        p0->opt_step = 7;
        TK_CHECK(vkt_hn_save_optim(hn, p, 2.5e-5, &err) == VKT_OK, "save optim: %s", err.msg);
        h2 = NULL;
        bool used = false;
        char why[256] = "";
        st = vkt_hn_load(p, &h2, &err);
        if (!st) st = vkt_hn_load_optim(h2, p, &used, why, sizeof why, &err);
        TK_CHECK(st == VKT_OK && used, "load optim: %s %s", err.msg, why);
        if (!st && used) {
            const vkt_hn_param *q = &h2->sizes[0].mod[1].params[2];
            TK_CHECK(q->opt_step == 7 && q->m_host && !memcmp(q->m_host, p0->m_host, n0 * 4) &&
                         !memcmp(q->v_host, p0->v_host, n0 * 4) &&
                         h2->sizes[0].mod[0].params[0].opt_step == 0 &&
                         !h2->sizes[0].mod[0].params[0].m_host &&
                         fabs(h2->optim_lr - 2.5e-5) < 1e-12 &&
                         !strcmp(h2->optimizer_name, "AdamW"),
                     "optim values");
        }
        vkt_hn_destroy(h2);
        /* a changed .pt: the hash no longer matches -> fresh optimizer */
        hn->step = 1235;
        TK_CHECK(vkt_hn_save(hn, p, &err) == VKT_OK, "re-save");
        h2 = NULL;
        st = vkt_hn_load(p, &h2, &err);
        if (!st) st = vkt_hn_load_optim(h2, p, &used, why, sizeof why, &err);
        TK_CHECK(st == VKT_OK && !used && strstr(why, "hash"), "stale optim refused: %s", why);
        vkt_hn_destroy(h2);
    }
    vkt_hn_destroy(hn);
    hn = NULL;

    /* errors */
    struct {
        const char *what, *act;
        double ls[3], p;
        const char *key;
    } bad[] = {
        {"layer structure not ending in 1", "relu", {1, 2, 2}, 0, NULL},
        {"refused activation", "prelu", {1, 2, 1}, 0, NULL},
        {"unknown activation", "swishy", {1, 2, 1}, 0, NULL},
        {"dropout 1", "relu", {1, 2, 1}, 1.0, NULL},
        {"unexpected key", "linear", {1, 2, 1}, 0, "linear.7.weight"},
        {"missing key", "linear", {1, 2, 1}, 0, ""},
    };
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        vkt_pt_create(&b, &err);
        root = vkt_pt_dict(b);
        pair = vkt_pt_tuple(b);
        const char *k4[] = {"linear.0.weight", "linear.0.bias",
                            bad[c].key && bad[c].key[0] ? bad[c].key : "linear.1.weight",
                            "linear.1.bias"};
        int nk = bad[c].key && !bad[c].key[0] ? 3 : 4;
        vkt_pt_append(b, pair, sd_of(b, k4, ls8, nd, nk, store));
        vkt_pt_append(b, pair, sd_of(b, k4, ls8, nd, nk, store + 512));
        vkt_pt_set_int(b, root, 8, pair);
        lsv = vkt_pt_list(b);
        for (int i = 0; i < 3; i++)
            vkt_pt_append(b, lsv, vkt_pt_float(b, bad[c].ls[i]));
        vkt_pt_set_str(b, root, "layer_structure", lsv);
        vkt_pt_set_str(b, root, "activation_func", vkt_pt_str(b, bad[c].act));
        vkt_pt_set_str(b, root, "activate_output", vkt_pt_bool(b, false));
        vkt_pt_val *dsv = vkt_pt_list(b);
        vkt_pt_append(b, dsv, vkt_pt_int(b, 0));
        vkt_pt_append(b, dsv, vkt_pt_float(b, bad[c].p));
        vkt_pt_append(b, dsv, vkt_pt_int(b, 0));
        vkt_pt_set_str(b, root, "dropout_structure", dsv);
        vkt_pt_write(b, root, tmp_path(dir, "bad.pt"), &err);
        vkt_pt_destroy(b);
        err.msg[0] = 0;
        st = vkt_hn_load(tmp_path(dir, "bad.pt"), &hn, &err);
        TK_CHECK(st != VKT_OK, "%s: refused", bad[c].what);
        printf("  %-32s -> %s\n", bad[c].what, err.msg);
        if (!st) vkt_hn_destroy(hn);
        hn = NULL;
    }

    /* option helpers */
    double v[8];
    int n = 0;
    TK_CHECK(vkt_hn_parse_list(" 1, 1.5 ,0.25e1, 1", v, 8, &n, &err) == VKT_OK && n == 4 &&
                 v[2] == 2.5,
             "parse list");
    TK_CHECK(vkt_hn_parse_list("1,,1", v, 8, &n, &err) == VKT_ERR_USAGE, "parse list: empty item");
    TK_CHECK(vkt_hn_parse_list("1, x", v, 8, &n, &err) == VKT_ERR_USAGE,
             "parse list: not a number");
    vkt_hn_options o = base_options("relu", (double[]){1, 2, 2, 2, 1}, 5, false, false);
    vkt_hn_default_dropout(&o, true, false);
    TK_CHECK(o.dropout_structure[0] == 0 && o.dropout_structure[1] == 0.3 &&
                 o.dropout_structure[2] == 0.3 && o.dropout_structure[3] == 0 &&
                 o.dropout_structure[4] == 0 && o.dropout_int[3] && !o.dropout_int[1],
             "parse_dropout_structure [1,2,2,2,1] without last-layer dropout");
    vkt_hn_default_dropout(&o, true, true);
    TK_CHECK(o.dropout_structure[3] == 0.3, "with last-layer dropout");
    vkt_act a;
    float prm;
    TK_CHECK(vkt_hn_activation("swish", &a, &prm, &err) == VKT_OK && a == VKT_ACT_HARDSWISH,
             "swish is Hardswish");
    TK_CHECK(vkt_hn_activation("leakyrelu", &a, &prm, &err) == VKT_OK && a == VKT_ACT_LEAKY_RELU &&
                 prm == 0.01f,
             "leakyrelu slope");
    TK_CHECK(vkt_hn_activation("softmax", &a, &prm, &err) == VKT_ERR_UNSUPPORTED,
             "softmax refused");

    /* creation: SD1's default module set has 21,939,840 parameters (sd1-architecture.md §6) */
    const int64_t sd1[4] = {768, 320, 640, 1280};
    o = base_options("linear", (double[]){1, 2, 1}, 3, false, false);
    hn = make_hn("sd1", sd1, 4, &o, "Normal", 5);
    if (hn) {
        TK_CHECK(vkt_hn_param_count(hn) == 21939840, "SD1 default set: %lld params",
                 (long long)vkt_hn_param_count(hn));
        const vkt_hn_param *w = &hn->sizes[0].mod[0].params[0],
                           *bb = &hn->sizes[0].mod[0].params[1];
        double s1 = 0, s2 = 0;
        size_t nn = (size_t)(w->shape[0] * w->shape[1]);
        for (size_t i = 0; i < nn; i++)
            s1 += w->host[i], s2 += (double)w->host[i] * w->host[i];
        double mean = s1 / (double)nn, sd = sqrt(s2 / (double)nn - mean * mean);
        bool zero = true;
        for (int64_t i = 0; i < bb->shape[0]; i++)
            zero &= bb->host[i] == 0;
        /* 1.18M samples: the std of the std estimate is 0.01/sqrt(2n) ~ 7e-6 */
        TK_CHECK(fabs(mean) < 1e-4 && fabs(sd - 0.01) < 1e-4 && zero,
                 "Normal init: mean %.2e std %.6f", mean, sd);
    }
    vkt_hn_destroy(hn);
    const int64_t small[1] = {64};
    const char *inits[4] = {"XavierUniform", "XavierNormal", "KaimingUniform", "KaimingNormal"};
    for (int i = 0; i < 4; i++) {
        o = base_options("relu", (double[]){1, 4, 1}, 3, true, false);
        hn = make_hn("init", small, 1, &o, inits[i], 9);
        if (!hn) continue;
        const vkt_hn_param *w = &hn->sizes[0].mod[1].params[0], *g = &hn->sizes[0].mod[1].params[2];
        double s2 = 0, g2 = 0, mx = 0;
        size_t nn = (size_t)(w->shape[0] * w->shape[1]);
        for (size_t k = 0; k < nn; k++)
            s2 += (double)w->host[k] * w->host[k], mx = fmax(mx, fabs(w->host[k]));
        for (int64_t k = 0; k < g->shape[0]; k++)
            g2 += (double)g->host[k] * g->host[k];
        double fin = 64, fout = 256, want = i < 2 ? 2.0 / (fin + fout) : 2.0 / fin; /* variance */
        double bound = i == 0 ? sqrt(6 / (fin + fout)) : i == 2 ? sqrt(6 / fin) : 1e9;
        TK_CHECK(fabs(s2 / (double)nn / want - 1) < 0.05 && mx <= bound &&
                     !strcmp(g->key, "linear.2.weight") && fabs(sqrt(g2 / 256) - 0.01) < 0.002,
                 "%s: variance %.3g (want %.3g), LayerNorm weight std %.4f", inits[i],
                 s2 / (double)nn, want, sqrt(g2 / 256));
        vkt_hn_destroy(hn);
    }
    vkt_hn_create_opts co = {.name = "x",
                             .sizes = small,
                             .n_sizes = 1,
                             .opt = base_options("relu", (double[]){1, 2, 1}, 3, false, false)};
    snprintf(co.opt.weight_init, sizeof co.opt.weight_init, "Kaiming");
    hn = NULL;
    TK_CHECK(vkt_hn_create(&co, &hn, &err) == VKT_ERR_USAGE, "bad weight init refused");
    snprintf(co.opt.weight_init, sizeof co.opt.weight_init, "Normal");
    co.opt.dropout_structure[2] = 0.1;
    TK_CHECK(vkt_hn_create(&co, &hn, &err) == VKT_ERR_USAGE,
             "dropout structure must end with 0 at creation");
}

/* ------------------------------------------------------------------------------------------ */
/* module: double reference */

/* Smallest distance of v[0..n) to a kink of activation a (inf when a has none). */
static double kink_dist(vkt_act a, const double *v, size_t n)
{
    static const double k_relu[] = {0}, k_hs[] = {-3, 3}, k_r6[] = {0, 6}, k_ht[] = {-1, 1},
                        k_sh[] = {-0.5, 0.5};
    const double *k = NULL;
    int nk = 0;
    switch (a) {
    case VKT_ACT_RELU:
    case VKT_ACT_LEAKY_RELU:
    case VKT_ACT_SELU:
        k = k_relu, nk = 1;
        break;
    case VKT_ACT_HARDSWISH:
    case VKT_ACT_HARDSIGMOID:
        k = k_hs, nk = 2;
        break;
    case VKT_ACT_RELU6:
        k = k_r6, nk = 2;
        break;
    case VKT_ACT_HARDTANH:
        k = k_ht, nk = 2;
        break;
    case VKT_ACT_HARDSHRINK:
    case VKT_ACT_SOFTSHRINK:
        k = k_sh, nk = 2;
        break;
    default:
        return INFINITY;
    }
    double md = INFINITY;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < nk; j++)
            md = fmin(md, fabs(v[i] - k[j]));
    return md;
}

typedef struct refmod {
    const vkt_hn_module *m;
    vkt_act act;
    double prm, mult;
    bool dropout;
    uint64_t seed, off0;
    double *kink; /* NULL, or receives the smallest distance of an activation input to a kink */
} refmod;

static double *pget(const vkt_hn_param *p, double *scratch)
{
    size_t n = (size_t)(p->ndim == 2 ? p->shape[0] * p->shape[1] : p->shape[0]);
    for (size_t i = 0; i < n; i++)
        scratch[i] = p->host[i];
    return scratch;
}

/* y = x + MLP(x)·mult in double; ins[l] receives layer l's input (rows × in), g[l] the LN
 * statistics (mean, rstd per row) when a LayerNorm. dx (may be NULL) and grads[p] (param
 * gradients, accumulated; may be NULL) from upstream dy. */
static void ref_run(const refmod *r, int64_t rows, const double *x, double *y, const double *dy,
                    double *dx, double **grads)
{
    const vkt_hn_module *m = r->m;
    double *ins[VKT_HN_MAX_SEQ] = {0}, *stats[VKT_HN_MAX_SEQ] = {0};
    double *w = malloc(sizeof(double) * 200000), *bvec = malloc(sizeof(double) * 4096);
    int64_t d0 = m->layers[0].in;
    double *h = malloc(sizeof(double) * (size_t)(rows * d0));
    memcpy(h, x, sizeof(double) * (size_t)(rows * d0));
    uint64_t off = r->off0;
    uint64_t offs[VKT_HN_MAX_SEQ];
    for (int l = 0; l < m->n_layers; l++) {
        const vkt_hn_layer *L = &m->layers[l];
        ins[l] = h;
        double *o = malloc(sizeof(double) * (size_t)(rows * L->out));
        if (L->kind == VKT_HN_LINEAR) {
            pget(&m->params[L->w], w);
            pget(&m->params[L->b], bvec);
            for (int64_t i = 0; i < rows; i++)
                for (int64_t j = 0; j < L->out; j++) {
                    double s = bvec[j];
                    for (int64_t k = 0; k < L->in; k++)
                        s += w[j * L->in + k] * h[i * L->in + k];
                    o[i * L->out + j] = s;
                }
        } else if (L->kind == VKT_HN_ACT) {
            for (int64_t i = 0; i < rows * L->out; i++)
                o[i] = vkt_ref_act(r->act, r->prm, h[i]);
            if (r->kink) *r->kink = fmin(*r->kink, kink_dist(r->act, h, (size_t)(rows * L->out)));
        } else if (L->kind == VKT_HN_LAYERNORM) {
            pget(&m->params[L->w], w);
            pget(&m->params[L->b], bvec);
            stats[l] = malloc(sizeof(double) * (size_t)(2 * rows));
            for (int64_t i = 0; i < rows; i++) {
                double mu = 0, var = 0;
                for (int64_t k = 0; k < L->in; k++)
                    mu += h[i * L->in + k];
                mu /= (double)L->in;
                for (int64_t k = 0; k < L->in; k++)
                    var += (h[i * L->in + k] - mu) * (h[i * L->in + k] - mu);
                double rs = 1.0 / sqrt(var / (double)L->in + 1e-5);
                stats[l][2 * i] = mu, stats[l][2 * i + 1] = rs;
                for (int64_t k = 0; k < L->in; k++)
                    o[i * L->out + k] = (h[i * L->in + k] - mu) * rs * w[k] + bvec[k];
            }
        } else {
            offs[l] = off++;
            if (r->dropout)
                vkt_ref_dropout(r->seed, offs[l], L->p, h, o, (size_t)(rows * L->out));
            else
                memcpy(o, h, sizeof(double) * (size_t)(rows * L->out));
        }
        h = o;
    }
    for (int64_t i = 0; i < rows * d0; i++)
        y[i] = x[i] + r->mult * h[i];
    if (dy) {
        double *dh = malloc(sizeof(double) * (size_t)(rows * d0));
        for (int64_t i = 0; i < rows * d0; i++)
            dh[i] = r->mult * dy[i];
        for (int l = m->n_layers - 1; l >= 0; l--) {
            const vkt_hn_layer *L = &m->layers[l];
            double *in = ins[l], *dp = calloc((size_t)(rows * L->in), sizeof(double));
            if (L->kind == VKT_HN_LINEAR) {
                pget(&m->params[L->w], w);
                for (int64_t i = 0; i < rows; i++)
                    for (int64_t j = 0; j < L->out; j++) {
                        double g = dh[i * L->out + j];
                        for (int64_t k = 0; k < L->in; k++) {
                            dp[i * L->in + k] += g * w[j * L->in + k];
                            if (grads) grads[L->w][j * L->in + k] += g * in[i * L->in + k];
                        }
                        if (grads) grads[L->b][j] += g;
                    }
            } else if (L->kind == VKT_HN_ACT) {
                for (int64_t i = 0; i < rows * L->in; i++)
                    dp[i] = dh[i] * vkt_ref_act_grad(r->act, r->prm, in[i]);
            } else if (L->kind == VKT_HN_LAYERNORM) {
                pget(&m->params[L->w], w);
                int64_t D = L->in;
                for (int64_t i = 0; i < rows; i++) {
                    double mu = stats[l][2 * i], rs = stats[l][2 * i + 1], s1 = 0, s2 = 0;
                    for (int64_t k = 0; k < D; k++) {
                        double xh = (in[i * D + k] - mu) * rs, g = dh[i * D + k];
                        if (grads) grads[L->w][k] += g * xh, grads[L->b][k] += g;
                        s1 += g * w[k];
                        s2 += g * w[k] * xh;
                    }
                    for (int64_t k = 0; k < D; k++) {
                        double xh = (in[i * D + k] - mu) * rs;
                        dp[i * D + k] =
                            rs * (dh[i * D + k] * w[k] - s1 / (double)D - xh * s2 / (double)D);
                    }
                }
            } else if (r->dropout) {
                vkt_ref_dropout(r->seed, offs[l], L->p, dh, dp, (size_t)(rows * L->in));
            } else {
                memcpy(dp, dh, sizeof(double) * (size_t)(rows * L->in));
            }
            free(dh);
            dh = dp;
        }
        if (dx)
            for (int64_t i = 0; i < rows * d0; i++)
                dx[i] = dh[i] + dy[i];
        free(dh);
    }
    for (int l = 0; l < m->n_layers; l++) { /* ins[0] is the copy of x, ins[l > 0] layer outputs */
        free(ins[l]);
        free(stats[l]);
    }
    free(h);
    free(w);
    free(bvec);
}

static size_t pnumel(const vkt_hn_param *p)
{
    return (size_t)(p->ndim == 2 ? p->shape[0] * p->shape[1] : p->shape[0]);
}

/* Runs module m of hn (uploaded with train) on the GPU: y, dx (mode; dx preset to dx0 for
 * ACCUMULATE) and the parameter gradients (from zero). Outputs are malloc'd floats. */
static vkt_status gpu_module(env *e, vkt_hypernetwork *hn, int which, const float *x,
                             const float *dy, int64_t B, int64_t T, float mult, bool dropout,
                             uint64_t seed, uint64_t off0, vkt_grad_mode mode, const float *dx0,
                             float **y_out, float **dx_out, vkt_err *err)
{
    const vkt_hn_module *m = &hn->sizes[0].mod[which];
    int64_t d = hn->sizes[0].dim, shape[3] = {B, T, d};
    vkt_tensor tx = {0}, tdy = {0}, tdx = {0}, y;
    vkt_hn_module_saved *sv = NULL;
    vkt_status st = vkt_tensor_alloc(e->dev, VKT_F32, 3, shape, "x", &tx, err);
    if (!st) st = vkt_tensor_alloc(e->dev, VKT_F32, 3, shape, "dy", &tdy, err);
    if (!st) st = vkt_tensor_alloc(e->dev, VKT_F32, 3, shape, "dx", &tdx, err);
    if (!st) st = vkt_tensor_upload_f32(e->dev, &tx, x, err);
    if (!st) st = vkt_tensor_upload_f32(e->dev, &tdy, dy, err);
    if (!st && dx0) st = vkt_tensor_upload_f32(e->dev, &tdx, dx0, err);
    if (!st) st = vkt_step_begin_planned(e->step, err);
    if (!st) st = vkt_hn_record_zero_grads(e->step, hn, err);
    if (!st)
        st = vkt_hn_module_fwd(e->step, m, &hn->opt, &tx, mult, dropout, seed, off0, &y, &sv, err);
    if (!st) st = vkt_hn_module_bwd(e->step, m, &hn->opt, sv, &tdy, &tdx, mode, err);
    if (!st) st = vkt_step_keep(e->step, &y, err);
    if (!st) st = vkt_step_end(e->step, err);
    if (!st) st = vkt_step_submit(e->step, err);
    if (!st) {
        *y_out = download(e, &y);
        *dx_out = download(e, &tdx);
    }
    vkt_hn_module_saved_free(sv);
    if (tx.buf) vkt_tensor_free(e->dev, &tx);
    if (tdy.buf) vkt_tensor_free(e->dev, &tdy);
    if (tdx.buf) vkt_tensor_free(e->dev, &tdx);
    return st;
}

/* The torch golden: every activation, LayerNorm and activate_output combinations. */
static void module_torch_cases(env *e)
{
    vkt_safetensors *g = NULL;
    vkt_err err = {0};
    if (vkt_safetensors_open(tk_src("tests/golden/hn_modules.safetensors"), &g, &err)) {
        TK_CHECK(0, "hn_modules.safetensors: %s", err.msg);
        return;
    }
    int n_cases = atoi(
        vkt_safetensors_meta(g, "vktrain.cases") ? vkt_safetensors_meta(g, "vktrain.cases") : "0");
    TK_CHECK(n_cases == 22, "%d module cases", n_cases);
    double worst_f = 0, worst_g = 0;
    for (int c = 0; c < n_cases; c++) {
        char key[64], spec[128], act[32], lstext[64];
        snprintf(key, sizeof key, "vktrain.case.%d", c);
        const char *m = vkt_safetensors_meta(g, key);
        int ln = 0, ao = 0;
        double mult = 1;
        if (!m || sscanf(m, "%31[^;];%63[^;];%d;%d;%lf", act, lstext, &ln, &ao, &mult) != 5) {
            TK_CHECK(0, "case %d: metadata \"%s\"", c, m ? m : "");
            continue;
        }
        snprintf(spec, sizeof spec, "%s", m);
        vkt_hn_options o = base_options(act, NULL, 0, ln, ao);
        vkt_hn_parse_list(lstext, o.layer_structure, VKT_HN_MAX_LAYERS, &o.n_layers, &err);
        vkt_hn_default_dropout(&o, false, false);
        const int64_t d = 16;
        vkt_hypernetwork *hn = NULL;
        if (vkt_hn_new("m", &o, &d, 1, &hn, &err)) {
            TK_CHECK(0, "case %d (%s): %s", c, spec, err.msg);
            continue;
        }
        vkt_hn_module *mod = &hn->sizes[0].mod[0];
        bool ok = true;
        for (int i = 0; i < mod->n_params && ok; i++) {
            char k[96];
            snprintf(k, sizeof k, "c%d.%s", c, mod->params[i].key);
            size_t n = 0;
            float *v = tk_st_f32(g, k, &n, NULL);
            ok = v && n == pnumel(&mod->params[i]);
            if (ok) memcpy(mod->params[i].host, v, n * sizeof *v);
            free(v);
            TK_CHECK(ok, "case %d: parameter %s in the golden (the layouts agree)", c, k);
        }
        char kx[32], kdy[32];
        snprintf(kx, sizeof kx, "c%d.x", c);
        snprintf(kdy, sizeof kdy, "c%d.dy", c);
        size_t n = 0;
        float *x = tk_st_f32(g, kx, &n, NULL), *dy = tk_st_f32(g, kdy, NULL, NULL), *y = NULL, *dx = NULL;
        if (ok && x && dy && vkt_hn_upload(hn, e->dev, true, &err) == VKT_OK &&
            gpu_module(e, hn, 0, x, dy, 2, 5, (float)mult, false, 0, 0, VKT_GRAD_OVERWRITE, NULL,
                       &y, &dx, &err) == VKT_OK &&
            y && dx) {
            char k[96];
            /* fp32 over <= 32-term dot products and a few ulp of exp/tanh/erf: errors ~1e-6;
             * 2e-5 (forward) and 1e-4 (gradients) leave a margin while catching any real slip */
            const double tol_f = 2e-5, tol_g = 1e-4;
            snprintf(k, sizeof k, "c%d.y", c);
            float *ry = tk_st_f32(g, k, NULL, NULL);
            double *dry = ry ? to_double(ry, n) : NULL;
            double ey = dry ? rel_err(y, dry, n, 0) : 1;
            snprintf(k, sizeof k, "c%d.dx", c);
            float *rdx = tk_st_f32(g, k, NULL, NULL);
            double *drdx = rdx ? to_double(rdx, n) : NULL;
            double edx = drdx ? rel_err(dx, drdx, n, 0) : 1;
            double eg = 0;
            TK_CHECK(ey <= tol_f && edx <= tol_g, "case %d (%s): y %.2e dx %.2e", c, spec, ey, edx);
            for (int i = 0; i < mod->n_params; i++) {
                snprintf(k, sizeof k, "c%d.grad.%s", c, mod->params[i].key);
                size_t pn = 0;
                float *rg = tk_st_f32(g, k, &pn, NULL), *gg = NULL;
                gg = vkt_malloc(pn * sizeof *gg);
                double *drg = rg ? to_double(rg, pn) : NULL;
                if (rg && gg && !vkt_tensor_download_f32(e->dev, &mod->params[i].grad, gg, &err)) {
                    double eg1 = rel_err(gg, drg, pn, 0);
                    TK_CHECK(eg1 <= tol_g, "case %d (%s): %s %.2e", c, spec, k, eg1);
                    eg = fmax(eg, eg1);
                } else {
                    TK_CHECK(0, "case %d: %s", c, k);
                }
                free(rg), free(gg), free(drg);
            }
            printf("  case %2d %-44s y %.2e dx %.2e grads %.2e\n", c, spec, ey, edx, eg);
            worst_f = fmax(worst_f, ey);
            worst_g = fmax(worst_g, fmax(edx, eg));
            free(ry), free(rdx), free(dry), free(drdx);
        } else {
            TK_CHECK(0, "case %d (%s): %s", c, spec, err.msg);
        }
        free(x), free(dy), free(y), free(dx);
        vkt_hn_destroy(hn);
    }
    printf("  torch module cases: worst forward %.2e, worst gradient %.2e\n", worst_f, worst_g);
    vkt_safetensors_close(g);
}

/* Dropout (train mode), ACCUMULATE and the multiplier against the double reference, and that
 * reference's backward against central differences. */
static void module_ref_cases(env *e)
{
    struct {
        const char *act;
        double ls[5];
        int n;
        double ds[5];
        bool ln, ao, dropout;
        float mult;
        vkt_grad_mode mode;
    } cases[] = {
        {"relu",
         {1, 2, 1.5, 1},
         4,
         {0, 0.3, 0.25, 0},
         false,
         false,
         true,
         1.0f,
         VKT_GRAD_OVERWRITE},
        {"elu",
         {1, 2, 1.5, 1},
         4,
         {0, 0.3, 0.25, 0.1},
         true,
         true,
         true,
         1.0f,
         VKT_GRAD_ACCUMULATE},
        {"swish", {1, 0.5, 1}, 3, {0, 0.5, 0}, true, false, false, 0.6f, VKT_GRAD_ACCUMULATE},
        {"tanh", {1, 3, 1}, 3, {0, 0.2, 0}, false, true, true, 1.0f, VKT_GRAD_OVERWRITE},
    };
    vkt_err err = {0};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        vkt_hn_options o =
            base_options(cases[c].act, cases[c].ls, cases[c].n, cases[c].ln, cases[c].ao);
        for (int i = 0; i < cases[c].n; i++)
            o.dropout_structure[i] = cases[c].ds[i], o.dropout_int[i] = false;
        o.use_dropout = true;
        const int64_t d = 12, B = 3, T = 5, rows = B * T;
        size_t nx = (size_t)(rows * d);
        vkt_hypernetwork *hn = NULL;
        if (vkt_hn_new("r", &o, &d, 1, &hn, &err)) {
            TK_CHECK(0, "ref case %zu: %s", c, err.msg);
            continue;
        }
        vkt_hn_module *m = &hn->sizes[0].mod[1];
        /* weights with O(1) effect */
        vkt_rng r = vkt_rng_seeded(100 + c);
        for (int i = 0; i < m->n_params; i++) {
            vkt_hn_param *p = &m->params[i];
            bool ln_w = p->ndim == 1 && strstr(p->key, "weight");
            double s = p->ndim == 2 ? 1.5 / sqrt((double)p->shape[1]) : 0.3;
            for (size_t k = 0; k < pnumel(p); k++)
                p->host[k] = (float)((ln_w ? 1.0 : 0.0) + s * (2 * vkt_rng_f64(&r) - 1));
        }
        float *x = vkt_malloc(nx * 4), *dy = vkt_malloc(nx * 4), *dx0 = vkt_malloc(nx * 4);
        double *dxd = vkt_malloc(nx * 8), *dyd = vkt_malloc(nx * 8), *y = vkt_malloc(nx * 8),
               *dxr = vkt_malloc(nx * 8);
        for (size_t i = 0; i < nx; i++) {
            x[i] = (float)(2 * vkt_rng_f64(&r) - 1), dy[i] = (float)(2 * vkt_rng_f64(&r) - 1);
            dx0[i] = (float)(vkt_rng_f64(&r) - 0.5);
            dxd[i] = x[i], dyd[i] = dy[i];
        }
        double kink = INFINITY;
        refmod rm = {m, VKT_ACT_IDENTITY, 0, cases[c].mult, cases[c].dropout, 77, 1000, &kink};
        float prm;
        vkt_hn_activation(cases[c].act, &rm.act, &prm, &err);
        rm.prm = prm;
        double *grads[VKT_HN_MAX_PARAMS];
        for (int i = 0; i < m->n_params; i++)
            grads[i] = calloc(pnumel(&m->params[i]), sizeof(double));
        ref_run(&rm, rows, dxd, y, dyd, dxr, grads);
        rm.kink = NULL;
        /* f32 rounding moves an activation input by ~1e-6: far enough from every kink that no
         * unit changes side on any device (the finite differences below step by 1e-6 too) */
        TK_CHECK(kink >= 1e-4, "ref case %zu: an activation input is %.1e from a kink", c, kink);
        if (cases[c].mode == VKT_GRAD_ACCUMULATE)
            for (size_t i = 0; i < nx; i++)
                dxr[i] += dx0[i];
        float *gy = NULL, *gdx = NULL;
        vkt_status st = vkt_hn_upload(hn, e->dev, true, &err);
        if (!st)
            st = gpu_module(e, hn, 1, x, dy, B, T, cases[c].mult, cases[c].dropout, 77, 1000,
                            cases[c].mode, dx0, &gy, &gdx, &err);
        TK_CHECK(st == VKT_OK && gy && gdx, "ref case %zu: %s", c, err.msg);
        if (!st && gy && gdx) {
            /* as the torch cases: fp32 dot products of <= 36 terms */
            double ey = rel_err(gy, y, nx, 0), edx = rel_err(gdx, dxr, nx, 0), eg = 0;
            for (int i = 0; i < m->n_params; i++) {
                size_t pn = pnumel(&m->params[i]);
                float *gg = vkt_malloc(pn * 4);
                if (gg && !vkt_tensor_download_f32(e->dev, &m->params[i].grad, gg, &err))
                    eg = fmax(eg, rel_err(gg, grads[i], pn, 0));
                free(gg);
            }
            printf("  ref case %zu %-5s ls %d dropout %s mult %.1f %s: y %.2e dx %.2e grads %.2e\n",
                   c, cases[c].act, cases[c].n, cases[c].dropout ? "on " : "off", cases[c].mult,
                   cases[c].mode == VKT_GRAD_ACCUMULATE ? "dx+=" : "dx= ", ey, edx, eg);
            TK_CHECK(ey <= 2e-5 && edx <= 1e-4 && eg <= 1e-4,
                     "ref case %zu: y %.2e dx %.2e grads %.2e", c, ey, edx, eg);
        }
        /* the reference's own backward vs central differences of sum(y·dy) (double, eps 1e-6) */
        double fd_worst = 0;
        for (int probe = 0; probe < 12; probe++) {
            size_t i = (size_t)(vkt_rng_below(&r, nx));
            double save = dxd[i], *yp = vkt_malloc(nx * 8), lp = 0, lm = 0;
            dxd[i] = save + 1e-6;
            ref_run(&rm, rows, dxd, yp, NULL, NULL, NULL);
            for (size_t k = 0; k < nx; k++)
                lp += yp[k] * dyd[k];
            dxd[i] = save - 1e-6;
            ref_run(&rm, rows, dxd, yp, NULL, NULL, NULL);
            for (size_t k = 0; k < nx; k++)
                lm += yp[k] * dyd[k];
            dxd[i] = save;
            double fd = (lp - lm) / 2e-6,
                   an = dxr[i] - (cases[c].mode == VKT_GRAD_ACCUMULATE ? dx0[i] : 0);
            fd_worst = fmax(fd_worst, fabs(fd - an) / fmax(1, fabs(an)));
            free(yp);
        }
        for (int probe = 0; probe < 12; probe++) {
            vkt_hn_param *p = &m->params[vkt_rng_below(&r, (uint64_t)m->n_params)];
            size_t i = (size_t)vkt_rng_below(&r, pnumel(p));
            int pi = (int)(p - m->params);
            float save = p->host[i];
            double *yp = vkt_malloc(nx * 8), lp = 0, lm = 0,
                   h = 1e-5; /* the float steps hp, hm are exact */
            p->host[i] = (float)(save + h);
            double hp = (double)p->host[i] - save;
            ref_run(&rm, rows, dxd, yp, NULL, NULL, NULL);
            for (size_t k = 0; k < nx; k++)
                lp += yp[k] * dyd[k];
            p->host[i] = (float)(save - h);
            double hm = save - (double)p->host[i];
            ref_run(&rm, rows, dxd, yp, NULL, NULL, NULL);
            for (size_t k = 0; k < nx; k++)
                lm += yp[k] * dyd[k];
            p->host[i] = save;
            double fd = (lp - lm) / (hp + hm);
            fd_worst = fmax(fd_worst, fabs(fd - grads[pi][i]) / fmax(1, fabs(grads[pi][i])));
            free(yp);
        }
        /* steps 1e-6 (x) and ~1e-5 (float params): truncation ~h^2 f''', rounding ~1e-15/h */
        TK_CHECK(fd_worst < 1e-4, "ref case %zu: reference backward vs finite differences %.2e", c,
                 fd_worst);
        printf("             reference backward vs central differences: %.2e\n", fd_worst);
        for (int i = 0; i < m->n_params; i++)
            free(grads[i]);
        free(x), free(dy), free(dx0), free(dxd), free(dyd), free(y), free(dxr), free(gy), free(gdx);
        vkt_hn_destroy(hn);
    }
}

static void test_module(void)
{
    env e;
    vkt_err err = {0};
    if (tk_tiny_init(&e, false, NULL, &err)) {
        TK_CHECK(0, "env: %s", err.msg);
        tk_tiny_fini(&e);
        return;
    }
    module_torch_cases(&e);
    module_ref_cases(&e);
    tk_tiny_fini(&e);
}

/* ------------------------------------------------------------------------------------------ */
/* the hook on a SpatialTransformer (input_blocks.3.1.: attn1 at 64, attn2 on the 128 context) */

/* Compares every parameter gradient of hns[j] with `<prefix><size>.<k|v>.<key>` of the golden;
 * tensors named in vktrain.zero_in_exact_arithmetic against the largest max|ref| of all of them. */
static void compare_hn_grads(env *e, vkt_safetensors *g, vkt_hypernetwork *hn, const char *prefix,
                             double tol, double *worst)
{
    const char *zero = vkt_safetensors_meta(g, "vktrain.zero_in_exact_arithmetic");
    double fam = 0;
    for (size_t i = 0; i < vkt_safetensors_count(g); i++) {
        const char *n = vkt_safetensors_name(g, i);
        if (strncmp(n, "grad_hn", 7)) continue;
        size_t k = 0;
        float *v = tk_st_f32(g, n, &k, NULL);
        for (size_t q = 0; v && q < k; q++)
            fam = fmax(fam, fabs(v[q]));
        free(v);
    }
    for (int z = 0; z < hn->n_sizes; z++)
        for (int j = 0; j < 2; j++)
            for (int i = 0; i < hn->sizes[z].mod[j].n_params; i++) {
                const vkt_hn_param *p = &hn->sizes[z].mod[j].params[i];
                char name[128];
                snprintf(name, sizeof name, "%s%lld.%d.%s", prefix, (long long)hn->sizes[z].dim, j,
                         p->key);
                size_t k = 0;
                float *ref = tk_st_f32(g, name, &k, NULL), *got = vkt_malloc((k ? k : 1) * 4);
                double *dref = ref ? to_double(ref, k) : NULL;
                vkt_err err = {0};
                bool ok = ref && got && k == pnumel(p) &&
                          !vkt_tensor_download_f32(e->dev, &p->grad, got, &err);
                TK_CHECK(ok, "%s: %s", name, err.msg);
                if (ok) {
                    bool zr = zero && strstr(zero, name);
                    double rel = rel_err(got, dref, k, zr ? fam : 0);
                    TK_CHECK(rel <= tol, "%s error %.3e > %.0e%s", name, rel, tol,
                             zr ? " (abs/family)" : "");
                    if (!zr) *worst = fmax(*worst, rel);
                }
                free(ref), free(got), free(dref);
            }
}

static void compare_out(env *e, vkt_safetensors *g, const vkt_tensor *t, const char *name,
                        double tol, const char *what)
{
    size_t n = 0;
    float *ref = tk_st_f32(g, name, &n, NULL), *got = download(e, t);
    double *dref = ref ? to_double(ref, n) : NULL;
    bool ok = ref && got && (size_t)vkt_tensor_numel(t) == n;
    TK_CHECK(ok, "%s: %s", what, name);
    if (ok) {
        double rel = rel_err(got, dref, n, 0);
        printf("  %-34s %-14s err %.3e (tol %.0e)\n", what, name, rel, tol);
        TK_CHECK(rel <= tol, "%s: %s error %.3e > %.0e", what, name, rel, tol);
    }
    free(ref), free(got), free(dref);
}

static void st_case(const char *file, vkt_dtype dt, const char *const *hn_files, int n_files)
{
    env e;
    vkt_err err = {0};
    vkt_weights *w = NULL;
    vkt_safetensors *g = NULL;
    vkt_hypernetwork *hns[4] = {0};
    vkt_hn_hook *hook = NULL;
    vkt_tensor in[3] = {{0}};
    vkt_unet_st *t = vkt_calloc(1, sizeof *t);
    vkt_unet_st_saved *sv = vkt_calloc(1, sizeof *sv);
    const bool f16 = dt == VKT_F16;
    int n = n_files + 1, idx = 0;
    char gp[256];
    snprintf(gp, sizeof gp, "tests/golden/%s", file);
    vkt_status st = tk_tiny_init(&e, true, NULL, &err);
    if (!st && f16 && !vkt_step_dtype_ok(e.step, VKT_F16)) {
        printf("%s: no f16 storage on this device, fp16 case skipped\n", file);
        goto done;
    }
    if (!st && (!t || !sv)) st = vkt_fail(&err, VKT_ERR_NOMEM, "st");
    if (!st) st = vkt_safetensors_open(tk_src(gp), &g, &err);
    if (!st) st = vkt_weights_create(e.dev, dt, &w, &err);
    if (!st) st = vkt_unet_st_load(w, &e.src, "input_blocks.3.1.", -1, -1, 4, &idx, t, &err);
    for (int j = 0; j < n_files && !st; j++) {
        char p[256];
        snprintf(p, sizeof p, "tests/golden/%s", hn_files[j]);
        st = vkt_hn_load(tk_src(p), &hns[j], &err);
    }
    /* last in the chain: sizes no attention of this block has (32, 1024) with non-zero weights */
    if (!st) {
        const int64_t unused[2] = {32, 1024};
        vkt_hn_options o = base_options("relu", (double[]){1, 2, 1}, 3, false, false);
        vkt_hn_create_opts co = {
            .name = "unused", .sizes = unused, .n_sizes = 2, .opt = o, .seed = 4};
        snprintf(co.opt.weight_init, sizeof co.opt.weight_init, "XavierNormal");
        st = vkt_hn_create(&co, &hns[n_files], &err);
    }
    for (int j = 0; j < n && !st; j++)
        st = vkt_hn_upload(hns[j], e.dev, true, &err);
    if (!st) st = vkt_hn_hook_create(hns, n, VKT_HN_TRAIN_NO_DROPOUT, &hook, &err);
    if (!st)
        vkt_hn_hook_set_grad_scale(hook, 1.0f); /* the block test's grad_out is not loss-scaled */
    if (!st) st = tk_st_upload(e.dev, g, "x", dt, &in[0], &err);
    if (!st) st = tk_st_upload(e.dev, g, "context", dt, &in[1], &err);
    if (!st) st = tk_st_upload(e.dev, g, "grad_out", dt, &in[2], &err);
    vkt_tensor y, dx, dc;
    if (!st) st = vkt_step_begin_planned(e.step, &err);
    if (!st) vkt_hn_hook_begin(hook, 0, 0);
    for (int j = 0; j < n && !st; j++)
        st = vkt_hn_record_zero_grads(e.step, hns[j], &err);
    if (!st) st = vkt_unet_st_fwd(e.step, t, &in[0], &in[1], vkt_hn_hook_unet(hook), &y, sv, &err);
    if (!st) st = vkt_unet_tmp(e.step, dt, 4, in[0].shape, "dx", &dx, &err);
    if (!st) st = vkt_unet_tmp(e.step, dt, 3, in[1].shape, "d context", &dc, &err);
    if (!st) st = vkt_unet_zero(e.step, &dc, &err);
    if (!st)
        st = vkt_unet_st_bwd(e.step, t, sv, vkt_hn_hook_unet(hook), &in[2], &dx, VKT_GRAD_OVERWRITE,
                             &dc, &err);
    if (!st) st = vkt_step_keep(e.step, &y, &err);
    if (!st) st = vkt_step_keep(e.step, &dx, &err);
    if (!st) st = vkt_step_keep(e.step, &dc, &err);
    if (!st) st = vkt_step_run(e.step, &err);
    TK_CHECK(st == VKT_OK, "%s: %s", file, err.msg);
    if (!st) {
        char what[96];
        snprintf(what, sizeof what, "%s %s", file, f16 ? "fp16" : "fp32");
        double tf = f16 ? TOL_FWD_F16 : TOL_FWD_F32, tg = f16 ? TOL_GRAD_F16 : TOL_GRAD_F32,
               worst = 0;
        compare_out(&e, g, &y, "out", tf, what);
        compare_out(&e, g, &dx, "grad_x", tg, what);
        compare_out(&e, g, &dc, "grad_context", tg, what);
        for (int j = 0; j < n_files; j++) {
            char pre[32];
            snprintf(pre, sizeof pre, n_files == 1 ? "grad_hn." : "grad_hn%d.", j);
            compare_hn_grads(&e, g, hns[j], pre, tg, &worst);
            TK_CHECK(hns[j]->sizes[0].used && hns[j]->sizes[1].used, "%s: both sizes used",
                     hn_files[j]);
        }
        printf("  %-34s grad_hn*       err %.3e (tol %.0e; worst of %d files)\n", what, worst, tg,
               n_files);
        /* the sizes no attention has: untouched, zero gradients */
        vkt_hypernetwork *u = hns[n_files];
        bool zero = !u->sizes[0].used && !u->sizes[1].used;
        for (int z = 0; z < 2; z++)
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < u->sizes[z].mod[j].n_params; i++) {
                    float *v = download(&e, &u->sizes[z].mod[j].params[i].grad);
                    for (size_t k = 0; v && k < pnumel(&u->sizes[z].mod[j].params[i]); k++)
                        zero &= v[k] == 0;
                    free(v);
                }
        TK_CHECK(zero, "%s: sizes 32 and 1024 are not used and get no gradient", what);
        vkt_tensor *gl[256];
        TK_CHECK(vkt_hn_grads(u, gl, 256) == 0 &&
                     vkt_hn_grads(hns[0], gl, 256) == 4 * hns[0]->sizes[0].mod[0].n_params,
                 "vkt_hn_grads lists the used sizes only");
    }
done:
    for (int i = 0; i < 3; i++)
        if (in[i].buf) vkt_tensor_free(e.dev, &in[i]);
    vkt_hn_hook_destroy(hook);
    for (int j = 0; j < 4; j++)
        vkt_hn_destroy(hns[j]);
    vkt_weights_destroy(w);
    vkt_safetensors_close(g);
    free(t);
    free(sv);
    tk_tiny_fini(&e);
}

static void test_st(void)
{
    const char *one[1] = {"hn_ln.pt"}, *chain[2] = {"hn_ln.pt", "hn_small.pt"};
    for (int f16 = 0; f16 < 2; f16++) {
        vkt_dtype dt = f16 ? VKT_F16 : VKT_F32;
        st_case("block_unet_st_hn.safetensors", dt, one, 1);
        st_case("block_unet_st_hn_chain.safetensors", dt, chain, 2);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* training on the tiny UNet */

typedef struct train_io {
    vkt_tensor latent, noise, coef_a, coef_b, timestep, context;
} train_io;

static vkt_status train_inputs(env *e, train_io *io, vkt_err *err)
{
    vkt_safetensors *c = NULL;
    vkt_status st = vkt_safetensors_open(tk_src("tests/golden/hn_relu.case.safetensors"), &c, err);
    if (!st) st = tk_st_upload(e->dev, c, "latent", VKT_F32, &io->latent, err);
    if (!st) st = tk_st_upload(e->dev, c, "noise", VKT_F32, &io->noise, err);
    if (!st) st = tk_st_upload(e->dev, c, "context", VKT_F32, &io->context, err);
    float *t = c ? tk_st_f32(c, "timestep", NULL, NULL) : NULL;
    if (!st && !t) st = vkt_fail(err, VKT_ERR_FORMAT, "timestep");
    vkt_schedule sch;
    vkt_schedule_init(&sch, 0.00085, 0.012);
    float ca[2], cb[2];
    int32_t ti[2];
    for (int b = 0; t && b < 2; b++) {
        ti[b] = (int32_t)t[b];
        ca[b] = (float)sqrt(sch.alphas_cumprod[ti[b]]);
        cb[b] = (float)sqrt(1.0 - sch.alphas_cumprod[ti[b]]);
    }
    const int64_t cs[4] = {2, 1, 1, 1}, ts = 2;
    if (!st) st = vkt_tensor_alloc(e->dev, VKT_F32, 4, cs, "a", &io->coef_a, err);
    if (!st) st = vkt_tensor_alloc(e->dev, VKT_F32, 4, cs, "b", &io->coef_b, err);
    if (!st) st = vkt_tensor_alloc(e->dev, VKT_I32, 1, &ts, "t", &io->timestep, err);
    if (!st) st = vkt_tensor_upload_f32(e->dev, &io->coef_a, ca, err);
    if (!st) st = vkt_tensor_upload_f32(e->dev, &io->coef_b, cb, err);
    if (!st) st = vkt_buffer_upload(e->dev, io->timestep.buf, 0, ti, sizeof ti, err);
    free(t);
    vkt_safetensors_close(c);
    return st;
}

/* One recording: [zero grads,] forward (+ backward + AdamW when lr > 0); returns the loss. */
static vkt_status train_step(env *e, vkt_unet *u, train_io *io, vkt_hypernetwork *hn,
                             vkt_hn_hook *hook, uint64_t stream, float lr, float *loss,
                             vkt_err *err)
{
    vkt_ti_step_io tio = {.context = &io->context,
                          .latent = &io->latent,
                          .noise = &io->noise,
                          .noise_f32 = &io->noise,
                          .coef_a = &io->coef_a,
                          .coef_b = &io->coef_b,
                          .timestep = &io->timestep};
    vkt_ti_step_opts o = {
        .clip_skip = 1, .backward = lr > 0, .dloss = 1.0f, .hook = vkt_hn_hook_unet(hook)};
    vkt_ti_step_out out;
    vkt_status st = vkt_step_begin_planned(e->step, err);
    if (!st) vkt_hn_hook_begin(hook, 1234, stream);
    if (!st && lr > 0) st = vkt_hn_record_zero_grads(e->step, hn, err);
    if (!st) st = vkt_ti_step_record(e->step, NULL, u, &tio, &o, &out, err);
    vkt_adamw h = vkt_hn_adamw(lr);
    if (!st && lr > 0) st = vkt_hn_record_adamw(e->step, hn, &h, NULL, err);
    if (!st) st = vkt_step_end(e->step, err);
    if (!st) st = vkt_step_submit(e->step, err);
    if (!st) {
        vkt_tensor r = vkt_step_resolve(e->step, &out.loss);
        st = vkt_tensor_download_f32(e->dev, &r, loss, err);
    }
    return st;
}

static void test_train(void)
{
    env e;
    vkt_err err = {0};
    vkt_unet *u = NULL;
    vkt_hypernetwork *hn = NULL, *hd = NULL, *h2 = NULL;
    vkt_hn_hook *hook = NULL, *hookd = NULL;
    train_io io;
    memset(&io, 0, sizeof io);
    float *before = NULL;
    vkt_status st = tk_tiny_init(&e, true, NULL, &err);
    if (!st) st = vkt_unet_load(e.dev, &e.src, VKT_F32, VKT_GEN_TINY.unet_heads, &u, &err);
    if (!st) st = train_inputs(&e, &io, &err);
    /* a fresh hypernetwork with a size the tiny UNet lacks (1024) */
    const int64_t sizes[3] = {128, 64, 1024};
    vkt_hn_options o = base_options("relu", (double[]){1, 2, 1}, 3, false, false);
    vkt_hn_create_opts co = {.name = "trained", .sizes = sizes, .n_sizes = 3, .opt = o, .seed = 2};
    snprintf(co.opt.weight_init, sizeof co.opt.weight_init, "XavierNormal");
    if (!st) st = vkt_hn_create(&co, &hn, &err);
    if (!st) st = vkt_hn_upload(hn, e.dev, true, &err);
    if (!st) st = vkt_hn_hook_create(&hn, 1, VKT_HN_TRAIN, &hook, &err);
    vkt_hn_param *p1024 = st ? NULL : &hn->sizes[2].mod[1].params[0];
    if (!st && !(before = vkt_malloc(pnumel(p1024) * 4)))
        st = vkt_fail(&err, VKT_ERR_NOMEM, "copy");
    if (!st) memcpy(before, p1024->host, pnumel(p1024) * 4);
    /* a fixed-noise loss over 4 AdamW updates (lr 1e-3; each update's loss is computed before its
     * parameter change, so lt[0] is the starting loss), then once more without an update */
    float l1 = 0, lt[4] = {0};
    for (int k = 0; k < 4 && !st; k++)
        st = train_step(&e, u, &io, hn, hook, (uint64_t)k + 1, 1e-3f, &lt[k], &err);
    if (!st) st = train_step(&e, u, &io, hn, hook, 0, 0, &l1, &err);
    TK_CHECK(st == VKT_OK, "training: %s", err.msg);
    if (!st) {
        printf("  loss %.6f -> %.6f after 4 updates (%.6f %.6f %.6f %.6f)\n", lt[0], l1, lt[0],
               lt[1], lt[2], lt[3]);
        TK_CHECK(lt[1] < lt[0] && lt[2] < lt[1] && lt[3] < lt[2] && l1 < lt[3],
                 "every update lowers the loss");
        TK_CHECK(l1 < 0.98f * lt[0], "training lowers the fixed-noise loss: %.6f -> %.6f", lt[0],
                 l1);
        st = vkt_hn_download(hn, &err);
        TK_CHECK(st == VKT_OK, "download: %s", err.msg);
    }
    if (!st) {
        TK_CHECK(!memcmp(before, p1024->host, pnumel(p1024) * 4) && p1024->opt_step == 0 &&
                     !hn->sizes[2].used,
                 "size 1024: not updated, no optimizer state");
        TK_CHECK(hn->sizes[0].mod[0].params[3].opt_step == 4 &&
                     hn->sizes[1].mod[1].params[0].opt_step == 4,
                 "used sizes: 4 AdamW steps");
        /* save, .optim, load back: weights and moments survive, the sizes keep their state or none
         */
        const char *dir = tk_tmpdir("hn_train");
        char p[600];
        snprintf(p, sizeof p, "%s/trained.pt", dir);
        st = vkt_hn_set_meta(hn, "trained", 4, "0123456789", "tiny", &err);
        if (!st) st = vkt_hn_save(hn, p, &err);
        if (!st) st = vkt_hn_save_optim(hn, p, 1e-3, &err);
        bool used = false;
        if (!st) st = vkt_hn_load(p, &h2, &err);
        if (!st) st = vkt_hn_load_optim(h2, p, &used, NULL, 0, &err);
        TK_CHECK(st == VKT_OK && used, "save/load with .optim: %s", err.msg);
        if (!st && used) {
            const vkt_hn_param *a = &hn->sizes[0].mod[1].params[0],
                               *b = &h2->sizes[0].mod[1].params[0];
            TK_CHECK(!memcmp(a->host, b->host, pnumel(a) * 4) &&
                         !memcmp(a->m_host, b->m_host, pnumel(a) * 4) &&
                         !memcmp(a->v_host, b->v_host, pnumel(a) * 4) && b->opt_step == 4 &&
                         h2->step == 4 && h2->sizes[2].mod[0].params[0].opt_step == 0 &&
                         !h2->sizes[2].mod[0].params[0].m_host,
                     "trained file round trip");
        }
    }
    /* dropout in training: masks follow the stream, repeat for the same stream */
    if (!st) {
        vkt_hn_create_opts cd = co;
        cd.name = "dropper";
        cd.opt.use_dropout = true;
        cd.opt.n_layers = 4;
        cd.opt.layer_structure[2] = 2, cd.opt.layer_structure[3] = 1;
        vkt_hn_default_dropout(&cd.opt, true, true); /* [0, 0.3, 0.3, 0] */
        cd.n_sizes = 2;
        st = vkt_hn_create(&cd, &hd, &err);
        if (!st) st = vkt_hn_upload(hd, e.dev, true, &err);
        if (!st) st = vkt_hn_hook_create(&hd, 1, VKT_HN_TRAIN, &hookd, &err);
        float a1 = 0, a2 = 0, b1 = 0;
        if (!st) st = train_step(&e, u, &io, hd, hookd, 5, 0, &a1, &err);
        if (!st) st = train_step(&e, u, &io, hd, hookd, 5, 0, &a2, &err);
        if (!st) st = train_step(&e, u, &io, hd, hookd, 6, 0, &b1, &err);
        TK_CHECK(st == VKT_OK, "dropout: %s", err.msg);
        printf("  dropout: loss %.7f (stream 5), %.7f (stream 5 again), %.7f (stream 6)\n", a1, a2,
               b1);
        TK_CHECK(a1 == a2 && a1 != b1 && vkt_hn_has_dropout(hd), "dropout masks follow the stream");
    }
    free(before);
    vkt_tensor *ts[6] = {&io.latent, &io.noise, &io.coef_a, &io.coef_b, &io.timestep, &io.context};
    for (int i = 0; i < 6; i++)
        if (ts[i]->buf) vkt_tensor_free(e.dev, ts[i]);
    vkt_hn_hook_destroy(hook);
    vkt_hn_hook_destroy(hookd);
    vkt_hn_destroy(hn);
    vkt_hn_destroy(hd);
    vkt_hn_destroy(h2);
    vkt_unet_destroy(u);
    tk_tiny_fini(&e);
}

/* ------------------------------------------------------------------------------------------ */
/* --write DIR: files for tests/reference/check_hn_load.py, each with <name>.expect.safetensors
 * holding inputs x.<size> and vktrain's module outputs y.<size>.<0|1> = x + MLP(x)·multiplier
 * (module.eval(): dropout off), so PyTorch can load them the webui's way and compare. */

static vkt_status write_expect(env *e, vkt_hypernetwork *hn, const char *dir, float mult,
                               vkt_err *err)
{
    vkt_safetensors_writer *w = NULL;
    vkt_status st = vkt_hn_upload(hn, e->dev, false, err);
    if (!st) st = vkt_safetensors_writer_create(&w, err);
    float *bufs[3 * VKT_HN_MAX_SIZES] = {0};
    int nb = 0;
    for (int z = 0; z < hn->n_sizes && !st; z++) {
        int64_t d = hn->sizes[z].dim, shape[3] = {2, 3, d};
        size_t n = (size_t)(6 * d);
        float *x = bufs[nb++] = vkt_malloc(n * 4);
        vkt_rng r = vkt_rng_seeded(42 + (uint64_t)z);
        for (size_t i = 0; x && i < n; i++)
            x[i] = (float)(2 * vkt_rng_f64(&r) - 1);
        vkt_tensor tx = {0}, y[2];
        st = vkt_tensor_alloc(e->dev, VKT_F32, 3, shape, "x", &tx, err);
        if (!st) st = vkt_tensor_upload_f32(e->dev, &tx, x, err);
        if (!st) st = vkt_step_begin_planned(e->step, err);
        for (int j = 0; j < 2 && !st; j++) {
            st = vkt_hn_module_fwd(e->step, &hn->sizes[z].mod[j], &hn->opt, &tx, mult, false, 0, 0,
                                   &y[j], NULL, err);
            if (!st) st = vkt_step_keep(e->step, &y[j], err);
        }
        if (!st) st = vkt_step_end(e->step, err);
        if (!st) st = vkt_step_submit(e->step, err);
        char name[64];
        snprintf(name, sizeof name, "x.%lld", (long long)d);
        if (!st) st = vkt_safetensors_writer_add(w, name, VKT_IO_F32, 3, shape, x, err);
        for (int j = 0; j < 2 && !st; j++) {
            float *yv = bufs[nb++] = download(e, &y[j]);
            snprintf(name, sizeof name, "y.%lld.%d", (long long)d, j);
            st = yv ? vkt_safetensors_writer_add(w, name, VKT_IO_F32, 3, shape, yv, err)
                    : vkt_fail(err, VKT_ERR_VK, "download");
        }
        if (tx.buf) vkt_tensor_free(e->dev, &tx);
    }
    char m[32], path[600];
    snprintf(m, sizeof m, "%.9g", (double)mult);
    snprintf(path, sizeof path, "%s/%s.expect.safetensors", dir, hn->name);
    if (!st) st = vkt_safetensors_writer_meta(w, "vktrain.multiplier", m, err);
    if (!st) st = vkt_safetensors_writer_write(w, path, err);
    vkt_safetensors_writer_destroy(w);
    for (int i = 0; i < nb; i++)
        free(bufs[i]);
    vkt_hn_release(hn);
    return st;
}

static void randomize(vkt_hypernetwork *hn, uint64_t seed)
{
    vkt_rng r = vkt_rng_seeded(seed);
    for (int z = 0; z < hn->n_sizes; z++)
        for (int j = 0; j < 2; j++)
            for (int i = 0; i < hn->sizes[z].mod[j].n_params; i++) {
                vkt_hn_param *p = &hn->sizes[z].mod[j].params[i];
                double sc = p->ndim == 2 ? 1.0 / sqrt((double)p->shape[1]) : 0.2;
                bool lnw = p->ndim == 1 && strstr(p->key, "weight");
                for (size_t k = 0; k < pnumel(p); k++)
                    p->host[k] = (float)((lnw ? 1 : 0) + sc * (2 * vkt_rng_f64(&r) - 1));
            }
}

static int write_files(const char *dir)
{
    env e = {0}; /* teardown below also runs when mkdirs failed before setup */
    vkt_err err = {0};
    vkt_hypernetwork *hn = NULL;
    vkt_status st = vkt_mkdirs(dir, &err);
    if (!st) st = tk_tiny_init(&e, false, NULL, &err);
    char p[600];
    const int64_t sizes[2] = {64, 128};
    /* a) what `vktrain hypernetwork create` writes by default (at small sizes) */
    if (!st) {
        vkt_hn_options o = base_options("linear", (double[]){1, 2, 1}, 3, false, false);
        vkt_hn_create_opts c = {
            .name = "created", .sizes = sizes, .n_sizes = 2, .opt = o, .seed = 11};
        st = vkt_hn_create(&c, &hn, &err);
        snprintf(p, sizeof p, "%s/created.pt", dir);
        if (!st) st = vkt_hn_save(hn, p, &err);
        if (!st) st = write_expect(&e, hn, dir, 1.0f, &err);
        vkt_hn_destroy(hn);
        hn = NULL;
    }
    /* b) swish + LayerNorm + a dropout structure (floats), KaimingUniform */
    if (!st) {
        vkt_hn_options o = base_options("swish", (double[]){1, 1.5, 0.5, 1}, 4, true, false);
        o.use_dropout = true;
        const double ds[4] = {0, 0.2, 0.1, 0};
        for (int i = 0; i < 4; i++)
            o.dropout_structure[i] = ds[i], o.dropout_int[i] = false;
        vkt_hn_create_opts c = {
            .name = "lnswish", .sizes = sizes, .n_sizes = 2, .opt = o, .seed = 12};
        snprintf(c.opt.weight_init, sizeof c.opt.weight_init, "KaimingUniform");
        st = vkt_hn_create(&c, &hn, &err);
        snprintf(p, sizeof p, "%s/lnswish.pt", dir);
        if (!st) st = vkt_hn_save(hn, p, &err);
        if (!st) st = write_expect(&e, hn, dir, 1.0f, &err);
        vkt_hn_destroy(hn);
        hn = NULL;
    }
    /* c) a "trained" file: activate_output, elu, meta, and an .optim with state for some params */
    if (!st) {
        vkt_hn_options o = base_options("elu", (double[]){1, 2, 1}, 3, true, true);
        const int64_t s3[3] = {128, 64, 24};
        st = vkt_hn_new("trained", &o, s3, 3, &hn, &err);
        if (!st) {
            randomize(hn, 13);
            st = vkt_hn_set_meta(hn, NULL, 1234, "0123456789", "tiny", &err);
            hn->optional_info = strdup("written by test_hypernetwork --write");
            for (int z = 0; z < 2; z++) /* sizes 128 and 64 trained; 24 never used: no state */
                for (int j = 0; j < 2; j++)
                    for (int i = 0; i < hn->sizes[z].mod[j].n_params; i++) {
                        vkt_hn_param *q = &hn->sizes[z].mod[j].params[i];
                        q->m_host = vkt_malloc(pnumel(q) * 4);
                        q->v_host = vkt_malloc(pnumel(q) * 4);
                        for (size_t k = 0; k < pnumel(q); k++)
                            q->m_host[k] = 1e-3f * (float)(k % 17),
                            q->v_host[k] = 1e-7f * (float)(k % 5);
                        q->opt_step = 1234;
                    }
        }
        snprintf(p, sizeof p, "%s/trained.pt", dir);
        if (!st) st = vkt_hn_save(hn, p, &err);
        if (!st) st = vkt_hn_save_optim(hn, p, 5e-6, &err);
        if (!st) st = write_expect(&e, hn, dir, 0.6f, &err);
        vkt_hn_destroy(hn);
        hn = NULL;
    }
    /* d) the torch-written golden, loaded and written again */
    if (!st) st = vkt_hn_load(tk_src("tests/golden/hn_ln.pt"), &hn, &err);
    if (!st) {
        snprintf(hn->name, sizeof hn->name, "resaved");
        snprintf(p, sizeof p, "%s/resaved.pt", dir);
        st = vkt_hn_save(hn, p, &err);
        if (!st) st = write_expect(&e, hn, dir, 1.0f, &err);
    }
    vkt_hn_destroy(hn);
    if (st) fprintf(stderr, "test_hypernetwork --write: %s\n", err.msg);
    tk_tiny_fini(&e);
    return st ? 1 : tk_finish("hypernetwork --write");
}

/* ------------------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "files";
    if (!strcmp(what, "--write") && argc > 2) return write_files(argv[2]);
    if (!strcmp(what, "files"))
        test_files();
    else if (!strcmp(what, "module"))
        test_module();
    else if (!strcmp(what, "st"))
        test_st();
    else if (!strcmp(what, "train"))
        test_train();
    else {
        fprintf(stderr, "usage: test_hypernetwork files|module|st|train|--write DIR\n");
        return 2;
    }
    return tk_finish("hypernetwork");
}
