/* `vktrain embedding train` and `vktrain hypernetwork train`: the webui's Train tab with its
 * options (one parser: the two share every option but a few). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "cli/cli.h"
#include <cjson/cJSON.h>
#include "models/sampler.h"
#include "train/ti_train.h"

static const char *HELP =
    "usage: vktrain embedding train --model M --embedding NAME|FILE --data DIR [options]\n\n"
    "Trains a textual-inversion embedding the way the webui's Train tab does and writes files the\n"
    "webui loads unchanged: LOG_DIR/YYYY-MM-DD/NAME/ with embeddings/NAME-STEP.pt copies,\n"
    "textual_inversion_loss.csv and loss.svg, and the final NAME.pt in --out. A NAME that is not\n"
    "an existing file creates a new embedding from --init-text and --vectors; a FILE continues\n"
    "from its step (with its .optim when the hash matches). Ctrl-C saves and exits 130.\n\n"
    "options (webui defaults):\n"
    "  --model M              checkpoint (.safetensors/.ckpt) or diffusers folder\n"
    "  --vae FILE             replace the checkpoint's VAE\n"
    "  --embedding NAME|FILE  embedding to create or continue\n"
    "  --resume               with a NAME: continue OUT/NAME.pt (and its .optim) from its step\n"
    "  --overwrite            with a NAME whose OUT/NAME.pt exists: start afresh and replace it\n"
    "                         (without either, such a NAME is refused so no trained file is lost)\n"
    "  --data DIR             images (+ same-stem .txt captions)\n"
    "  --init-text TEXT       new embedding: initial words (default \"*\")\n"
    "  --vectors N            new embedding: vectors per token, 1..75 (default 1)\n"
    "  --lr SCHEDULE          learning rate, e.g. \"0.005:100, 1e-3:1000, 1e-5\" (default 0.005)\n"
    "  --batch B              images per mini-batch (default 1)\n"
    "  --grad-accum G         mini-batches per update (default 1)\n"
    "  --steps N              max steps (default 100000)\n"
    "  --width W, --height H  training size in pixels (default 512 x 512)\n"
    "  --varsize              train at each image's own size (size buckets), centre-cropped to\n"
    "                         the multiple the model takes (64 for SD1)\n"
    "  --clip-grad MODE       none | value | norm (default none)\n"
    "  --clip-grad-value V    threshold, schedule syntax (default 0.1); clips true gradients\n"
    "                         (the webui clips loss-scaled ones)\n"
    "  --shuffle-tags         shuffle caption tags at every use\n"
    "  --tag-dropout P        drop each caption tag with probability P (default 0)\n"
    "  --latent-sampling M    once | deterministic | random (default once)\n"
    "  --use-weight           PNG alpha channel as loss weight\n"
    "  --template NAME|FILE   style, style_filewords (default), subject, subject_filewords, ...\n"
    "  --filename-regex RE    caption words from file names\n"
    "  --filewords-join S     join string for those words (default \" \")\n"
    "  --repeats N            images per epoch multiplier (default 1)\n"
    "  --save-every N         intermediate copies every N steps, webui naming (default 500, 0 off)\n"
    "  --csv-every N          loss CSV row every N steps (default 500, 0 off)\n"
    "  --save-optimizer       write .optim files (resumable AdamW state)\n"
    "  --tensorboard          TensorBoard event files in LOG_DIR/.../NAME/tensorboard/: loss and\n"
    "                         learn rate after every step (webui tags \"Loss/train\", ...)\n"
    "  --tensorboard-images   previews there too (\"Validation at epoch N\")\n"
    "  --preview-every N      preview image every N steps into images/ (default 500, 0 off)\n"
    "  --preview-prompt P     default: the first prompt of the current batch (as the webui)\n"
    "  --preview-negative-prompt N, --preview-steps N (20), --preview-sampler S (euler_a),\n"
    "  --preview-cfg-scale C (7), --preview-seed S (default: --seed + step),\n"
    "  --preview-width W, --preview-height H (default: the training size)\n"
    "  --no-save-image-with-embedding   no image_embeddings/ PNGs (default: written when a\n"
    "                         preview and a copy fall on the same step, as the webui)\n"
    "  --log-dir DIR          default textual_inversion\n"
    "  --out DIR              final NAME.pt goes here (default embeddings)\n"
    "  --seed S               data order, prompts, noise, timesteps (default 0)\n"
    "  --clip-skip N          webui clip skip (default 1)\n"
    "  --precision P          fp32 (default) or fp16 storage\n"
    "  --device D             device index or name substring\n"
    "  --warmup N             linear learning-rate warmup over N steps (vktrain extra)\n"
    "  --cosine               cosine annealing to --lr-min (vktrain extra)\n"
    "  --lr-min R             floor of the cosine (default 0)\n"
    "  --quiet                no progress lines\n"
    "  --save-format F        pt (webui, default) or safetensors (kohya emb_params)\n"
    "  --ema BETA             also keep an EMA of the vectors, saved as NAME-ema (vktrain extra)\n"
    "  --ema-update-every N   EMA update every N steps (default 1)\n"
    "  --eval-draws N         loss over N fixed draws (image, prompt, noise, timestep) before\n"
    "                         and after training, printed at the end (vktrain extra; default 0)\n"
    "  --fixed-draws N        train only on the first N fixed draws, cycling: an overfitting check\n"
    "                         of the setup, not for real training (vktrain extra)\n"
    "  --config FILE.json     settings by the webui's names (learn_rate, batch_size, gradient_step,\n"
    "                         steps, data_root, log_directory, training_width/height, template_file,\n"
    "                         clip_grad_mode/value, latent_sampling_method, num_vectors_per_token,\n"
    "                         save_embedding_every, embedding_name, ...); later options override it.\n"
    "                         The settings-*.json a run writes is such a file.\n\n"
    "differences from the webui (docs/training.md): clipping acts on true gradients (the webui\n"
    "clips fp16-loss-scaled ones); on resume the scheduled rate applies at once (the webui keeps\n"
    "the .optim's saved rate until the schedule changes); --use-weight resizes the alpha map to\n"
    "(width, height) and gives a constant alpha weight 1 (the webui swaps the sides and gets NaN);\n"
    "sizes are multiples of 64 px for SD1 (--varsize crops to that); random numbers are vktrain's\n"
    "own, so a seed reproduces a run here on any device, not a webui run.\n\n"
    "example:\n  vktrain embedding train --model v1-5.safetensors --embedding cat --data cats/ --steps 3000\n";

static const char *HN_HELP =
    "usage: vktrain hypernetwork train --model M --hypernetwork NAME|FILE --data DIR [options]\n\n"
    "Trains a webui hypernetwork (made by `vktrain hypernetwork create`) the way the webui's Train\n"
    "tab does: its modules in train mode (dropout on, multiplier ignored), AdamW with weight decay\n"
    "0.01, only module sizes some attention layer uses are updated. Writes LOG_DIR/YYYY-MM-DD/NAME/\n"
    "with hypernetworks/NAME-STEP.pt copies (+ .optim with --save-optimizer), hypernetwork_loss.csv,\n"
    "loss.svg and previews (modules in eval mode), and the final NAME.pt in --out. FILE continues\n"
    "from its step (with FILE.optim when its hash matches); a NAME is looked up as OUT/NAME.pt.\n"
    "Ctrl-C saves and exits 130.\n\n"
    "options: as `vktrain embedding train --help` (--lr, --batch, --grad-accum, --steps, --width,\n"
    "--height, --varsize, --clip-grad, --clip-grad-value, --shuffle-tags, --tag-dropout,\n"
    "--latent-sampling, --use-weight, --template, --filename-regex, --filewords-join, --repeats,\n"
    "--save-every, --csv-every, --save-optimizer, --tensorboard, --tensorboard-images, --preview-*,\n"
    "--log-dir, --seed, --clip-skip, --precision, --device, --warmup, --cosine, --lr-min, --quiet,\n"
    "--eval-draws, --fixed-draws, --config), except:\n"
    "  --hypernetwork NAME|FILE  the hypernetwork to train (instead of --embedding)\n"
    "  --lr SCHEDULE             default 0.00001 (the webui's; its wiki suggests 5e-6 or lower)\n"
    "  --out DIR                 final NAME.pt goes here (default hypernetworks)\n"
    "  --config FILE.json        also reads hypernetwork_name and save_hypernetwork_every\n"
    "--init-text, --vectors, --save-format, --ema, --overwrite and image embeddings are for\n"
    "embeddings only; --resume is accepted (a hypernetwork always continues from its file).\n"
    "As in the webui, each image's conditioning is encoded once and reused unless tags are shuffled\n"
    "or dropped (then every mini-batch encodes its prompts).\n\n"
    "example:\n  vktrain hypernetwork create anime && vktrain hypernetwork train --model v1-5.safetensors \\\n"
    "      --hypernetwork anime --data pics/ --steps 2000 --lr 5e-6\n";

static void on_signal(int sig)
{
    static volatile sig_atomic_t seen;
    if (seen) _exit(130); /* second Ctrl-C: now; files are only ever renamed into place */
    seen = 1;
    (void)sig;
    vkt_ti_request_stop();
}

