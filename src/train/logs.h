/* Training logs in the webui's layout (training.md §7): the run directory, the step numbering of
 * intermediate files, textual_inversion_loss.csv / hypernetwork_loss.csv, the settings JSON, and
 * loss.svg (a line plot of loss vs step, redrawn at each save). Every file is written to a temp
 * name and renamed. Host code only.
 *
 *   char run[1024];
 *   vkt_logs_run_dir("textual_inversion", "myemb", VKT_TRAIN_TI, time(NULL), run, sizeof run,
 *                    &err);
 *   vkt_mkdirs(run, &err);
 *   vkt_train_log *log;
 *   vkt_train_log_open(run, VKT_TRAIN_TI, 500, &log, &err);    // CSV every 500 steps
 *   ... after each update (step = completed updates):
 *   vkt_train_log_step(log, step, steps_per_epoch, loss, lr, &err);
 *   int64_t k = vkt_logs_due(step, save_every, true);          // webui naming
 *   if (k) {  // save "<run>/embeddings/myemb-<k>.pt" holding step k - 1, then:
 *       vkt_train_log_plot(log, "myemb", &err);
 *   }
 *   vkt_train_log_destroy(log);
 */
#ifndef VKT_TRAIN_LOGS_H
#define VKT_TRAIN_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/err.h"

typedef enum vkt_train_kind { VKT_TRAIN_TI, VKT_TRAIN_HN } vkt_train_kind;

/* "<log_dir>/<YYYY-MM-DD>/<name>" with the local date of `start` (webui: datetime.now() at the
 * start). Hypernetwork names are cut at their last '(' as the webui does (name.rsplit('(', 1)[0],
 * so "net (v2)" gives "net "). Fails when the result does not fit out_n or name is empty. */
vkt_status vkt_logs_run_dir(const char *log_dir, const char *name, vkt_train_kind kind,
                            time_t start, char *out, size_t out_n, vkt_err *err);

/* Whether a periodic output (intermediate file, preview image, image embedding) is due after
 * `step` completed updates, and the number it is named with; 0 when not due or every <= 0.
 * webui naming (training.md §7.2): K = step + 1, due when K % every == 0, the file is named with
 * K while the step stored in it is K - 1 = step (with every = 500 the first copy is "-500" after
 * 499 updates). Corrected naming: due when step % every == 0 (step > 0), named with step. */
int64_t vkt_logs_due(int64_t step, int64_t every, bool webui_naming);

/* "textual_inversion_loss.csv" or "hypernetwork_loss.csv". */
const char *vkt_logs_csv_name(vkt_train_kind kind);

/* One CSV row as the webui's write_loss() writes it, CRLF-terminated (Python's csv module):
 *   step,epoch,epoch_step,loss,learn_rate
 * epoch = (step - 1) // steps_per_epoch, epoch_step = (step - 1) % steps_per_epoch (Python floor
 * semantics), loss with 7 decimals, learn_rate as Python's repr(float). Returns the bytes written
 * to out (always NUL-terminated; 128 bytes suffice). */
size_t vkt_logs_csv_format(char *out, size_t n, int64_t step, int64_t steps_per_epoch, double loss,
                           double learn_rate);
/* The header line, CRLF-terminated. */
#define VKT_LOGS_CSV_HEADER "step,epoch,epoch_step,loss,learn_rate\r\n"

/* Appends a row to path (creating it with the header when it does not exist), by writing the
 * old content plus the row to path.tmp and renaming. */
vkt_status vkt_logs_csv_append(const char *path, int64_t step, int64_t steps_per_epoch, double loss,
                               double learn_rate, vkt_err *err);

/* Loss history of a run, the CSV and the plot. */
typedef struct vkt_train_log vkt_train_log;

/* Opens the log of the run directory `run_dir` (which must exist). csv_every = the webui's
 * training_write_csv_every (500; 0 = no CSV). Rows already in an existing CSV (a resumed run)
 * seed the plot. */
