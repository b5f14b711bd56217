/* The samplers of src/models/sampler.h and the infotext `vktrain sample` writes.
 *
 *   test_sampler schedule     sigma schedules, sigma_to_t, ancestral steps and DDIM timesteps vs
 *                             tests/golden/sampler_sigmas.safetensors (tests/reference/
 *                             sampler_sigmas.py: k-diffusion's formulas in torch float32 and
 *                             numpy float64); plan coefficients; sampler names
 *   test_sampler step f32|f16 one GPU step (the first and the last) of Euler a, Euler and DDIM on
 *                             the tiny UNet (64x64 px = 8x8 latent, batch 2, both conditioning
 *                             layouts) vs the webui's formula in double on the UNet's own eps at
 *                             the same inputs; a chained step vs a fresh one
 *   test_sampler golden CASE [f16]   a whole `sample` run (prompt to RGB8) on the tiny model vs
 *                             tests/golden/sample_CASE.safetensors (tests/reference/
 *                             sampler_ref.py, float64 torch with the same noise); the noise
 *                             generator bit for bit
 *   test_sampler infotext     parameters text -> PNG -> parsed back with the webui's
 *                             parse_generation_parameters syntax
 *   test_sampler png FILE K=V...   (for e2e) FILE's parameters parse and hold these fields
 *   test_sampler same-pixels A B   (for e2e) two PNGs hold the same pixels
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "models/sampler.h"
#include "models/schedule.h"
#include "models/tiny_model.h"
#include "models/unet.h"
#include "testkit.h"
#include "tiny_fixture.h"
#include "text/tokenizer.h"
#include "train/txt2img.h"

/* ------------------------------------------------------------------------------------------ */
/* golden file */

static vkt_safetensors *open_golden(void)
{
    vkt_err err = {0};
    vkt_safetensors *g = NULL;
    TK_CHECK(vkt_safetensors_open(tk_src("tests/golden/sampler_sigmas.safetensors"), &g, &err) == VKT_OK,
             "golden: %s", err.msg);
    return g;
}

/* Golden tensor as doubles (malloc'd) and its length; NULL (and a failed check) when missing. */
static double *gold(vkt_safetensors *g, const char *name, size_t *n)
{
    const vkt_tensor_data *t = g ? vkt_safetensors_find(g, name) : NULL;
    TK_CHECK(t != NULL, "golden tensor %s missing", name);
    if (!t) return NULL;
    size_t k = vkt_tensor_data_numel(t);
    double *v = vkt_malloc((k ? k : 1) * sizeof *v);
    for (size_t i = 0; v && i < k; i++) v[i] = vkt_tensor_data_get(t, i);
    *n = k;
    return v;
}

static void sd1_alphas(double *ac)
{
    vkt_schedule s;
    vkt_schedule_init(&s, 0.00085, 0.012);
    for (int t = 0; t < VKT_SCHED_T; t++) ac[t] = (float)s.alphas_cumprod[t]; /* the model's float32 */
}

/* max_i |got_i - want_i| / (atol + rtol |want_i|) <= 1; prints the worst absolute difference. */
static void cmp(const char *what, const double *got, const double *want, size_t n, double atol, double rtol)
{
    double worst = 0, wd = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]), s = d == 0 ? 0 : d / (atol + rtol * fabs(want[i]));
        if (!(s <= worst)) worst = s, wd = d;
    }
    TK_CHECK(worst <= 1, "%s: worst |d| %.3e (score %.2f)", what, wd, worst);
    if (worst > 0.01) printf("  %-34s max |d| %.2e score %.2f\n", what, wd, worst);
}

/* ------------------------------------------------------------------------------------------ */

