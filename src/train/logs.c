/* Training logs (webui textual_inversion.py write_loss(), logging.py save_settings_to_file())
 * and the loss plot. Host code only; every file goes through base/file's temp-then-rename. */
#define _POSIX_C_SOURCE 200809L
#include "train/logs.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fault.h"
#include "base/file.h"
#include "base/pyfmt.h"

#define MAX_CSV_BYTES ((size_t)256 << 20)

struct vkt_train_log {
    char run_dir[1024];
    char csv_path[1100];
    vkt_train_kind kind;
    int64_t csv_every;
    int64_t *steps; /* owned */
    double *loss;   /* owned */
    size_t n, cap;
};

vkt_status vkt_logs_run_dir(const char *log_dir, const char *name, vkt_train_kind kind,
                            time_t start, char *out, size_t out_n, vkt_err *err)
{
    if (!name || !*name) return vkt_fail(err, VKT_ERR_USAGE, "log directory: empty name");
    size_t name_n = strlen(name);
    if (kind == VKT_TRAIN_HN) {
        const char *paren = strrchr(name, '(');
        if (paren) name_n = (size_t)(paren - name);
    }
    struct tm tm;
    if (!localtime_r(&start, &tm)) return vkt_fail(err, VKT_ERR_INTERNAL, "localtime failed");
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    int w =
        snprintf(out, out_n, "%s%s%s/%.*s", log_dir, *log_dir ? "/" : "", date, (int)name_n, name);
    if (w < 0 || (size_t)w >= out_n)
        return vkt_fail(err, VKT_ERR_USAGE, "log directory path too long: %s/%s/%s", log_dir, date,
                        name);
    return VKT_OK;
}

int64_t vkt_logs_due(int64_t step, int64_t every, bool webui_naming)
{
    if (every <= 0 || step < 0) return 0;
    if (webui_naming) return (step + 1) % every == 0 ? step + 1 : 0;
    return step > 0 && step % every == 0 ? step : 0;
}

const char *vkt_logs_csv_name(vkt_train_kind kind)
{
    return kind == VKT_TRAIN_HN ? "hypernetwork_loss.csv" : "textual_inversion_loss.csv";
}

/* Python's // and % for a positive divisor. */
static int64_t floordiv(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}
static int64_t floormod(int64_t a, int64_t b)
{
    return a - floordiv(a, b) * b;
}

size_t vkt_logs_csv_format(char *out, size_t n, int64_t step, int64_t steps_per_epoch, double loss,
                           double learn_rate)
{
    int64_t spe = steps_per_epoch > 0 ? steps_per_epoch : 1;
    char lr[VKT_PYFMT_FLOAT_MAX];
    vkt_pyfmt_float(learn_rate, lr);
    int w =
        snprintf(out, n, "%lld,%lld,%lld,%.7f,%s\r\n", (long long)step,
                 (long long)floordiv(step - 1, spe), (long long)floormod(step - 1, spe), loss, lr);
    return w < 0 ? 0 : (size_t)w < n ? (size_t)w : n - 1;
}

vkt_status vkt_logs_csv_append(const char *path, int64_t step, int64_t steps_per_epoch, double loss,
                               double learn_rate, vkt_err *err)
{
    uint8_t *old = NULL;
    size_t old_n = 0;
    struct stat sb;
    if (stat(path, &sb) == 0) {
        vkt_status st = vkt_read_file(path, MAX_CSV_BYTES, &old, &old_n, err);
        if (st) return st;
    }
    char row[160];
    size_t rn = vkt_logs_csv_format(row, sizeof row, step, steps_per_epoch, loss, learn_rate);
    vkt_atomic_file f;
    vkt_status st = vkt_atomic_open(&f, path, err);
    if (st) {
        free(old);
        return st;
    }
    bool ok = true;
    if (old)
        ok = fwrite(old, 1, old_n, f.fp) == old_n;
    else
        ok = fputs(VKT_LOGS_CSV_HEADER, f.fp) >= 0;
    ok = ok && fwrite(row, 1, rn, f.fp) == rn;
    free(old);
    if (!ok) {
        vkt_atomic_abort(&f);
        return vkt_fail(err, VKT_ERR_IO, "%s: write failed", path);
    }
    return vkt_atomic_commit(&f, err);
}