vkt_status vkt_train_log_open(const char *run_dir, vkt_train_kind kind, int64_t csv_every,
                              vkt_train_log **out, vkt_err *err);
void vkt_train_log_destroy(vkt_train_log *l);

/* Records the loss of update `step` (completed updates, >= 1) for the plot and appends a CSV row
 * when step % csv_every == 0. */
vkt_status vkt_train_log_step(vkt_train_log *l, int64_t step, int64_t steps_per_epoch, double loss,
                              double learn_rate, vkt_err *err);

/* Writes <run_dir>/loss.svg: loss per step (thin line, or a min-max band when there are more
 * points than pixels) and its moving average (thick line) with axes, ticks and a title. NaN and
 * infinite losses are left out. */
vkt_status vkt_train_log_plot(const vkt_train_log *l, const char *title, vkt_err *err);

/* Plot of arbitrary points into path (what vkt_train_log_plot draws). */
vkt_status vkt_logs_plot_svg(const char *path, const char *title, const int64_t *steps,
                             const double *loss, size_t n, vkt_err *err);

/* Settings JSON (training.md §7.4): "settings-YYYY-MM-DD-HH-MM-SS.json" in run_dir, an object
 * whose first key is "datetime" ("YYYY-MM-DD HH:MM:SS", local time of `now`), then the entries
 * in order, written as Python's json.dump(indent=4) does (ensure_ascii escapes, repr floats, no
 * final newline). */
typedef enum vkt_setting_type {
    VKT_SETTING_STR,
    VKT_SETTING_INT,
    VKT_SETTING_FLOAT,
    VKT_SETTING_BOOL,
    VKT_SETTING_NULL,
    VKT_SETTING_FLOATS, /* a list of floats (layer_structure) */
} vkt_setting_type;

typedef struct vkt_setting {
    const char *key;
    vkt_setting_type type;
    const char *s;      /* STR (NULL writes null) */
    int64_t i;          /* INT */
    double f;           /* FLOAT */
    bool b;             /* BOOL */
    const double *list; /* FLOATS */
    size_t n_list;
} vkt_setting;

/* The settings the webui saves, in the order its json holds them (save_settings_to_file over
 * {model_name, model_hash, num_of_dataset_images, [num_vectors_per_token | HN fields],
 * **locals()} of train_embedding / train_hypernetwork). learn_rate and clip_grad_value are the
 * schedule strings as typed. */
typedef struct vkt_train_settings {
    vkt_train_kind kind;
    const char *model_name, *model_hash;
    int64_t num_of_dataset_images;
    int64_t num_vectors_per_token; /* TI */
    const double *layer_structure; /* HN */
    size_t n_layer_structure;
    const char *activation_func, *weight_init; /* HN */
    bool add_layer_norm, use_dropout;          /* HN */
    const char *name;                          /* embedding_name / hypernetwork_name */
    const char *learn_rate;
    int64_t batch_size, gradient_step;
    const char *data_root, *log_directory;
    int64_t training_width, training_height, steps;
    const char *clip_grad_mode, *clip_grad_value, *latent_sampling_method;
    int64_t create_image_every, save_every; /* save_embedding_every / save_hypernetwork_every */
    bool save_image_with_stored_embedding;  /* TI */
    bool preview_from_txt2img;              /* the preview_* keys only when set */
    const char *preview_prompt, *preview_negative_prompt;
    int64_t preview_steps;
    double preview_cfg_scale;
    int64_t preview_seed, preview_width, preview_height;
    const char *template_file;
    int64_t initial_step;
} vkt_train_settings;

/* Fills out[] (capacity cap, 40 suffice) with the webui's entries for s; returns the count. */
size_t vkt_logs_settings_webui(const vkt_train_settings *s, vkt_setting *out, size_t cap);

/* Writes the file; its path goes to path_out when not NULL. */
vkt_status vkt_logs_write_settings(const char *run_dir, time_t now, const vkt_setting *items,
                                   size_t n, char *path_out, size_t path_n, vkt_err *err);

#endif