static void test_names(void)
{
    vkt_sampler_kind k;
    static const struct {
        const char *name;
        vkt_sampler_kind k;
    } ok[] = {{"euler_a", VKT_SAMPLER_EULER_A}, {"Euler a", VKT_SAMPLER_EULER_A}, {"k_euler_a", VKT_SAMPLER_EULER_A},
              {"euler", VKT_SAMPLER_EULER},     {"Euler", VKT_SAMPLER_EULER},     {"k_euler", VKT_SAMPLER_EULER},
              {"ddim", VKT_SAMPLER_DDIM},       {"DDIM", VKT_SAMPLER_DDIM}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        TK_CHECK(vkt_sampler_parse(ok[i].name, &k) && k == ok[i].k, "parse %s", ok[i].name);
    TK_CHECK(!vkt_sampler_parse("euler a", &k) && !vkt_sampler_parse("LMS", &k) && !vkt_sampler_parse("", &k),
             "unknown names refused");
    TK_CHECK(!strcmp(vkt_sampler_webui_name(VKT_SAMPLER_EULER_A), "Euler a") &&
                 !strcmp(vkt_sampler_webui_name(VKT_SAMPLER_EULER), "Euler") &&
                 !strcmp(vkt_sampler_webui_name(VKT_SAMPLER_DDIM), "DDIM"),
             "webui names");
}

static void test_schedule(void)
{
    static const int steps[] = {1, 2, 3, 7, 10, 20, 25, 50, 150};
    static const int ddim[] = {1, 2, 3, 7, 10, 20, 30, 50, 150, 333, 600, 999, 1000};
    vkt_safetensors *g = open_golden();
    double *ac = vkt_malloc(VKT_SCHED_T * sizeof *ac), *sig = vkt_malloc(1001 * sizeof *sig);
    double *t = vkt_malloc(1001 * sizeof *t);
    int *ts = vkt_malloc(VKT_SCHED_T * sizeof *ts);
    vkt_sigma_schedule *sch = vkt_malloc(sizeof *sch);
    vkt_err err = {0};
    char name[64];
    size_t n = 0;
    if (!g || !ac || !sig || !t || !ts || !sch) goto done;
    sd1_alphas(ac);
    double *g_ac = gold(g, "alphas_cumprod", &n);
    /* the SD1 schedule the golden file was made from is ours, rounded to float32 the same way */
    if (g_ac) cmp("alphas_cumprod", ac, g_ac, n, 0, 0);
    free(g_ac);
    vkt_sigma_schedule_init(sch, ac);
    double *tab64 = gold(g, "sigmas_table_f64", &n), *tab32 = gold(g, "sigmas_table_torch", &n);
    /* float64 formulas in both: libm's sqrt is exact, so equal to a few ulps */
    if (tab64) cmp("sigma table vs f64", sch->sigmas, tab64, VKT_SCHED_T, 0, 1e-15);
    /* torch's float32 (1 - ac) / ac and sqrt: a few float32 ulps */
    if (tab32) cmp("sigma table vs torch f32", sch->sigmas, tab32, VKT_SCHED_T, 0, 4e-7);
    free(tab64);
    free(tab32);
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        int s = steps[k];
        vkt_sigma_schedule_get(sch, s, sig);
        for (int i = 0; i < s; i++) t[i] = vkt_sigma_schedule_t(sch, sig[i]);
        snprintf(name, sizeof name, "sigmas_n%d_f64", s);
        double *w64 = gold(g, name, &n);
        /* same double formulas (log/exp of libm vs numpy): 1e-13 relative */
        if (w64 && n == (size_t)s + 1) cmp(name, sig, w64, n, 0, 1e-13);
        snprintf(name, sizeof name, "sigmas_n%d_torch", s);
        double *w32 = gold(g, name, &n);
        /* torch: float32 linspace, interpolation of float32 log sigmas, float32 exp; 2.8e-7 seen */
        if (w32 && n == (size_t)s + 1) cmp(name, sig, w32, n, 0, 1e-6);
        free(w64);
        free(w32);
        snprintf(name, sizeof name, "t_n%d_f64", s);
        w64 = gold(g, name, &n);
        /* t = the linspace values back through log-sigma interpolation: 1e-9 absolute */
        if (w64 && n == (size_t)s) cmp(name, t, w64, n, 1e-9, 0);
        snprintf(name, sizeof name, "t_n%d_torch", s);
        w32 = gold(g, name, &n);
        /* torch's float32 round trip sigma -> log -> t drifts: 5e-5 seen near t = 999 (ulp 6e-5) */
        if (w32 && n == (size_t)s) cmp(name, t, w32, n, 2e-4, 0);
        free(w64);
        free(w32);
        /* plans: Euler steps straight to the next sigma; Euler a to sigma_down plus sigma_up noise */
        vkt_sampler_plan pe = {0}, pa = {0};
        TK_CHECK(vkt_sampler_plan_init(VKT_SAMPLER_EULER, ac, s, &pe, &err) == VKT_OK &&
                     vkt_sampler_plan_init(VKT_SAMPLER_EULER_A, ac, s, &pa, &err) == VKT_OK,
                 "plans for %d steps: %s", s, err.msg);
        snprintf(name, sizeof name, "sigma_down_n%d_f64", s);
        double *down = gold(g, name, &n);
        snprintf(name, sizeof name, "sigma_up_n%d_f64", s);
        double *up = gold(g, name, &n);
        if (pe.step && pa.step && down && up) {
            TK_CHECK(pe.n == s && pa.n == s && pe.init_scale == sig[0] && pa.init_scale == sig[0], "%d steps: counts",
                     s);
            double gb[1000], gs[1000], wb[1000], ws[1000];
            for (int i = 0; i < s; i++) {
                gb[i] = pa.step[i].b;
                gs[i] = pa.step[i].s;
                wb[i] = down[i] - sig[i];
                ws[i] = sig[i + 1] > 0 ? up[i] : 0.0;
                TK_CHECK(pe.step[i].a == 1 && pe.step[i].b == sig[i + 1] - sig[i] && pe.step[i].s == 0 &&
                             fabs(pe.step[i].c_in - 1 / sqrt(sig[i] * sig[i] + 1)) < 1e-15 && pe.step[i].t == t[i],
                         "%d steps: Euler step %d", s, i);
            }
            snprintf(name, sizeof name, "euler_a n%d: b", s);
            cmp(name, gb, wb, (size_t)s, 1e-15, 1e-12);
            snprintf(name, sizeof name, "euler_a n%d: s", s);
            cmp(name, gs, ws, (size_t)s, 1e-15, 1e-12);
        }
        free(down);
        free(up);
        vkt_sampler_plan_fini(&pe);
        vkt_sampler_plan_fini(&pa);
    }
    for (size_t k = 0; k < sizeof ddim / sizeof ddim[0]; k++) {
        int s = ddim[k], m = vkt_ddim_timesteps(s, ts);
        snprintf(name, sizeof name, "ddim_ts_%d", s);
        double *w = gold(g, name, &n);
        bool same = w && n == (size_t)m;
        for (int i = 0; same && i < m; i++) same = ts[i] == (int)w[i];
        TK_CHECK(same, "%s: %d timesteps", name, m);
        free(w);
        vkt_sampler_plan p = {0};
        TK_CHECK(vkt_sampler_plan_init(VKT_SAMPLER_DDIM, ac, s, &p, &err) == VKT_OK, "ddim plan %d: %s", s, err.msg);
        TK_CHECK(p.n == m - 1 && p.init_scale == 1.0, "ddim %d steps: %d UNet calls, expected %d", s, p.n, m - 1);
        for (int i = 0; i < p.n; i++) {
            int index = m - 1 - i;
            double at = ac[ts[index]], ap = ac[ts[index - 1]];
            /* x' = a x + b e must equal sqrt(ap) (x - sqrt(1 - at) e) / sqrt(at) + sqrt(1 - ap) e */
            bool ok = p.step[i].t == ts[index] && p.step[i].c_in == 1.0 && p.step[i].s == 0 &&
                      fabs(p.step[i].a - sqrt(ap / at)) < 1e-14 &&
                      fabs(p.step[i].b - (sqrt(1 - ap) - sqrt(ap) * sqrt(1 - at) / sqrt(at))) < 1e-14;
            if (!ok) TK_CHECK(ok, "ddim %d steps: step %d", s, i);
        }
        vkt_sampler_plan_fini(&p);
    }
    /* the webui's 20-step DDIM makes 19 UNet calls, at t = 951, 901, ..., 51 */
    vkt_sampler_plan p20 = {0};
    TK_CHECK(vkt_sampler_plan_init(VKT_SAMPLER_DDIM, ac, 20, &p20, &err) == VKT_OK && p20.n == 19 &&
                 p20.step[0].t == 951 && p20.step[18].t == 51 && p20.step[18].abar_prev == ac[1],
             "ddim 20 steps");
    vkt_sampler_plan_fini(&p20);
    vkt_sampler_plan bad = {0};
    TK_CHECK(vkt_sampler_plan_init(VKT_SAMPLER_EULER, ac, 0, &bad, &err) == VKT_ERR_USAGE &&
                 vkt_sampler_plan_init(VKT_SAMPLER_EULER, ac, 1001, &bad, &err) == VKT_ERR_USAGE,
             "steps out of range refused");
    ac[500] = ac[499];
    TK_CHECK(vkt_sampler_plan_init(VKT_SAMPLER_EULER, ac, 20, &bad, &err) == VKT_ERR_FORMAT,
             "non-decreasing alphas_cumprod refused");
    /* the noise draws are Philox normals: fixed values for seed 1 (regression guard) */
    float z[4];
    vkt_sampler_noise(1, 0, 4, z);
    float z2[4];
    vkt_sampler_noise(1, 0, 4, z2);
    TK_CHECK(!memcmp(z, z2, sizeof z) && isfinite(z[0]) && z[0] != z[1], "noise is deterministic");
    vkt_sampler_noise(2, 0, 4, z2);
    TK_CHECK(memcmp(z, z2, sizeof z) != 0, "seeds differ");
    vkt_sampler_noise(1, 1, 4, z2);
    TK_CHECK(memcmp(z, z2, sizeof z) != 0, "draws differ");
done:
    vkt_safetensors_close(g);
    free(ac), free(sig), free(t), free(ts), free(sch);
}

