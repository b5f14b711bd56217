/* models/vae: loading with dims from shapes (TINY and SD1.5), argument checks, latent helpers,
 * RGB8 conversion (`test_vae unit`); the encoder, decoder and single blocks against the PyTorch
 * references in tests/golden (`test_vae golden f32|f16`); and, not run by ctest, the
 * planned memory of SD1.5 at a given size (`test_vae plan 512 [f16]`).
 * The model comes from the C generator (docs/tiny-model.md) through an in-memory weight source:
 * no model file is written. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "models/tiny_model.h"
#include "models/vae.h"
#include "nn/tensor.h"
#include "testkit.h"

/* ------------------------------------------------------------------------------------------
 * the generated model as a weight source
 * ------------------------------------------------------------------------------------------ */

typedef struct gen_src {
    vkt_gen_tensor *ts;
    uint32_t n;
    uint64_t seed;
    const char *skip; /* a key to pretend is missing (NULL: none) */
    float *buf;       /* values of the last tensor found */
    size_t cap;
    vkt_tensor_data td;
} gen_src;

static const vkt_tensor_data *gen_find(void *user, const char *key)
{
    gen_src *g = user;
    if (g->skip && !strcmp(key, g->skip)) return NULL;
    for (uint32_t i = 0; i < g->n; i++) {
        const vkt_gen_tensor *t = &g->ts[i];
        if (strcmp(t->key, key) || t->is_i64) continue;
        size_t n = (size_t)vkt_gen_numel(t);
        if (n > g->cap) {
            float *nb = realloc(g->buf, n * sizeof *nb);
            if (!nb) return NULL;
            g->buf = nb;
            g->cap = n;
        }
        vkt_gen_values(g->seed, t, g->buf);
        memset(&g->td, 0, sizeof g->td);
        g->td.dtype = VKT_IO_F32;
        g->td.ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++) g->td.shape[d] = t->shape[d];
        vkt_tensor_data_set_contiguous(&g->td);
        g->td.data = (const uint8_t *)g->buf;
        g->td.bytes = n * sizeof(float);
        return &g->td;
    }
    return NULL;
}

static bool gen_open(const vkt_gen_config *c, gen_src *g, vkt_weight_source *src)
{
    vkt_err err;
    memset(g, 0, sizeof *g);
    if (vkt_gen_keys(c, &g->ts, &g->n, &err)) {
        TK_CHECK(0, "generator keys: %s", err.msg);
        return false;
    }
    *src = (vkt_weight_source){.find = gen_find, .user = g, .origin = c->name};
    snprintf(src->prefix, sizeof src->prefix, "first_stage_model.");
    return true;
}

static void gen_close(gen_src *g)
{
    free(g->ts);
    free(g->buf);
}

/* ------------------------------------------------------------------------------------------
 * helpers
 * ------------------------------------------------------------------------------------------ */

typedef struct env {
    vkt_device *dev;
    vkt_step *step;
} env;

static bool env_open(env *e)
{
    vkt_err err = {0};
    memset(e, 0, sizeof *e);
    vkt_status st = vkt_device_create(&(vkt_device_opts){.validation = 1}, &e->dev, &err);
    if (!st) st = vkt_step_create(e->dev, &e->step, &err);
    TK_CHECK(st == VKT_OK, "device: %s", err.msg);
    return st == VKT_OK;
}

static void env_close(env *e)
{
    if (e->dev)
        TK_CHECK(vkt_device_validation_count(e->dev) == 0, "%u validation messages",
                 vkt_device_validation_count(e->dev));
    vkt_step_destroy(e->step);
    vkt_device_destroy(e->dev);
}

static float *load_f32(vkt_safetensors *st, const char *name, int ndim, int64_t *shape)
{
    const vkt_tensor_data *t = vkt_safetensors_find(st, name);
    if (!t || t->ndim != ndim) {
        TK_CHECK(0, "golden tensor %s missing or not %d-D", name, ndim);
        return NULL;
    }
    for (int i = 0; i < ndim; i++) shape[i] = t->shape[i];
    float *x = malloc(vkt_tensor_data_numel(t) * sizeof *x);
    vkt_err err;
    if (!x || vkt_tensor_data_to_f32(t, x, &err)) {
        free(x);
        TK_CHECK(0, "golden tensor %s unreadable", name);
        return NULL;
    }
    return x;
}

