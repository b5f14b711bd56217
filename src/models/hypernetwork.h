/* Webui hypernetworks (sd1-architecture.md §6, training.md §9, file-formats.md §6): a map
 * size -> (module k, module v) of residual MLPs m(x) = x + MLP(x)·mult applied to the tensor that
 * feeds to_k / to_v of EVERY UNet CrossAttention (attn1 and attn2), looked up by the last dim of
 * that tensor; several hypernetworks chain. This module reads and writes the webui's .pt (and
 * .pt.optim), creates new ones with the webui's rules, and runs the modules on the GPU through
 * the UNet's k/v hook (forward, backward to the k/v input, parameter gradients, AdamW).
 *
 *   vkt_hypernetwork *hn;
 *   vkt_hn_load("anime.pt", &hn, &err);                  // host: options + f32 weights
 *   vkt_hn_upload(hn, dev, true, &err);                  // device weights (+ grads, moments)
 *   vkt_hn_hook *hk;  vkt_hn_hook_create(&hn, 1, VKT_HN_TRAIN, &hk, &err);
 *   vkt_step_begin_planned(s, &err);
 *   vkt_hn_hook_begin(hk, seed, update * G + g);        // new dropout masks per recording
 *   vkt_hn_record_zero_grads(s, hn, &err);               // start of an update (not per mini-batch)
 *   vkt_unet_fwd(u, s, &x, &t, &ctx, vkt_hn_hook_unet(hk), &eps, &sv, &err);
 *   ... loss, vkt_unet_bwd(u, s, sv, &deps, NULL, VKT_GRAD_OVERWRITE, &err) ...
 *   vkt_adamw h = vkt_hn_adamw(1e-5);
 *   vkt_hn_record_adamw(s, hn, &h, NULL, &err);
 *   vkt_step_end(s, &err); vkt_step_submit(s, &err);
 *   vkt_hn_download(hn, &err); hn->step = steps_done; vkt_hn_save(hn, "out/anime.pt", &err);
 *   vkt_hn_save_optim(hn, "out/anime.pt", 1e-5, &err);   // .pt.optim with sha256(.pt)[:10]
 *   vkt_hn_hook_destroy(hk); vkt_hn_destroy(hn);
 *
 * Modes: VKT_HN_TRAIN is the webui's training (module.train(): multiplier ignored, dropout on);
 * VKT_HN_TRAIN_NO_DROPOUT is what `vktrain eval` computes (eval-case.md: train mode, dropout
 * off); VKT_HN_APPLY is inference (module.eval(): multiplier used, dropout off, no backward).
 *
 * Recording rules (the training loop relies on them):
 *  - Dropout masks come from Philox streams (seed, offset) that live in push constants, so a
 *    recording with dropout replays the same masks on every submit. With vkt_hn_has_dropout()
 *    true, record the step anew for every mini-batch with a new `stream` in vkt_hn_hook_begin
 *    (offset of the k-th dropout application of that recording = stream·2^16 + k). Without
 *    dropout a recording may be re-submitted unchanged.
 *  - Parameter gradients (vkt_hn_param.grad, f32) are ACCUMULATED by every hooked attention's
 *    backward, across attentions and across mini-batches: zero them once per update. With a
 *    mini-batch recording re-submitted G times (vkt_ti_step_opts.dloss = 1/G), record
 *    vkt_hn_record_zero_grads after vkt_hn_record_adamw in the update's own recording (plus once
 *    before the first update; vkt_hn_upload(train) already leaves them zero).
 *  - The hook keeps each training recording's saved activations on the host until the next
 *    vkt_hn_hook_begin; call it before every recording (a forward without backward in a training
 *    mode only leaves unused bookkeeping behind).
 *  - A size that no attention of the UNet has (e.g. 1024 on SD1) is never hooked: its
 *    vkt_hn_size.used stays false, its gradients stay zero and vkt_hn_record_adamw leaves it (and
 *    its optimizer state) untouched, as the webui's AdamW skips parameters without a gradient.
 *  - The modules always compute in f32; with an fp16 UNet the hook casts c to f32 and c_k / c_v
 *    back (sd1-architecture.md §6: the webui's fp16 autocast is not reproduced), and removes the
 *    fp16 loss scale from the parameter gradients (vkt_hn_hook_set_grad_scale).
 *
 * Training loop (`hypernetwork train`, training.md §9.3): load (vkt_hn_load, vkt_hn_load_optim),
 * vkt_hn_upload(train = true), a VKT_HN_TRAIN hook passed as vkt_ti_step_opts.hook, per update
 * vkt_hn_record_adamw (lr of the schedule, betas 0.9/0.999, eps 1e-8, weight decay 0.01; clipping
 * through vkt_hn_grads + vkt_op_clip_value / vkt_op_clip_norm before it); previews through a second
 * hook in VKT_HN_APPLY mode on the same uploaded hypernetwork (the webui's eval(): multiplier
 * used, dropout off); saving: vkt_hn_download, vkt_hn_set_meta (step, name, checkpoint),
 * vkt_hn_save, then vkt_hn_save_optim on the file just written.
 *
 * Weight init at creation (training.md §9.2) draws from splitmix64 streams (base/rng.h) keyed by
 * (seed, size index, module, parameter) with Box-Muller normals: the distributions are the
 * webui's, the numbers are not (torch's generator cannot be matched bit for bit).
 */
