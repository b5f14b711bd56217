/* Embeddings in images: the `sd-ti-embedding` PNG text chunk and the webui's pixel blocks
 * (webui modules/textual_inversion/image_embedding.py, transcribed in file-formats.md §4.3-4.4).
 * Knows nothing of Vulkan. Inflated sizes are bounded; every index is within the image. */
#include "io/embedding_image.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "base/checked.h"
#include "base/fault.h"
#include "io/image.h"

/* ---------------------------------------------------------------------------------------------
 * Base64. */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

vkt_status vkt_embedding_image_b64_encode(const void *data, size_t n, char **out, size_t *out_n,
                                          vkt_err *err)
{
    const uint8_t *p = data;
    size_t len;
    if (!vkt_add_ok(n, 2, &len) || !vkt_mul_ok(len / 3, 4, &len) || !vkt_add_ok(len, 1, &len))
        return vkt_fail(err, VKT_ERR_NOMEM, "base64: %zu bytes is too large", n);
    char *o = vkt_malloc(len);
    if (!o) return vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        o[k++] = B64[(v >> 18) & 63];
        o[k++] = B64[(v >> 12) & 63];
        o[k++] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        o[k++] = i + 2 < n ? B64[v & 63] : '=';
    }
    o[k] = 0;
    *out = o;
    *out_n = k;
    return VKT_OK;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

vkt_status vkt_embedding_image_b64_decode(const char *s, size_t n, uint8_t **out, size_t *out_n,
                                          vkt_err *err)
{
    /* CPython binascii.a2b_base64, strict_mode=False */
    uint8_t *o = vkt_malloc(n / 4 * 3 + 4);
    if (!o) return vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
    size_t k = 0, data_chars = 0;
    int quad = 0, pads = 0;
    uint32_t acc = 0;
    bool done = false;
    for (size_t i = 0; i < n && !done; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '=') {
            if (quad >= 2 && quad + ++pads >= 4) done = true; /* a complete pad ends the data */
            continue;
        }
        int v = b64_value(c);
        if (v < 0) continue;
        data_chars++;
        acc = (acc << 6) | (uint32_t)v;
        if (++quad == 4) {
            o[k++] = (uint8_t)(acc >> 16);
            o[k++] = (uint8_t)(acc >> 8);
            o[k++] = (uint8_t)acc;
            quad = 0;
            acc = 0;
        }
    }
    if (quad == 2 && done) {
        o[k++] = (uint8_t)(acc >> 4);
        quad = 0;
    } else if (quad == 3 && done) {
        o[k++] = (uint8_t)(acc >> 10);
        o[k++] = (uint8_t)(acc >> 2);
        quad = 0;
    }
    if (quad != 0) {
        free(o);
        if (quad == 1)
            return vkt_fail(err, VKT_ERR_FORMAT,
                            "invalid base64: %zu data characters cannot be 1 more than a multiple "
                            "of 4",
                            data_chars);
        return vkt_fail(err, VKT_ERR_FORMAT, "invalid base64: incorrect padding");
    }
    o[k] = 0;
    *out = o;
    *out_n = k;
    return VKT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Pixel blocks. */

/* webui lcg(): s = (1664525 s + 1013904223) mod 2^32, yields s mod 255; XOR of the low nibble
 * of block[k] with the k-th output, k over the block in row-major (row, column, channel) order. */
static void xor_block(uint8_t *blk, size_t n)
{
    uint32_t s = 0;
    for (size_t k = 0; k < n; k++) {
        s = 1664525u * s + 1013904223u;
        blk[k] ^= (uint8_t)((s % 255u) & 0x0F);
    }
}