/* eval-case.md: error = max |out - ref| / max |ref|. */
static double rel_err(const float *got, const float *ref, size_t n)
{
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (!(e <= d)) d = e; /* NaN propagates */
        if (fabs(ref[i]) > m) m = fabs(ref[i]);
    }
    return m > 0 ? d / m : d;
}

static size_t numel4(const int64_t *s) { return (size_t)(s[0] * s[1] * s[2] * s[3]); }

/* ------------------------------------------------------------------------------------------
 * unit
 * ------------------------------------------------------------------------------------------ */

static void test_tiny_config(env *e)
{
    gen_src g;
    vkt_weight_source src;
    vkt_err err = {0};
    if (!gen_open(&VKT_GEN_TINY, &g, &src)) return;
    vkt_vae *v = NULL;
    vkt_status st = vkt_vae_load(e->dev, &src, VKT_F32, &v, &err);
    TK_CHECK(st == VKT_OK, "load TINY: %s", err.msg);
    if (v) {
        const vkt_vae_config *c = vkt_vae_config_get(v);
        TK_CHECK(c->ch == 32 && c->n_levels == 4 && c->enc_res == 1 && c->dec_res == 2 && c->z == 4 &&
                     c->embed == 4 && c->factor == 8 && c->in_ch == 3 && c->out_ch == 3,
                 "TINY dims: ch %d levels %d res %d/%d z %d embed %d factor %d", c->ch, c->n_levels, c->enc_res,
                 c->dec_res, c->z, c->embed, c->factor);
        static const int want[4] = {32, 64, 64, 64};
        for (int i = 0; i < 4; i++)
            TK_CHECK(c->enc_ch[i] == want[i] && c->dec_ch[i] == want[i], "TINY level %d: %d/%d channels", i,
                     c->enc_ch[i], c->dec_ch[i]);
        int nkeys = 0;
        int64_t params = 0;
        for (uint32_t i = 0; i < g.n; i++)
            if (!strncmp(g.ts[i].key, "first_stage_model.", 18)) nkeys++, params += vkt_gen_numel(&g.ts[i]);
        TK_CHECK(nkeys == 180 && vkt_vae_params(v) == (uint64_t)params, "TINY: %llu params loaded of %lld (%d keys)",
                 (unsigned long long)vkt_vae_params(v), (long long)params, nkeys);
        TK_CHECK(vkt_vae_latent_side(v, 64) == 8 && vkt_vae_latent_side(v, 72) == 9 &&
                     vkt_vae_latent_side(v, 70) == 8 && vkt_vae_latent_side(v, 0) == 0,
                 "latent sides");

        /* argument checks: outside a planned step, wrong channels, wrong output shape, unknown block */
        vkt_tensor img, mean, lv, bad;
        st = vkt_tensor_alloc(e->dev, VKT_F32, 4, (int64_t[]){1, 3, 16, 16}, "img", &img, &err);
        st = st ? st : vkt_tensor_alloc(e->dev, VKT_F32, 4, (int64_t[]){1, 4, 2, 2}, "mean", &mean, &err);
        st = st ? st : vkt_tensor_alloc(e->dev, VKT_F32, 4, (int64_t[]){1, 4, 2, 2}, "lv", &lv, &err);
        st = st ? st : vkt_tensor_alloc(e->dev, VKT_F32, 4, (int64_t[]){1, 4, 3, 2}, "bad", &bad, &err);
        TK_CHECK(st == VKT_OK, "alloc: %s", err.msg);
        if (!st) {
            vkt_step_begin(e->step, &err);
            st = vkt_vae_encode(e->step, v, &img, &mean, &lv, &err);
            TK_CHECK(st == VKT_ERR_USAGE && strstr(err.msg, "planned"), "unplanned step refused: %s", err.msg);
            vkt_step_begin_planned(e->step, &err);
            st = vkt_vae_encode(e->step, v, &img, &mean, &bad, &err);
            TK_CHECK(st == VKT_ERR_SHAPE && strstr(err.msg, "logvar is f32 [1,4,3,2], expected f32 [1,4,2,2]"),
                     "wrong logvar shape: %s", err.msg);
            st = vkt_vae_decode(e->step, v, &img, &mean, &err);
            TK_CHECK(st == VKT_ERR_SHAPE && strstr(err.msg, "latent is f32 [1,3,16,16], expected f32 [*,4,*,*]"),
                     "wrong latent channels: %s", err.msg);
            vkt_tensor out;
            st = vkt_vae_block_fwd(e->step, v, "encoder.down.4.block.0", &img, &out, &err);
            TK_CHECK(st == VKT_ERR_USAGE && strstr(err.msg, "no block"), "unknown block: %s", err.msg);
            st = vkt_vae_block_fwd(e->step, v, "decoder.up.0.upsample", &img, &out, &err);
            TK_CHECK(st == VKT_ERR_USAGE, "up.0 has no upsample: %s", err.msg);
            st = vkt_vae_block_fwd(e->step, v, "encoder.down.1.block.0x", &img, &out, &err);
            TK_CHECK(st == VKT_ERR_USAGE, "trailing characters: %s", err.msg);
            vkt_step_end(e->step, &err);
        }
        vkt_tensor_free(e->dev, &img);
        vkt_tensor_free(e->dev, &mean);
        vkt_tensor_free(e->dev, &lv);
        vkt_tensor_free(e->dev, &bad);
    }
    vkt_vae_destroy(v);

    /* a missing tensor is named with its full key */
    g.skip = "first_stage_model.decoder.up.2.block.1.norm2.bias";
    v = NULL;
    st = vkt_vae_load(e->dev, &src, VKT_F32, &v, &err);
    TK_CHECK(st == VKT_ERR_FORMAT && strstr(err.msg, "\"first_stage_model.decoder.up.2.block.1.norm2.bias\" is missing"),
             "missing key: %s", err.msg);
    vkt_vae_destroy(v);
    gen_close(&g);
}

