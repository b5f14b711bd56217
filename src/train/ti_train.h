/* Textual-inversion and hypernetwork training: the webui's train_embedding and
 * train_hypernetwork loops (../shared/spec/training.md §5, §9.3) on the GPU. The mini-batch graph
 * (train/ti_step) is recorded once per batch shape and re-submitted with new inputs (a
 * hypernetwork with dropout: recorded anew per mini-batch, models/hypernetwork.h); the AdamW
 * update is a small recording of its own per update. With o.hypernetwork set, the hypernetwork's
 * modules are trained instead of an embedding (o.embedding, init_text, vectors, ema and
 * save_safetensors are then unused).
 *
 *   vkt_ti_opts o = vkt_ti_defaults();
 *   o.model = "model.safetensors"; o.embedding = "cat"; o.data_dir = "imgs/"; o.steps = 1000;
 *   vkt_ti_report rep;
 *   vkt_status st = vkt_ti_train(&o, &rep, &err);   // VKT_ERR_INTERRUPTED after Ctrl-C (saved)
 */
#ifndef VKT_TRAIN_TI_TRAIN_H
#define VKT_TRAIN_TI_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "models/vae.h"
#include "nn/tensor.h"

typedef enum vkt_clip_mode { VKT_CLIPGRAD_NONE, VKT_CLIPGRAD_VALUE, VKT_CLIPGRAD_NORM } vkt_clip_mode;

typedef struct vkt_ti_opts {
    const char *model;        /* checkpoint file or diffusers folder */
    const char *vae;          /* separate VAE file or NULL */
    const char *embedding;    /* name of a new embedding, or a file to continue */
    bool resume;              /* a NAME continues out_dir/NAME.pt (with its .optim) */
    bool overwrite;           /* a NAME whose out_dir/NAME.pt exists starts afresh and replaces it
                                 (default: refused, so a trained file is never lost by accident) */
    const char *hypernetwork; /* NULL for TI; else a hypernetwork file, or a NAME looked up as
                                 out_dir/NAME.pt (create it first: vktrain hypernetwork create) */
    const char *data_dir;
    const char *init_text;    /* new embedding: initial words (default "*") */
    int vectors;              /* new embedding: vectors per token (default 1) */
    const char *lr;           /* schedule syntax, default "0.005" (hypernetworks: "0.00001") */
    int batch, grad_accum;    /* default 1, 1 */
    int64_t steps;            /* max steps, default 100000 */
    int width, height;        /* default 512 */
    bool varsize;
    vkt_clip_mode clip_mode;
    const char *clip_value;   /* schedule syntax, default "0.1" */
    bool shuffle_tags;
    double tag_dropout;
    vkt_latent_sampling latent_sampling;
    bool use_weight;
    const char *template_name; /* name of an embedded template or a file; default style_filewords */
    const char *filename_regex, *filewords_join;
    int repeats;
    int64_t save_every;       /* default 500; 0 off */
    int64_t preview_every;    /* preview image every N steps (default 500; 0 off) */
    const char *preview_prompt;   /* NULL: the first prompt of the current batch (webui) */
    const char *preview_negative; /* NULL: none */
    int preview_steps;        /* default 20 */
    const char *preview_sampler; /* default "euler_a" */
    double preview_cfg;       /* default 7 */
    int64_t preview_seed;     /* -1: seed + step (the webui draws a random one) */
    int preview_width, preview_height; /* 0: the training size */
    bool save_image_with_embedding; /* also image_embeddings/NAME-K.png (default on, as the webui) */
    int64_t csv_every;        /* default 500; 0 off */
    bool tensorboard;         /* RUN/tensorboard/ event files: loss and learn rate every step */
    bool tensorboard_images;  /* previews there too (webui training_tensorboard_save_images) */
    bool save_optimizer;      /* .optim files */
    const char *log_dir;      /* default "textual_inversion" */
    const char *out_dir;      /* final NAME.pt (default "embeddings"; hypernetworks: "hypernetworks") */
    uint64_t seed;
    int clip_skip;
    vkt_dtype dtype;          /* VKT_F32 or VKT_F16 */
    const char *device;
    /* vktrain extras (training.md §11) */
    int64_t warmup;
    bool cosine;
    double lr_min;
    bool quiet;               /* no progress lines */
    bool save_safetensors;    /* --save-format safetensors: kohya's emb_params instead of .pt */
    double ema;               /* > 0: keep an EMA of the vectors with this beta, saved as NAME-ema */
    int64_t ema_every;        /* EMA update every N steps (default 1) */
    int eval_draws;           /* > 0: fixed-draw evaluation loss before and after training */
    int fixed_draws;          /* > 0: train on the first N fixed draws (the evaluation's) only,
                                 cycling; an overfitting check, not for real training */
} vkt_ti_opts;

vkt_ti_opts vkt_ti_defaults(void);
/* The webui's defaults for hypernetwork training (lr 0.00001, out_dir "hypernetworks"). */
vkt_ti_opts vkt_hn_train_defaults(void);

typedef struct vkt_ti_report {
    int64_t steps_done;      /* completed updates (the file's step) */
    double first_loss, last_loss; /* loss of the first and the last update */
    double seconds;
    double eval_before, eval_after; /* fixed-draw evaluation loss (NaN unless eval_draws) */
    char out_path[1024];     /* the final embedding or hypernetwork file */
    char log_path[1024];     /* the run's log folder */
} vkt_ti_report;

/* Runs the whole training. Validates everything (files, template, schedule, sizes) before the
 * first step. On SIGINT/SIGTERM (vkt_ti_request_stop) it finishes the current update, saves and
 * returns VKT_ERR_INTERRUPTED. A NaN/Inf loss stops with VKT_ERR_NUMERIC naming the step, keeping
 * the last good files. */
vkt_status vkt_ti_train(const vkt_ti_opts *o, vkt_ti_report *rep, vkt_err *err);

/* Async-signal-safe: asks a running training to stop after the current update. */
void vkt_ti_request_stop(void);

#endif
