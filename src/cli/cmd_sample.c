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
#include "base/pyfmt.h"
#include "cli/cli.h"
#include "io/embedding_db.h"
#include "io/hash.h"
#include "io/image.h"
#include "io/model_file.h"
#include "models/hypernetwork.h"
#include "models/weights.h"
#include "train/embedding_names.h"
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
    "  --embeddings DIR      textual-inversion embeddings to find in the prompts (a folder loaded\n"
    "                        as the webui does: .pt, .bin, .safetensors, .png, .webp)\n"
    "  --hypernetwork F[:S]  apply a webui hypernetwork .pt with strength S (default 1) to every\n"
    "                        attention's k/v input; repeat to chain up to 8 in order. The infotext's\n"
    "                        prompt gets <hypernet:NAME:S> for each, as the webui writes it\n"
    "  --out FILE.png        output (default sample.png); a batch writes FILE-0.png, FILE-1.png, ...\n"
    "  --precision P         fp32 (default) or fp16 storage\n"
    "  --device D            device index or name substring\n"
    "  --json                print the written files, seeds and infotext as JSON\n\n"
    "example:\n  vktrain sample --model v1-5.safetensors --prompt \"a photo of a cat\" --seed 1 --out cat.png\n";

typedef struct sample_args {
    const char *model, *vae, *prompt, *negative, *embeddings, *out, *device;
    const char *hn[8]; /* --hypernetwork FILE[:STRENGTH], in order */
    int n_hn;
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
        else if (vkt_cli_opt(argc, argv, &i, "--hypernetwork", &v, &missing)) {
            if (!missing && a->n_hn == 8) return vkt_cli_usage("sample", "at most 8 --hypernetwork");
            if (!missing) a->hn[a->n_hn++] = v;
        }
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

/* "FILE[:STRENGTH]": the strength is the text after the last ':' when it is a number. */
static void split_hn(const char *arg, char *file, size_t cap, double *strength)
{
    const char *c = strrchr(arg, ':');
    char *end = NULL;
    double v = c ? strtod(c + 1, &end) : 0;
    bool num = c && c[1] && end && !*end && v == v;
    size_t n = num ? (size_t)(c - arg) : strlen(arg);
    snprintf(file, cap, "%.*s", (int)(n < cap ? n : cap - 1), arg);
    *strength = num ? v : 1.0;
}

/* The webui's infotext prompt with hypernetworks: extra_networks_hypernet appends
 * <hypernet:NAME:MULTIPLIER> (NAME = the file stem, the multiplier as Python prints a float). */
static char *hn_prompt(const char *prompt, vkt_hypernetwork *const *hns, char names[][256], int n)
{
    size_t len = strlen(prompt) + 1;
    for (int j = 0; j < n; j++) len += strlen(names[j]) + 16 + VKT_PYFMT_FLOAT_MAX;
    char *out = vkt_malloc(len);
    if (!out) return NULL;
    size_t k = (size_t)snprintf(out, len, "%s", prompt);
    for (int j = 0; j < n && k < len; j++) {
        char f[VKT_PYFMT_FLOAT_MAX];
        k += (size_t)snprintf(out + k, len - k, "<hypernet:%s:%s>", names[j],
                              vkt_pyfmt_float((double)hns[j]->multiplier, f));
    }
    return out;
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

/* txt2img's emb_row for a vkt_embedding_db: vectors are uploaded in db order. */
static int64_t db_row(void *ctx, const void *user)
{
    const vkt_embedding_db *db = ctx;
    int64_t row = 0;
    for (size_t i = 0; i < db->n; i++) {
        if (db->embs[i] == user) return row;
        row += db->embs[i]->n_vectors;
    }
    return -1;
}

/* Every embedding's vectors, f32 [sum N, W] in db order (nothing when db is empty). */
static vkt_status upload_embeddings(vkt_device *dev, const vkt_embedding_db *db, int width, vkt_tensor *out,
                                    vkt_err *err)
{
    int64_t rows = 0;
    for (size_t i = 0; i < db->n; i++) rows += db->embs[i]->n_vectors;
    if (rows == 0) return VKT_OK;
    float *h = vkt_malloc((size_t)(rows * width) * sizeof *h);
    if (!h) return vkt_fail(err, VKT_ERR_NOMEM, "embedding vectors");
    int64_t r = 0;
    for (size_t i = 0; i < db->n; i++) {
        memcpy(h + r * width, db->embs[i]->vectors, (size_t)(db->embs[i]->n_vectors * width) * sizeof *h);
        r += db->embs[i]->n_vectors;
    }
    vkt_status st = vkt_tensor_alloc(dev, VKT_F32, 2, (int64_t[]){rows, width}, "embedding vectors", out, err);
    if (!st) st = vkt_tensor_upload_f32(dev, out, h, err);
    free(h);
    return st;
}

/* The webui's "TI hashes" parameter (sd_hijack_clip: "name: shorthash" with ':' and ',' removed
 * from names, shorthash = the file's sha256[:12]), already quoted as its infotext writes it;
 * NULL when no embedding was used. */
static char *ti_hashes(const vkt_embedding_db *db, const vkt_txt2img_result *res, vkt_err *err)
{
    if (!db || res->n_used_embs == 0) return NULL;
    size_t cap = 64 * (size_t)res->n_used_embs + 256, len = 0;
    char *list = vkt_malloc(cap);
    if (!list) return NULL;
    list[0] = 0;
    for (int u = 0; u < res->n_used_embs; u++) {
        size_t i = 0;
        while (i < db->n && db->embs[i] != res->used_embs[u]) i++;
        vkt_file_hash fh;
        if (i == db->n || vkt_hash_file(db->paths[i], true, &fh, err)) continue;
        char name[128];
        size_t k = 0;
        for (const char *c = db->embs[i]->name; *c && k + 1 < sizeof name; c++)
            if (*c != ':' && *c != ',') name[k++] = *c;
        name[k] = 0;
        len += (size_t)snprintf(list + len, cap - len, "%s%s: %.12s", len ? ", " : "", name, fh.sha256);
        if (len >= cap) len = cap - 1;
    }
    cJSON *j = cJSON_CreateString(list); /* infotext quote(): json.dumps(v, ensure_ascii=False) */
    char *q = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    free(list);
    if (!q) return NULL;
    size_t n = strlen(q) + 16;
    char *out = vkt_malloc(n);
    if (out) snprintf(out, n, "TI hashes: %s", q);
    free(q);
    return out;
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
    vkt_embedding_db *db = NULL;
    vkt_prompt_embs *pe = NULL;
    vkt_tensor emb_vectors = {0};
    vkt_hypernetwork *hns[8] = {0};
    vkt_hn_hook *hook = NULL;
    char hn_names[8][256];
    char *extra = NULL, *prompt_text = NULL;
    double *ac = vkt_malloc(VKT_SCHED_T * sizeof *ac);
    char hash[11] = "", name[256];
    vkt_status st = ac ? VKT_OK : vkt_fail(err, VKT_ERR_NOMEM, "schedule");
    if (st) goto done;
    vkt_model_opts mo = {.vae_path = a->vae};
    if ((st = vkt_model_file_open(a->model, &mo, &mf, err)) || (st = vkt_model_file_supported(mf, err))) goto done;
    const vkt_sd_config *cfg = vkt_model_file_config(mf);
    /* refuse sizes the model cannot take before any device work (txt2img checks it again) */
    int mult = vkt_sd_config_pixel_multiple(cfg);
    if (a->o.width % mult || a->o.height % mult) {
        st = vkt_fail(err, VKT_ERR_USAGE, "--width %d --height %d: this model needs multiples of %d",
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
    if ((st = vkt_tokenizer_create(NULL, &tok, err)) || (st = vkt_prompt_embs_create(&pe, err))) goto done;
    if (a->embeddings) { /* the webui's EmbeddingDatabase: unusable files are warnings */
        if ((st = vkt_embedding_db_create(&db, err)) ||
            (st = vkt_embedding_db_load_dir(db, a->embeddings, cfg->clip_width, err)) ||
            (st = vkt_embedding_names_register(db, tok, pe, err))) {
            vkt_err_prefix(err, "--embeddings");
            goto done;
        }
        for (size_t k = 0; k < db->n_notes; k++)
            fprintf(stderr, "vktrain: warning: %s: %s\n", db->notes[k].path, db->notes[k].msg);
    }
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
        (st = vkt_vae_load(dev, &sv, a->dtype, &vae, err)))
        goto done;
    if (db && (st = upload_embeddings(dev, db, cfg->clip_width, &emb_vectors, err))) goto done;
    for (int j = 0; j < a->n_hn; j++) { /* modules.eval(): multiplier used, dropout off */
        char file[1024], stem[256];
        double strength;
        split_hn(a->hn[j], file, sizeof file, &strength);
        if ((st = vkt_hn_load(file, &hns[j], err)) || (st = vkt_hn_upload(hns[j], dev, false, err))) {
            vkt_err_prefix(err, "--hypernetwork");
            goto done;
        }
        hns[j]->multiplier = (float)strength;
        model_name(file, stem, sizeof stem);
        snprintf(hn_names[j], sizeof hn_names[j], "%s", stem);
    }
    if (a->n_hn && (st = vkt_hn_hook_create(hns, a->n_hn, VKT_HN_APPLY, &hook, err))) goto done;

    vkt_txt2img_models m = {.dev = dev,
                            .tok = tok,
                            .clip = clip,
                            .unet = unet,
                            .vae = vae,
                            .alphas_cumprod = ac,
                            .embs = pe,
                            .emb_vectors = emb_vectors.buf ? &emb_vectors : NULL,
                            .emb_row = db_row,
                            .emb_row_ctx = db,
                            .hook = hook ? vkt_hn_hook_unet(hook) : NULL};
    bool tty = isatty(2);
    a->o.prompt = a->prompt;
    a->o.negative = a->negative;
    a->o.seed = a->seed < 0 ? random_seed() : (uint64_t)a->seed;
    a->o.progress = progress;
    a->o.progress_user = &tty;
    if ((st = vkt_txt2img_run(&m, &a->o, &res, err))) goto done;

    {
        /* extra_generation_params in the webui's order: TI hashes (set while encoding), then Pad
         * conds (set after sampling) */
        char *ti = ti_hashes(db, &res, err);
        size_t n = (ti ? strlen(ti) : 0) + 32;
        if ((extra = vkt_malloc(n)))
            snprintf(extra, n, "%s%s%s", ti ? ti : "", ti && res.padded ? ", " : "", res.padded ? "Pad conds: True" : "");
        free(ti);
    }
    if (!(prompt_text = hn_prompt(a->prompt, hns, hn_names, a->n_hn))) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "infotext");
        goto done;
    }
    js = cJSON_CreateObject();
    cJSON *imgs = js ? cJSON_AddArrayToObject(js, "images") : NULL;
    for (int i = 0; i < res.n; i++) {
        vkt_infotext it = {.prompt = prompt_text,
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
                           .extra = extra};
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
    free(extra);
    free(prompt_text);
    vkt_hn_hook_destroy(hook);
    for (int j = 0; j < 8; j++) vkt_hn_destroy(hns[j]);
    if (dev) vkt_tensor_free(dev, &emb_vectors);
    vkt_prompt_embs_destroy(pe);
    vkt_embedding_db_destroy(db);
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