/* zlib.decompress: one stream, data after its end ignored, output bounded. */
static vkt_status inflate_bounded(const uint8_t *in, size_t n, const char *label, char **out,
                                  size_t *out_n, vkt_err *err)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) return vkt_fail(err, VKT_ERR_NOMEM, "zlib: inflateInit failed");
    size_t cap = n * 4 + 1024, len = 0;
    if (cap > VKT_EMBEDDING_IMAGE_MAX_JSON + 1) cap = VKT_EMBEDDING_IMAGE_MAX_JSON + 1;
    char *buf = vkt_malloc(cap);
    vkt_status st = VKT_OK;
    if (!buf) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
        goto done;
    }
    z.next_in = (Bytef *)in;
    size_t in_left = n;
    int r = Z_OK;
    while (r != Z_STREAM_END) {
        if (len + 1 >= cap) {
            if (cap > VKT_EMBEDDING_IMAGE_MAX_JSON) {
                st = vkt_fail(err, VKT_ERR_FORMAT,
                              "%s: embedding data inflates to more than %zu bytes", label,
                              (size_t)VKT_EMBEDDING_IMAGE_MAX_JSON);
                goto done;
            }
            size_t nc = cap * 2 > VKT_EMBEDDING_IMAGE_MAX_JSON + 1
                            ? VKT_EMBEDDING_IMAGE_MAX_JSON + 1
                            : cap * 2;
            char *nb = vkt_realloc(buf, nc);
            if (!nb) {
                st = vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
                goto done;
            }
            buf = nb;
            cap = nc;
        }
        uInt chunk_in = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
        z.avail_in = chunk_in;
        z.next_out = (Bytef *)buf + len;
        z.avail_out = (uInt)(cap - 1 - len > (1u << 30) ? (1u << 30) : cap - 1 - len);
        uInt before_out = z.avail_out;
        r = inflate(&z, Z_NO_FLUSH);
        len += before_out - z.avail_out;
        in_left -= chunk_in - z.avail_in;
        if (r == Z_STREAM_END) break;
        if (r != Z_OK && r != Z_BUF_ERROR) {
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: embedding data does not inflate (%s)", label,
                          z.msg ? z.msg : "zlib error");
            goto done;
        }
        if (in_left == 0 && z.avail_out > 0) {
            st = vkt_fail(err, VKT_ERR_FORMAT,
                          "%s: embedding data does not inflate (incomplete or truncated stream)",
                          label);
            goto done;
        }
    }
    buf[len] = 0;
    *out = buf;
    *out_n = len;
    buf = NULL;
done:
    inflateEnd(&z);
    free(buf);
    return st;
}

vkt_status vkt_embedding_image_pixels_decode(const uint8_t *px, int w, int h, int channels,
                                             const char *label, char **json, size_t *json_n,
                                             vkt_err *err)
{
    if (w < 1 || h < 1 || (channels != 3 && channels != 4))
        return vkt_fail(err, VKT_ERR_USAGE, "%s: pixel blocks need an RGB(A) image", label);
    size_t W = (size_t)w, H = (size_t)h, C = (size_t)channels;
#define PX(y, x, c) px[((size_t)(y)*W + (size_t)(x)) * C + (size_t)(c)]
    /* crop_black(): bounding box of the pixels whose three channels are all > 0 (the whole image
     * when there is none: numpy argmax of an all-False mask is 0) */
    size_t x0 = W, x1 = 0, y0 = H, y1 = 0;
    for (size_t y = 0; y < H; y++)
        for (size_t x = 0; x < W; x++)
            if (PX(y, x, 0) && PX(y, x, 1) && PX(y, x, 2)) {
                if (x < x0) x0 = x;
                if (x + 1 > x1) x1 = x + 1;
                if (y < y0) y0 = y;
                if (y + 1 > y1) y1 = y + 1;
            }
    if (x0 >= x1) {
        x0 = 0;
        x1 = W;
        y0 = 0;
        y1 = H;
    }
    /* black columns: low nibbles of the cropped column sum to 0 */
    size_t first = SIZE_MAX, last = 0, n_black = 0;
    for (size_t x = x0; x < x1; x++) {
        bool black = true;
        for (size_t y = y0; y < y1 && black; y++)
            for (size_t c = 0; c < 3; c++)
                if (PX(y, x, c) & 0x0F) {
                    black = false;
                    break;
                }
        if (black) {
            n_black++;
            if (first == SIZE_MAX) first = x;
            last = x;
        }
    }
    if (n_black < 2) {
        *json = NULL; /* webui: "No Image data blocks found." */
        *json_n = 0;
        return VKT_OK;
    }
    size_t lw = first - x0, uw = x1 - (last + 1), rows = y1 - y0;
    if (lw != uw || lw == 0)
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "%s: embedding pixel blocks are %zu and %zu columns wide, expected equal "
                        "non-zero widths",
                        label, lw, uw);
    size_t nb = rows * lw * 3;
    uint8_t *lo = vkt_malloc(nb), *hi = vkt_malloc(nb);
    vkt_status st = VKT_OK;
    if (!lo || !hi) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
        goto done;
    }
    size_t k = 0;
    for (size_t y = y0; y < y1; y++)
        for (size_t x = 0; x < lw; x++)
            for (size_t c = 0; c < 3; c++, k++) {
                lo[k] = PX(y, x0 + x, c) & 0x0F;
                hi[k] = PX(y, last + 1 + x, c) & 0x0F;
            }
