/* io/embedding_file, embedding_image, embedding_optim, embedding_db and train/embedding_names:
 * the fixtures of tests/reference/make_embedding_fixtures.py (files written by torch, the webui's
 * image code and a hand-made safetensors writer), round trips of every form vktrain writes, the
 * checksum's test vectors, hostile and truncated files, and a folder loaded the webui's way.
 *
 *   test_embedding                 run the checks
 *   test_embedding --write DIR     write the files check_embedding_files.py loads with torch
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "io/embedding_db.h"
#include "io/embedding_file.h"
#include "io/embedding_image.h"
#include "io/embedding_optim.h"
#include "io/image.h"
#include "io/tensor_data.h"
#include "testkit.h"
#include "text/prompt.h"
#include "text/tokenizer.h"
#include "train/embedding_names.h"

#define W 128

/* The fixture formula: element k = float32(((k * 37 + seed) % 101 - 50) / 37). */
static float fval(size_t k, int seed)
{
    return (float)((double)((long)((k * 37 + (size_t)seed) % 101) - 50) / 37.0);
}

static bool vec_is(const float *v, size_t n, int seed, int dtype_round)
{
    for (size_t k = 0; k < n; k++) {
        float want = fval(k, seed);
        if (dtype_round == 16) want = vkt_io_f16_to_f32(vkt_io_f32_to_f16(want));
        if (dtype_round == 'b') want = vkt_io_bf16_to_f32(vkt_io_f32_to_bf16(want));
        if (v[k] != want) {
            fprintf(stderr, "  element %zu: %.9g, want %.9g\n", k, (double)v[k], (double)want);
            return false;
        }
    }
    return true;
}

static const char *fixture(const char *name)
{
    static char buf[2][2048];
    static int which;
    which ^= 1;
    snprintf(buf[which], sizeof buf[which], "%s", tk_src("tests/data/embeddings/"));
    strncat(buf[which], name, sizeof buf[which] - strlen(buf[which]) - 1);
    return buf[which];
}

static vkt_embedding *read_ok(const char *name)
{
    vkt_err err = {0};
    vkt_embedding *e = NULL;
    vkt_status st = vkt_embedding_file_read(fixture(name), &e, &err);
    TK_CHECK(st == VKT_OK && e, "%s: %s", name, st ? err.msg : "not an embedding");
    return st ? NULL : e;
}

static void read_fails(const char *path, vkt_status code, const char *want)
{
    vkt_err err = {0};
    vkt_embedding *e = NULL;
    vkt_status st = vkt_embedding_file_read(path, &e, &err);
    TK_CHECK(st == code && !e && strstr(err.msg, want), "%s: want %d \"%s\", got %d \"%s\"", path,
             code, want, st, err.msg);
    vkt_embedding_file_destroy(e);
}

static void read_none(const char *path)
{
    vkt_err err = {0};
    vkt_embedding *e = (vkt_embedding *)1;
    vkt_status st = vkt_embedding_file_read(path, &e, &err);
    TK_CHECK(st == VKT_OK && e == NULL, "%s: not an embedding, got %d %s", path, st, err.msg);
}

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* ------------------------------------------------------------------------------------------- */

