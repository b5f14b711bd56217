/* `vktrain sample`: txt2img to PNG files carrying the webui's `parameters` infotext. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fault.h"
#include "cli/cli.h"
#include "io/hash.h"
#include "io/image.h"
#include "io/model_file.h"
#include "models/weights.h"
#include "train/txt2img.h"

static const char *HELP =
    "usage: vktrain sample --model MODEL --prompt PROMPT [options]\n\n"
    "Generates images from a prompt as the webui's txt2img does (Euler a, Euler or DDIM with\n"
    "classifier-free guidance) and writes PNGs whose `parameters` text the webui's PNG Info reads.\n"
    "Noise comes from vktrain's own Philox generator: a seed always gives the same image here, but\n"
    "not the webui's image for that seed (torch's generator cannot be reproduced exactly).\n\n"
    "options:\n"
    "  --model M             model: .safetensors, .ckpt or a diffusers folder (SD 1.x)\n"
    "  --vae F               use this VAE instead of the model's\n"
    "  --prompt P            the prompt (webui syntax: (emphasis:1.2), [less], BREAK)\n"
    "  --negative-prompt N   negative prompt (default: empty)\n"
    "  --steps N             sampling steps (default 20)\n"
    "  --cfg-scale S         classifier-free guidance scale (default 7)\n"
    "  --sampler K           euler_a (default), euler or ddim (the webui's Euler a, Euler, DDIM)\n"
    "  --seed S              seed, image i of a batch uses S+i (default -1: random)\n"
    "  --width W --height H  image size in pixels, multiples of 64 for SD1 (default 512x512)\n"
    "  --batch B             images per run, sampled together (default 1)\n"
    "  --clip-skip N         webui clip skip (default 1)\n"
    "  --pad-cond-uncond     pad prompt and negative prompt to one length (webui option)\n"
    "  --embeddings DIR      textual-inversion embeddings to find in the prompts\n"
    "  --out FILE.png        output (default sample.png); a batch writes FILE-0.png, FILE-1.png, ...\n"
    "  --precision P         fp32 (default) or fp16 storage\n"
    "  --device D            device index or name substring\n"
    "  --json                print the written files, seeds and infotext as JSON\n\n"
    "example:\n  vktrain sample --model v1-5.safetensors --prompt \"a photo of a cat\" --seed 1 --out cat.png\n";

typedef struct sample_args {
    const char *model, *vae, *prompt, *negative, *embeddings, *out, *device;
    vkt_txt2img_opts o;
    int64_t seed; /* -1: random */
    vkt_dtype dtype;
    bool json;
} sample_args;

static bool parse_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v != v) return false;
    *out = v;
    return true;
}