#ifndef VKT_MODELS_HYPERNETWORK_H
#define VKT_MODELS_HYPERNETWORK_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "models/unet_blocks.h"
#include "nn/ops/act.h"
#include "nn/ops/optim.h"
#include "nn/step.h"

#define VKT_HN_MAX_LAYERS 16                         /* entries of layer_structure */
#define VKT_HN_MAX_SEQ (4 * (VKT_HN_MAX_LAYERS - 1)) /* Sequential entries of one module */
#define VKT_HN_MAX_PARAMS (2 * VKT_HN_MAX_SEQ)
#define VKT_HN_MAX_SIZES 16
#define VKT_HN_LN_EPS 1e-5f /* torch.nn.LayerNorm default */

/* The file's options, with the webui's defaults for missing keys already applied (file-formats
 * §6): layer_structure [1, 2, 1], activation None, no LayerNorm, activate_output TRUE, dropout
 * structure derived by parse_dropout_structure (training.md §9.2). */
typedef struct vkt_hn_options {
    int n_layers; /* entries of layer_structure, 2..VKT_HN_MAX_LAYERS */
    double layer_structure[VKT_HN_MAX_LAYERS];   /* first and last 1; widths int(d·value) */
    bool layer_structure_int;                    /* the file stored ints: written back as ints */
    char activation[24];                         /* lower-case webui name; "linear" when None */
    bool activation_none;                        /* activation_func is None in the file */
    bool layer_norm;                             /* is_layer_norm */
    bool use_dropout;                            /* forced true by a non-zero dropout entry */
    double dropout_structure[VKT_HN_MAX_LAYERS]; /* n_layers entries; entry i+1 follows Linear i */
    bool dropout_int[VKT_HN_MAX_LAYERS];         /* entry stored as a Python int */
    bool activate_output;
    bool last_layer_dropout; /* the file's key (default False); the writer derives it */
    char weight_init[24];    /* weight_initialization: "Normal", ... (only used at creation) */
} vkt_hn_options;

typedef enum vkt_hn_kind {
    VKT_HN_LINEAR,
    VKT_HN_ACT,
    VKT_HN_LAYERNORM,
    VKT_HN_DROPOUT
} vkt_hn_kind;

/* One entry of the module's torch.nn.Sequential; its position is the <idx> of the file's
 * "linear.<idx>.weight" keys. */
typedef struct vkt_hn_layer {
    vkt_hn_kind kind;
    int64_t in, out; /* features */
    float p;         /* dropout probability */
    int w, b;        /* indices into vkt_hn_module.params (-1 for act/dropout) */
} vkt_hn_layer;

typedef struct vkt_hn_param {
    char key[32]; /* "linear.0.weight" */
    int ndim;     /* 2 (Linear weight) or 1 */
    int64_t shape[2];
    float *host;   /* owned: the values (numel floats), kept current by vkt_hn_download */
    float *m_host; /* owned or NULL: AdamW exp_avg / exp_avg_sq (from .optim or download) */
    float *v_host;
    int64_t opt_step; /* AdamW updates applied to this parameter (0: no optimizer state) */
    vkt_tensor dev;   /* device copy (vkt_hn_upload); buf NULL when not uploaded */
    vkt_tensor grad;  /* d loss / d param, f32 (uploaded with train = true) */
    vkt_tensor m, v;  /* AdamW moments, f32 (train = true) */
} vkt_hn_param;