/* Reads a webui settings file into o. Strings stay in *json (owned by the caller). */
static int load_config(const char *path, vkt_ti_opts *o, cJSON **json)
{
    vkt_err err = {0};
    uint8_t *text = NULL;
    size_t n = 0;
    if (vkt_read_file(path, 1 << 20, &text, &n, &err)) return vkt_cli_fail(&err);
    *json = cJSON_ParseWithLength((const char *)text, n);
    free(text);
    if (!cJSON_IsObject(*json)) {
        fprintf(stderr, "vktrain: error: %s: not a JSON object\n", path);
        return 1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, *json)
    {
        const char *k = it->string;
        bool str = cJSON_IsString(it), num = cJSON_IsNumber(it);
        double d = num ? it->valuedouble : 0;
#define S(key, field) if (!strcmp(k, key) && str) { o->field = it->valuestring; continue; }
#define I(key, field) if (!strcmp(k, key) && num) { o->field = (typeof(o->field))d; continue; }
        S("learn_rate", lr) S("data_root", data_dir) S("log_directory", log_dir) S("template_file", template_name)
        S("clip_grad_value", clip_value) S("init_text", init_text)
        S("embedding_name", embedding) S("hypernetwork_name", hypernetwork)
        S("model", model) S("filename_word_regex", filename_regex) S("filename_join_string", filewords_join)
        I("batch_size", batch) I("gradient_step", grad_accum) I("steps", steps) I("training_width", width)
        I("training_height", height) I("num_vectors_per_token", vectors) I("save_embedding_every", save_every)
        I("save_hypernetwork_every", save_every) I("create_image_every", preview_every)
        I("training_write_csv_every", csv_every) I("clip_skip", clip_skip) I("seed", seed)
#undef S
#undef I
        if (!strcmp(k, "learn_rate") && num) { /* the webui also stores plain numbers */
            static char buf[64];
            snprintf(buf, sizeof buf, "%.17g", d);
            o->lr = buf;
        } else if (!strcmp(k, "clip_grad_mode") && str) {
            const char *m = it->valuestring;
            if (strcmp(m, "disabled") && strcmp(m, "none") && strcmp(m, "value") && strcmp(m, "norm")) {
                fprintf(stderr, "vktrain: error: %s: clip_grad_mode \"%s\" (disabled, value or norm)\n", path, m);
                return 2;
            }
            o->clip_mode = !strcmp(m, "value") ? VKT_CLIPGRAD_VALUE : !strcmp(m, "norm") ? VKT_CLIPGRAD_NORM : VKT_CLIPGRAD_NONE;
        } else if (!strcmp(k, "latent_sampling_method") && str) {
            if (!vkt_latent_sampling_parse(it->valuestring, &o->latent_sampling)) {
                fprintf(stderr, "vktrain: error: %s: latent_sampling_method \"%s\"\n", path, it->valuestring);
                return 2;
            }
        } else if (!strcmp(k, "varsize") && cJSON_IsBool(it)) {
            o->varsize = cJSON_IsTrue(it);
        } else if (!strcmp(k, "shuffle_tags") && cJSON_IsBool(it)) {
            o->shuffle_tags = cJSON_IsTrue(it);
        } else if (!strcmp(k, "tag_drop_out") && num) {
            o->tag_dropout = d;
        } else if (!strcmp(k, "use_weight") && cJSON_IsBool(it)) {
            o->use_weight = cJSON_IsTrue(it);
        } else if (!strcmp(k, "training_enable_tensorboard") && cJSON_IsBool(it)) {
            o->tensorboard = cJSON_IsTrue(it);
        } else if (!strcmp(k, "training_tensorboard_save_images") && cJSON_IsBool(it)) {
            o->tensorboard_images = cJSON_IsTrue(it);
        } /* other keys (datetime, model_hash, ...) describe a run and are ignored */
    }
    return 0;
}

