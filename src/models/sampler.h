/* The webui's txt2img samplers for eps-prediction (SD1) models: Euler a (its default), Euler and
 * DDIM, with classifier-free guidance, as the AUTOMATIC1111 webui runs them (k-diffusion's
 * sample_euler_ancestral / sample_euler over CompVisDenoiser, and the webui's own
 * sd_samplers_timesteps_impl.ddim). The schedule math is host double; one sampling step (UNet on
 * [uncond; cond], guidance, update) is recorded once and resubmitted with new scalars per step.
 *
 *   vkt_sampler_plan plan;
 *   vkt_sampler_plan_init(VKT_SAMPLER_EULER_A, alphas_cumprod, 20, &plan, &err);
 *   vkt_sampler *sm;
 *   vkt_sampler_cond cond = {.both = &ctx};                  // [2B, 77K, 768]: uncond, then cond
 *   vkt_sampler_create(dev, unet, &plan, 7.0f, B, 64, 64, &cond, &sm, &err);
 *   vkt_sampler_start(sm, seeds, &err);                      // x_0 = sigma_max * noise(seed_b)
 *   for (int i = 0; i < plan.n; i++) vkt_sampler_step(sm, i, &err);
 *   ... decode vkt_sampler_latent(sm) (f32 [B, 4, 64, 64]) with the VAE ...
 *   vkt_sampler_destroy(sm); vkt_sampler_plan_fini(&plan);
 *
 * The schedule (k-diffusion external.DiscreteSchedule, the webui's "Automatic" schedule type for
 * these samplers):
 *   sigma_t     = sqrt((1 - abar_t) / abar_t), t = 0..999, from the model's alphas_cumprod;
 *   get_sigmas(n): t_i = linspace(999, 0, n)_i, sigma_i = t_to_sigma(t_i), then a final 0;
 *   t_to_sigma(t) = exp((1 - w) log sigma_floor(t) + w log sigma_ceil(t)),  w = frac(t);
 *   sigma_to_t(s): lo = the last index with log sigma_lo <= log s (0 if none), at most 998,
 *                  w = clamp((log sigma_lo - log s) / (log sigma_lo - log sigma_lo+1), 0, 1),
 *                  t = (1 - w) lo + w (lo + 1)   -- fractional, fed to the UNet as float32
 *                  (the webui's default: enable_quantization off).
 * Model call (DiscreteEpsDDPMDenoiser): eps = unet(x / sqrt(sigma^2 + 1), sigma_to_t(sigma)),
 * denoised = x - sigma eps; guidance (CFGDenoiser.combine_denoised):
 *   denoised = d_uncond + cfg (d_cond - d_uncond), i.e. eps = eps_u + cfg (eps_c - eps_u).
 * Euler (s_churn 0, so no noise): x_{i+1} = x_i + eps (sigma_{i+1} - sigma_i).
 * Euler a (eta 1, s_noise 1): sigma_up = min(sigma_{i+1}, sqrt(sigma_{i+1}^2 (sigma_i^2 -
 *   sigma_{i+1}^2) / sigma_i^2)), sigma_down = sqrt(sigma_{i+1}^2 - sigma_up^2),
 *   x_{i+1} = x_i + eps (sigma_down - sigma_i) + sigma_up z_i  (no noise where sigma_{i+1} = 0).
 * Both start from x_0 = sigma_0 z_init and end at sigma = 0 (x_n = the last denoised).
 * DDIM (webui >= 1.6, eta 0): ts = clip(range(0, 1000, 1000 // steps) + 1, 0, 999), m = len(ts);
 *   m - 1 UNet calls for index = m-1 .. 1 at t = ts[index] (integer), unscaled input:
 *   pred_x0 = (x - sqrt(1 - abar_t) eps) / sqrt(abar_t),  x = sqrt(abar_prev) pred_x0 +
 *   sqrt(1 - abar_prev) eps with abar_prev = abar[ts[index - 1]]; x_0 = z_init. So 20 steps make
 *   19 UNet calls and stop at abar[1], not at a clean sample: the webui's behaviour, kept.
 *
 * Noise (documented RNG; the webui's torch.randn streams cannot be reproduced bit for bit, so
 * the same seed gives a different image than the webui, but always the same one here, on every
 * device): image b of a batch uses seed_b (the command passes seed + b, as the webui's
 * all_seeds). Draw k of an image (k = 0: the initial latent; k = i + 1: Euler a's noise after step
 * i) is element j of the image's [C, h, w] latent (row-major) = (float) vkt_philox_normal(seed_b,
 * k, j) of src/nn/philox.h (Philox4x32-10, Box-Muller in double), generated on the host.
 *
 * Precision: the schedule and step scalars are computed in double from the float32 alphas_cumprod
 * and rounded to float32 once (torch computes them in float32 throughout: sigmas agree to ~1e-6
 * relative, see tests/reference/sampler_sigmas.py); the latent state x is float32 whatever the
 * model's dtype, the UNet input and eps are in the model's dtype, as in the webui under autocast.
 */