typedef struct vkt_hn_module {
    int n_layers;
    vkt_hn_layer layers[VKT_HN_MAX_SEQ];
    int n_params; /* Sequential order, weight before bias: the .optim numbering within a module */
    vkt_hn_param params[VKT_HN_MAX_PARAMS];
} vkt_hn_module;

typedef struct vkt_hn_size {
    int64_t dim;
    vkt_hn_module mod[2]; /* 0 = k, 1 = v */
    bool used; /* a training-mode hook recorded this size: its parameters get gradients */
} vkt_hn_size;

typedef struct vkt_hypernetwork {
    vkt_hn_options opt;
    char name[256];
    int64_t step;             /* training steps done (None/missing: 0) */
    char *sd_checkpoint;      /* owned, NULL = None */
    char *sd_checkpoint_name; /* owned, NULL = None */
    char *optional_info;      /* owned, NULL = None */
    int n_sizes;              /* in file (dict) order */
    vkt_hn_size *sizes;       /* owned array */
    float multiplier;         /* strength in VKT_HN_APPLY mode (default 1) */
    char optimizer_name[32];  /* from a matching .optim ("" when none was loaded) */
    double optim_lr;          /* the .optim's saved learning rate (0 when none) */
    vkt_device *dev;          /* borrowed; set by vkt_hn_upload */
} vkt_hypernetwork;

/* ---- options, creation, files (host only) ---------------------------------------------- */

/* Maps a webui activation name (lower case, as in the file) to the act op. "linear" maps to
 * VKT_ACT_IDENTITY. Fails with VKT_ERR_UNSUPPORTED and a message naming the reason for torch
 * activations vktrain refuses (prelu: learned slope; rrelu: random slopes; glu, softmax, softmin,
 * logsoftmax, softmax2d, threshold, multiheadattention: change the shape or need arguments) and
 * VKT_ERR_FORMAT for unknown names. */
vkt_status vkt_hn_activation(const char *name, vkt_act *act, float *param, vkt_err *err);

/* Parses a webui comma list ("1, 2, 1"): each piece is Python float(piece.strip()); at most max
 * values. Fails with VKT_ERR_USAGE naming the bad piece. */
vkt_status vkt_hn_parse_list(const char *text, double *out, int max, int *n, vkt_err *err);

/* The webui's parse_dropout_structure(layer_structure, use_dropout, last_layer_dropout): all 0
 * without dropout, else [0] + [0.3]·(n−3) + [0.3 if last_layer_dropout else 0] + [0]. Entries are
 * marked int where Python writes int 0. */
void vkt_hn_default_dropout(vkt_hn_options *o, bool use_dropout, bool last_layer_dropout);

/* Checks o as the webui's module constructor does, for a module of size dim (dim <= 0: skip the
 * width checks): at least 2 entries, first and last 1, every width int(dim·v) >= 1, every
 * dropout entry p with 0 <= p < 1 (the webui asserts 0 < p < 1 for entries it applies), a
 * supported activation. VKT_ERR_USAGE / VKT_ERR_UNSUPPORTED with the reason. */
vkt_status vkt_hn_validate(const vkt_hn_options *o, int64_t dim, vkt_err *err);

typedef struct vkt_hn_create_opts {
    const char *name;     /* non-empty, cleaned as the webui does (text/embedding_name.h) */
    const int64_t *sizes; /* module sizes (webui choices 768, 1024, 320, 640, 1280) */
    int n_sizes;
    vkt_hn_options opt; /* layer structure, activation, layer norm, dropout, weight_init */
    uint64_t seed;      /* weight init streams */
} vkt_hn_create_opts;

/* A new hypernetwork as the webui's Create tab makes it: activate_output false, step 0, no
 * checkpoint; weights by o->opt.weight_init (Normal N(0, 0.01²), XavierUniform, XavierNormal,
 * KaimingUniform, KaimingNormal; biases 0; LayerNorm weight N(0, 0.01²) whatever the choice).
 * Validates like vkt_hn_validate plus: dropout entries first and last 0, n_layers entries,
 * weight_init one of the five, sizes distinct and >= 1. */
vkt_status vkt_hn_create(const vkt_hn_create_opts *o, vkt_hypernetwork **out, vkt_err *err);

/* A hypernetwork with options o (validated as the loader validates: any activate_output, any
 * dropout entries below 1), modules for the given sizes and all weights 0; step 0, no checkpoint.
 * For tests and tools; vkt_hn_create is the Create tab. */
vkt_status vkt_hn_new(const char *name, const vkt_hn_options *o, const int64_t *sizes, int n_sizes,
                      vkt_hypernetwork **out, vkt_err *err);