/* ------------------------------------------------------------------------------------------ */
/* one GPU step vs the webui's formula */

typedef struct env {
    vkt_device *dev;
    vkt_step *step;
    uint8_t *bytes;
    vkt_safetensors *model;
    vkt_unet *unet;
} env;

/* The UNet of the deterministic tiny model (docs/tiny-model.md, seed 0), in memory. */
static vkt_status env_init(env *e, vkt_dtype dt, vkt_err *err)
{
    memset(e, 0, sizeof *e);
    vkt_status st = tk_device_open(&e->dev, &e->step, err);
    if (!st && dt == VKT_F16 && !vkt_step_dtype_ok(e->step, VKT_F16))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "no f16 storage");
    if (!st) st = tk_tiny_model(TK_TINY_UNET_PREFIX, NULL, NULL, &e->bytes, &e->model, err);
    if (!st) {
        vkt_weight_source src = vkt_weight_source_safetensors(e->model, TK_TINY_UNET_PREFIX, "tiny model");
        st = vkt_unet_load(e->dev, &src, dt, VKT_GEN_TINY.unet_heads, &e->unet, err);
    }
    return st;
}

static void env_fini(env *e)
{
    vkt_unet_destroy(e->unet);
    vkt_safetensors_close(e->model);
    free(e->bytes);
    tk_device_close(e->dev, e->step);
}

static vkt_status upload(env *e, vkt_dtype dt, int nd, const int64_t *shape, const float *host, vkt_tensor *out,
                         vkt_err *err)
{
    vkt_status st = vkt_tensor_alloc(e->dev, dt, nd, shape, "test input", out, err);
    if (!st) st = vkt_tensor_upload_f32(e->dev, out, host, err);
    return st;
}

/* The reference model calls: eps_u = unet(xin, t, ctx_u) and eps_c = unet(xin, t, ctx_c) for one
 * batch of B rows each, as two separate UNet calls recorded once into e->step; run() uploads xin
 * and t and resubmits. */
typedef struct ref_eps {
    vkt_tensor x, t, eu, ec; /* x, t persistent; eu, ec resolved step tensors */
    int64_t B;
} ref_eps;

static vkt_status ref_eps_init(env *e, ref_eps *r, const vkt_tensor *cu, const vkt_tensor *cc, int64_t B,
                               vkt_err *err)
{
    memset(r, 0, sizeof *r);
    r->B = B;
    const int64_t xs[4] = {B, 4, 8, 8};
    vkt_status st = vkt_tensor_alloc(e->dev, vkt_unet_dtype(e->unet), 4, xs, "ref x", &r->x, err);
    if (!st) st = vkt_tensor_alloc(e->dev, VKT_F32, 1, (int64_t[]){B}, "ref t", &r->t, err);
    if (!st) st = vkt_step_begin_planned(e->step, err);
    if (!st) st = vkt_unet_fwd(e->unet, e->step, &r->x, &r->t, cu, NULL, &r->eu, NULL, err);
    if (!st) st = vkt_unet_fwd(e->unet, e->step, &r->x, &r->t, cc, NULL, &r->ec, NULL, err);
    if (!st) st = vkt_step_keep(e->step, &r->eu, err);
    if (!st) st = vkt_step_keep(e->step, &r->ec, err);
    if (!st) st = vkt_step_end(e->step, err);
    if (!st) r->eu = vkt_step_resolve(e->step, &r->eu), r->ec = vkt_step_resolve(e->step, &r->ec);
    return st;
}

static void ref_eps_fini(env *e, ref_eps *r)
{
    vkt_tensor_free(e->dev, &r->x);
    vkt_tensor_free(e->dev, &r->t);
}