static bool push_point(vkt_train_log *l, int64_t step, double loss)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        int64_t *s = vkt_realloc(l->steps, cap * sizeof *s);
        if (!s) return false;
        l->steps = s;
        double *v = vkt_realloc(l->loss, cap * sizeof *v);
        if (!v) return false;
        l->loss = v;
        l->cap = cap;
    }
    l->steps[l->n] = step;
    l->loss[l->n++] = loss;
    return true;
}

vkt_status vkt_train_log_open(const char *run_dir, vkt_train_kind kind, int64_t csv_every,
                              vkt_train_log **out, vkt_err *err)
{
    vkt_train_log *l = vkt_calloc(1, sizeof *l);
    if (!l) return vkt_fail(err, VKT_ERR_NOMEM, "log: out of host memory");
    vkt_status st = VKT_OK;
    uint8_t *csv = NULL;
    size_t csv_n = 0;
    if (strlen(run_dir) >= sizeof l->run_dir) {
        st = vkt_fail(err, VKT_ERR_USAGE, "%s: log directory path too long", run_dir);
        goto done;
    }
    snprintf(l->run_dir, sizeof l->run_dir, "%s", run_dir);
    snprintf(l->csv_path, sizeof l->csv_path, "%s/%s", run_dir, vkt_logs_csv_name(kind));
    l->kind = kind;
    l->csv_every = csv_every;
    struct stat sb;
    if (stat(run_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        st = vkt_fail(err, VKT_ERR_IO, "%s: log directory does not exist", run_dir);
        goto done;
    }
    if (stat(l->csv_path, &sb) == 0) {
        st = vkt_read_file(l->csv_path, MAX_CSV_BYTES, &csv, &csv_n, err);
        if (st) goto done;
        /* rows "step,epoch,epoch_step,loss,lr"; the header and anything malformed are skipped */
        for (char *line = (char *)csv; line && *line;) {
            char *next = strchr(line, '\n');
            if (next) *next++ = 0;
            long long step, ep, es;
            double loss;
            if (sscanf(line, "%lld,%lld,%lld,%lf", &step, &ep, &es, &loss) == 4 &&
                !push_point(l, step, loss)) {
                st = vkt_fail(err, VKT_ERR_NOMEM, "log: out of host memory");
                goto done;
            }
            line = next;
        }
    }
    *out = l;
    l = NULL;
done:
    free(csv);
    vkt_train_log_destroy(l);
    return st;
}

void vkt_train_log_destroy(vkt_train_log *l)
{
    if (!l) return;
    free(l->steps);
    free(l->loss);
    free(l);
}

vkt_status vkt_train_log_step(vkt_train_log *l, int64_t step, int64_t steps_per_epoch, double loss,
                              double learn_rate, vkt_err *err)
{
    if (!push_point(l, step, loss)) return vkt_fail(err, VKT_ERR_NOMEM, "log: out of host memory");
    if (l->csv_every > 0 && step % l->csv_every == 0)
        return vkt_logs_csv_append(l->csv_path, step, steps_per_epoch, loss, learn_rate, err);
    return VKT_OK;
}

vkt_status vkt_train_log_plot(const vkt_train_log *l, const char *title, vkt_err *err)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/loss.svg", l->run_dir);
    return vkt_logs_plot_svg(path, title, l->steps, l->loss, l->n, err);
}

/* ---- SVG plot --------------------------------------------------------------------------- */

/* "Nice" tick spacing (1, 2 or 5 x 10^k) for about `target` ticks over span. */
static double nice_step(double span, int target)
{
    if (!(span > 0)) return 1;
    double raw = span / target, mag = pow(10, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

static void xml_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t') fputc(*s, f);
        }
    }
}

enum { SVG_W = 900, SVG_H = 500, ML = 80, MR = 30, MT = 60, MB = 60, MAX_BINS = 800 };