#define OPT_CONFIG(a) (strcmp(a, "--config") == 0)

static bool parse_int(const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) return false;
    *out = x;
    return true;
}

/* Parses the options and trains; *config (a --config file's JSON, whose strings o points into)
 * is the caller's to free on every return. */
static int parse_and_train(int argc, char **argv, bool hn, cJSON **config_out)
{
    vkt_ti_opts o = hn ? vkt_hn_train_defaults() : vkt_ti_defaults();
    const char *cmd = hn ? "hypernetwork train" : "embedding train";
    if (hn) o.hypernetwork = ""; /* marks the kind for the config reader until --hypernetwork */
    for (int i = 1; i + 1 < argc; i++) /* the config first, so that options override it */
        if (strcmp(argv[i], "--config") == 0) {
            if (*config_out) return vkt_cli_usage(cmd, "--config given twice");
            int rc = load_config(argv[i + 1], &o, config_out);
            if (rc) return rc;
        }
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        bool missing = false;
        long long n;
        char *end;
        if (vkt_cli_is_help(argv[i])) { fputs(hn ? HN_HELP : HELP, stdout); return 0; }
        static const char *const ti_only[] = {"--embedding", "--init-text", "--vectors", "--save-format", "--ema",
                                              "--ema-update-every", "--no-save-image-with-embedding", "--overwrite"};
        for (size_t j = 0; hn && j < sizeof ti_only / sizeof ti_only[0]; j++)
            if (!strcmp(argv[i], ti_only[j])) return vkt_cli_usage(cmd, "%s is for embeddings only", argv[i]);
        if (!hn && !strcmp(argv[i], "--hypernetwork"))
            return vkt_cli_usage(cmd, "--hypernetwork: use `vktrain hypernetwork train`");
        if (OPT_CONFIG(argv[i])) { i++; continue; }
#define OPT(name) vkt_cli_opt(argc, argv, &i, name, &v, &missing)
#define NEED() do { if (missing) return vkt_cli_usage(cmd, "%s needs a value", argv[i]); } while (0)
#define INT(lo, hi) do { NEED(); if (!parse_int(v, lo, hi, &n)) return vkt_cli_usage(cmd, "%s: \"%s\" is not an integer in %lld..%lld", argv[i - 1], v, (long long)(lo), (long long)(hi)); } while (0)
        if (OPT("--model")) { NEED(); o.model = v; }
        else if (OPT("--vae")) { NEED(); o.vae = v; }
        else if (OPT("--embedding")) { NEED(); o.embedding = v; }
        else if (OPT("--hypernetwork")) { NEED(); o.hypernetwork = v; }
        else if (vkt_cli_flag(argv, i, "--resume")) o.resume = true;
        else if (vkt_cli_flag(argv, i, "--overwrite")) o.overwrite = true;
        else if (OPT("--data")) { NEED(); o.data_dir = v; }
        else if (OPT("--init-text")) { NEED(); o.init_text = v; }
        else if (OPT("--vectors")) { INT(1, 75); o.vectors = (int)n; }
        else if (OPT("--lr")) { NEED(); o.lr = v; }
        else if (OPT("--batch")) { INT(1, 4096); o.batch = (int)n; }
        else if (OPT("--grad-accum")) { INT(1, 4096); o.grad_accum = (int)n; }
        else if (OPT("--steps")) { INT(1, 1000000000); o.steps = n; }
        else if (OPT("--width")) { INT(64, 2048); o.width = (int)n; }
        else if (OPT("--height")) { INT(64, 2048); o.height = (int)n; }
        else if (vkt_cli_flag(argv, i, "--varsize")) o.varsize = true;
        else if (OPT("--clip-grad")) {
            NEED();
            if (!strcmp(v, "none") || !strcmp(v, "disabled")) o.clip_mode = VKT_CLIPGRAD_NONE;
            else if (!strcmp(v, "value")) o.clip_mode = VKT_CLIPGRAD_VALUE;
            else if (!strcmp(v, "norm")) o.clip_mode = VKT_CLIPGRAD_NORM;
            else return vkt_cli_usage(cmd, "--clip-grad is none, value or norm");
        } else if (OPT("--clip-grad-value")) { NEED(); o.clip_value = v; }
        else if (vkt_cli_flag(argv, i, "--shuffle-tags")) o.shuffle_tags = true;
        else if (OPT("--tag-dropout")) {
            NEED();
            o.tag_dropout = strtod(v, &end);
            if (*end || !(o.tag_dropout >= 0 && o.tag_dropout <= 1)) return vkt_cli_usage(cmd, "--tag-dropout needs 0..1");
        } else if (OPT("--latent-sampling")) {
            NEED();
            if (!vkt_latent_sampling_parse(v, &o.latent_sampling))
                return vkt_cli_usage(cmd, "--latent-sampling is once, deterministic or random");
        } else if (vkt_cli_flag(argv, i, "--use-weight")) o.use_weight = true;
        else if (OPT("--template")) { NEED(); o.template_name = v; }
        else if (OPT("--filename-regex")) { NEED(); o.filename_regex = v; }
        else if (OPT("--filewords-join")) { NEED(); o.filewords_join = v; }
        else if (OPT("--repeats")) { INT(1, 10000); o.repeats = (int)n; }
        else if (OPT("--save-every")) { INT(0, 1000000000); o.save_every = n; }
        else if (OPT("--csv-every")) { INT(0, 1000000000); o.csv_every = n; }
        else if (vkt_cli_flag(argv, i, "--save-optimizer")) o.save_optimizer = true;
        else if (vkt_cli_flag(argv, i, "--tensorboard")) o.tensorboard = true;
        else if (vkt_cli_flag(argv, i, "--tensorboard-images")) o.tensorboard = o.tensorboard_images = true;
        else if (OPT("--preview-every")) { INT(0, 1000000000); o.preview_every = n; }
        else if (OPT("--preview-prompt")) { NEED(); o.preview_prompt = v; }
        else if (OPT("--preview-negative-prompt")) { NEED(); o.preview_negative = v; }
        else if (OPT("--preview-steps")) { INT(1, 1000); o.preview_steps = (int)n; }
        else if (OPT("--preview-sampler")) {
            NEED();
            vkt_sampler_kind sk;
            if (!vkt_sampler_parse(v, &sk)) return vkt_cli_usage(cmd, "--preview-sampler \"%s\": euler_a, euler or ddim", v);
            o.preview_sampler = v;
        }
        else if (OPT("--preview-cfg-scale")) {
            NEED();
            o.preview_cfg = strtod(v, &end);
            if (*end || !(o.preview_cfg >= 0 && o.preview_cfg <= 100)) return vkt_cli_usage(cmd, "--preview-cfg-scale needs 0..100");
        } else if (OPT("--preview-seed")) { INT(-1, 9007199254740991LL); o.preview_seed = n; }
        else if (OPT("--preview-width")) { INT(64, 2048); o.preview_width = (int)n; }
        else if (OPT("--preview-height")) { INT(64, 2048); o.preview_height = (int)n; }
        else if (vkt_cli_flag(argv, i, "--no-save-image-with-embedding")) o.save_image_with_embedding = false;
        else if (OPT("--log-dir")) { NEED(); o.log_dir = v; }
        else if (OPT("--out")) { NEED(); o.out_dir = v; }
        else if (OPT("--seed")) { INT(0, 9007199254740991LL); o.seed = (uint64_t)n; }
        else if (OPT("--clip-skip")) { INT(1, 12); o.clip_skip = (int)n; }
        else if (OPT("--precision")) {
            NEED();
            if (strcmp(v, "fp32") && strcmp(v, "fp16")) return vkt_cli_usage(cmd, "--precision is fp32 or fp16");
            o.dtype = strcmp(v, "fp16") == 0 ? VKT_F16 : VKT_F32;
        } else if (OPT("--device")) { NEED(); o.device = v; }
        else if (OPT("--warmup")) { INT(0, 1000000000); o.warmup = n; }
        else if (vkt_cli_flag(argv, i, "--cosine")) o.cosine = true;
        else if (OPT("--lr-min")) {
            NEED();
            o.lr_min = strtod(v, &end);
            if (*end || !(o.lr_min >= 0)) return vkt_cli_usage(cmd, "--lr-min needs a number >= 0");
        } else if (vkt_cli_flag(argv, i, "--quiet")) o.quiet = true;
        else if (OPT("--save-format")) {
            NEED();
            if (strcmp(v, "pt") && strcmp(v, "safetensors")) return vkt_cli_usage(cmd, "--save-format is pt or safetensors");
            o.save_safetensors = strcmp(v, "safetensors") == 0;
        } else if (OPT("--ema")) {
            NEED();
            o.ema = strtod(v, &end);
            if (*end || !(o.ema > 0 && o.ema < 1)) return vkt_cli_usage(cmd, "--ema needs a beta in (0, 1), e.g. 0.999");
        } else if (OPT("--ema-update-every")) { INT(1, 1000000); o.ema_every = n; }
        else if (OPT("--eval-draws")) { INT(0, 100000); o.eval_draws = (int)n; }
        else if (OPT("--fixed-draws")) { INT(0, 100000); o.fixed_draws = (int)n; }
        else return vkt_cli_usage(cmd, "unknown option \"%s\"", argv[i]);
#undef OPT
#undef NEED
#undef INT
    }
    (void)rc;
    if (!hn) o.hypernetwork = NULL; /* a settings file's hypernetwork_name is not for embeddings */
    if (!o.model || !(hn ? o.hypernetwork && *o.hypernetwork : o.embedding != NULL) || !o.data_dir)
        return vkt_cli_usage(cmd, "--model, %s and --data are required", hn ? "--hypernetwork" : "--embedding");
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    vkt_err err = {0};
    vkt_ti_report rep;
    vkt_status st = vkt_ti_train(&o, &rep, &err);
    if (st == VKT_ERR_OOM_DEVICE) { /* the message names the allocation; say what to change */
        int rc2 = vkt_cli_fail(&err);
        fprintf(stderr, "vktrain: hint: this does not fit the device's memory: try a smaller --batch (with "
                        "--grad-accum to keep the effective batch), a smaller --width/--height%s\n",
                o.dtype == VKT_F32 ? ", or --precision fp16" : "");
        return rc2;
    }
    if (st && st != VKT_ERR_INTERRUPTED) return vkt_cli_fail(&err);
    printf("%s\n", rep.out_path);
    fprintf(stderr, "%lld steps in %.1f s, loss %.4f -> %.4f; logs in %s\n", (long long)rep.steps_done, rep.seconds,
            rep.first_loss, rep.last_loss, rep.log_path);
    if (o.eval_draws > 0)
        fprintf(stderr, "eval loss %.6f -> %.6f over %d fixed draws (%+.3f %%)\n", rep.eval_before, rep.eval_after,
                o.eval_draws, 100.0 * (rep.eval_after - rep.eval_before) / rep.eval_before);
    if (st == VKT_ERR_INTERRUPTED) {
        fprintf(stderr, "vktrain: %s\n", err.msg);
        return 130;
    }
    return 0;
}

static int train_main(int argc, char **argv, bool hn)
{
    cJSON *config = NULL;
    int rc = parse_and_train(argc, argv, hn, &config);
    cJSON_Delete(config);
    return rc;
}

int vkt_cmd_embedding_train(int argc, char **argv) { return train_main(argc, argv, false); }

int vkt_cmd_hypernetwork_train(int argc, char **argv) { return train_main(argc, argv, true); }