static vkt_status ref_eps_run(env *e, ref_eps *r, const float *xin, float t, double *eu, double *ec, vkt_err *err)
{
    const size_t n = (size_t)(r->B * 256);
    float tv[16], *h = vkt_malloc(n * sizeof *h);
    for (int64_t b = 0; b < r->B; b++) tv[b] = t;
    vkt_status st = h ? VKT_OK : vkt_fail(err, VKT_ERR_NOMEM, "eps");
    if (!st) st = vkt_tensor_upload_f32(e->dev, &r->x, xin, err);
    if (!st) st = vkt_tensor_upload_f32(e->dev, &r->t, tv, err);
    if (!st) st = vkt_step_submit(e->step, err);
    if (!st) st = vkt_tensor_download_f32(e->dev, &r->eu, h, err);
    for (size_t i = 0; !st && i < n; i++) eu[i] = h[i];
    if (!st) st = vkt_tensor_download_f32(e->dev, &r->ec, h, err);
    for (size_t i = 0; !st && i < n; i++) ec[i] = h[i];
    free(h);
    return st;
}

#define B_ 2
#define N_ (B_ * 4 * 8 * 8)

static void step_case(env *e, ref_eps *ref, vkt_safetensors *g, const double *ac, vkt_sampler_kind kind, bool batched,
                      const vkt_tensor *cu, const vkt_tensor *cc, const vkt_tensor *both, double tol)
{
    const double cfg = 7.5;
    const uint64_t seeds[B_] = {11, 12};
    const int steps = 10;
    vkt_err err = {0};
    vkt_sampler_plan plan = {0};
    vkt_sampler *sm = NULL;
    char name[64];
    size_t gn = 0;
    double *gsig = NULL, *gt = NULL;
    float xf[N_], xin[N_], got[N_], z[N_], xa[N_];
    double x[N_], eu[N_], ec[N_], zd[N_], want[N_];
    vkt_status st = vkt_sampler_plan_init(kind, ac, steps, &plan, &err);
    vkt_sampler_cond cond = batched ? (vkt_sampler_cond){.both = both} : (vkt_sampler_cond){.uncond = cu, .cond = cc};
    if (!st) st = vkt_sampler_create(e->dev, e->unet, &plan, (float)cfg, B_, 8, 8, &cond, &sm, &err);
    TK_CHECK(st == VKT_OK, "%s: %s", vkt_sampler_name(kind), err.msg);
    if (st) goto done;
    /* the timesteps and sigmas from the golden file, not from the code under test */
    snprintf(name, sizeof name, kind == VKT_SAMPLER_DDIM ? "ddim_ts_%d" : "t_n%d_f64", steps);
    gt = gold(g, name, &gn);
    snprintf(name, sizeof name, "sigmas_n%d_f64", steps);
    gsig = gold(g, name, &gn);
    if (!gt || !gsig) goto done;
    uint64_t rng = 0x5a3d + (uint64_t)kind;
    const int idx[2] = {0, plan.n - 1}; /* t = 999 (sigma_max) and the last step (to sigma 0) */
    for (int c = 0; c < 2; c++) {
        int i = idx[c];
        double sigma = gsig[i], c_in = kind == VKT_SAMPLER_DDIM ? 1.0 : 1.0 / sqrt(sigma * sigma + 1.0);
        double t = kind == VKT_SAMPLER_DDIM ? gt[plan.n - i] : gt[i];
        double scale = kind == VKT_SAMPLER_DDIM ? 1.0 : sqrt(sigma * sigma + 1.0);
        for (int k = 0; k < N_; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            xf[k] = (float)(((double)(rng >> 11) / 9007199254740992.0 * 2 - 1) * 1.7 * scale);
            x[k] = xf[k];
            xin[k] = (float)c_in * xf[k];
        }
        /* the webui's model calls: eps of the negative and the positive prompt at (c_in x, t),
         * with c_in x formed in float32 from float32 c_in as torch does */
        if ((st = ref_eps_run(e, ref, xin, (float)t, eu, ec, &err))) break;
        for (int b = 0; b < B_; b++) vkt_sampler_noise(seeds[b], (uint64_t)i + 1, 256, z + b * 256);
        for (int k = 0; k < N_; k++) zd[k] = z[k];
        vkt_sampler_ref_step(&plan, i, cfg, N_, x, eu, ec, zd, want);
        if ((st = vkt_sampler_set_latent(sm, i, xf, seeds, &err)) || (st = vkt_sampler_step(sm, i, &err)) ||
            (st = vkt_tensor_download_f32(e->dev, vkt_sampler_latent(sm), got, &err)))
            break;
        double md = 0, mr = 0;
        for (int k = 0; k < N_; k++) {
            double d = fabs(got[k] - want[k]);
            if (!(d <= md)) md = d;
            if (fabs(want[k]) > mr) mr = fabs(want[k]);
        }
        printf("  %-8s %-9s step %d/%d (t %7.3f): max|d|/max|ref| %.2e (tol %.0e)\n", vkt_sampler_name(kind),
               batched ? "batched" : "separate", i, plan.n, t, md / mr, tol);
        TK_CHECK(md / mr <= tol, "%s %s step %d: error %.3e > %.0e", vkt_sampler_name(kind),
                 batched ? "batched" : "separate", i, md / mr, tol);
        /* the next input comes from the update itself: step i + 1 after step i equals step i + 1
         * from the downloaded latent (the host forms c_in x with the same float32 product) */
        if (c == 0 && i + 1 < plan.n) {
            if ((st = vkt_sampler_step(sm, i + 1, &err)) ||
                (st = vkt_tensor_download_f32(e->dev, vkt_sampler_latent(sm), xa, &err)) ||
                (st = vkt_sampler_set_latent(sm, i + 1, got, seeds, &err)) || (st = vkt_sampler_step(sm, i + 1, &err)) ||
                (st = vkt_tensor_download_f32(e->dev, vkt_sampler_latent(sm), xf, &err)))
                break;
            bool same = true;
            for (int k = 0; k < N_; k++) same &= xa[k] == xf[k];
            TK_CHECK(same, "%s %s: chained step %d differs from a fresh one", vkt_sampler_name(kind),
                     batched ? "batched" : "separate", i + 1);
        }
    }
    TK_CHECK(st == VKT_OK, "%s: %s", vkt_sampler_name(kind), err.msg);
done:
    free(gt);
    free(gsig);
    vkt_sampler_destroy(sm);
    vkt_sampler_plan_fini(&plan);
}