static int parse(int argc, char **argv, sample_args *a)
{
    a->o = vkt_txt2img_opts_default();
    a->seed = -1;
    a->dtype = VKT_F32;
    a->out = "sample.png";
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        bool missing = false;
        long long n = 0;
        if (vkt_cli_is_help(argv[i])) {
            fputs(HELP, stdout);
            return -1;
        }
        if (vkt_cli_flag(argv, i, "--json")) a->json = true;
        else if (vkt_cli_flag(argv, i, "--pad-cond-uncond")) a->o.pad_cond_uncond = true;
        else if (vkt_cli_opt(argc, argv, &i, "--model", &v, &missing)) a->model = v;
        else if (vkt_cli_opt(argc, argv, &i, "--vae", &v, &missing)) a->vae = v;
        else if (vkt_cli_opt(argc, argv, &i, "--prompt", &v, &missing)) a->prompt = v;
        else if (vkt_cli_opt(argc, argv, &i, "--negative-prompt", &v, &missing)) a->negative = v;
        else if (vkt_cli_opt(argc, argv, &i, "--embeddings", &v, &missing)) a->embeddings = v;
        else if (vkt_cli_opt(argc, argv, &i, "--out", &v, &missing)) a->out = v;
        else if (vkt_cli_opt(argc, argv, &i, "--device", &v, &missing)) a->device = v;
        else if (vkt_cli_opt(argc, argv, &i, "--steps", &v, &missing)) {
            if (!missing && !parse_int(v, 1, 1000, &n)) return vkt_cli_usage("sample", "--steps needs 1..1000");
            a->o.steps = (int)n;
        } else if (vkt_cli_opt(argc, argv, &i, "--cfg-scale", &v, &missing)) {
            if (!missing && !parse_double(v, &a->o.cfg_scale)) return vkt_cli_usage("sample", "--cfg-scale needs a number");
        } else if (vkt_cli_opt(argc, argv, &i, "--sampler", &v, &missing)) {
            if (!missing && !vkt_sampler_parse(v, &a->o.sampler))
                return vkt_cli_usage("sample", "--sampler is euler_a, euler or ddim");
        } else if (vkt_cli_opt(argc, argv, &i, "--seed", &v, &missing)) {
            if (!missing && !parse_int(v, -1, 4294967295LL, &n))
                return vkt_cli_usage("sample", "--seed needs -1 (random) or 0..4294967295");
            a->seed = n;
        } else if (vkt_cli_opt(argc, argv, &i, "--width", &v, &missing)) {
            if (!missing && !parse_int(v, 8, 8192, &n)) return vkt_cli_usage("sample", "--width needs 8..8192");
            a->o.width = (int)n;
        } else if (vkt_cli_opt(argc, argv, &i, "--height", &v, &missing)) {
            if (!missing && !parse_int(v, 8, 8192, &n)) return vkt_cli_usage("sample", "--height needs 8..8192");
            a->o.height = (int)n;
        } else if (vkt_cli_opt(argc, argv, &i, "--batch", &v, &missing)) {
            if (!missing && !parse_int(v, 1, 64, &n)) return vkt_cli_usage("sample", "--batch needs 1..64");
            a->o.batch = (int)n;
        } else if (vkt_cli_opt(argc, argv, &i, "--clip-skip", &v, &missing)) {
            if (!missing && !parse_int(v, 1, 12, &n)) return vkt_cli_usage("sample", "--clip-skip needs 1..12");
            a->o.clip_skip = (int)n;
        } else if (vkt_cli_opt(argc, argv, &i, "--precision", &v, &missing)) {
            if (!missing && strcmp(v, "fp32") && strcmp(v, "fp16"))
                return vkt_cli_usage("sample", "--precision is fp32 or fp16");
            if (!missing) a->dtype = strcmp(v, "fp16") == 0 ? VKT_F16 : VKT_F32;
        } else {
            return vkt_cli_usage("sample", "unknown option \"%s\"", argv[i]);
        }
        if (missing) return vkt_cli_usage("sample", "%s needs a value", argv[i]);
    }
    if (!a->model || !a->prompt) return vkt_cli_usage("sample", "--model and --prompt are required");
    if (!*a->out) return vkt_cli_usage("sample", "--out needs a file name");
    return 0;
}

/* processing.get_fixed_seed: -1 becomes random.randrange(4294967294). */
static uint64_t random_seed(void)
{
    uint64_t r = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&r, sizeof r, 1, f) != 1) r = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull;
    if (f) fclose(f);
    return r % 4294967294ull;
}

/* Output file of image i: FILE.png for a single image, else FILE-i.png (".png" of FILE dropped). */
static char *out_path(const char *out, int i, int n)
{
    size_t len = strlen(out);
    if (n == 1) return strdup(out);
    if (len >= 4 && !strcasecmp(out + len - 4, ".png")) len -= 4;
    size_t cap = len + 32;
    char *p = vkt_malloc(cap);
    if (p) snprintf(p, cap, "%.*s-%d.png", (int)len, out, i);
    return p;
}

/* The webui's model name: the file name without its extension (name_for_extra). */
static void model_name(const char *path, char *out, size_t cap)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    const char *base = path;
    for (size_t i = 0; i < len; i++)
        if (path[i] == '/') base = path + i + 1;
    size_t n = (size_t)(path + len - base);
    const char *dot = NULL;
    for (size_t i = 0; i < n; i++)
        if (base[i] == '.') dot = base + i;
    if (dot && dot != base) n = (size_t)(dot - base);
    snprintf(out, cap, "%.*s", (int)n, base);
}