vkt_status vkt_logs_plot_svg(const char *path, const char *title, const int64_t *steps,
                             const double *loss, size_t n, vkt_err *err)
{
    vkt_status st = VKT_OK;
    /* finite points, sorted by step as given (the log appends in step order) */
    double *xs = vkt_malloc((n ? n : 1) * sizeof *xs), *ys = vkt_malloc((n ? n : 1) * sizeof *ys);
    double *avg = vkt_malloc((n ? n : 1) * sizeof *avg);
    if (!xs || !ys || !avg) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "%s: out of host memory", path);
        goto done;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(loss[i])) xs[m] = (double)steps[i], ys[m++] = loss[i];
    vkt_atomic_file f;
    st = vkt_atomic_open(&f, path, err);
    if (st) goto done;
    const double pw = SVG_W - ML - MR, ph = SVG_H - MT - MB;
    fprintf(f.fp,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%d\" y=\"28\" font-size=\"18\" font-weight=\"bold\">",
            SVG_W, SVG_H, SVG_W, SVG_H, ML);
    xml_text(f.fp, title && *title ? title : "loss");
    fputs("</text>\n", f.fp);
    if (!m) {
        fprintf(f.fp, "<text x=\"%d\" y=\"%d\" fill=\"#666\">no loss recorded yet</text>\n</svg>\n",
                ML, MT + 40);
        st = vkt_atomic_commit(&f, err);
        goto done;
    }
    double x0 = xs[0], x1 = xs[0], y0 = ys[0], y1 = ys[0];
    for (size_t i = 0; i < m; i++) {
        x0 = fmin(x0, xs[i]), x1 = fmax(x1, xs[i]);
        y0 = fmin(y0, ys[i]), y1 = fmax(y1, ys[i]);
    }
    if (x1 == x0) x0 -= 1, x1 += 1;
    if (y1 == y0) y0 -= fabs(y0) * 0.1 + 1e-3, y1 += fabs(y1) * 0.1 + 1e-3;
    double pad = (y1 - y0) * 0.05;
    y0 -= pad, y1 += pad;
    /* moving average over ~5% of the points (at least 1), trailing window */
    size_t win = m / 20 ? m / 20 : 1;
    double run = 0;
    for (size_t i = 0; i < m; i++) {
        run += ys[i];
        if (i >= win) run -= ys[i - win];
        avg[i] = run / (double)(i + 1 < win ? i + 1 : win);
    }
#define PX(x) (ML + ((x)-x0) / (x1 - x0) * pw)
#define PY(y) (MT + (1 - ((y)-y0) / (y1 - y0)) * ph)
    /* grid and ticks */
    double xs_step = nice_step(x1 - x0, 8), ys_step = nice_step(y1 - y0, 6);
    fprintf(f.fp, "<g stroke=\"#e4e4e4\" stroke-width=\"1\">\n");
    for (double t = ceil(x0 / xs_step) * xs_step; t <= x1; t += xs_step)
        fprintf(f.fp, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n", PX(t), MT, PX(t),
                SVG_H - MB);
    for (double t = ceil(y0 / ys_step) * ys_step; t <= y1; t += ys_step)
        fprintf(f.fp, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n", ML, PY(t),
                SVG_W - MR, PY(t));
    fputs("</g>\n<g fill=\"#333\">\n", f.fp);
    for (double t = ceil(x0 / xs_step) * xs_step; t <= x1; t += xs_step)
        fprintf(f.fp, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.10g</text>\n", PX(t),
                SVG_H - MB + 18, t);
    for (double t = ceil(y0 / ys_step) * ys_step; t <= y1; t += ys_step)
        fprintf(f.fp, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.6g</text>\n", ML - 6,
                PY(t) + 4, fabs(t) < ys_step * 1e-6 ? 0.0 : t);
    fprintf(f.fp,
            "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">step</text>\n"
            "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 18 %.1f)\">"
            "loss</text>\n</g>\n",
            ML + pw / 2, SVG_H - 14, MT + ph / 2, MT + ph / 2);
    fprintf(f.fp,
            "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
            "stroke=\"#888\"/>\n",
            ML, MT, pw, ph);
    /* raw loss: a polyline, or a min-max band per pixel bin when there are many points */
    if (m <= MAX_BINS) {
        fputs("<polyline fill=\"none\" stroke=\"#9ecae1\" stroke-width=\"1\" points=\"", f.fp);
        for (size_t i = 0; i < m; i++)
            fprintf(f.fp, "%.1f,%.1f ", PX(xs[i]), PY(ys[i]));
        fputs("\"/>\n", f.fp);
    } else {
        double lo[MAX_BINS], hi[MAX_BINS];
        bool used[MAX_BINS] = {0};
        for (size_t i = 0; i < m; i++) {
            int b = (int)((xs[i] - x0) / (x1 - x0) * (MAX_BINS - 1));
            b = b < 0 ? 0 : b >= MAX_BINS ? MAX_BINS - 1 : b;
            if (!used[b]) lo[b] = hi[b] = ys[i], used[b] = true;
            lo[b] = fmin(lo[b], ys[i]), hi[b] = fmax(hi[b], ys[i]);
        }
        fputs("<polygon fill=\"#c6dbef\" stroke=\"none\" points=\"", f.fp);
        for (int b = 0; b < MAX_BINS; b++)
            if (used[b]) fprintf(f.fp, "%.1f,%.1f ", ML + b * pw / (MAX_BINS - 1), PY(hi[b]));
        for (int b = MAX_BINS; b-- > 0;)
            if (used[b]) fprintf(f.fp, "%.1f,%.1f ", ML + b * pw / (MAX_BINS - 1), PY(lo[b]));
        fputs("\"/>\n", f.fp);
    }
    fputs("<polyline fill=\"none\" stroke=\"#08519c\" stroke-width=\"2.2\" points=\"", f.fp);
    size_t stride = m > 4 * MAX_BINS ? m / (4 * MAX_BINS) : 1;
    for (size_t i = 0; i < m; i += stride)
        fprintf(f.fp, "%.1f,%.1f ", PX(xs[i]), PY(avg[i]));
    if ((m - 1) % stride) fprintf(f.fp, "%.1f,%.1f ", PX(xs[m - 1]), PY(avg[m - 1]));
    fputs("\"/>\n", f.fp);
    fprintf(f.fp,
            "<text x=\"%d\" y=\"48\" fill=\"#444\">%zu steps, last %lld: loss %.5f; thick "
            "line: mean of the last %zu steps (%.5f)</text>\n",
            ML, m, (long long)xs[m - 1], ys[m - 1], win, avg[m - 1]);
    fputs("</svg>\n", f.fp);