#undef PX
    xor_block(lo, nb);
    xor_block(hi, nb);
    for (size_t i = 0; i < nb; i++)
        lo[i] = (uint8_t)((hi[i] << 4) | lo[i]);
    st = inflate_bounded(lo, nb, label, json, json_n, err);
done:
    free(lo);
    free(hi);
    return st;
}

vkt_status vkt_embedding_image_pixels_encode(const char *json, size_t n, const uint8_t *preview,
                                             int w, int h, uint8_t **out, int *out_w, vkt_err *err)
{
    if (w < 1 || h < 1) return vkt_fail(err, VKT_ERR_USAGE, "embedding image: empty preview");
    vkt_status st = VKT_OK;
    uLongf zn = compressBound((uLong)n);
    uint8_t *z = vkt_malloc(zn), *lo = NULL, *hi = NULL, *img = NULL;
    char *back = NULL;
    size_t back_n = 0;
    if (!z) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
        goto done;
    }
    if (compress2(z, &zn, (const Bytef *)json, (uLong)n, 9) != Z_OK) {
        st = vkt_fail(err, VKT_ERR_INTERNAL, "zlib: compress2 failed");
        goto done;
    }
    /* m = n + (h - n mod h); m += 3h - m mod 3h (always adds a period when already aligned) */
    size_t H = (size_t)h, m = (size_t)zn + (H - (size_t)zn % H);
    m = m + (3 * H - m % (3 * H));
    size_t bw = m / (3 * H); /* block width in pixels */
    size_t W = bw + 1 + (size_t)w + 1 + bw, total;
    if (W > (size_t)VKT_IMAGE_MAX_SIDE || !vkt_mul_ok(W * 3, H, &total)) {
        st = vkt_fail(err, VKT_ERR_USAGE, "embedding image: %zu columns needed, too wide", W);
        goto done;
    }
    lo = vkt_malloc(m);
    hi = vkt_malloc(m);
    img = vkt_calloc(total, 1);
    if (!lo || !hi || !img) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
        goto done;
    }
    for (size_t i = 0; i < m; i++) { /* numpy resize: repeat cyclically */
        uint8_t b = z[i % zn];
        lo[i] = (uint8_t)(0x80 | (b & 0x0F));
        hi[i] = (uint8_t)(0x80 | (b >> 4));
    }
    xor_block(lo, m);
    xor_block(hi, m);
    for (size_t y = 0; y < H; y++) {
        uint8_t *row = img + y * W * 3;
        memcpy(row, lo + y * bw * 3, bw * 3);
        memcpy(row + (bw + 1) * 3, preview + y * (size_t)w * 3, (size_t)w * 3);
        memcpy(row + (bw + 1 + (size_t)w + 1) * 3, hi + y * bw * 3, bw * 3);
    }
    /* a data column whose low nibbles all come out 0 would read as a separator */
    if ((st = vkt_embedding_image_pixels_decode(img, (int)W, h, 3, "embedding image", &back,
                                                &back_n, err)))
        goto done;
    if (!back || back_n != n || memcmp(back, json, n) != 0) {
        st =
            vkt_fail(err, VKT_ERR_INTERNAL,
                     "embedding image: the pixel blocks do not decode back (preview height %d)", h);
        goto done;
    }
    *out = img;
    *out_w = (int)W;
    img = NULL;