static void test_step(vkt_dtype dt)
{
    env e;
    vkt_err err = {0};
    vkt_status st = env_init(&e, dt, &err);
    if (st == VKT_ERR_UNSUPPORTED) {
        printf("no f16 storage on this device: fp16 case skipped\n");
        env_fini(&e);
        return;
    }
    TK_CHECK(st == VKT_OK, "setup: %s", err.msg);
    vkt_safetensors *g = open_golden();
    double ac[VKT_SCHED_T];
    sd1_alphas(ac);
    /* conditioning: negative [B, 77], prompt [B, 77] (and both stacked), a 2-chunk prompt [B, 154] */
    const int64_t W = 128, L = 77;
    float *hu = vkt_malloc((size_t)(B_ * L * W) * 4), *hc = vkt_malloc((size_t)(B_ * 2 * L * W) * 4);
    float *hb = vkt_malloc((size_t)(2 * B_ * L * W) * 4);
    vkt_tensor cu = {0}, cc = {0}, cc2 = {0}, both = {0};
    uint64_t rng = 77;
    for (int64_t k = 0; hu && hc && k < 2 * B_ * L * W; k++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        float v = (float)((double)(rng >> 11) / 9007199254740992.0 * 4 - 2);
        if (k < B_ * L * W) hu[k] = v;
        hc[k] = v * 0.7f + 0.1f;
    }
    if (hb && hu && hc) {
        memcpy(hb, hu, (size_t)(B_ * L * W) * 4);
        memcpy(hb + B_ * L * W, hc, (size_t)(B_ * L * W) * 4);
    }
    if (!st && g && hu && hc && hb) {
        st = upload(&e, dt, 3, (int64_t[]){B_, L, W}, hu, &cu, &err);
        if (!st) st = upload(&e, dt, 3, (int64_t[]){B_, L, W}, hc, &cc, &err);
        if (!st) st = upload(&e, dt, 3, (int64_t[]){2 * B_, L, W}, hb, &both, &err);
        if (!st) st = upload(&e, dt, 3, (int64_t[]){B_, 2 * L, W}, hc, &cc2, &err);
        TK_CHECK(st == VKT_OK, "conditioning: %s", err.msg);
        /* Both paths give the UNet the same input (c_in x as one float32 product, as torch forms
         * it), so the eps agree and what remains is the update's few float32 roundings against
         * double: ~1e-7 of max|x| (seen 6e-8 fp32 and fp16). 1e-6 also covers a UNet whose sums
         * round differently at batch 2B and B. (With c_in x rounded once from double instead, one
         * ulp of input moves eps by ~1e-7, which CFG 7.5 amplifies to 3e-6 of x.) */
        double tol = 1e-6;
        for (int layout = 0; !st && layout < 2; layout++) {
            const vkt_tensor *c2 = layout ? &cc2 : &cc;
            ref_eps ref;
            st = ref_eps_init(&e, &ref, &cu, c2, B_, &err);
            TK_CHECK(st == VKT_OK, "reference UNet calls: %s", err.msg);
            /* every sampler with the batched call; the two-call layout only changes how eps is
             * made, so one sampler (Euler a, which also draws noise) covers it */
            for (int k = 0; !st && k < (layout ? 1 : VKT_SAMPLER_COUNT); k++)
                step_case(&e, &ref, g, ac, (vkt_sampler_kind)k, !layout, &cu, c2, layout ? NULL : &both, tol);
            ref_eps_fini(&e, &ref);
        }
    }
    vkt_tensor_free(e.dev, &cu);
    vkt_tensor_free(e.dev, &cc);
    vkt_tensor_free(e.dev, &cc2);
    vkt_tensor_free(e.dev, &both);
    free(hu), free(hc), free(hb);
    vkt_safetensors_close(g);
    env_fini(&e);
}

/* ------------------------------------------------------------------------------------------ */
/* the webui's infotext parser (modules/infotext_utils.py parse_generation_parameters):
 *   re_param = r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)'
 * The last line holds the parameters when re_param finds at least 3 matches in it; lines before
 * are the prompt up to one starting with "Negative prompt:", which starts the negative prompt. */

#define MAXP 32
typedef struct parsed {
    char prompt[1024], negative[1024];
    int n;
    char key[MAXP][64], val[MAXP][512];
} parsed;