static void test_fixtures(void)
{
    vkt_embedding *e;
    if ((e = read_ok("webui.pt"))) {
        TK_CHECK(streq(e->name, "webui") && streq(e->stored_name, "webui-name"),
                 "trigger word = stem, name kept: %s / %s", e->name, e->stored_name);
        TK_CHECK(e->n_vectors == 3 && e->width == W && vec_is(e->vectors, 3 * W, 1, 0), "vectors");
        TK_CHECK(e->has_step && e->step == 250, "step");
        TK_CHECK(streq(e->sd_checkpoint, "0123456789") && streq(e->sd_checkpoint_name, "tiny"),
                 "checkpoint");
        TK_CHECK(e->requires_grad && e->layout == VKT_EMB_LAYOUT_WEBUI &&
                     e->container == VKT_EMB_FILE_PT && !e->vectors_g,
                 "layout webui, requires_grad");
        char sum[5];
        vkt_err err = {0};
        TK_CHECK(vkt_embedding_file_checksum(e->vectors, 3 * W, sum, &err) == VKT_OK &&
                     streq(sum, "a1b4"),
                 "checksum as the python reference: %s", sum);
        vkt_embedding_file_destroy(e);
    }
    if ((e = read_ok("webui_none.pt"))) {
        TK_CHECK(!e->has_step && !e->sd_checkpoint && !e->sd_checkpoint_name && !e->requires_grad,
                 "None fields");
        TK_CHECK(e->n_vectors == 1 && vec_is(e->vectors, W, 2, 0), "vectors");
        vkt_embedding_file_destroy(e);
    }
    if ((e = read_ok("webui_bf16.pt"))) {
        TK_CHECK(e->n_vectors == 2 && vec_is(e->vectors, 2 * W, 3, 'b') && e->step == 7,
                 "bf16 vectors");
        vkt_embedding_file_destroy(e);
    }
    if ((e = read_ok("paramdict.pt"))) {
        TK_CHECK(e->n_vectors == 1 && vec_is(e->vectors, W, 4, 16), "ParameterDict f16 vectors");
        TK_CHECK(streq(e->stored_name, "old") && !e->has_step && e->layout == VKT_EMB_LAYOUT_WEBUI,
                 "old-style fields");
        vkt_embedding_file_destroy(e);
    }
    if ((e = read_ok("diffusers.bin"))) {
        TK_CHECK(e->n_vectors == 1 && e->width == W && vec_is(e->vectors, W, 5, 0) &&
                     e->layout == VKT_EMB_LAYOUT_DIFFUSERS && streq(e->name, "diffusers") &&
                     !e->stored_name && !e->has_step,
                 "diffusers [W] -> [1, W]");
        vkt_embedding_file_destroy(e);
    }
    if ((e = read_ok("kohya.pt"))) {
        TK_CHECK(e->n_vectors == 2 && vec_is(e->vectors, 2 * W, 6, 0) &&
                     e->layout == VKT_EMB_LAYOUT_KOHYA,
                 "kohya .pt");
        vkt_embedding_file_destroy(e);
    }
    if ((e = read_ok("kohya.safetensors"))) {
        TK_CHECK(e->n_vectors == 2 && vec_is(e->vectors, 2 * W, 7, 0) &&
                     e->layout == VKT_EMB_LAYOUT_KOHYA && e->container == VKT_EMB_FILE_SAFETENSORS,
                 "kohya .safetensors");
        vkt_embedding_file_destroy(e);
    }
    if ((e = read_ok("kohya_f16.safetensors"))) {
        TK_CHECK(e->n_vectors == 4 && vec_is(e->vectors, 4 * W, 8, 16) && !e->stored_name,
                 "kohya f16 with metadata");
        vkt_embedding_file_destroy(e);
    }
    if ((e = read_ok("sdxl.safetensors"))) {
        TK_CHECK(e->layout == VKT_EMB_LAYOUT_SDXL && e->n_vectors == 2 && e->width == 16 &&
                     e->width_g == 32 && vkt_embedding_file_shape(e) == 48 &&
                     vec_is(e->vectors, 2 * 16, 10, 0) && vec_is(e->vectors_g, 2 * 32, 9, 0),
                 "SDXL clip_l + clip_g");
        vkt_embedding_file_destroy(e);
    }
    if ((e = read_ok("text.png"))) {
        TK_CHECK(streq(e->name, "text-name") && e->container == VKT_EMB_FILE_IMAGE_TEXT &&
                     e->n_vectors == 2 && vec_is(e->vectors, 2 * W, 11, 0) && e->step == 500 &&
                     streq(e->sd_checkpoint, "abcdef0123"),
                 "PNG text chunk: name from the dict");
        vkt_embedding_file_destroy(e);
    }
    const char *pix[] = {"pixels.png", "pixels.webp"};
    for (int i = 0; i < 2; i++) {
        if ((e = read_ok(pix[i]))) {
            TK_CHECK(streq(e->name, "pixels-name") && e->container == VKT_EMB_FILE_IMAGE_PIXELS &&
                         e->n_vectors == 2 && vec_is(e->vectors, 2 * W, 12, 0) && e->step == 600 &&
                         !e->sd_checkpoint,
                     "%s: webui pixel blocks", pix[i]);
            vkt_embedding_file_destroy(e);
        }
    }
    read_none(fixture("pixels.preview.png"));
    read_none(fixture("plain.png"));
    read_fails(fixture("bad_b64.png"), VKT_ERR_FORMAT, "sd-ti-embedding: invalid base64");
    read_fails(fixture("multi.pt"), VKT_ERR_FORMAT, "multiple terms in it (string_to_param has 2");
    read_fails(fixture("notemb.pt"), VKT_ERR_FORMAT, "not a textual-inversion embedding");
    read_fails(fixture("int.pt"), VKT_ERR_FORMAT, "has dtype I64, expected a float tensor");
    read_fails(fixture("shape3d.pt"), VKT_ERR_FORMAT, "has shape [2,3,4], expected [N, W]");
    read_fails(fixture("list_root.pt"), VKT_ERR_FORMAT, "holds a list, expected an embedding dict");
    read_fails(fixture("huge_expand.pt"), VKT_ERR_FORMAT, "shape [3000,3000]: expected 1..4096");
    read_fails(tk_src("tests/data/torch/evil_os_system.pt"), VKT_ERR_FORMAT,
               "global posix.system is not allowed");
    read_fails(tk_src("tests/data/torch/legacy.pt"), VKT_ERR_UNSUPPORTED, "legacy");
    read_fails(fixture("missing.pt"), VKT_ERR_IO, "No such file");
    read_none(tk_src("tests/data/torch/../embeddings/README-not-here.txt"));
}

/* ------------------------------------------------------------------------------------------- */

static void test_checksum(void)
{
    vkt_err err = {0};
    char sum[5] = "";
    /* file-formats.md 4.5 test vectors */
    float a[12] = {0.0f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f, 1.1f};
    TK_CHECK(!vkt_embedding_file_checksum(a, 12, sum, &err) && streq(sum, "9f20"), "9f20: %s", sum);
    float b[8] = {0.0123f, -0.5f, 1.9999f, -0.00999f, 3.14159f, -2.71828f, 0.3333f, -0.6667f};
    TK_CHECK(!vkt_embedding_file_checksum(b, 8, sum, &err) && streq(sum, "040c"), "040c: %s", sum);
    /* huge and negative values (expected value from the python reference) */
    float c[7] = {1e30f, -1e30f, 3e9f, -3e9f, 2.5e7f, -0.015f, 123.456f};
    TK_CHECK(!vkt_embedding_file_checksum(c, 7, sum, &err) && streq(sum, "b35e"), "b35e: %s", sum);
    TK_CHECK(!vkt_embedding_file_checksum(a, 0, sum, &err) && streq(sum, "0000"), "empty: %s", sum);
    float d[2] = {1.0f, NAN};
    TK_CHECK(vkt_embedding_file_checksum(d, 2, sum, &err) == VKT_ERR_NUMERIC &&
                 strstr(err.msg, "value 1"),
             "NaN refused: %s", err.msg);
    d[1] = 3e38f; /* finite, but x100 overflows float32 to inf: python's int(inf) raises too */
    TK_CHECK(vkt_embedding_file_checksum(d, 2, sum, &err) == VKT_ERR_NUMERIC, "overflow refused");
}

/* ------------------------------------------------------------------------------------------- */

static bool same_emb(const vkt_embedding *a, const vkt_embedding *b)
{
    size_t n = (size_t)a->n_vectors * (size_t)a->width;
    return a->n_vectors == b->n_vectors && a->width == b->width &&
           memcmp(a->vectors, b->vectors, n * sizeof(float)) == 0 && a->has_step == b->has_step &&
           (!a->has_step || a->step == b->step) &&
           (a->sd_checkpoint ? streq(a->sd_checkpoint, b->sd_checkpoint) : !b->sd_checkpoint) &&
           (a->sd_checkpoint_name ? streq(a->sd_checkpoint_name, b->sd_checkpoint_name)
                                  : !b->sd_checkpoint_name);
}