static void progress(void *user, int done, int total)
{
    bool tty = *(bool *)user;
    fprintf(stderr, tty ? "\rsample: step %d/%d" : "sample: step %d/%d\n", done, total);
    if (tty && done == total) fputc('\n', stderr);
}

/* alphas_cumprod from the checkpoint (float32), else the SD1 schedule rounded to float32 as
 * LDM's register_schedule stores it. */
static vkt_status load_alphas(const vkt_model_file *mf, double *ac, vkt_err *err)
{
    const vkt_tensor_data *td = vkt_model_file_find(mf, "alphas_cumprod");
    if (td) {
        if (td->ndim != 1 || td->shape[0] != VKT_SCHED_T)
            return vkt_fail(err, VKT_ERR_FORMAT, "alphas_cumprod: expected %d values", VKT_SCHED_T);
        for (int t = 0; t < VKT_SCHED_T; t++) ac[t] = (float)vkt_tensor_data_get(td, (size_t)t);
        return VKT_OK;
    }
    vkt_schedule s;
    vkt_schedule_init(&s, 0.00085, 0.012);
    for (int t = 0; t < VKT_SCHED_T; t++) ac[t] = (float)s.alphas_cumprod[t];
    return VKT_OK;
}

static vkt_status run(sample_args *a, vkt_err *err)
{
    vkt_model_file *mf = NULL;
    vkt_device *dev = NULL;
    vkt_clip *clip = NULL;
    vkt_unet *unet = NULL;
    vkt_vae *vae = NULL;
    vkt_tokenizer *tok = NULL;
    vkt_txt2img_result res = {0};
    cJSON *js = NULL;
    double *ac = vkt_malloc(VKT_SCHED_T * sizeof *ac);
    char hash[11] = "", name[256];
    vkt_status st = ac ? VKT_OK : vkt_fail(err, VKT_ERR_NOMEM, "schedule");
    if (st) goto done;
    if (a->embeddings) {
        /* TODO(#6): the embedding folder loader (io/embedding_file) is not on main yet */
        st = vkt_fail(err, VKT_ERR_UNSUPPORTED,
                      "--embeddings: loading embedding files is not available yet (needs the embedding "
                      "folder loader, io/embedding_file)");
        goto done;
    }
    vkt_model_opts mo = {.vae_path = a->vae};
    if ((st = vkt_model_file_open(a->model, &mo, &mf, err)) || (st = vkt_model_file_supported(mf, err))) goto done;
    const vkt_sd_config *cfg = vkt_model_file_config(mf);
    /* refuse sizes the model cannot take before any device work (txt2img checks it again) */
    long long mult = (1LL << (cfg->vae_levels - 1)) << (cfg->unet_levels - 1);
    if (cfg->vae_levels >= 1 && cfg->unet_levels >= 1 && (a->o.width % mult || a->o.height % mult)) {
        st = vkt_fail(err, VKT_ERR_USAGE, "--width %d --height %d: this model needs multiples of %lld",
                      a->o.width, a->o.height, mult);
        goto done;
    }
    struct stat sb;
    if (stat(a->model, &sb) == 0 && S_ISREG(sb.st_mode)) { /* webui: the 10-digit sha256 short hash */
        vkt_file_hash fh;
        if ((st = vkt_hash_file(a->model, true, &fh, err))) goto done;
        snprintf(hash, sizeof hash, "%.10s", fh.sha256);
    }
    model_name(a->model, name, sizeof name);
    if ((st = load_alphas(mf, ac, err))) goto done;
    if ((st = vkt_device_create(&(vkt_device_opts){.select = a->device, .validation = -1}, &dev, err))) goto done;
    {
        vkt_step *probe = NULL;
        if ((st = vkt_step_create(dev, &probe, err))) goto done;
        bool ok = a->dtype != VKT_F16 || vkt_step_dtype_ok(probe, VKT_F16);
        vkt_step_destroy(probe);
        if (!ok) {
            st = vkt_fail(err, VKT_ERR_UNSUPPORTED, "--precision fp16: this device has no 16-bit storage");
            goto done;
        }
    }
    vkt_weight_source sc = vkt_weight_source_model_file(mf, VKT_CLIP_PREFIX, a->model);
    vkt_weight_source su = vkt_weight_source_model_file(mf, "model.diffusion_model.", a->model);
    vkt_weight_source sv = vkt_weight_source_model_file(mf, "first_stage_model.", a->model);
    if ((st = vkt_clip_load(dev, &sc, a->dtype, cfg->clip_heads, &clip, err)) ||
        (st = vkt_unet_load(dev, &su, a->dtype, cfg->unet_heads, &unet, err)) ||
        (st = vkt_vae_load(dev, &sv, a->dtype, &vae, err)) || (st = vkt_tokenizer_create(NULL, &tok, err)))
        goto done;

    vkt_txt2img_models m = {.dev = dev, .tok = tok, .clip = clip, .unet = unet, .vae = vae, .alphas_cumprod = ac};
    bool tty = isatty(2);
    a->o.prompt = a->prompt;
    a->o.negative = a->negative;
    a->o.seed = a->seed < 0 ? random_seed() : (uint64_t)a->seed;
    a->o.progress = progress;
    a->o.progress_user = &tty;
    if ((st = vkt_txt2img_run(&m, &a->o, &res, err))) goto done;

    js = cJSON_CreateObject();
    cJSON *imgs = js ? cJSON_AddArrayToObject(js, "images") : NULL;
    for (int i = 0; i < res.n; i++) {
        vkt_infotext it = {.prompt = a->prompt,
                           .negative = a->negative,
                           .steps = a->o.steps,
                           .sampler = vkt_sampler_webui_name(a->o.sampler),
                           .cfg_scale = a->o.cfg_scale,
                           .seed = (int64_t)res.seeds[i],
                           .width = res.width,
                           .height = res.height,
                           .model_hash = hash,
                           .model = name,
                           .clip_skip = a->o.clip_skip,
                           .extra = res.padded ? "Pad conds: True" : NULL};
        char *text = vkt_infotext_format(&it), *path = out_path(a->out, i, res.n);
        if (!text || !path) st = vkt_fail(err, VKT_ERR_NOMEM, "infotext");
        vkt_png_text t = {"parameters", text};
        if (!st) st = vkt_image_write_png(path, res.rgb[i], res.width, res.height, 3, &t, 1, err);
        if (!st && !a->json) printf("%s\n", path);
        if (!st && imgs) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "path", path);
            cJSON_AddNumberToObject(o, "seed", (double)res.seeds[i]);
            cJSON_AddStringToObject(o, "parameters", text);
            cJSON_AddItemToArray(imgs, o);
        }
        free(text);
        free(path);
        if (st) goto done;
    }
    if (a->json && js) {
        cJSON_AddNumberToObject(js, "unet_calls", res.unet_calls);
        cJSON_AddNumberToObject(js, "sampling_step_bytes", (double)res.peak_bytes);
        char *s = cJSON_Print(js);
        if (s) printf("%s\n", s);
        free(s);
    }
done:
    if (st && dev && vkt_device_validation_count(dev))
        vkt_err_prefix(err, "(%u validation messages)", vkt_device_validation_count(dev));
    cJSON_Delete(js);
    vkt_txt2img_result_fini(&res);
    vkt_tokenizer_destroy(tok);
    vkt_vae_destroy(vae);
    vkt_unet_destroy(unet);
    vkt_clip_destroy(clip);
    vkt_device_destroy(dev);
    vkt_model_file_close(mf);
    free(ac);
    return st;
}

int vkt_cmd_sample(int argc, char **argv)
{
    sample_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    vkt_err err = {0};
    if (run(&a, &err) != VKT_OK) return vkt_cli_fail(&err);
    return 0;
}