/* SD1.5's dims from its shapes, loaded in f16 where the device can (335 MB in f32). */
static void test_sd15_config(env *e)
{
    gen_src g;
    vkt_weight_source src;
    vkt_err err = {0};
    if (!gen_open(&VKT_GEN_SD15, &g, &src)) return;
    vkt_step *s = e->step;
    vkt_dtype dt = vkt_step_dtype_ok(s, VKT_F16) ? VKT_F16 : VKT_F32;
    vkt_vae *v = NULL;
    vkt_status st = vkt_vae_load(e->dev, &src, dt, &v, &err);
    TK_CHECK(st == VKT_OK, "load SD1.5 VAE: %s", err.msg);
    if (v) {
        const vkt_vae_config *c = vkt_vae_config_get(v);
        static const int want[4] = {128, 256, 512, 512};
        bool ok = c->ch == 128 && c->n_levels == 4 && c->enc_res == 2 && c->dec_res == 3 && c->z == 4 &&
                  c->embed == 4 && c->factor == 8;
        for (int i = 0; i < 4; i++) ok = ok && c->enc_ch[i] == want[i] && c->dec_ch[i] == want[i];
        TK_CHECK(ok, "SD1.5 dims: ch %d levels %d res %d/%d", c->ch, c->n_levels, c->enc_res, c->dec_res);
        TK_CHECK(vkt_vae_params(v) == 83653863, "SD1.5 VAE params %llu", (unsigned long long)vkt_vae_params(v));
    }
    vkt_vae_destroy(v);
    gen_close(&g);
}