/* Loads a webui .pt with the webui's rules (file-formats.md §6): only Python int keys are sizes
 * (each a tuple/list of two module state dicts), legacy linear1/linear2 keys renamed, strict key
 * and shape check against the module the options describe, any float dtype converted to f32.
 * name defaults to the file stem. Fails with VKT_ERR_IO, VKT_ERR_FORMAT (naming the key) or
 * VKT_ERR_UNSUPPORTED (an activation vktrain refuses). */
vkt_status vkt_hn_load(const char *path, vkt_hypernetwork **out, vkt_err *err);
void vkt_hn_destroy(vkt_hypernetwork *hn); /* frees device tensors too; NULL is a no-op */

/* Sets what the webui's save_hypernetwork records: name (the base name, also in intermediate
 * copies), step, sd_checkpoint (first 10 hex of the model's sha256) and sd_checkpoint_name; a
 * NULL string stays as it is (use "" to write None). Fails only on host OOM. */
vkt_status vkt_hn_set_meta(vkt_hypernetwork *hn, const char *name, int64_t step,
                           const char *sd_checkpoint, const char *sd_checkpoint_name, vkt_err *err);

/* Writes hn as the webui's Hypernetwork.save: int size keys with (k, v) tuples of
 * OrderedDict state dicts (f32), then step, name, layer_structure, activation_func,
 * is_layer_norm, weight_initialization, sd_checkpoint, sd_checkpoint_name, activate_output,
 * use_dropout, dropout_structure, last_layer_dropout (= dropout_structure[-2] != 0),
 * optional_info. Host values are written (call vkt_hn_download first after training). Atomic
 * (temp file + rename). */
vkt_status vkt_hn_save(const vkt_hypernetwork *hn, const char *path, vkt_err *err);

/* Writes <pt_path>.optim (file-formats.md §6.1): optimizer_name 'AdamW', hash = first 10 hex of
 * the sha256 of the file now at pt_path, and torch 1.13's AdamW state dict: state entries (step
 * as a 0-d f32 tensor, exp_avg, exp_avg_sq) only for parameters with opt_step > 0, one param
 * group (lr, betas (0.9, 0.999), eps 1e-8, weight_decay 0.01, amsgrad/maximize/capturable False,
 * foreach None) listing every parameter. Parameters are numbered size by size (file order),
 * module k then v, Sequential order, weight before bias. Uses the host moments (vkt_hn_download).
 */
vkt_status vkt_hn_save_optim(const vkt_hypernetwork *hn, const char *pt_path, double lr,
                             vkt_err *err);

/* Reads <pt_path>.optim if it exists and its hash equals sha256(pt_path)[:10], and it holds an
 * AdamW state whose tensors fit hn: sets each parameter's m_host/v_host/opt_step, optimizer_name
 * and optim_lr, and *used = true. A missing, mismatching or incompatible file leaves hn unchanged
 * with *used = false and why (may be NULL) saying which (the webui then starts a fresh AdamW).
 * Fails only on host OOM or a hostile file (VKT_ERR_FORMAT). Call before vkt_hn_upload. */
vkt_status vkt_hn_load_optim(vkt_hypernetwork *hn, const char *pt_path, bool *used, char *why,
                             size_t why_n, vkt_err *err);

/* Parameters of all modules (k and v of every size). */
int64_t vkt_hn_param_count(const vkt_hypernetwork *hn);
/* True when some module applies dropout (p > 0) in training. */
bool vkt_hn_has_dropout(const vkt_hypernetwork *hn);
/* The size entry for dim, or NULL. */
vkt_hn_size *vkt_hn_find_size(const vkt_hypernetwork *hn, int64_t dim);

/* ---- device --------------------------------------------------------------------------- */

/* Uploads every parameter to dev as f32; with train also allocates gradients (zeroed) and AdamW
 * moments (from m_host/v_host when a .optim was loaded, else zero). Replaces an earlier upload. */
vkt_status vkt_hn_upload(vkt_hypernetwork *hn, vkt_device *dev, bool train, vkt_err *err);
/* Copies parameters (and moments, when allocated) back into the host arrays. Blocking; call
 * after the step that updated them has been submitted. */
vkt_status vkt_hn_download(vkt_hypernetwork *hn, vkt_err *err);
/* Frees the device tensors (keeps the host values). */
void vkt_hn_release(vkt_hypernetwork *hn);

