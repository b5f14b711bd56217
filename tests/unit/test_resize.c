/* train/resize: bit-exact against Pillow's Image.resize(BICUBIC) on the cases of
 * tests/reference/make_resize_golden.py (tests/golden/resize_bicubic.safetensors), plus the webui
 * training rule (squash to width x height; varsize keeps the size, optionally centre-cropped). */
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "testkit.h"
#include "train/resize.h"

static void test_golden(void)
{
    vkt_safetensors *st = NULL;
    vkt_err err = {0};
    const char *path = tk_src("tests/golden/resize_bicubic.safetensors");
    TK_CHECK(vkt_safetensors_open(path, &st, &err) == VKT_OK, "%s", err.msg);
    if (!st) return;
    const char *cases = vkt_safetensors_meta(st, "cases");
    int n = cases ? atoi(cases) : 0;
    TK_CHECK(n >= 10, "golden file has %d cases", n);
    int worst = 0;
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "case%d.src", i);
        const vkt_tensor_data *s = vkt_safetensors_find(st, name);
        snprintf(name, sizeof name, "case%d.dst", i);
        const vkt_tensor_data *d = vkt_safetensors_find(st, name);
        if (!s || !d || s->ndim != 3 || d->ndim != 3 || s->dtype != VKT_IO_U8) {
            TK_CHECK(0, "case %d missing or malformed", i);
            continue;
        }
        int sh = (int)s->shape[0], sw = (int)s->shape[1], C = (int)s->shape[2];
        int dh = (int)d->shape[0], dw = (int)d->shape[1];
        uint8_t *out = malloc((size_t)dw * dh * C);
        TK_CHECK(vkt_resize_bicubic(s->data, sw, sh, C, out, dw, dh, &err) == VKT_OK, "%s",
                 err.msg);
        int maxd = 0, nd = 0;
        for (size_t k = 0; k < (size_t)dw * dh * C; k++) {
            int diff = abs((int)out[k] - (int)d->data[k]);
            if (diff) nd++;
            if (diff > maxd) maxd = diff;
        }
        if (maxd > worst) worst = maxd;
        /* Exact: same kernel, same fixed-point weights, same rounding as libImaging. */
        TK_CHECK(maxd == 0, "case %d %dx%dx%d -> %dx%d: %d samples differ, max %d LSB", i, sw, sh,
                 C, dw, dh, nd, maxd);
        free(out);
    }
    printf("resize golden: %d cases, max difference %d LSB\n", n, worst);
    vkt_safetensors_close(st);
}

static void test_args(void)
{
    uint8_t px[4] = {0}, out[4];
    vkt_err err = {0};
    TK_CHECK(vkt_resize_bicubic(px, 0, 1, 1, out, 1, 1, &err) == VKT_ERR_USAGE, "zero width");
    TK_CHECK(vkt_resize_bicubic(px, 1, 1, 5, out, 1, 1, &err) == VKT_ERR_USAGE, "5 channels");
    /* Constant images stay constant at any scale (weights sum to 1 in fixed point +- rounding). */
    uint8_t flat[7 * 5 * 3];
    memset(flat, 200, sizeof flat);
    uint8_t big[23 * 3 * 3];
    TK_CHECK(vkt_resize_bicubic(flat, 7, 5, 3, big, 23, 3, &err) == VKT_OK, "%s", err.msg);
    int ok = 1;
    for (size_t i = 0; i < sizeof big; i++)
        ok &= big[i] == 200;
    TK_CHECK(ok, "constant image stays constant");
}

static void test_rule(void)
{
    vkt_resize_rule r = {.width = 64, .height = 32};
    int tw, th, x0, y0, cw, ch;
    TK_CHECK(vkt_resize_train_size(&r, 100, 77, &tw, &th) && tw == 64 && th == 32, "squash size");
    vkt_resize_train_crop(&r, 100, 77, &x0, &y0, &cw, &ch);
    TK_CHECK(x0 == 0 && y0 == 0 && cw == 100 && ch == 77, "no crop without varsize");
    r.varsize = true;
    TK_CHECK(vkt_resize_train_size(&r, 100, 77, &tw, &th) && tw == 100 && th == 77,
             "varsize keeps");
    r.varsize_multiple = 64;
    vkt_resize_train_crop(&r, 200, 77, &x0, &y0, &cw, &ch);
    TK_CHECK(cw == 192 && ch == 64 && x0 == 4 && y0 == 6, "centre crop to multiples of 64");
    TK_CHECK(!vkt_resize_train_size(&r, 63, 200, &tw, &th), "too small for the multiple");

    /* RGBA -> RGB: alpha dropped, not composited; squash equals resizing the RGB planes. */
    int w = 9, h = 6;
    uint8_t rgba[9 * 6 * 4], rgb[9 * 6 * 3];
    for (int i = 0; i < w * h; i++) {
        for (int k = 0; k < 3; k++)
            rgba[i * 4 + k] = rgb[i * 3 + k] = (uint8_t)(i * 13 + k * 70);
        rgba[i * 4 + 3] = (uint8_t)(i * 5); /* mostly transparent: must not darken anything */
    }
    vkt_resize_rule sq = {.width = 5, .height = 8};
    uint8_t *out = NULL, want[5 * 8 * 3];
    vkt_err err = {0};
    TK_CHECK(vkt_resize_train_rgb(&sq, rgba, w, h, &out, &tw, &th, &err) == VKT_OK, "%s", err.msg);
    vkt_resize_bicubic(rgb, w, h, 3, want, 5, 8, &err);
    TK_CHECK(out && tw == 5 && th == 8 && !memcmp(out, want, sizeof want),
             "squash = resize of RGB");
    free(out);
    vkt_resize_rule vs = {.varsize = true, .varsize_multiple = 4};
    TK_CHECK(vkt_resize_train_rgb(&vs, rgba, w, h, &out, &tw, &th, &err) == VKT_OK, "%s", err.msg);
    /* 9x6 cropped to 8x4 at (0, 1). */
    int same = out && tw == 8 && th == 4;
    for (int y = 0; same && y < 4; y++)
        for (int x = 0; x < 8; x++)
            same &= !memcmp(out + (y * 8 + x) * 3, rgb + ((y + 1) * 9 + x) * 3, 3);
    TK_CHECK(same, "varsize crop copies pixels");
    free(out);
}

int main(void)
{
    test_golden();
    test_args();
    test_rule();
    return tk_finish("resize");
}
