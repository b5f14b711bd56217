/* Pillow-exact bicubic resampling (libImaging/Resample.c, 8-bit path) and the webui training
 * resize rule. Host code only; every comment on the math is in resize.h. */
#include "train/resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"

#define PRECISION_BITS (32 - 8 - 2)

/* Pillow's bicubic_filter (a = -0.5), written in its exact evaluation order. */
static double bicubic(double x)
{
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

typedef struct coeffs {
    int ksize;
    int *bounds; /* [out][2]: first tap, number of taps */
    int32_t *k;  /* [out][ksize] fixed-point weights */
} coeffs;

/* precompute_coeffs() + normalize_coeffs_8bpc() for box [0, in). */
static bool make_coeffs(int in, int out, coeffs *c)
{
    double scale = (double)((float)in - 0.0f) / out, filterscale = scale;
    if (filterscale < 1.0) filterscale = 1.0;
    double support = 2.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    c->ksize = ksize;
    c->bounds = vkt_malloc((size_t)out * 2 * sizeof *c->bounds);
    c->k = vkt_malloc((size_t)out * (size_t)ksize * sizeof *c->k);
    double *w = vkt_malloc((size_t)ksize * sizeof *w);
    if (!c->bounds || !c->k || !w) {
        free(w);
        return false;
    }
    for (int xx = 0; xx < out; xx++) {
        double center = 0.0 + (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in) xmax = in;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double v = bicubic((x + xmin - center + 0.5) * ss);
            w[x] = v;
            ww += v;
        }
        int32_t *k = c->k + (size_t)xx * ksize;
        for (int x = 0; x < ksize; x++) {
            double v = x < xmax ? (ww != 0.0 ? w[x] / ww : w[x]) : 0.0;
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
                         : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
        }
        c->bounds[xx * 2] = xmin;
        c->bounds[xx * 2 + 1] = xmax;
    }
    free(w);
    return true;
}

static void coeffs_free(coeffs *c)
{
    free(c->bounds);
    free(c->k);
}

static inline uint8_t clip8(int64_t v)
{
    if (v >= ((int64_t)1 << PRECISION_BITS << 8)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

vkt_status vkt_resize_bicubic(const uint8_t *src, int sw, int sh, int C, uint8_t *dst, int dw,
                              int dh, vkt_err *err)
{
    if (C < 1 || C > 4 || sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0 || sw > 65536 || sh > 65536 ||
        dw > 65536 || dh > 65536)
        return vkt_fail(err, VKT_ERR_USAGE, "resize: bad sizes %dx%dx%d -> %dx%d", sw, sh, C, dw,
                        dh);
    vkt_status st = VKT_OK;
    coeffs ch = {0}, cv = {0};
    uint8_t *tmp = NULL;
    bool need_h = dw != sw, need_v = dh != sh;
    if (!make_coeffs(sw, dw, &ch) || !make_coeffs(sh, dh, &cv)) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "resize: out of memory");
        goto done;
    }
    /* Horizontal pass over the rows [y_first, y_last) the vertical pass reads. */
    const uint8_t *vin = src; /* input of the vertical pass: [rows][dw or sw][C] */
    int vin_w = sw, y_first = 0;
    if (need_h) {
        y_first = cv.bounds[0];
        int y_last = cv.bounds[(dh - 1) * 2] + cv.bounds[(dh - 1) * 2 + 1];
        if (!need_v) y_first = 0, y_last = sh;
        tmp = vkt_malloc((size_t)(y_last - y_first) * (size_t)dw * (size_t)C);
        if (!tmp) {
            st = vkt_fail(err, VKT_ERR_NOMEM, "resize: out of memory");
            goto done;
        }
        for (int y = y_first; y < y_last; y++) {
            const uint8_t *row = src + (size_t)y * sw * C;
            uint8_t *o = tmp + (size_t)(y - y_first) * dw * C;
            for (int xx = 0; xx < dw; xx++) {
                int xmin = ch.bounds[xx * 2], xmax = ch.bounds[xx * 2 + 1];
                const int32_t *k = ch.k + (size_t)xx * ch.ksize;
                for (int c = 0; c < C; c++) {
                    int64_t ss = 1 << (PRECISION_BITS - 1);
                    for (int x = 0; x < xmax; x++)
                        ss += row[(size_t)(x + xmin) * C + c] * (int64_t)k[x];
                    o[(size_t)xx * C + c] = clip8(ss);
                }
            }
        }
        vin = tmp;
        vin_w = dw;
    }
    if (need_v) {
        for (int yy = 0; yy < dh; yy++) {
            int ymin = cv.bounds[yy * 2] - y_first, ymax = cv.bounds[yy * 2 + 1];
            const int32_t *k = cv.k + (size_t)yy * cv.ksize;
            uint8_t *o = dst + (size_t)yy * vin_w * C;
            for (int i = 0; i < vin_w * C; i++) {
                int64_t ss = 1 << (PRECISION_BITS - 1);
                for (int y = 0; y < ymax; y++)
                    ss += vin[(size_t)(y + ymin) * vin_w * C + i] * (int64_t)k[y];
                o[i] = clip8(ss);
            }
        }
    } else {
        memcpy(dst, vin, (size_t)dh * dw * C);
    }
done:
    coeffs_free(&ch);
    coeffs_free(&cv);
    free(tmp);
    return st;
}

void vkt_resize_train_crop(const vkt_resize_rule *r, int w, int h, int *x0, int *y0, int *cw,
                           int *ch)
{
    int m = r->varsize && r->varsize_multiple > 1 ? r->varsize_multiple : 1;
    *cw = w / m * m;
    *ch = h / m * m;
    *x0 = (w - *cw) / 2;
    *y0 = (h - *ch) / 2;
}

bool vkt_resize_train_size(const vkt_resize_rule *r, int w, int h, int *tw, int *th)
{
    if (!r->varsize) {
        *tw = r->width;
        *th = r->height;
        return r->width > 0 && r->height > 0;
    }
    int x0, y0;
    vkt_resize_train_crop(r, w, h, &x0, &y0, tw, th);
    return *tw > 0 && *th > 0;
}

vkt_status vkt_resize_train_rgb(const vkt_resize_rule *r, const uint8_t *rgba, int w, int h,
                                uint8_t **out, int *tw, int *th, vkt_err *err)
{
    int x0, y0, cw, ch, ow, oh;
    vkt_resize_train_crop(r, w, h, &x0, &y0, &cw, &ch);
    if (!vkt_resize_train_size(r, w, h, &ow, &oh))
        return vkt_fail(err, VKT_ERR_USAGE, "image %dx%d is smaller than the size multiple %d", w,
                        h, r->varsize_multiple);
    uint8_t *rgb = vkt_malloc((size_t)cw * ch * 3);
    uint8_t *res = NULL;
    if (!rgb) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory for a %dx%d image", cw, ch);
    for (int y = 0; y < ch; y++)
        for (int x = 0; x < cw; x++)
            memcpy(rgb + ((size_t)y * cw + x) * 3, rgba + ((size_t)(y + y0) * w + x + x0) * 4, 3);
    if (ow == cw && oh == ch) {
        *out = rgb;
    } else {
        res = vkt_malloc((size_t)ow * oh * 3);
        vkt_status st = res ? vkt_resize_bicubic(rgb, cw, ch, 3, res, ow, oh, err)
                            : vkt_fail(err, VKT_ERR_NOMEM, "out of memory for %dx%d", ow, oh);
        free(rgb);
        if (st) {
            free(res);
            return st;
        }
        *out = res;
    }
    *tw = ow;
    *th = oh;
    return VKT_OK;
}