static vkt_embedding *make(const char *name, int n, int w, int seed)
{
    vkt_err err = {0};
    vkt_embedding *e = NULL;
    if (vkt_embedding_file_new(name, n, w, &e, &err)) {
        TK_CHECK(0, "new: %s", err.msg);
        return NULL;
    }
    for (size_t k = 0; k < (size_t)n * (size_t)w; k++)
        e->vectors[k] = fval(k, seed);
    return e;
}

static vkt_embedding *reread(const char *path)
{
    vkt_err err = {0};
    vkt_embedding *e = NULL;
    if (vkt_embedding_file_read(path, &e, &err) || !e) {
        TK_CHECK(0, "%s: %s", path, err.msg);
        return NULL;
    }
    return e;
}

static void test_round_trips(const char *tmp)
{
    vkt_err err = {0};
    char path[2200];
    vkt_embedding *e = make("cat", 3, W, 21), *r;
    if (!e) return;
    /* .pt, fresh (step 0, no checkpoint, requires_grad False) and trained */
    snprintf(path, sizeof path, "%s/cat.pt", tmp);
    TK_CHECK(!vkt_embedding_file_write_pt(e, path, &err), "write pt: %s", err.msg);
    if ((r = reread(path))) {
        TK_CHECK(same_emb(e, r) && r->has_step && r->step == 0 && !r->requires_grad &&
                     streq(r->stored_name, "cat") && streq(r->name, "cat"),
                 "pt round trip (fresh)");
        vkt_embedding_file_destroy(r);
    }
    e->step = 1234;
    e->requires_grad = true;
    vkt_embedding_file_set_str(&e->sd_checkpoint, "0123456789", &err);
    vkt_embedding_file_set_str(&e->sd_checkpoint_name, "tiny", &err);
    vkt_embedding_file_set_str(&e->stored_name, "cat-500", &err);
    snprintf(path, sizeof path, "%s/cat2.pt", tmp);
    TK_CHECK(!vkt_embedding_file_write_pt(e, path, &err), "write pt: %s", err.msg);
    if ((r = reread(path))) {
        TK_CHECK(same_emb(e, r) && r->requires_grad && streq(r->stored_name, "cat-500") &&
                     streq(r->name, "cat2"),
                 "pt round trip (trained, name field kept, trigger = stem)");
        vkt_embedding_file_destroy(r);
    }
    uint8_t *mem = NULL;
    size_t mem_n = 0;
    if (!vkt_embedding_file_write_pt_memory(e, "cat2", &mem, &mem_n, &err)) {
        uint8_t *disk = NULL;
        size_t disk_n = 0;
        vkt_read_file(path, 1 << 20, &disk, &disk_n, &err);
        TK_CHECK(disk && disk_n == mem_n && memcmp(disk, mem, mem_n) == 0,
                 "memory writer = file writer");
        free(disk);
    }
    free(mem);
    e->has_step = false;
    snprintf(path, sizeof path, "%s/nostep.pt", tmp);
    if (!vkt_embedding_file_write_pt(e, path, &err) && (r = reread(path))) {
        TK_CHECK(!r->has_step, "step None round trip");
        vkt_embedding_file_destroy(r);
    }
    e->has_step = true;
    /* kohya safetensors */
    snprintf(path, sizeof path, "%s/cat.safetensors", tmp);
    TK_CHECK(!vkt_embedding_file_write_safetensors(e, path, &err), "write st: %s", err.msg);
    if ((r = reread(path))) {
        TK_CHECK(r->layout == VKT_EMB_LAYOUT_KOHYA && r->n_vectors == 3 &&
                     memcmp(r->vectors, e->vectors, 3 * W * sizeof(float)) == 0 && !r->has_step,
                 "safetensors round trip");
        vkt_embedding_file_destroy(r);
    }
    /* JSON form: round trip and the exact text python's json.dumps writes */
    char *json = NULL;
    size_t jn = 0;
    TK_CHECK(!vkt_embedding_file_to_json(e, &json, &jn, &err), "to_json: %s", err.msg);
    if (json) {
        TK_CHECK(strlen(json) == jn, "json length");
        if (!vkt_embedding_file_from_json(json, jn, "x/y.png", &r, &err)) {
            TK_CHECK(same_emb(e, r) && streq(r->name, "cat-500") &&
                         r->container == VKT_EMB_FILE_IMAGE_TEXT,
                     "json round trip (floats exact)");
            vkt_embedding_file_destroy(r);
        } else {
            TK_CHECK(0, "from_json: %s", err.msg);
        }
        /* b64 round trip */
        char *b64 = NULL;
        uint8_t *back = NULL;
        size_t bn = 0, backn = 0;
        TK_CHECK(!vkt_embedding_image_b64_encode(json, jn, &b64, &bn, &err) &&
                     !vkt_embedding_image_b64_decode(b64, bn, &back, &backn, &err) && backn == jn &&
                     memcmp(back, json, jn) == 0,
                 "base64 round trip");
        free(b64);
        free(back);
    }
    free(json);
    vkt_embedding *g = make("golden", 2, 4, 0);
    if (g) {
        float gv[8] = {0.1f, -2.5f, 1e-05f, 3.0f, 1e20f, -0.0f, 123456789.0f, 0.0f};
        memcpy(g->vectors, gv, sizeof gv);
        vkt_embedding_file_set_str(&g->name, "caf\xc3\xa9 \xf0\x9f\x98\x80\"\\\n", &err);
        const char *want =
            "{\"string_to_token\": {\"*\": 265}, \"string_to_param\": {\"*\": {\"TORCHTENSOR\": "
            "[[0.10000000149011612, -2.5, 9.999999747378752e-06, 3.0], [1.0000000200408773e+20, "
            "-0.0, 123456792.0, 0.0]]}}, \"name\": \"caf\\u00e9 \\ud83d\\ude00\\\"\\\\\\n\", "
            "\"step\": 0, \"sd_checkpoint\": null, \"sd_checkpoint_name\": null}";
        if (!vkt_embedding_file_to_json(g, &json, &jn, &err)) {
            TK_CHECK(streq(json, want), "json text as python json.dumps:\n got %s\nwant %s", json,
                     want);
            free(json);
        }
        vkt_embedding_file_destroy(g);
    }
    /* pixel blocks: our encoder, read back as a PNG without the text chunk */
    uint8_t preview[10 * 7 * 3];
    for (size_t i = 0; i < sizeof preview; i++)
        preview[i] = (uint8_t)(i * 7);
    memset(preview, 0, 7 * 3); /* a black row and black pixels in the preview are fine */
    if (!vkt_embedding_file_to_json(e, &json, &jn, &err)) {
        uint8_t *img = NULL, *png = NULL;
        int iw = 0;
        size_t png_n = 0;
        TK_CHECK(!vkt_embedding_image_pixels_encode(json, jn, preview, 7, 10, &img, &iw, &err),
                 "pixels encode: %s", err.msg);
        if (img && !vkt_image_png_encode(img, iw, 10, 3, NULL, 0, &png, &png_n, &err)) {
            if (!vkt_embedding_file_read_memory(png, png_n, "dir/pix.png", &r, &err) && r) {
                TK_CHECK(same_emb(e, r) && r->container == VKT_EMB_FILE_IMAGE_PIXELS &&
                             streq(r->name, "cat-500"),
                         "pixel blocks round trip");
                vkt_embedding_file_destroy(r);
            } else {
                TK_CHECK(0, "pixels read: %s", err.msg);
            }
            /* the webui's block layout: lower block, black column, preview, black column */
            int bw = (iw - 7 - 2) / 2;
            bool sep = true;
            for (int y = 0; y < 10; y++)
                for (int c = 0; c < 3; c++)
                    sep = sep && img[(y * iw + bw) * 3 + c] == 0 &&
                          img[(y * iw + bw + 8) * 3 + c] == 0 &&
                          img[(y * iw + bw + 1 + 3) * 3 + c] == preview[(y * 7 + 3) * 3 + c];
            TK_CHECK(sep && (iw - 9) % 2 == 0, "layout: separators and preview at column %d",
                     bw + 1);
        }
        free(png);
        free(img);
        free(json);
    }
    /* the webui's image_embeddings PNG: both forms; the text chunk wins on read */
    snprintf(path, sizeof path, "%s/both.png", tmp);
    TK_CHECK(!vkt_embedding_image_write_png(path, e, preview, 7, 10, &err), "write png: %s",
             err.msg);
    if ((r = reread(path))) {
        TK_CHECK(same_emb(e, r) && r->container == VKT_EMB_FILE_IMAGE_TEXT, "png with both forms");
        vkt_embedding_file_destroy(r);
    }
    /* SDXL: safetensors only */
    vkt_embedding *x = reread(fixture("sdxl.safetensors"));
    if (x) {
        snprintf(path, sizeof path, "%s/x.pt", tmp);
        TK_CHECK(vkt_embedding_file_write_pt(x, path, &err) == VKT_ERR_UNSUPPORTED,
                 "SDXL .pt refused");
        snprintf(path, sizeof path, "%s/x.safetensors", tmp);
        TK_CHECK(!vkt_embedding_file_write_safetensors(x, path, &err), "SDXL st: %s", err.msg);
        if ((r = reread(path))) {
            TK_CHECK(r->layout == VKT_EMB_LAYOUT_SDXL && r->width_g == 32 && r->width == 16 &&
                         vec_is(r->vectors_g, 64, 9, 0) && vec_is(r->vectors, 32, 10, 0),
                     "SDXL round trip");
            vkt_embedding_file_destroy(r);
        }
        vkt_embedding_file_destroy(x);
    }
    /* a fixture re-saved by vktrain loads back identical */
    if ((x = reread(fixture("webui.pt")))) {
        snprintf(path, sizeof path, "%s/resaved.pt", tmp);
        if (!vkt_embedding_file_write_pt(x, path, &err) && (r = reread(path))) {
            TK_CHECK(same_emb(x, r) && streq(r->stored_name, "webui-name") && r->requires_grad,
                     "torch file re-saved");
            vkt_embedding_file_destroy(r);
        }
        vkt_embedding_file_destroy(x);
    }
    TK_CHECK(vkt_embedding_file_new("", 1, W, &x, &err) == VKT_ERR_USAGE, "empty name refused");
    TK_CHECK(vkt_embedding_file_new("a", 0, W, &x, &err) == VKT_ERR_USAGE, "0 vectors refused");
    vkt_embedding_file_destroy(e);
}