#ifndef VKT_MODELS_SAMPLER_H
#define VKT_MODELS_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "models/schedule.h"
#include "models/unet.h"
#include "nn/step.h"

typedef enum vkt_sampler_kind {
    VKT_SAMPLER_EULER_A = 0, /* webui "Euler a" (its default) */
    VKT_SAMPLER_EULER,       /* webui "Euler" */
    VKT_SAMPLER_DDIM,        /* webui "DDIM" */
    VKT_SAMPLER_COUNT
} vkt_sampler_kind;

/* Accepts the command-line names ("euler_a", "euler", "ddim"), the webui's names ("Euler a",
 * "Euler", "DDIM") and its aliases ("k_euler_a", "k_euler_ancestral", "k_euler"). false for
 * anything else. */
bool vkt_sampler_parse(const char *name, vkt_sampler_kind *out);
const char *vkt_sampler_name(vkt_sampler_kind k);       /* "euler_a" */
const char *vkt_sampler_webui_name(vkt_sampler_kind k); /* "Euler a": the infotext's Sampler */

/* ------------------------------------------------------------------------------------------------
 * The k-diffusion discrete schedule. */

typedef struct vkt_sigma_schedule {
    double sigmas[VKT_SCHED_T];     /* sqrt((1 - abar_t) / abar_t), increasing in t */
    double log_sigmas[VKT_SCHED_T]; /* log(sigmas) */
} vkt_sigma_schedule;

/* From alphas_cumprod[1000] (the model's float32 values, given as double). */
void vkt_sigma_schedule_init(vkt_sigma_schedule *s, const double *alphas_cumprod);
/* k-diffusion DiscreteSchedule.sigma_to_t (quantize off) and t_to_sigma, as in the header. */
double vkt_sigma_schedule_t(const vkt_sigma_schedule *s, double sigma);
double vkt_sigma_schedule_sigma(const vkt_sigma_schedule *s, double t);
/* DiscreteSchedule.get_sigmas(n): out[0..n-1] = t_to_sigma(linspace(999, 0, n)), out[n] = 0.
 * n >= 1. */
void vkt_sigma_schedule_get(const vkt_sigma_schedule *s, int n, double *out);
/* The webui's DDIM timesteps for `steps` (1..1000): clip(range(0, 1000, 1000 // steps) + 1, 0,
 * 999) into out (room for 1000); returns their count m (m - 1 UNet calls). */
int vkt_ddim_timesteps(int steps, int *out);

/* ------------------------------------------------------------------------------------------------
 * A sampling plan: what every UNet call sees and how the latent moves. */

typedef struct vkt_sampler_plan_step {
    double t;                 /* the UNet's timestep (fractional for Euler / Euler a) */
    double c_in;              /* the UNet's input is c_in * x */
    double a, b, s;           /* x_next = a x + b eps + s z, eps after guidance, z = draw i + 1 */
    double sigma, sigma_next; /* k-diffusion: sigma_i, sigma_{i+1}; DDIM: 0 */
    double abar, abar_prev;   /* DDIM: abar[ts[index]], abar[ts[index - 1]]; k-diffusion: 0 */
} vkt_sampler_plan_step;

typedef struct vkt_sampler_plan {
    vkt_sampler_kind kind;
    int steps;               /* as asked */
    int n;                   /* UNet calls (steps; DDIM: m - 1, may be 0) */
    double init_scale;       /* x_0 = init_scale * z_init: sigma_0, or 1 for DDIM */
    vkt_sampler_plan_step *step; /* owned [n] */
} vkt_sampler_plan;