static void test_latents(env *e)
{
    vkt_latent_sampling m;
    TK_CHECK(vkt_latent_sampling_parse("once", &m) && m == VKT_LATENT_ONCE, "parse once");
    TK_CHECK(vkt_latent_sampling_parse("deterministic", &m) && m == VKT_LATENT_DETERMINISTIC, "parse deterministic");
    TK_CHECK(vkt_latent_sampling_parse("random", &m) && m == VKT_LATENT_RANDOM, "parse random");
    TK_CHECK(!vkt_latent_sampling_parse("Once", &m) && !vkt_latent_sampling_parse(NULL, &m), "parse rejects");
    TK_CHECK(!strcmp(vkt_latent_sampling_name(VKT_LATENT_RANDOM), "random"), "name");

    enum { N = 6 };
    const float mean[N] = {0.5f, -1.0f, 2.0f, 0.0f, 3.0f, -0.25f};
    const float lv[N] = {-30.0f, 0.0f, 2.0f, -4.0f, 20.0f, -1.0f};
    const float eps[N] = {1.0f, 0.5f, -1.0f, 2.0f, 1e-3f, -0.5f};
    float out[N], got[N];
    vkt_err err = {0};
    TK_CHECK(vkt_vae_latent_host(VKT_LATENT_ONCE, N, mean, lv, NULL, out, &err) == VKT_ERR_USAGE,
             "once needs noise");
    TK_CHECK(vkt_vae_latent_host(VKT_LATENT_DETERMINISTIC, N, mean, lv, NULL, out, &err) == VKT_OK, "deterministic");
    bool ok = true;
    for (int i = 0; i < N; i++) ok = ok && out[i] == 0.18215f * mean[i];
    TK_CHECK(ok, "deterministic = 0.18215 * mean");
    TK_CHECK(vkt_vae_latent_host(VKT_LATENT_RANDOM, N, mean, lv, eps, out, &err) == VKT_OK, "random");
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double want = 0.18215 * (mean[i] + exp(0.5 * lv[i]) * eps[i]);
        double d = fabs(out[i] - want) / (fabs(want) + 0.18215 * fabs(exp(0.5 * lv[i]) * eps[i]));
        if (d > worst) worst = d;
    }
    /* float32 expf (1 ulp in glibc), a multiply-add and the scale: a few units of 2^-24 */
    TK_CHECK(worst < 6e-7, "random latents vs double: %.2e", worst);

    /* the device path gives the same latents */
    vkt_tensor tm, tl, te, tz;
    int64_t shape[4] = {1, 1, 2, 3};
    vkt_status st = vkt_tensor_alloc(e->dev, VKT_F32, 4, shape, "mean", &tm, &err);
    st = st ? st : vkt_tensor_alloc(e->dev, VKT_F32, 4, shape, "logvar", &tl, &err);
    st = st ? st : vkt_tensor_alloc(e->dev, VKT_F32, 4, shape, "eps", &te, &err);
    st = st ? st : vkt_tensor_alloc(e->dev, VKT_F32, 4, shape, "z", &tz, &err);
    st = st ? st : vkt_tensor_upload_f32(e->dev, &tm, mean, &err);
    st = st ? st : vkt_tensor_upload_f32(e->dev, &tl, lv, &err);
    st = st ? st : vkt_tensor_upload_f32(e->dev, &te, eps, &err);
    TK_CHECK(st == VKT_OK, "latent tensors: %s", err.msg);
    if (!st) {
        vkt_step_begin(e->step, &err);
        TK_CHECK(vkt_vae_latent(e->step, VKT_LATENT_RANDOM, &tm, &tl, NULL, &tz, &err) == VKT_ERR_USAGE,
                 "device random needs noise");
        st = vkt_vae_latent(e->step, VKT_LATENT_ONCE, &tm, &tl, &te, &tz, &err);
        st = st ? st : vkt_step_run(e->step, &err);
        st = st ? st : vkt_tensor_download_f32(e->dev, &tz, got, &err);
        TK_CHECK(st == VKT_OK, "device latents: %s", err.msg);
        vkt_vae_latent_host(VKT_LATENT_ONCE, N, mean, lv, eps, out, &err);
        double d = 0;
        for (int i = 0; i < N; i++) {
            /* Vulkan's exp may differ from expf by (3 + 2|x|) ulp, |x| <= 10 here */
            double tol = 60 * 5.96e-8 * (fabs(out[i]) + 0.18215 * fabs(exp(0.5 * lv[i]) * eps[i]));
            if (fabs(got[i] - out[i]) > tol) d = 1;
        }
        TK_CHECK(d == 0, "device latents = host latents");
        vkt_step_begin(e->step, &err);
        st = vkt_vae_latent(e->step, VKT_LATENT_DETERMINISTIC, &tm, &tl, NULL, &tz, &err);
        st = st ? st : vkt_step_run(e->step, &err);
        st = st ? st : vkt_tensor_download_f32(e->dev, &tz, got, &err);
        ok = st == VKT_OK;
        for (int i = 0; i < N; i++) ok = ok && got[i] == 0.18215f * mean[i];
        TK_CHECK(ok, "device deterministic latents: %s", err.msg);
    }
    vkt_tensor_free(e->dev, &tm);
    vkt_tensor_free(e->dev, &tl);
    vkt_tensor_free(e->dev, &te);
    vkt_tensor_free(e->dev, &tz);
}