/* ------------------------------------------------------------------------------------------- */

static void test_optim(const char *tmp)
{
    vkt_err err = {0};
    vkt_embedding_optim *o = NULL;
    vkt_embedding *e = reread(fixture("resume.pt")), *other = reread(fixture("webui.pt"));
    char why[200];
    TK_CHECK(!vkt_embedding_optim_read(fixture("resume.pt.optim"), &o, &err), "read optim: %s",
             err.msg);
    if (o && e && other) {
        TK_CHECK(streq(o->hash, "1304") && o->step == 2 && o->n_vectors == 3 && o->width == W,
                 "hash, step, shape");
        TK_CHECK(o->lr == 0.005 && o->beta1 == 0.9 && o->beta2 == 0.999 && o->eps == 1e-8 &&
                     o->weight_decay == 0.0 && !o->amsgrad && !o->maximize,
                 "hyper-parameters");
        /* two AdamW updates with gradients g1 = vecs(14), g2 = vecs(15): m = 0.09 g1 + 0.1 g2,
         * v = 0.000999 g1^2 + 0.001 g2^2; torch computes in float32: relative 1e-6 covers the
         * few roundings of the update */
        double worst_m = 0, worst_v = 0;
        for (size_t k = 0; k < 3 * W; k++) {
            double g1 = fval(k, 14), g2 = fval(k, 15);
            double m = 0.9 * 0.1 * g1 + 0.1 * g2, v = 0.999 * 0.001 * g1 * g1 + 0.001 * g2 * g2;
            double dm = fabs(o->exp_avg[k] - m) / (fabs(m) + 1e-3);
            double dv = fabs(o->exp_avg_sq[k] - v) / (fabs(v) + 1e-6);
            if (dm > worst_m) worst_m = dm;
            if (dv > worst_v) worst_v = dv;
        }
        TK_CHECK(worst_m < 1e-6 && worst_v < 1e-6, "moments match (rel %.2g, %.2g)", worst_m,
                 worst_v);
        TK_CHECK(vkt_embedding_optim_usable(o, e, why, sizeof why) && streq(why, "ok"),
                 "usable with its embedding: %s", why);
        TK_CHECK(!vkt_embedding_optim_usable(o, other, why, sizeof why) &&
                     strstr(why, "hash 1304 is not the checksum a1b4"),
                 "hash mismatch: %s", why);
        /* write and read back */
        char path[2200];
        snprintf(path, sizeof path, "%s/resume.pt.optim", tmp);
        TK_CHECK(!vkt_embedding_optim_write(o, e, path, &err), "write optim: %s", err.msg);
        vkt_embedding_optim *b = NULL;
        if (!vkt_embedding_optim_read(path, &b, &err)) {
            TK_CHECK(streq(b->hash, "1304") && b->step == 2 && b->lr == 0.005 &&
                         memcmp(b->exp_avg, o->exp_avg, 3 * W * 4) == 0 &&
                         memcmp(b->exp_avg_sq, o->exp_avg_sq, 3 * W * 4) == 0 &&
                         vkt_embedding_optim_usable(b, e, NULL, 0),
                     "optim round trip");
            vkt_embedding_optim_destroy(b);
        } else {
            TK_CHECK(0, "reread optim: %s", err.msg);
        }
        TK_CHECK(vkt_embedding_optim_write(o, other, path, &err) == VKT_OK,
                 "shape-compatible write with another embedding's hash");
        /* fresh state: empty 'state', as torch before the first step */
        vkt_embedding_optim *f = NULL;
        if (!vkt_embedding_optim_new(3, W, 0.01, &f, &err)) {
            TK_CHECK(!vkt_embedding_optim_write(f, other, path, &err), "write fresh: %s", err.msg);
            vkt_embedding_optim_destroy(f);
            f = NULL;
            if (!vkt_embedding_optim_read(path, &f, &err)) {
                TK_CHECK(f->step == 0 && !f->exp_avg && f->lr == 0.01 && streq(f->hash, "a1b4") &&
                             vkt_embedding_optim_usable(f, other, NULL, 0),
                         "fresh state round trip");
                vkt_embedding_optim_destroy(f);
            }
        }
        vkt_embedding *small = make("s", 2, W, 1);
        if (small) {
            vkt_embedding_file_set_str(&small->name, "s", &err);
            TK_CHECK(vkt_embedding_optim_write(o, small, path, &err) == VKT_ERR_USAGE,
                     "shape mismatch refused on write");
            vkt_embedding_file_destroy(small);
        }
    }
    vkt_embedding_optim *bad = NULL;
    TK_CHECK(vkt_embedding_optim_read(fixture("webui.pt"), &bad, &err) == VKT_ERR_FORMAT &&
                 strstr(err.msg, "'hash' is missing"),
             "an embedding is not an optimizer state: %s", err.msg);
    TK_CHECK(vkt_embedding_optim_read(tk_src("tests/data/torch/evil_eval.pt"), &bad, &err) ==
                 VKT_ERR_FORMAT,
             "hostile optim refused");
    vkt_embedding_optim_destroy(o);
    vkt_embedding_file_destroy(e);
    vkt_embedding_file_destroy(other);
}