static bool is_w(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_s(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* One re_param match at s[i..]: key [k0, k1), value [v0, v1), *end past the match. */
static bool match_param(const char *s, size_t len, size_t i, size_t *k0, size_t *k1, size_t *v0, size_t *v1,
                        size_t *end)
{
    while (i < len && is_s(s[i])) i++;
    if (i >= len || !is_w(s[i])) return false;
    size_t k = i + 1;
    while (k < len && (is_w(s[k]) || s[k] == ' ' || s[k] == '-' || s[k] == '/')) k++;
    if (k == i + 1 || k >= len || s[k] != ':') return false; /* [\w \-/]+ needs one char, then ':' */
    *k0 = i, *k1 = k;
    size_t v = k + 1;
    while (v < len && is_s(s[v])) v++;
    if (v < len && s[v] == '"') { /* "(?:\\.|[^\\"])+" followed by , or end */
        size_t q = v + 1;
        bool any = false;
        while (q < len && s[q] != '"') {
            if (s[q] == '\\') {
                if (q + 1 >= len || s[q + 1] == '\n') break;
                q++;
            }
            q++;
            any = true;
        }
        if (any && q < len && s[q] == '"' && (q + 1 == len || s[q + 1] == ',')) {
            *v0 = v, *v1 = q + 1, *end = q + 1 < len ? q + 2 : q + 1;
            return true;
        }
    }
    size_t e = v;
    while (e < len && s[e] != ',') e++; /* [^,]* then , or end */
    *v0 = v, *v1 = e, *end = e < len ? e + 1 : e;
    return true;
}

/* re.findall over line: all matches, scanning on by one character after a failed position. */
static int find_params(const char *s, size_t len, parsed *p)
{
    int n = 0;
    size_t i = 0;
    while (i <= len) {
        size_t k0, k1, v0, v1, end;
        if (i < len && match_param(s, len, i, &k0, &k1, &v0, &v1, &end)) {
            if (p && n < MAXP) {
                snprintf(p->key[n], sizeof p->key[n], "%.*s", (int)(k1 - k0), s + k0);
                snprintf(p->val[n], sizeof p->val[n], "%.*s", (int)(v1 - v0), s + v0);
            }
            n++;
            i = end > i ? end : i + 1;
        } else {
            i++;
        }
    }
    return n;
}

static void append_line(char *dst, size_t cap, const char *line, size_t n)
{
    while (n && is_s(*line)) line++, n--; /* str.strip() */
    while (n && is_s(line[n - 1])) n--;
    size_t l = strlen(dst);
    snprintf(dst + l, cap - l, "%s%.*s", l ? "\n" : "", (int)n, line);
}

static void parse_infotext(const char *text, parsed *p)
{
    memset(p, 0, sizeof *p);
    size_t len = strlen(text);
    while (len && is_s(text[len - 1])) len--;
    while (len && is_s(*text)) text++, len--;
    const char *last = text;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n') last = text + i + 1;
    size_t last_len = (size_t)(text + len - last), head_len = last == text ? 0 : (size_t)(last - text - 1);
    if (find_params(last, last_len, NULL) < 3) head_len = len, last_len = 0;
    bool neg = false;
    for (size_t i = 0; i < head_len;) {
        size_t j = i;
        while (j < head_len && text[j] != '\n') j++;
        const char *line = text + i;
        size_t n = j - i;
        while (n && is_s(*line)) line++, n--;
        if (n >= 16 && !strncmp(line, "Negative prompt:", 16)) neg = true, line += 16, n -= 16;
        append_line(neg ? p->negative : p->prompt, sizeof p->prompt, line, n);
        i = j + 1;
    }
    if (last_len) p->n = find_params(last, last_len, p);
    if (p->n > MAXP) p->n = MAXP;
}

static const char *param(const parsed *p, const char *key)
{
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->key[i], key)) return p->val[i];
    return NULL;
}

static void test_infotext(void)
{
    vkt_infotext it = {.prompt = "a (photo:1.2) of a cat, [blurry]\nsecond line",
                       .negative = "ugly, bad hands",
                       .steps = 20,
                       .sampler = "Euler a",
                       .cfg_scale = 7.5,
                       .seed = 4294967294LL,
                       .width = 512,
                       .height = 768,
                       .model_hash = "233430f8f3",
                       .model = "tiny, v2: test",
                       .clip_skip = 2,
                       .extra = "Pad conds: True"};
    char *s = vkt_infotext_format(&it);
    vkt_err err = {0};
    uint8_t px[3 * 4 * 2] = {0}, *png = NULL;
    size_t png_n = 0;
    vkt_png_text t = {"parameters", s};
    vkt_png_texts texts = {0};
    TK_CHECK(s && vkt_image_png_encode(px, 4, 2, 3, &t, 1, &png, &png_n, &err) == VKT_OK &&
                 vkt_png_texts_read(png, png_n, "p.png", &texts, &err) == VKT_OK,
             "png: %s", err.msg);
    const char *back = vkt_png_texts_get(&texts, "parameters");
    TK_CHECK(back && s && !strcmp(back, s), "parameters chunk round trip");
    parsed p;
    parse_infotext(back ? back : "", &p);
    TK_CHECK(!strcmp(p.prompt, it.prompt), "prompt: \"%s\"", p.prompt);
    TK_CHECK(!strcmp(p.negative, it.negative), "negative: \"%s\"", p.negative);
    static const char *const want[][2] = {
        {"Steps", "20"},       {"Sampler", "Euler a"},        {"CFG scale", "7.5"},
        {"Seed", "4294967294"}, {"Size", "512x768"},          {"Model hash", "233430f8f3"},
        {"Model", "\"tiny, v2: test\""}, {"Clip skip", "2"}, {"Pad conds", "True"}};
    TK_CHECK(p.n == 9, "%d parameters", p.n);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *v = param(&p, want[i][0]);
        TK_CHECK(v && !strcmp(v, want[i][1]), "%s: %s", want[i][0], v ? v : "(missing)");
    }
    /* the parameter order of create_infotext */
    TK_CHECK(p.n == 9 && !strcmp(p.key[0], "Steps") && !strcmp(p.key[5], "Model hash") && !strcmp(p.key[8], "Pad conds"),
             "order");
    vkt_png_texts_fini(&texts);
    free(png);
    free(s);
}

/* `png FILE K=V ...`: FILE's parameters hold these fields (key "prompt" / "negative" for the
 * first lines). */