static void test_rgb8(void)
{
    /* one 1x4 image: x -> clamp(x/2 + 1/2, 0, 1) * 255, truncated like numpy's astype(uint8) */
    const float img[3 * 4] = {-1.0f, 1.0f, 0.0f, 5.0f,     /* R: 0, 255, 127 (127.5), 255 */
                              -3.0f, 0.5f, -0.999f, NAN,   /* G: 0, 191 (191.25), 0 (0.1275), 0 */
                              0.992f, 0.9921569f, 0.2f, -0.2f}; /* B: 253 (253.98), 254 (254.0000..), 153, 102 */
    uint8_t rgb[12];
    vkt_vae_to_rgb8(img, 1, 4, rgb);
    const uint8_t want[12] = {0, 0, 253, 255, 191, 254, 127, 0, 153, 255, 0, 102};
    bool ok = true;
    for (int i = 0; i < 12; i++) ok = ok && rgb[i] == want[i];
    TK_CHECK(ok, "rgb8: %u %u %u | %u %u %u | %u %u %u | %u %u %u", rgb[0], rgb[1], rgb[2], rgb[3], rgb[4], rgb[5],
             rgb[6], rgb[7], rgb[8], rgb[9], rgb[10], rgb[11]);
}

/* ------------------------------------------------------------------------------------------
 * golden
 * ------------------------------------------------------------------------------------------ */

/* fp32 forward <= 1e-4 of max |ref|, fp16 storage 1e-2 (eval-case.md). */
static double tolerance(vkt_dtype dt) { return dt == VKT_F16 ? 1e-2 : 1e-4; }

/* Uploads x (shape s) as a persistent tensor of the VAE's dtype. */
static vkt_status upload(env *e, vkt_dtype dt, const int64_t *s, const float *x, const char *what, vkt_tensor *t,
                         vkt_err *err)
{
    vkt_status st = vkt_tensor_alloc(e->dev, dt, 4, s, what, t, err);
    if (!st) st = vkt_tensor_upload_f32(e->dev, t, x, err);
    return st;
}

static void golden_case(env *e, vkt_vae *v, const char *dir, const char *name)
{
    char path[512];
    vkt_err err = {0};
    vkt_safetensors *cs = NULL, *rs = NULL;
    snprintf(path, sizeof path, "%s/%s.case.safetensors", dir, name);
    vkt_status st = vkt_safetensors_open(path, &cs, &err);
    snprintf(path, sizeof path, "%s/%s.ref.safetensors", dir, name);
    if (!st) st = vkt_safetensors_open(path, &rs, &err);
    TK_CHECK(st == VKT_OK, "%s: %s", name, err.msg);
    if (st) goto out;
    vkt_dtype dt = vkt_vae_dtype(v);
    bool enc = !strncmp(name, "vae_enc", 7);
    int64_t si[4], so[4], so2[4];
    float *in = load_f32(cs, enc ? "image" : "decode_latent", 4, si);
    float *ref = load_f32(rs, enc ? "vae_mean" : "decoded", 4, so);
    float *ref2 = enc ? load_f32(rs, "vae_logvar", 4, so2) : NULL;
    float *got = ref ? malloc(numel4(so) * sizeof *got) : NULL;
    vkt_tensor x = {0}, y = {0}, y2 = {0};
    if (!in || !ref || (enc && !ref2) || !got) goto free_host;
    st = upload(e, dt, si, in, "input", &x, &err);
    if (!st) st = vkt_tensor_alloc(e->dev, dt, 4, so, "output", &y, &err);
    if (!st && enc) st = vkt_tensor_alloc(e->dev, dt, 4, so, "output 2", &y2, &err);
    if (!st) st = vkt_step_begin_planned(e->step, &err);
    if (!st) st = enc ? vkt_vae_encode(e->step, v, &x, &y, &y2, &err) : vkt_vae_decode(e->step, v, &x, &y, &err);
    if (!st) st = vkt_step_end(e->step, &err);
    if (!st) st = vkt_step_submit(e->step, &err);
    TK_CHECK(st == VKT_OK, "%s %s: %s", name, vkt_dtype_name(dt), err.msg);
    if (st) goto free_dev;
    printf("%s %s: planned %.2f MiB (%.2f MiB without reuse)\n", name, vkt_dtype_name(dt),
           vkt_step_peak_bytes(e->step) / 1048576.0, vkt_step_naive_bytes(e->step) / 1048576.0);
    for (int k = 0; k < (enc ? 2 : 1); k++) {
        const char *what = enc ? (k ? "vae_logvar" : "vae_mean") : "decoded";
        if ((st = vkt_tensor_download_f32(e->dev, k ? &y2 : &y, got, &err))) break;
        double r = rel_err(got, k ? ref2 : ref, numel4(so));
        printf("  %-12s %s: error %.3e (tolerance %.0e)\n", what, vkt_dtype_name(dt), r, tolerance(dt));
        TK_CHECK(r <= tolerance(dt), "%s %s %s: error %.3e > %.0e", name, what, vkt_dtype_name(dt), r,
                 tolerance(dt));
    }
    TK_CHECK(st == VKT_OK, "%s download: %s", name, err.msg);
free_dev:
    vkt_tensor_free(e->dev, &x);
    vkt_tensor_free(e->dev, &y);
    vkt_tensor_free(e->dev, &y2);
free_host:
    free(in), free(ref), free(ref2), free(got);
out:
    vkt_safetensors_close(cs);
    vkt_safetensors_close(rs);
}