#undef PX
#undef PY
    st = vkt_atomic_commit(&f, err);
done:
    free(xs);
    free(ys);
    free(avg);
    return st;
}

/* ---- settings JSON ---------------------------------------------------------------------- */

/* json.dumps(s) with ensure_ascii: \" \\ \n \r \t \b \f, other controls \u00XX, non-ASCII as
 * \uXXXX (UTF-16 surrogate pairs above U+FFFF); invalid UTF-8 bytes as U+FFFD. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        if (c < 0x80) {
            switch (c) {
            case '"':
                fputs("\\\"", f);
                break;
            case '\\':
                fputs("\\\\", f);
                break;
            case '\n':
                fputs("\\n", f);
                break;
            case '\r':
                fputs("\\r", f);
                break;
            case '\t':
                fputs("\\t", f);
                break;
            case '\b':
                fputs("\\b", f);
                break;
            case '\f':
                fputs("\\f", f);
                break;
            default:
                if (c < 0x20)
                    fprintf(f, "\\u%04x", c);
                else
                    fputc(c, f);
            }
            p++;
            continue;
        }
        int len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        uint32_t cp = len ? c & (0x7f >> len) : 0xfffd;
        bool ok = len > 0;
        for (int k = 1; ok && k < len; k++) {
            if ((p[k] & 0xc0) != 0x80)
                ok = false;
            else
                cp = (cp << 6) | (p[k] & 0x3f);
        }
        if (!ok) cp = 0xfffd, len = 1;
        p += len;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            fprintf(f, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
        } else {
            fprintf(f, "\\u%04x", cp);
        }
    }
    fputc('"', f);
}

static void json_value(FILE *f, const vkt_setting *s)
{
    char b[VKT_PYFMT_FLOAT_MAX];
    switch (s->type) {
    case VKT_SETTING_STR:
        if (s->s)
            json_str(f, s->s);
        else
            fputs("null", f);
        break;
    case VKT_SETTING_INT:
        fprintf(f, "%lld", (long long)s->i);
        break;
    case VKT_SETTING_FLOAT:
        fputs(vkt_pyfmt_float_json(s->f, b), f);
        break;
    case VKT_SETTING_BOOL:
        fputs(s->b ? "true" : "false", f);
        break;
    case VKT_SETTING_NULL:
        fputs("null", f);
        break;
    case VKT_SETTING_FLOATS:
        if (!s->n_list) {
            fputs("[]", f);
            break;
        }
        fputs("[", f);
        for (size_t i = 0; i < s->n_list; i++)
            fprintf(f, "%s\n        %s", i ? "," : "", vkt_pyfmt_float_json(s->list[i], b));
        fputs("\n    ]", f);
        break;
    }
}

vkt_status vkt_logs_write_settings(const char *run_dir, time_t now, const vkt_setting *items,
                                   size_t n, char *path_out, size_t path_n, vkt_err *err)
{
    struct tm tm;
    if (!localtime_r(&now, &tm)) return vkt_fail(err, VKT_ERR_INTERNAL, "localtime failed");
    char stamp[32], when[32], path[1200];
    strftime(stamp, sizeof stamp, "%Y-%m-%d-%H-%M-%S", &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    int w = snprintf(path, sizeof path, "%s/settings-%s.json", run_dir, stamp);
    if (w < 0 || (size_t)w >= sizeof path)
        return vkt_fail(err, VKT_ERR_USAGE, "%s: path too long", run_dir);
    vkt_atomic_file f;
    vkt_status st = vkt_atomic_open(&f, path, err);
    if (st) return st;
    fputs("{\n    \"datetime\": ", f.fp);
    json_str(f.fp, when);
    for (size_t i = 0; i < n; i++) {
        fputs(",\n    ", f.fp);
        json_str(f.fp, items[i].key);
        fputs(": ", f.fp);
        json_value(f.fp, &items[i]);
    }
    fputs("\n}", f.fp);
    st = vkt_atomic_commit(&f, err);
    if (!st && path_out) snprintf(path_out, path_n, "%s", path);
    return st;
}

size_t vkt_logs_settings_webui(const vkt_train_settings *s, vkt_setting *out, size_t cap)
{
    size_t n = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (n < cap) out[n] = (vkt_setting){__VA_ARGS__};                                          \
        n++;                                                                                       \
    } while (0)
#define STR(k, v) ADD(.key = k, .type = VKT_SETTING_STR, .s = v)
#define INT(k, v) ADD(.key = k, .type = VKT_SETTING_INT, .i = v)
#define BOOL(k, v) ADD(.key = k, .type = VKT_SETTING_BOOL, .b = v)
    bool ti = s->kind == VKT_TRAIN_TI;
    STR("model_name", s->model_name);
    STR("model_hash", s->model_hash);
    INT("num_of_dataset_images", s->num_of_dataset_images);
    if (ti) {
        INT("num_vectors_per_token", s->num_vectors_per_token);
    } else {
        ADD(.key = "layer_structure", .type = VKT_SETTING_FLOATS, .list = s->layer_structure,
            .n_list = s->n_layer_structure);
        STR("activation_func", s->activation_func);
        STR("weight_init", s->weight_init);
        BOOL("add_layer_norm", s->add_layer_norm);
        BOOL("use_dropout", s->use_dropout);
    }
    /* the trainer's parameters, in signature order */
    STR(ti ? "embedding_name" : "hypernetwork_name", s->name);
    STR("learn_rate", s->learn_rate);
    INT("batch_size", s->batch_size);
    INT("gradient_step", s->gradient_step);
    STR("data_root", s->data_root);
    STR("log_directory", s->log_directory);
    INT("training_width", s->training_width);
    INT("training_height", s->training_height);
    INT("steps", s->steps);
    STR("clip_grad_mode", s->clip_grad_mode);
    STR("clip_grad_value", s->clip_grad_value);
    STR("latent_sampling_method", s->latent_sampling_method);
    INT("create_image_every", s->create_image_every);
    INT(ti ? "save_embedding_every" : "save_hypernetwork_every", s->save_every);
    if (ti) BOOL("save_image_with_stored_embedding", s->save_image_with_stored_embedding);
    if (s->preview_from_txt2img) {
        /* preview_sampler_name is not saved: the webui's key list says preview_sampler_index */
        STR("preview_prompt", s->preview_prompt);
        STR("preview_negative_prompt", s->preview_negative_prompt);
        INT("preview_steps", s->preview_steps);
        ADD(.key = "preview_cfg_scale", .type = VKT_SETTING_FLOAT, .f = s->preview_cfg_scale);
        INT("preview_seed", s->preview_seed);
        INT("preview_width", s->preview_width);
        INT("preview_height", s->preview_height);
    }
    /* then the function's locals in order of first assignment */
    STR("template_file", s->template_file);
    INT("initial_step", s->initial_step);
#undef ADD
#undef STR
#undef INT
#undef BOOL
    return n < cap ? n : cap;
}