static void test_png(int argc, char **argv)
{
    vkt_err err = {0};
    FILE *f = fopen(argv[0], "rb");
    TK_CHECK(f != NULL, "open %s", argv[0]);
    if (!f) return;
    uint8_t *buf = vkt_malloc(1 << 22);
    size_t n = buf ? fread(buf, 1, 1 << 22, f) : 0;
    fclose(f);
    vkt_png_texts texts = {0};
    TK_CHECK(vkt_png_texts_read(buf, n, argv[0], &texts, &err) == VKT_OK, "%s", err.msg);
    const char *s = vkt_png_texts_get(&texts, "parameters");
    TK_CHECK(s != NULL, "%s: no parameters chunk", argv[0]);
    parsed p;
    parse_infotext(s ? s : "", &p);
    for (int i = 1; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq) continue;
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(eq - argv[i]), argv[i]);
        const char *v = !strcmp(key, "prompt") ? p.prompt : !strcmp(key, "negative") ? p.negative : param(&p, key);
        TK_CHECK(v && !strcmp(v, eq + 1), "%s: %s = \"%s\", expected \"%s\"", argv[0], key, v ? v : "(missing)", eq + 1);
    }
    vkt_png_texts_fini(&texts);
    free(buf);
}

/* ------------------------------------------------------------------------------------------ */
/* whole runs vs tests/golden/sample_<case>.safetensors (tests/reference/sampler_ref.py) */

static const struct golden_case {
    const char *name;
    vkt_sampler_kind kind;
    const char *prompt, *negative;
    int steps;
    double cfg;
    uint64_t seed;
    int batch, clip_skip, unet_calls;
} golden_cases[] = {
    /* the CASES of sampler_ref.py; each file's vktrain.sample metadata is checked against them */
    {"euler_a", VKT_SAMPLER_EULER_A, "a (photo:1.2) of a [cat] on a (red:1.3) sofa", "(blurry:1.4), ugly", 4, 7.5,
     42, 2, 1, 4},
    {"euler", VKT_SAMPLER_EULER, "a photo of a cat BREAK on a sofa, (sunny:1.1)", "", 3, 7.0, 7, 1, 2, 3},
    {"ddim", VKT_SAMPLER_DDIM, "a photo of a dog", "bad", 5, 5.0, 3, 1, 1, 4},
};

typedef struct full_env {
    vkt_device *dev;
    uint8_t *bytes;
    vkt_safetensors *model;
    vkt_clip *clip;
    vkt_unet *unet;
    vkt_vae *vae;
    vkt_tokenizer *tok;
} full_env;

/* The whole deterministic tiny model (docs/tiny-model.md, seed 0) in memory, loaded in dt. */
static vkt_status full_init(full_env *e, vkt_dtype dt, vkt_err *err)
{
    memset(e, 0, sizeof *e);
    vkt_step *probe = NULL;
    vkt_status st = tk_device_open(&e->dev, &probe, err);
    if (!st && dt == VKT_F16 && !vkt_step_dtype_ok(probe, VKT_F16)) st = vkt_fail(err, VKT_ERR_UNSUPPORTED, "f16");
    vkt_step_destroy(probe);
    if (!st) st = tk_tiny_model(NULL, NULL, NULL, &e->bytes, &e->model, err);
    if (!st) {
        vkt_weight_source sc = vkt_weight_source_safetensors(e->model, VKT_CLIP_PREFIX, "tiny model");
        vkt_weight_source su = vkt_weight_source_safetensors(e->model, TK_TINY_UNET_PREFIX, "tiny model");
        vkt_weight_source sv = vkt_weight_source_safetensors(e->model, "first_stage_model.", "tiny model");
        st = vkt_clip_load(e->dev, &sc, dt, VKT_GEN_TINY.clip_heads, &e->clip, err);
        if (!st) st = vkt_unet_load(e->dev, &su, dt, VKT_GEN_TINY.unet_heads, &e->unet, err);
        if (!st) st = vkt_vae_load(e->dev, &sv, dt, &e->vae, err);
        if (!st) st = vkt_tokenizer_create(NULL, &e->tok, err);
    }
    return st;
}

static void full_fini(full_env *e)
{
    vkt_tokenizer_destroy(e->tok);
    vkt_vae_destroy(e->vae);
    vkt_unet_destroy(e->unet);
    vkt_clip_destroy(e->clip);
    vkt_safetensors_close(e->model);
    free(e->bytes);
    tk_device_close(e->dev, NULL);
}