/* block_<name>.safetensors: x -> out through the block at the file's weights prefix. */
static void golden_block(env *e, vkt_vae *v, const char *dir, const char *name)
{
    char path[512];
    vkt_err err = {0};
    vkt_safetensors *f = NULL;
    snprintf(path, sizeof path, "%s/block_%s.safetensors", dir, name);
    vkt_status st = vkt_safetensors_open(path, &f, &err);
    TK_CHECK(st == VKT_OK, "%s: %s", name, err.msg);
    if (st) return;
    const char *prefix = vkt_safetensors_meta(f, "vktrain.weights_prefix");
    char block[128] = "";
    if (prefix && !strncmp(prefix, "first_stage_model.", 18)) snprintf(block, sizeof block, "%s", prefix + 18);
    size_t len = strlen(block);
    if (len && block[len - 1] == '.') block[--len] = 0;
    if (len > 5 && !strcmp(block + len - 5, ".conv")) block[len - 5] = 0; /* down.i.downsample.conv */
    vkt_dtype dt = vkt_vae_dtype(v);
    int64_t si[4], so[4];
    float *in = load_f32(f, "x", 4, si), *ref = load_f32(f, "out", 4, so);
    float *got = ref ? malloc(numel4(so) * sizeof *got) : NULL;
    vkt_tensor x = {0}, y;
    TK_CHECK(len > 0, "%s: weights prefix %s", name, prefix ? prefix : "(none)");
    if (!in || !ref || !got || !len) goto done;
    st = upload(e, dt, si, in, "x", &x, &err);
    if (!st) st = vkt_step_begin_planned(e->step, &err);
    if (!st) st = vkt_vae_block_fwd(e->step, v, block, &x, &y, &err);
    if (!st) st = vkt_step_keep(e->step, &y, &err);
    if (!st) st = vkt_step_end(e->step, &err);
    if (!st) st = vkt_step_submit(e->step, &err);
    if (!st) {
        vkt_tensor r = vkt_step_resolve(e->step, &y);
        char a[64], b[64];
        vkt_tensor ref_t = {.ndim = 4, .shape = {so[0], so[1], so[2], so[3]}};
        if (!vkt_shape_eq(&r, &ref_t))
            st = vkt_fail(&err, VKT_ERR_SHAPE, "out %s, reference %s", vkt_shape_str(&r, a, sizeof a),
                          vkt_shape_str(&ref_t, b, sizeof b));
        else
            st = vkt_tensor_download_f32(e->dev, &r, got, &err);
    }
    TK_CHECK(st == VKT_OK, "block %s (%s) %s: %s", name, block, vkt_dtype_name(dt), err.msg);
    if (!st) {
        double r = rel_err(got, ref, numel4(so));
        printf("  block %-26s %s: error %.3e (tolerance %.0e)\n", block, vkt_dtype_name(dt), r, tolerance(dt));
        TK_CHECK(r <= tolerance(dt), "block %s %s: error %.3e > %.0e", block, vkt_dtype_name(dt), r, tolerance(dt));
    }
done:
    vkt_tensor_free(e->dev, &x);
    free(in), free(ref), free(got);
    vkt_safetensors_close(f);
}