done:
    free(z);
    free(lo);
    free(hi);
    free(img);
    free(back);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Files. */

vkt_status vkt_embedding_image_extract(const uint8_t *data, size_t n, const char *filename,
                                       char **json, size_t *json_n, vkt_embedding_container *how,
                                       vkt_err *err)
{
    vkt_status st = VKT_OK;
    vkt_png_texts texts = {0};
    vkt_image img = {0};
    uint8_t *raw = NULL;
    size_t raw_n = 0;
    char *j = NULL;
    size_t jn = 0;
    vkt_image_format fmt = vkt_image_sniff(data, n, filename);
    if (fmt == VKT_IMAGE_PNG) {
        /* webui: 'sd-ti-embedding' in Image.open(path).text */
        if ((st = vkt_png_texts_read(data, n, filename, &texts, err))) goto done;
        const char *b64 = vkt_png_texts_get(&texts, "sd-ti-embedding");
        if (b64) {
            if ((st = vkt_embedding_image_b64_decode(b64, strlen(b64), &raw, &raw_n, err))) {
                vkt_err_prefix(err, "%s: sd-ti-embedding", filename);
                goto done;
            }
            if (raw_n > VKT_EMBEDDING_IMAGE_MAX_JSON) {
                st = vkt_fail(err, VKT_ERR_FORMAT,
                              "%s: sd-ti-embedding holds %zu bytes, more than %zu", filename, raw_n,
                              (size_t)VKT_EMBEDDING_IMAGE_MAX_JSON);
                goto done;
            }
            *json = (char *)raw;
            *json_n = raw_n;
            *how = VKT_EMB_FILE_IMAGE_TEXT;
            raw = NULL;
            goto done;
        }
    }
    if ((st = vkt_image_decode(data, n, filename, NULL, &img, err))) goto done;
    if ((st = vkt_embedding_image_pixels_decode(img.rgba, img.w, img.h, 4, filename, &j, &jn, err)))
        goto done;
    *json = j;
    *json_n = jn;
    *how = VKT_EMB_FILE_IMAGE_PIXELS;
done:
    vkt_png_texts_fini(&texts);
    vkt_image_fini(&img);
    free(raw);
    return st;
}

vkt_status vkt_embedding_image_write_png(const char *path, const vkt_embedding *e,
                                         const uint8_t *preview, int w, int h, vkt_err *err)
{
    char *json = NULL, *b64 = NULL;
    size_t jn = 0, bn = 0;
    uint8_t *img = NULL;
    int iw = 0;
    vkt_status st;
    if ((st = vkt_embedding_file_to_json(e, &json, &jn, err)) ||
        (st = vkt_embedding_image_pixels_encode(json, jn, preview, w, h, &img, &iw, err)) ||
        (st = vkt_embedding_image_b64_encode(json, jn, &b64, &bn, err)))
        goto done;
    vkt_png_text t = {"sd-ti-embedding", b64};
    st = vkt_image_write_png(path, img, iw, h, 3, &t, 1, err);
done:
    free(json);
    free(b64);
    free(img);
    return st;
}
