/* train/logs: run directory, the webui's off-by-one file numbering, CSV rows byte for byte
 * (Python csv + repr), atomic appends, the settings JSON compared with Python's json.dump(indent=4)
 * output, and loss.svg for small, large, empty and non-finite histories. */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "testkit.h"
#include "train/logs.h"

static time_t local_time(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s,
                    .tm_isdst = -1};
    return mktime(&tm);
}

static char *slurp(const char *path)
{
    uint8_t *d = NULL;
    size_t n = 0;
    vkt_err err = {0};
    if (vkt_read_file(path, 64 << 20, &d, &n, &err)) return NULL;
    return (char *)d;
}

static int exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void test_names(void)
{
    char out[256];
    vkt_err err = {0};
    time_t t = local_time(2024, 5, 6, 12, 34, 56);
    TK_CHECK(vkt_logs_run_dir("textual_inversion", "myemb", VKT_TRAIN_TI, t, out, sizeof out,
                              &err) == VKT_OK &&
                 !strcmp(out, "textual_inversion/2024-05-06/myemb"),
             "TI run dir: %s", out);
    TK_CHECK(vkt_logs_run_dir("logs", "net (abc123)", VKT_TRAIN_HN, t, out, sizeof out, &err) ==
                     VKT_OK &&
                 !strcmp(out, "logs/2024-05-06/net "),
             "HN name cut at the last '(': \"%s\"", out);
    TK_CHECK(vkt_logs_run_dir("logs", "a(b", VKT_TRAIN_TI, t, out, sizeof out, &err) == VKT_OK &&
                 !strcmp(out, "logs/2024-05-06/a(b"),
             "TI names are not cut");
    TK_CHECK(vkt_logs_run_dir("logs", "x", VKT_TRAIN_TI, t, out, 10, &err) == VKT_ERR_USAGE,
             "too long");
    TK_CHECK(vkt_logs_run_dir("logs", "", VKT_TRAIN_TI, t, out, sizeof out, &err) == VKT_ERR_USAGE,
             "empty");

    /* webui: K = step + 1, due when K % every == 0 */
    TK_CHECK(vkt_logs_due(499, 500, true) == 500, "first copy after 499 updates is -500");
    TK_CHECK(vkt_logs_due(500, 500, true) == 0 && vkt_logs_due(998, 500, true) == 0, "not due");
    TK_CHECK(vkt_logs_due(999, 500, true) == 1000, "second copy");
    TK_CHECK(vkt_logs_due(0, 1, true) == 1 && vkt_logs_due(7, 0, true) == 0, "every 1 / every 0");
    TK_CHECK(vkt_logs_due(500, 500, false) == 500 && vkt_logs_due(499, 500, false) == 0 &&
                 vkt_logs_due(0, 500, false) == 0,
             "corrected naming");
    TK_CHECK(!strcmp(vkt_logs_csv_name(VKT_TRAIN_TI), "textual_inversion_loss.csv") &&
                 !strcmp(vkt_logs_csv_name(VKT_TRAIN_HN), "hypernetwork_loss.csv"),
             "csv names");
}