static void golden(env *e, const char *dir, const char *which)
{
    const vkt_dtype dts[2] = {VKT_F32, VKT_F16};
    for (int d = 0; d < 2; d++) {
        if (which && strcmp(which, vkt_dtype_name(dts[d]))) continue;
        if (!vkt_step_dtype_ok(e->step, dts[d])) {
            printf("%s storage not available: skipped\n", vkt_dtype_name(dts[d]));
            continue;
        }
        gen_src g;
        vkt_weight_source src;
        vkt_err err = {0};
        if (!gen_open(&VKT_GEN_TINY, &g, &src)) return;
        vkt_vae *v = NULL;
        vkt_status st = vkt_vae_load(e->dev, &src, dts[d], &v, &err);
        TK_CHECK(st == VKT_OK, "load TINY %s: %s", vkt_dtype_name(dts[d]), err.msg);
        if (v) {
            golden_case(e, v, dir, "vae_enc");
            golden_case(e, v, dir, "vae_dec");
            golden_case(e, v, dir, "vae_enc_48x80"); /* tests/reference/vae_extra.py */
            golden_case(e, v, dir, "vae_dec_6x10");
            golden_block(e, v, dir, "vae_resnet");
            golden_block(e, v, dir, "vae_attn");
            golden_block(e, v, dir, "vae_downsample");
        }
        vkt_vae_destroy(v);
        gen_close(&g);
    }
}

/* ------------------------------------------------------------------------------------------
 * plan: SD1.5 activation memory at a size (not a ctest: minutes of weight generation)
 * ------------------------------------------------------------------------------------------ */

static void plan(env *e, int px, vkt_dtype dt, int batch)
{
    gen_src g;
    vkt_weight_source src;
    vkt_err err = {0};
    if (!gen_open(&VKT_GEN_SD15, &g, &src)) return;
    vkt_vae *v = NULL;
    vkt_status st = vkt_vae_load(e->dev, &src, dt, &v, &err);
    TK_CHECK(st == VKT_OK, "load SD1.5 VAE: %s", err.msg);
    if (!st) {
        printf("SD1.5 VAE %s: %.1f MiB of weights\n", vkt_dtype_name(dt), vkt_vae_weight_bytes(v) / 1048576.0);
        int64_t lat = vkt_vae_latent_side(v, px);
        for (int k = 0; k < 2; k++) {
            /* image and latent tensors are step tensors here, so the arena holds everything */
            vkt_tensor img, mean, lv;
            st = vkt_step_begin_planned(e->step, &err);
            if (!st) st = vkt_step_tensor(e->step, dt, 4, (int64_t[]){batch, 3, px, px}, "image", &img, &err);
            if (!st) st = vkt_step_tensor(e->step, dt, 4, (int64_t[]){batch, 4, lat, lat}, "mean", &mean, &err);
            if (!st) st = vkt_step_tensor(e->step, dt, 4, (int64_t[]){batch, 4, lat, lat}, "logvar", &lv, &err);
            if (!st && k == 0) st = vkt_vae_encode(e->step, v, &img, &mean, &lv, &err);
            if (!st && k == 1) st = vkt_vae_decode(e->step, v, &mean, &img, &err);
            if (!st) st = vkt_step_keep(e->step, &img, &err);
            if (!st) st = vkt_step_end_dry(e->step, &err);
            TK_CHECK(st == VKT_OK, "plan: %s", err.msg);
            if (!st)
                printf("%s %dx%d batch %d %s: planned peak %.1f MiB (%.1f MiB without reuse)\n",
                       k ? "decode" : "encode", px, px, batch, vkt_dtype_name(dt),
                       vkt_step_peak_bytes(e->step) / 1048576.0, vkt_step_naive_bytes(e->step) / 1048576.0);
        }
    }
    vkt_vae_destroy(v);
    gen_close(&g);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "unit";
    env e;
    if (!env_open(&e)) return tk_finish("vae");
    if (!strcmp(mode, "unit")) {
        test_tiny_config(&e);
        test_sd15_config(&e);
        test_latents(&e);
        test_rgb8();
    } else if (!strcmp(mode, "golden")) {
        golden(&e, argc > 3 ? argv[3] : tk_src("tests/golden"), argc > 2 && strcmp(argv[2], "all") ? argv[2] : NULL);
    } else if (!strcmp(mode, "plan") && argc > 2) {
        plan(&e, atoi(argv[2]), argc > 3 && !strcmp(argv[3], "f16") ? VKT_F16 : VKT_F32, argc > 4 ? atoi(argv[4]) : 1);
    } else {
        fprintf(stderr, "usage: test_vae unit | golden [f32|f16|all [DIR]] | plan PX [f32|f16 [BATCH]]\n");
        env_close(&e);
        return 2;
    }
    env_close(&e);
    return tk_finish("vae");
}