/* Records grad = 0 for every parameter (uploaded with train). */
vkt_status vkt_hn_record_zero_grads(vkt_step *s, vkt_hypernetwork *hn, vkt_err *err);

/* The gradient tensors of the parameters of used sizes, in .optim order, into out (at most max;
 * returns how many there are). For vkt_op_clip_norm / vkt_op_clip_value. */
int vkt_hn_grads(vkt_hypernetwork *hn, vkt_tensor **out, int max);

/* Records one AdamW update (h's lr, betas, eps, weight_decay; h->step is ignored) of every
 * parameter of every used size, each with its own step count, which this call advances
 * (opt_step += 1): record it once per update and submit that recording once. clip_state: NULL or
 * the state of vkt_op_clip_norm (scale applied, update skipped when not finite — the step count
 * still advances, as after the webui's skipped GradScaler step). */
vkt_status vkt_hn_record_adamw(vkt_step *s, vkt_hypernetwork *hn, const vkt_adamw *h,
                               const vkt_tensor *clip_state, vkt_err *err);

/* The webui's hypernetwork optimizer (training.md §9.3): torch.optim.AdamW's defaults, weight
 * decay 0.01 on every module parameter; the .optim files record the same values. */
#define VKT_HN_ADAM_BETA1 0.9
#define VKT_HN_ADAM_BETA2 0.999
#define VKT_HN_ADAM_EPS 1e-8
#define VKT_HN_ADAM_WEIGHT_DECAY 0.01
/* Those hyper-parameters at rate lr, for vkt_hn_record_adamw. */
vkt_adamw vkt_hn_adamw(double lr);

/* ---- the UNet hook -------------------------------------------------------------------- */

typedef enum vkt_hn_mode {
    VKT_HN_TRAIN,            /* multiplier 1, dropout on, backward */
    VKT_HN_TRAIN_NO_DROPOUT, /* multiplier 1, dropout off, backward (vktrain eval) */
    VKT_HN_APPLY,            /* multiplier used, dropout off, forward only (sampling) */
} vkt_hn_mode;

typedef struct vkt_hn_hook vkt_hn_hook;

/* A hook applying hns[0], then hns[1], ... to the k/v inputs (borrowed: they must be uploaded
 * and outlive the hook). At most 8. */
vkt_status vkt_hn_hook_create(vkt_hypernetwork *const *hns, int n, vkt_hn_mode mode,
                              vkt_hn_hook **out, vkt_err *err);
void vkt_hn_hook_destroy(vkt_hn_hook *h);
/* Call before recording a step that uses the hook: forgets the previous recording's saved
 * activations and sets the dropout streams (see the recording rules above). */
void vkt_hn_hook_begin(vkt_hn_hook *h, uint64_t seed, uint64_t stream);
/* The hook to pass to vkt_unet_fwd / vkt_unet_st_fwd (borrowed from h). */
const vkt_unet_kv_hook *vkt_hn_hook_unet(vkt_hn_hook *h);
/* The factor S by which the UNet's backward gradients exceed the true ones (fp16 loss scaling,
 * models/unet.h): the hook divides them by S before the modules' backward, so parameter gradients
 * are the true ones, and returns d c multiplied by S again. scale <= 0 (the default): S =
 * VKT_UNET_F16_LOSS_SCALE when c is f16 (what vkt_ti_step_record uses), else 1. */
void vkt_hn_hook_set_grad_scale(vkt_hn_hook *h, float scale);

/* One module on its own, for tests: y = x + MLP(x)·mult (x f32 [..., dim]) recorded into a
 * planned step, and its backward (dx by mode, may be NULL; parameter gradients accumulated).
 * dropout: apply the module's dropout layers with the Philox stream (seed, offset0 + k). */
typedef struct vkt_hn_module_saved vkt_hn_module_saved;
vkt_status vkt_hn_module_fwd(vkt_step *s, const vkt_hn_module *m, const vkt_hn_options *o,
                             const vkt_tensor *x, float mult, bool dropout, uint64_t seed,
                             uint64_t offset0, vkt_tensor *y, vkt_hn_module_saved **saved,
                             vkt_err *err);
vkt_status vkt_hn_module_bwd(vkt_step *s, const vkt_hn_module *m, const vkt_hn_options *o,
                             vkt_hn_module_saved *saved, const vkt_tensor *dy, vkt_tensor *dx,
                             vkt_grad_mode mode, vkt_err *err);
void vkt_hn_module_saved_free(vkt_hn_module_saved *sv);

#endif