/* max|got - ref| / max|ref| over n floats of golden tensor `name`. */
static double rel_err(vkt_safetensors *g, const char *name, const float *got, size_t n)
{
    size_t gn = 0;
    double *ref = gold(g, name, &gn), md = 0, mr = 0;
    TK_CHECK(ref && gn == n, "%s: %zu values, expected %zu", name, gn, n);
    for (size_t i = 0; ref && gn == n && i < n; i++) {
        double d = fabs(got[i] - ref[i]);
        if (!(d <= md)) md = d;
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    free(ref);
    return md / (mr > 0 ? mr : 1);
}

static void test_golden(const char *which, vkt_dtype dt)
{
    const struct golden_case *gc = NULL;
    for (size_t i = 0; i < sizeof golden_cases / sizeof golden_cases[0]; i++)
        if (!strcmp(golden_cases[i].name, which)) gc = &golden_cases[i];
    TK_CHECK(gc != NULL, "unknown golden case %s", which);
    if (!gc) return;
    char rel[128];
    snprintf(rel, sizeof rel, "tests/golden/sample_%s.safetensors", gc->name);
    vkt_err err = {0};
    vkt_safetensors *g = NULL;
    full_env e;
    vkt_txt2img_result res = {0};
    TK_CHECK(vkt_safetensors_open(tk_src(rel), &g, &err) == VKT_OK, "%s", err.msg);
    const char *meta = g ? vkt_safetensors_meta(g, "vktrain.sample") : NULL;
    char want[256];
    snprintf(want, sizeof want, "\"prompt\": \"%s\", \"negative\": \"%s\", \"steps\": %d", gc->prompt, gc->negative,
             gc->steps);
    TK_CHECK(meta && strstr(meta, want), "%s: metadata %s does not match the case table", rel, meta ? meta : "-");
    vkt_status st = full_init(&e, dt, &err);
    if (st == VKT_ERR_UNSUPPORTED) {
        printf("no f16 storage on this device: fp16 case skipped\n");
        goto done;
    }
    TK_CHECK(st == VKT_OK, "setup: %s", err.msg);
    if (st || !g) goto done;
    /* the documented noise: the C generator and the reference's numpy one agree bit for bit */
    const size_t per = 4 * 8 * 8, nl = (size_t)gc->batch * per;
    float *z = vkt_malloc(nl * sizeof *z);
    for (int draw = 0; z && draw < (gc->kind == VKT_SAMPLER_EULER_A ? 2 : 1); draw++) {
        for (int b = 0; b < gc->batch; b++) vkt_sampler_noise(gc->seed + (uint64_t)b, (uint64_t)draw, per, z + b * per);
        char name[32];
        snprintf(name, sizeof name, "noise_draw%d", draw);
        double d = rel_err(g, name, z, nl);
        TK_CHECK(d == 0, "%s: %s differs from the reference generator (%.2e)", gc->name, name, d);
    }
    free(z);
    double ac[VKT_SCHED_T];
    sd1_alphas(ac);
    vkt_txt2img_models m = {.dev = e.dev, .tok = e.tok, .clip = e.clip, .unet = e.unet, .vae = e.vae,
                            .alphas_cumprod = ac};
    vkt_txt2img_opts o = vkt_txt2img_opts_default();
    o.prompt = gc->prompt;
    o.negative = gc->negative;
    o.sampler = gc->kind;
    o.steps = gc->steps;
    o.cfg_scale = gc->cfg;
    o.seed = gc->seed;
    o.width = o.height = 64;
    o.batch = gc->batch;
    o.clip_skip = gc->clip_skip;
    st = vkt_txt2img_run(&m, &o, &res, &err);
    TK_CHECK(st == VKT_OK, "txt2img: %s", err.msg);
    if (st) goto done;
    TK_CHECK(res.unet_calls == gc->unet_calls, "%d UNet calls, expected %d", res.unet_calls, gc->unet_calls);
    /* the eval tolerances of a forward (eval-case.md): 1e-4 fp32, 1e-2 fp16 storage, for the
     * whole chain; CFG (x7.5) amplifies the UNet's error at every step. Seen on lavapipe: fp32
     * 4.6e-6, fp16 4.9e-3 (Euler a). */
    double tol = dt == VKT_F16 ? 1e-2 : 1e-4;
    double dl = rel_err(g, "latent", res.latents, nl);
    printf("  %-8s %s: final latent max|d|/max|ref| %.2e (tol %.0e)\n", gc->name, dt == VKT_F16 ? "fp16" : "fp32",
           dl, tol);
    TK_CHECK(dl <= tol, "%s: latent error %.3e > %.0e", gc->name, dl, tol);
    /* RGB8: the webui's clamp(x/2 + 1/2) * 255, truncated, of the reference image; a value
     * within the latent's error of a level boundary may land on the neighbour: at most 1 level
     * (fp32) or 4 (fp16) apart */
    size_t gn = 0;
    double *img = gold(g, "image", &gn), worst = 0;
    for (int b = 0; img && b < gc->batch; b++)
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 64 * 64; k++) {
                double v = img[((size_t)b * 3 + (size_t)c) * 4096 + (size_t)k] * 0.5 + 0.5;
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                double d = fabs(floor(v * 255.0) - res.rgb[b][(size_t)k * 3 + (size_t)c]);
                if (d > worst) worst = d;
            }
    free(img);
    printf("  %-8s %s: RGB8 max level difference %.0f\n", gc->name, dt == VKT_F16 ? "fp16" : "fp32", worst);
    TK_CHECK(worst <= (dt == VKT_F16 ? 4 : 1), "%s: RGB8 off by %.0f levels", gc->name, worst);
done:
    vkt_txt2img_result_fini(&res);
    if (e.dev || st != VKT_ERR_UNSUPPORTED) full_fini(&e);
    vkt_safetensors_close(g);
}

/* `same-pixels A B`: two PNGs decode to the same pixels (their text chunks may differ). */
static void test_same_pixels(const char *a, const char *b)
{
    vkt_err err = {0};
    vkt_image ia = {0}, ib = {0};
    TK_CHECK(vkt_image_load(a, NULL, &ia, &err) == VKT_OK && vkt_image_load(b, NULL, &ib, &err) == VKT_OK, "%s",
             err.msg);
    TK_CHECK(ia.rgba && ib.rgba && ia.w == ib.w && ia.h == ib.h &&
                 !memcmp(ia.rgba, ib.rgba, (size_t)ia.w * (size_t)ia.h * 4),
             "%s and %s: different pixels", a, b);
    vkt_image_fini(&ia);
    vkt_image_fini(&ib);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_sampler schedule|step f32|f16|infotext|png FILE K=V...\n");
        return 2;
    }
    if (!strcmp(argv[1], "schedule")) {
        test_names();
        test_schedule();
    } else if (!strcmp(argv[1], "step")) {
        test_step(argc > 2 && !strcmp(argv[2], "f16") ? VKT_F16 : VKT_F32);
    } else if (!strcmp(argv[1], "infotext")) {
        test_infotext();
    } else if (!strcmp(argv[1], "golden") && argc >= 3) {
        test_golden(argv[2], argc > 3 && !strcmp(argv[3], "f16") ? VKT_F16 : VKT_F32);
    } else if (!strcmp(argv[1], "same-pixels") && argc == 4) {
        test_same_pixels(argv[2], argv[3]);
    } else if (!strcmp(argv[1], "png") && argc > 2) {
        test_png(argc - 2, argv + 2);
    } else {
        fprintf(stderr, "test_sampler: unknown mode %s\n", argv[1]);
        return 2;
    }
    return tk_finish(argv[1]);
}