/* ------------------------------------------------------------------------------------------- */

/* Reads every prefix and every single-byte corruption of a file: each either loads or fails
 * with a message, never crashes (ASan run in CI). */
static void test_hostile(void)
{
    const char *files[] = {"webui.pt",    "kohya.safetensors", "text.png",        "pixels.png",
                           "pixels.webp", "resume.pt.optim",   "sdxl.safetensors"};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        uint8_t *data = NULL;
        size_t n = 0;
        vkt_err err = {0};
        if (vkt_read_file(fixture(files[f]), 1 << 20, &data, &n, &err)) {
            TK_CHECK(0, "%s: %s", files[f], err.msg);
            continue;
        }
        bool optim = strstr(files[f], ".optim") != NULL;
        const char *name = optim ? "x.pt" : files[f];
        int loaded = 0, failed_msg = 0, total = 0;
        uint8_t *copy = malloc(n);
        for (size_t cut = 0; cut < n; cut += (n > 3000 ? 3 : 1)) {
            memcpy(copy, data, cut);
            vkt_embedding *e = NULL;
            vkt_err e2 = {0};
            vkt_status st = vkt_embedding_file_read_memory(copy, cut, name, &e, &e2);
            total++;
            if (st == VKT_OK) loaded++;
            if (st != VKT_OK && e2.msg[0]) failed_msg++;
            vkt_embedding_file_destroy(e);
        }
        TK_CHECK(failed_msg + loaded == total, "%s: every truncation loads or says why", files[f]);
        int corrupt_ok = 0, corrupt_total = 0;
        for (size_t i = 0; i < n; i += (n > 3000 ? 5 : 1)) {
            memcpy(copy, data, n);
            copy[i] ^= 0xA5;
            vkt_embedding *e = NULL;
            vkt_err e2 = {0};
            vkt_status st;
            if (optim) {
                vkt_embedding_optim *o = NULL;
                st = vkt_embedding_optim_read_memory(copy, n, "x.pt.optim", &o, &e2);
                vkt_embedding_optim_destroy(o);
            } else {
                st = vkt_embedding_file_read_memory(copy, n, name, &e, &e2);
            }
            corrupt_total++;
            if (st == VKT_OK || e2.msg[0]) corrupt_ok++;
            vkt_embedding_file_destroy(e);
        }
        TK_CHECK(corrupt_ok == corrupt_total, "%s: every corrupted byte loads or says why",
                 files[f]);
        free(copy);
        free(data);
    }
    /* a safetensors header claiming a huge tensor */
    const char *hdr = "{\"emb_params\":{\"dtype\":\"F32\",\"shape\":[100000,100000],"
                      "\"data_offsets\":[0,8]}}";
    uint8_t buf[256] = {0};
    size_t hn = strlen(hdr);
    buf[0] = (uint8_t)hn;
    memcpy(buf + 8, hdr, hn);
    vkt_embedding *e = NULL;
    vkt_err err = {0};
    TK_CHECK(vkt_embedding_file_read_memory(buf, 8 + hn + 8, "h.safetensors", &e, &err) ==
                     VKT_ERR_FORMAT &&
                 !e,
             "huge safetensors shape refused: %s", err.msg);
    /* JSON forms: wrong types, ragged tensors, deep nesting */
    const char *js[][2] = {
        {"[1, 2]", "holds a list"},
        {"{\"string_to_param\": {\"*\": {\"TORCHTENSOR\": [[1, 2], [3]]}}}", "not a tensor"},
        {"{\"string_to_param\": {\"*\": {\"TORCHTENSOR\": [[1, \"a\"]]}}}", "not a tensor"},
        {"{\"string_to_param\": {\"*\": {\"TORCHTENSOR\": 5}}}", "has shape [], expected [N, W]"},
        {"{\"string_to_param\": {\"*\": {\"TORCHTENSOR\": []}}}", "has shape [0]"},
        {"{\"string_to_param\": {\"*\": {\"TORCHTENSOR\": [[]]}}}", "has shape [1,0]"},
        {"{\"string_to_param\": 3}", "string_to_param is a int, expected a dict"},
        {"{\"string_to_param\": {}}", "has 0 entries"},
        {"{\"a\": {\"TORCHTENSOR\": [1.5, 2]}, \"b\": 1}", "multiple terms"},
        {"{\"string_to_param\": {\"*\": {\"TORCHTENSOR\": [[1, 2]]}}", "malformed"},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
         "malformed"},
    };
    for (size_t i = 0; i < sizeof js / sizeof *js; i++) {
        e = NULL;
        vkt_status st = vkt_embedding_file_from_json(js[i][0], strlen(js[i][0]), "j.png", &e, &err);
        TK_CHECK(st == VKT_ERR_FORMAT && !e && strstr(err.msg, js[i][1]),
                 "json %zu: want \"%s\", got %s", i, js[i][1], err.msg);
        vkt_embedding_file_destroy(e);
    }
    const char *ok = "{\"a\": {\"TORCHTENSOR\": [1.5, 2]}}";
    if (!vkt_embedding_file_from_json(ok, strlen(ok), "d/j.png", &e, &err)) {
        TK_CHECK(e->n_vectors == 1 && e->width == 2 && e->vectors[0] == 1.5f &&
                     streq(e->name, "j") && e->layout == VKT_EMB_LAYOUT_DIFFUSERS,
                 "diffusers JSON, name from the file");
        vkt_embedding_file_destroy(e);
    }
    /* pixel decoding of images that are not embeddings */
    uint8_t px[4 * 6 * 3];
    char *json = NULL;
    size_t jn = 0;
    memset(px, 0, sizeof px);
    /* webui: every column is "black", both blocks are empty and zlib.decompress(b'') raises */
    TK_CHECK(vkt_embedding_image_pixels_decode(px, 6, 4, 3, "black", &json, &jn, &err) ==
                     VKT_ERR_FORMAT &&
                 strstr(err.msg, "0 and 0 columns"),
             "all-black image: %s", err.msg);
    memset(px, 0x33, sizeof px);
    TK_CHECK(!vkt_embedding_image_pixels_decode(px, 6, 4, 3, "grey", &json, &jn, &err) && !json,
             "no black columns: not an embedding");
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(0x31 + i % 7);
    for (int y = 0; y < 4; y++)
        for (int c = 0; c < 3; c++)
            px[(y * 6 + 2) * 3 + c] = px[(y * 6 + 3) * 3 + c] = 0x40;
    TK_CHECK(vkt_embedding_image_pixels_decode(px, 6, 4, 3, "junk", &json, &jn, &err) ==
                     VKT_ERR_FORMAT &&
                 strstr(err.msg, "does not inflate"),
             "junk blocks: %s", err.msg);
    /* blocks of different widths */
    for (int y = 0; y < 4; y++)
        for (int c = 0; c < 3; c++)
            px[(y * 6 + 1) * 3 + c] = 0x20;
    TK_CHECK(vkt_embedding_image_pixels_decode(px, 6, 4, 3, "uneven", &json, &jn, &err) ==
                     VKT_ERR_FORMAT &&
                 strstr(err.msg, "1 and 2 columns"),
             "uneven blocks: %s", err.msg);
    uint8_t *raw = NULL;
    size_t rn = 0;
    TK_CHECK(vkt_embedding_image_b64_decode("YQ", 2, &raw, &rn, &err) == VKT_ERR_FORMAT &&
                 strstr(err.msg, "padding"),
             "b64 without padding: %s", err.msg);
    TK_CHECK(!vkt_embedding_image_b64_decode("Y Q\n==garbage", 13, &raw, &rn, &err) && rn == 1 &&
                 raw[0] == 'a',
             "b64 skips junk and stops after the padding");
    free(raw);
}