static void test_csv(void)
{
    char row[160];
    /* expected bytes: Python csv.DictWriter rows of {step, epoch, epoch_step, f"{loss:.7f}", lr} */
    vkt_logs_csv_format(row, sizeof row, 1, 3, 0.123456789, 0.005);
    TK_CHECK(!strcmp(row, "1,0,0,0.1234568,0.005\r\n"), "row 1: %s", row);
    vkt_logs_csv_format(row, sizeof row, 3, 3, 1.5, 1e-05);
    TK_CHECK(!strcmp(row, "3,0,2,1.5000000,1e-05\r\n"), "row 3: %s", row);
    vkt_logs_csv_format(row, sizeof row, 4, 3, 0.00000004, 0.0001);
    TK_CHECK(!strcmp(row, "4,1,0,0.0000000,0.0001\r\n"), "row 4: %s", row);
    vkt_logs_csv_format(row, sizeof row, 0, 3, NAN, 1.0);
    TK_CHECK(!strcmp(row, "0,-1,2,nan,1.0\r\n"), "step 0 (Python floor division): %s", row);

    char path[2100];
    snprintf(path, sizeof path, "%s/textual_inversion_loss.csv", tk_tmpdir("logs_csv"));
    vkt_err err = {0};
    TK_CHECK(vkt_logs_csv_append(path, 500, 10, 0.25, 0.005, &err) == VKT_OK, "%s", err.msg);
    TK_CHECK(vkt_logs_csv_append(path, 1000, 10, 0.125, 0.001, &err) == VKT_OK, "%s", err.msg);
    char *s = slurp(path);
    TK_CHECK(s && !strcmp(s, "step,epoch,epoch_step,loss,learn_rate\r\n"
                             "500,49,9,0.2500000,0.005\r\n"
                             "1000,99,9,0.1250000,0.001\r\n"),
             "csv file: %s", s);
    free(s);
    char tmp[2200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    TK_CHECK(!exists(tmp), "no temp file left");
    TK_CHECK(vkt_logs_csv_append("/nonexistent/dir/x.csv", 1, 1, 0, 0, &err) == VKT_ERR_IO,
             "bad dir");
}

static void test_train_log(void)
{
    const char *dir = tk_tmpdir("logs_run");
    char run[2100], path[2200];
    snprintf(run, sizeof run, "%s", dir);
    vkt_train_log *l = NULL;
    vkt_err err = {0};
    TK_CHECK(vkt_train_log_open(run, VKT_TRAIN_HN, 2, &l, &err) == VKT_OK, "%s", err.msg);
    if (!l) return;
    for (int s = 1; s <= 5; s++)
        TK_CHECK(vkt_train_log_step(l, s, 2, 1.0 / s, 1e-5, &err) == VKT_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/hypernetwork_loss.csv", run);
    char *s = slurp(path);
    TK_CHECK(s && !strcmp(s, "step,epoch,epoch_step,loss,learn_rate\r\n"
                             "2,0,1,0.5000000,1e-05\r\n"
                             "4,1,1,0.2500000,1e-05\r\n"),
             "rows at csv_every: %s", s);
    free(s);
    TK_CHECK(vkt_train_log_plot(l, "net <loss> & co", &err) == VKT_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/loss.svg", run);
    s = slurp(path);
    TK_CHECK(s && !strncmp(s, "<?xml", 5) && strstr(s, "</svg>\n") && strstr(s, "<polyline") &&
                 strstr(s, "net &lt;loss&gt; &amp; co") && strstr(s, "5 steps"),
             "svg written");
    free(s);
    vkt_train_log_destroy(l);
    /* reopening (resume) seeds the plot from the CSV rows */
    TK_CHECK(vkt_train_log_open(run, VKT_TRAIN_HN, 2, &l, &err) == VKT_OK, "%s", err.msg);
    vkt_train_log_plot(l, "again", &err);
    s = slurp(path);
    TK_CHECK(s && strstr(s, "2 steps, last 4"), "resumed log has the CSV points");
    free(s);
    vkt_train_log_destroy(l);
    TK_CHECK(vkt_train_log_open("/nonexistent/run", VKT_TRAIN_TI, 2, &l, &err) == VKT_ERR_IO,
             "missing run dir");
}

static void test_plot(void)
{
    char path[2100];
    snprintf(path, sizeof path, "%s/big.svg", tk_tmpdir("logs_plot"));
    enum { N = 5000 };
    int64_t *st = malloc(N * sizeof *st);
    double *ls = malloc(N * sizeof *ls);
    for (int i = 0; i < N; i++)
        st[i] = i + 1, ls[i] = 0.2 + 0.1 * exp(-i / 1000.0) + 0.01 * sin(i);
    ls[17] = NAN;
    ls[18] = INFINITY;
    vkt_err err = {0};
    TK_CHECK(vkt_logs_plot_svg(path, "big", st, ls, N, &err) == VKT_OK, "%s", err.msg);
    char *s = slurp(path);
    TK_CHECK(s && strstr(s, "<polygon") && strstr(s, "4998 steps") && !strstr(s, "nan") &&
                 !strstr(s, "inf"),
             "many points: a band, non-finite losses left out");
    /* the file stays small enough to open anywhere */
    TK_CHECK(s && strlen(s) < 200000, "svg size %zu", s ? strlen(s) : 0);
    free(s);
    TK_CHECK(vkt_logs_plot_svg(path, "none", st, ls, 0, &err) == VKT_OK, "%s", err.msg);
    s = slurp(path);
    TK_CHECK(s && strstr(s, "no loss recorded yet"), "empty plot");
    free(s);
    /* one point, constant values */
    ls[0] = 0.5;
    TK_CHECK(vkt_logs_plot_svg(path, "one", st, ls, 1, &err) == VKT_OK, "one point");
    free(st);
    free(ls);
}

static void test_settings(void)
{
    const char *dir = tk_tmpdir("logs_settings");
    time_t t = local_time(2024, 5, 6, 12, 34, 56);
    vkt_train_settings ts = {.kind = VKT_TRAIN_TI,
                             .model_name = "tiny",
                             .model_hash = "0123456789",
                             .num_of_dataset_images = 3,
                             .num_vectors_per_token = 2,
                             .name = "my\xc3\xa9mb \xf0\x9f\x98\x80\"q\"",
                             .learn_rate = "0.005:100, 1e-3",
                             .batch_size = 1,
                             .gradient_step = 1,
                             .data_root = "/data/x",
                             .log_directory = "textual_inversion/2024-05-06/myemb",
                             .training_width = 512,
                             .training_height = 512,
                             .steps = 100000,
                             .clip_grad_mode = "disabled",
                             .clip_grad_value = "0.1",
                             .latent_sampling_method = "once",
                             .create_image_every = 500,
                             .save_every = 500,
                             .save_image_with_stored_embedding = true,
                             .preview_from_txt2img = true,
                             .preview_prompt = "a\nb\t\x01",
                             .preview_negative_prompt = "",
                             .preview_steps = 20,
                             .preview_cfg_scale = 7.0,
                             .preview_seed = -1,
                             .preview_width = 512,
                             .preview_height = 512,
                             .template_file = "style_filewords.txt",
                             .initial_step = 0};
    vkt_setting items[64];
    size_t n = vkt_logs_settings_webui(&ts, items, 64);
    char path[2200];
    vkt_err err = {0};
    TK_CHECK(vkt_logs_write_settings(dir, t, items, n, path, sizeof path, &err) == VKT_OK, "%s",
             err.msg);
    TK_CHECK(strstr(path, "/settings-2024-05-06-12-34-56.json") != NULL, "file name %s", path);
    char *s = slurp(path);
    /* Python 3.11: print(json.dumps(d, indent=4)) of the same dict */
    const char *want = "{\n"
                       "    \"datetime\": \"2024-05-06 12:34:56\",\n"
                       "    \"model_name\": \"tiny\",\n"
                       "    \"model_hash\": \"0123456789\",\n"
                       "    \"num_of_dataset_images\": 3,\n"
                       "    \"num_vectors_per_token\": 2,\n"
                       "    \"embedding_name\": \"my\\u00e9mb \\ud83d\\ude00\\\"q\\\"\",\n"
                       "    \"learn_rate\": \"0.005:100, 1e-3\",\n"
                       "    \"batch_size\": 1,\n"
                       "    \"gradient_step\": 1,\n"
                       "    \"data_root\": \"/data/x\",\n"
                       "    \"log_directory\": \"textual_inversion/2024-05-06/myemb\",\n"
                       "    \"training_width\": 512,\n"
                       "    \"training_height\": 512,\n"
                       "    \"steps\": 100000,\n"
                       "    \"clip_grad_mode\": \"disabled\",\n"
                       "    \"clip_grad_value\": \"0.1\",\n"
                       "    \"latent_sampling_method\": \"once\",\n"
                       "    \"create_image_every\": 500,\n"
                       "    \"save_embedding_every\": 500,\n"
                       "    \"save_image_with_stored_embedding\": true,\n"
                       "    \"preview_prompt\": \"a\\nb\\t\\u0001\",\n"
                       "    \"preview_negative_prompt\": \"\",\n"
                       "    \"preview_steps\": 20,\n"
                       "    \"preview_cfg_scale\": 7.0,\n"
                       "    \"preview_seed\": -1,\n"
                       "    \"preview_width\": 512,\n"
                       "    \"preview_height\": 512,\n"
                       "    \"template_file\": \"style_filewords.txt\",\n"
                       "    \"initial_step\": 0\n"
                       "}";
    TK_CHECK(s && !strcmp(s, want), "TI settings = Python json.dump(indent=4):\n%s", s);
    free(s);

    /* HN fields and a float list, null for a missing string */
    ts.kind = VKT_TRAIN_HN;
    ts.preview_from_txt2img = false;
    ts.model_hash = NULL;
    double ls[3] = {1, 2, 1};
    ts.layer_structure = ls;
    ts.n_layer_structure = 3;
    ts.activation_func = "linear";
    ts.weight_init = "Normal";
    n = vkt_logs_settings_webui(&ts, items, 64);
    TK_CHECK(n == 24 && !strcmp(items[3].key, "layer_structure") &&
                 !strcmp(items[8].key, "hypernetwork_name") &&
                 !strcmp(items[21].key, "save_hypernetwork_every") &&
                 !strcmp(items[22].key, "template_file"),
             "HN keys in the webui's order (%zu)", n);
    n = 9;
    vkt_setting sub[9];
    memcpy(sub, items, sizeof sub);
    sub[0].s = "m";
    sub[2].i = 1;
    sub[8].s = "net";
    TK_CHECK(vkt_logs_write_settings(dir, t + 1, sub, n, path, sizeof path, &err) == VKT_OK, "%s",
             err.msg);
    s = slurp(path);
    want = "{\n"
           "    \"datetime\": \"2024-05-06 12:34:57\",\n"
           "    \"model_name\": \"m\",\n"
           "    \"model_hash\": null,\n"
           "    \"num_of_dataset_images\": 1,\n"
           "    \"layer_structure\": [\n"
           "        1.0,\n"
           "        2.0,\n"
           "        1.0\n"
           "    ],\n"
           "    \"activation_func\": \"linear\",\n"
           "    \"weight_init\": \"Normal\",\n"
           "    \"add_layer_norm\": false,\n"
           "    \"use_dropout\": false,\n"
           "    \"hypernetwork_name\": \"net\"\n"
           "}";
    TK_CHECK(s && !strcmp(s, want), "HN settings = Python json.dump(indent=4):\n%s", s);
    free(s);
    TK_CHECK(vkt_logs_write_settings("/nonexistent", t, sub, n, NULL, 0, &err) == VKT_ERR_IO,
             "bad dir");
}

int main(void)
{
    test_names();
    test_csv();
    test_train_log();
    test_plot();
    test_settings();
    return tk_finish("logs");
}