/* Builds the plan for `steps` (1..1000) from alphas_cumprod[1000]. Fails with VKT_ERR_USAGE for
 * steps out of range, VKT_ERR_FORMAT when alphas_cumprod is not a decreasing sequence in (0, 1). */
vkt_status vkt_sampler_plan_init(vkt_sampler_kind kind, const double *alphas_cumprod, int steps,
                                 vkt_sampler_plan *out, vkt_err *err);
void vkt_sampler_plan_fini(vkt_sampler_plan *p);

/* Step i of p computed the way the webui writes it (CompVisDenoiser + combine_denoised + to_d +
 * get_ancestral_step, or the DDIM update), in double, independent of the a/b/s coefficients:
 * out[k] = x_{i+1} for k < n from x, the UNet's eps_u / eps_c at (c_in x, t), cfg, and z (draw
 * i + 1; read only by Euler a). The reference the tests hold the GPU path to. */
void vkt_sampler_ref_step(const vkt_sampler_plan *p, int i, double cfg, size_t n, const double *x,
                          const double *eps_u, const double *eps_c, const double *z, double *out);

/* Draw `draw` of the image with this seed: out[j] = (float)vkt_philox_normal(seed, draw, j). */
void vkt_sampler_noise(uint64_t seed, uint64_t draw, size_t n, float *out);

/* ------------------------------------------------------------------------------------------------
 * The sampling loop on the device. */

/* The text conditioning, in the UNet's dtype, persistent tensors borrowed until destroy: either
 * `both` [2B, T, ctx] (rows 0..B-1 the negative prompt, B..2B-1 the prompt; one UNet call of
 * batch 2B per step, the webui's batch_cond_uncond), or `uncond` and `cond` [B, Tu, ctx] and
 * [B, Tc, ctx] (two calls per step: what the webui does when the two prompts have different
 * chunk counts and pad_cond_uncond is off). */
typedef struct vkt_sampler_cond {
    const vkt_tensor *both;
    const vkt_tensor *uncond, *cond;
    /* The UNet's k/v hook for every call, or NULL: hypernetworks (models/hypernetwork.h) in
     * VKT_HN_APPLY mode, which keep no state between submissions. Borrowed until destroy. */
    const vkt_unet_kv_hook *hook;
} vkt_sampler_cond;

typedef struct vkt_sampler vkt_sampler;

/* Allocates the latent x (f32 [B, in_ch, h, w]), the UNet input, timesteps, noise and step
 * scalars, and records one step (UNet call(s), guidance and update) into a planned step of its
 * own. plan is borrowed until destroy. h and w must suit the UNet (divisible by 2^(levels-1)).
 * Fails with VKT_ERR_SHAPE for mismatched conditioning, VKT_ERR_NOMEM/VK when memory runs out. */
vkt_status vkt_sampler_create(vkt_device *dev, vkt_unet *unet, const vkt_sampler_plan *plan, float cfg_scale,
                              int64_t B, int64_t h, int64_t w, const vkt_sampler_cond *cond, vkt_sampler **out,
                              vkt_err *err);
void vkt_sampler_destroy(vkt_sampler *sm); /* NULL is a no-op */

/* Remembers seeds[B] and sets x_0 = init_scale * draw 0 of each image. */
vkt_status vkt_sampler_start(vkt_sampler *sm, const uint64_t *seeds, vkt_err *err);
/* Sets the latent before step i (host f32 [B, in_ch, h, w]) instead, e.g. for tests; seeds as
 * for vkt_sampler_start (Euler a draws i + 1, ... from them). */
vkt_status vkt_sampler_set_latent(vkt_sampler *sm, int i, const float *x, const uint64_t *seeds, vkt_err *err);
/* Runs step i (0 <= i < plan->n, in order): uploads t, the scalars and (Euler a) draw i + 1 of
 * every image, submits the recorded step and waits. */
vkt_status vkt_sampler_step(vkt_sampler *sm, int i, vkt_err *err);
/* The latent x, f32 [B, in_ch, h, w]: after step i it holds x_{i+1}. Valid until destroy. */
const vkt_tensor *vkt_sampler_latent(const vkt_sampler *sm);
/* Device bytes of the recorded step's planned activations (the UNet at batch 2B). */
uint64_t vkt_sampler_peak_bytes(const vkt_sampler *sm);

#endif