/* ------------------------------------------------------------------------------------------- */

static void copy_file(const char *from, const char *to)
{
    uint8_t *d = NULL;
    size_t n = 0;
    vkt_err err = {0};
    if (vkt_read_file(from, 1 << 20, &d, &n, &err) || vkt_write_file(to, d, n, &err))
        TK_CHECK(0, "copy %s: %s", from, err.msg);
    free(d);
}

static const vkt_embedding_note *find_note(const vkt_embedding_db *db, vkt_embedding_note_kind k,
                                           const char *path_end, const char *msg)
{
    for (size_t i = 0; i < db->n_notes; i++) {
        const vkt_embedding_note *n = &db->notes[i];
        size_t pl = strlen(n->path), el = strlen(path_end);
        if (n->kind == k && pl >= el && strcmp(n->path + pl - el, path_end) == 0 &&
            strstr(n->msg, msg))
            return n;
    }
    return NULL;
}

static void test_db(void)
{
    const char *dir = tk_tmpdir("embedding_db");
    char p[2300], q[2300];
    const char *copies[][2] = {
        {"webui.pt", "webui.pt"},
        {"kohya.safetensors", "kohya.safetensors"},
        {"text.png", "text.png"},
        {"pixels.png", "pixels.png"},
        {"pixels.preview.png", "pixels.preview.png"},
        {"plain.png", "plain.png"},
        {"sdxl.safetensors", "sdxl.safetensors"},
        {"notemb.pt", "notemb.pt"},
        {"kohya.pt", "sub/webui.pt"},
        {"diffusers.bin", "sub/deeper/<cat-toy>.bin"},
        {"huge_expand.pt", "sub/huge.PT"},
    };
    snprintf(p, sizeof p, "%s/sub/deeper", dir);
    vkt_err err = {0};
    vkt_mkdirs(p, &err);
    for (size_t i = 0; i < sizeof copies / sizeof *copies; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, copies[i][1]);
        copy_file(fixture(copies[i][0]), p);
    }
    snprintf(p, sizeof p, "%s/evil.pt", dir);
    copy_file(tk_src("tests/data/torch/evil_popen.pt"), p);
    snprintf(p, sizeof p, "%s/empty.pt", dir);
    vkt_write_file(p, "", 0, &err);
    snprintf(p, sizeof p, "%s/readme.txt", dir);
    vkt_write_file(p, "x", 1, &err);
    snprintf(p, sizeof p, "%s/sub/loop", dir);
    TK_CHECK(symlink("..", p) == 0, "symlink loop");
    snprintf(p, sizeof p, "%s/dangling.pt", dir);
    TK_CHECK(symlink("nowhere.pt", p) == 0, "dangling symlink");
    /* files written by vktrain: NaN values, too many vectors for a prompt, a blank trigger word */
    vkt_embedding *e = make("nan", 1, W, 0);
    if (e) {
        e->vectors[5] = NAN;
        snprintf(p, sizeof p, "%s/nan.pt", dir);
        vkt_embedding_file_write_pt(e, p, &err);
        vkt_embedding_file_destroy(e);
    }
    if ((e = make("long", 76, W, 0))) {
        snprintf(p, sizeof p, "%s/long.pt", dir);
        vkt_embedding_file_write_pt(e, p, &err);
        vkt_embedding_file_destroy(e);
    }
    if ((e = make("blank", 1, W, 0))) {
        snprintf(p, sizeof p, "%s/ .pt", dir);
        vkt_embedding_file_write_pt(e, p, &err);
        vkt_embedding_file_destroy(e);
    }

    vkt_embedding_db *db = NULL;
    if (vkt_embedding_db_create(&db, &err)) return;
    TK_CHECK(!vkt_embedding_db_load_dir(db, dir, W, &err), "load dir: %s", err.msg);
    for (size_t i = 0; i < db->n_notes; i++)
        printf("  note %s: %s: %s\n", vkt_embedding_db_note_kind_name(db->notes[i].kind),
               db->notes[i].path, db->notes[i].msg);
    /* order: folder's files by name, then sub/ (its webui.pt replaces the first one, moving it to
     * the end), then sub/deeper */
    const char *want[] = {" ", "kohya", "long", "pixels-name", "text-name", "webui", "<cat-toy>"};
    size_t nw = sizeof want / sizeof *want;
    bool order = db->n == nw;
    for (size_t i = 0; order && i < nw; i++)
        order = streq(db->embs[i]->name, want[i]);
    TK_CHECK(order, "loaded in the webui's registration order (%zu embeddings)", db->n);
    const vkt_embedding *w = vkt_embedding_db_find(db, "webui");
    TK_CHECK(w && w->layout == VKT_EMB_LAYOUT_KOHYA, "sub/webui.pt replaced webui.pt");
    TK_CHECK(find_note(db, VKT_EMB_NOTE_REPLACED, "/webui.pt", "replaced by"), "replacement noted");
    TK_CHECK(
        find_note(db, VKT_EMB_NOTE_SKIPPED, "/sdxl.safetensors", "width 48, the model's is 128"),
        "wrong width skipped");
    TK_CHECK(find_note(db, VKT_EMB_NOTE_SKIPPED, "/nan.pt", "NaN"), "NaN skipped");
    TK_CHECK(find_note(db, VKT_EMB_NOTE_ERROR, "/notemb.pt", "not a textual-inversion"),
             "not an embedding: error");
    TK_CHECK(find_note(db, VKT_EMB_NOTE_ERROR, "/evil.pt", "is not allowed"), "hostile: error");
    TK_CHECK(find_note(db, VKT_EMB_NOTE_ERROR, "/huge.PT", "at most"), "huge: error");
    TK_CHECK(find_note(db, VKT_EMB_NOTE_ERROR, "/dangling.pt", "No such file"), "dangling link");
    TK_CHECK(find_note(db, VKT_EMB_NOTE_ERROR, "/loop", "link back"), "link cycle not followed");
    TK_CHECK(db->n_notes == 8, "8 notes, got %zu", db->n_notes);

    /* registration with the prompt parser */
    vkt_tokenizer *tok = NULL;
    vkt_prompt_embs *pe = NULL;
    if (!vkt_tokenizer_create(NULL, &tok, &err) && !vkt_prompt_embs_create(&pe, &err)) {
        TK_CHECK(!vkt_embedding_names_register(db, tok, pe, &err), "register: %s", err.msg);
        TK_CHECK(db->n == 5 && vkt_prompt_embs_count(pe) == 5, "5 registered, got %zu", db->n);
        TK_CHECK(find_note(db, VKT_EMB_NOTE_SKIPPED, "/long.pt", "76 vectors"),
                 "76 vectors dropped");
        TK_CHECK(find_note(db, VKT_EMB_NOTE_SKIPPED, "/ .pt", "not usable in prompts"),
                 "blank trigger word dropped");
        vkt_prompt_result r = {0};
        const char *prompt = "a photo of webui and text-name, <cat-toy>";
        if (!vkt_prompt_tokenize(tok, pe, prompt, strlen(prompt), NULL, &r, &err)) {
            const vkt_prompt_chunk *c = &r.chunks[0];
            TK_CHECK(c->n_fixes == 3, "3 placements, got %zu", c->n_fixes);
            if (c->n_fixes == 3) {
                const vkt_embedding *e0 = c->fixes[0].user, *e1 = c->fixes[1].user,
                                    *e2 = c->fixes[2].user;
                TK_CHECK(e0 && streq(e0->name, "webui") && c->fixes[0].position == 4 &&
                             c->fixes[0].vectors == 2,
                         "webui placement");
                TK_CHECK(e1 && streq(e1->name, "text-name") && c->fixes[1].vectors == 2 &&
                             c->fixes[1].position == 7,
                         "text-name placement at %d", c->fixes[1].position);
                TK_CHECK(e2 && streq(e2->name, "<cat-toy>") && c->fixes[2].vectors == 1,
                         "<cat-toy> placement");
            }
            vkt_prompt_result_fini(&r);
        } else {
            TK_CHECK(0, "tokenize: %s", err.msg);
        }
    }
    vkt_prompt_embs_destroy(pe);
    vkt_tokenizer_destroy(tok);
    vkt_embedding_db_destroy(db);

    /* any width; a folder that is not there */
    if (!vkt_embedding_db_create(&db, &err)) {
        TK_CHECK(!vkt_embedding_db_load_dir(db, dir, 0, &err) && vkt_embedding_db_find(db, "sdxl"),
                 "width 0 accepts SDXL");
        vkt_embedding_db_destroy(db);
    }
    if (!vkt_embedding_db_create(&db, &err)) {
        snprintf(q, sizeof q, "%s/nope", dir);
        TK_CHECK(vkt_embedding_db_load_dir(db, q, W, &err) == VKT_ERR_IO, "missing folder: %s",
                 err.msg);
        TK_CHECK(vkt_embedding_db_load_dir(db, fixture("webui.pt"), W, &err) == VKT_ERR_IO &&
                     strstr(err.msg, "not a folder"),
                 "a file is not a folder");
        vkt_embedding_db_destroy(db);
    }
}

/* ------------------------------------------------------------------------------------------- */

/* Files for check_embedding_files.py, with the values it expects (formula seeds in the names). */
static int write_for_python(const char *dir)
{
    vkt_err err = {0};
    char p[2200];
    if (vkt_mkdirs(dir, &err)) goto fail;
    vkt_embedding *e = make("fresh", 4, W, 31);
    if (!e) return 1;
    e->has_step = true;
    e->step = 0;
    snprintf(p, sizeof p, "%s/fresh.pt", dir);
    if (vkt_embedding_file_write_pt(e, p, &err)) goto fail;
    e->step = 42;
    e->requires_grad = true;
    vkt_embedding_file_set_str(&e->sd_checkpoint, "0123456789", &err);
    vkt_embedding_file_set_str(&e->sd_checkpoint_name, "tiny", &err);
    vkt_embedding_file_set_str(&e->name, "trained", &err);
    snprintf(p, sizeof p, "%s/trained.pt", dir);
    if (vkt_embedding_file_write_pt(e, p, &err)) goto fail;
    snprintf(p, sizeof p, "%s/trained.safetensors", dir);
    if (vkt_embedding_file_write_safetensors(e, p, &err)) goto fail;
    uint8_t preview[12 * 9 * 3];
    for (size_t i = 0; i < sizeof preview; i++)
        preview[i] = (uint8_t)(i * 5 + 1);
    snprintf(p, sizeof p, "%s/trained.png", dir);
    if (vkt_embedding_image_write_png(p, e, preview, 9, 12, &err)) goto fail;
    /* pixel blocks only (what survives a WebP re-encode) */
    char *json = NULL;
    size_t jn = 0;
    uint8_t *img = NULL;
    int iw = 0;
    if (vkt_embedding_file_to_json(e, &json, &jn, &err) ||
        vkt_embedding_image_pixels_encode(json, jn, preview, 9, 12, &img, &iw, &err))
        goto fail;
    snprintf(p, sizeof p, "%s/pixels_only.png", dir);
    if (vkt_image_write_png(p, img, iw, 12, 3, NULL, 0, &err)) goto fail;
    free(img);
    free(json);
    /* an optimizer state with known moments and step 3 */
    vkt_embedding_optim *o = NULL;
    if (vkt_embedding_optim_new(4, W, 0.005, &o, &err)) goto fail;
    for (size_t k = 0; k < 4 * W; k++) {
        o->exp_avg[k] = fval(k, 32) * 0.01f;
        o->exp_avg_sq[k] = fval(k, 33) * fval(k, 33) * 1e-4f;
    }
    o->step = 3;
    snprintf(p, sizeof p, "%s/trained.pt.optim", dir);
    if (vkt_embedding_optim_write(o, e, p, &err)) goto fail;
    vkt_embedding_optim_destroy(o);
    vkt_embedding_file_destroy(e);
    return 0;
fail:
    fprintf(stderr, "test_embedding --write: %s\n", err.msg);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0) return write_for_python(argv[2]);
    const char *tmp = tk_tmpdir("embedding_files");
    test_fixtures();
    test_checksum();
    test_round_trips(tmp);
    test_optim(tmp);
    test_hostile();
    test_db();
    return tk_finish("embedding");
}
