/* Image decoding (stb_image, libwebp), PNG writing with text chunks (zlib), the PNG text-chunk
 * reader and the webui infotext. Knows nothing of Vulkan; every size read from a file is bounded
 * before memory is allocated for it. */
#define _POSIX_C_SOURCE 200809L
#include "io/image.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <stb_image.h>
#include <webp/decode.h>
#include <zlib.h>

#include "base/checked.h"
#include "base/fault.h"
#include "base/file.h"
#include "base/pyfmt.h"
#include "io/json_util.h"

static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static uint32_t rd_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void wr_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

const char *vkt_image_format_name(vkt_image_format f)
{
    switch (f) {
    case VKT_IMAGE_PNG:
        return "PNG";
    case VKT_IMAGE_JPEG:
        return "JPEG";
    case VKT_IMAGE_BMP:
        return "BMP";
    case VKT_IMAGE_TGA:
        return "TGA";
    case VKT_IMAGE_WEBP:
        return "WebP";
    case VKT_IMAGE_OTHER:
        return "unsupported image format";
    case VKT_IMAGE_UNKNOWN:
        break;
    }
    return "unknown format";
}

vkt_image_format vkt_image_sniff(const uint8_t *d, size_t n, const char *name)
{
    if (n >= 8 && !memcmp(d, png_sig, 8)) return VKT_IMAGE_PNG;
    if (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff) return VKT_IMAGE_JPEG;
    if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) return VKT_IMAGE_WEBP;
    if (n >= 2 && d[0] == 'B' && d[1] == 'M') return VKT_IMAGE_BMP;
    /* Formats Pillow opens that vktrain does not decode: say so instead of skipping silently. */
    if ((n >= 6 && (!memcmp(d, "GIF87a", 6) || !memcmp(d, "GIF89a", 6))) ||
        (n >= 4 && (!memcmp(d, "II*\0", 4) || !memcmp(d, "MM\0*", 4))) ||
        (n >= 4 && !memcmp(d, "8BPS", 4)) || (n >= 4 && !memcmp(d, "qoif", 4)) ||
        (n >= 2 && d[0] == 0xff && d[1] == 0x0a) ||
        (n >= 12 && !memcmp(d + 4, "ftyp", 4) &&
         (!memcmp(d + 8, "avif", 4) || !memcmp(d + 8, "heic", 4) || !memcmp(d + 8, "mif1", 4))) ||
        (n >= 12 && !memcmp(d, "\0\0\0\x0cJXL \r\n\x87\n", 12)))
        return VKT_IMAGE_OTHER;
    size_t len = name ? strlen(name) : 0;
    if (len >= 4 && !strcasecmp(name + len - 4, ".tga")) return VKT_IMAGE_TGA;
    return VKT_IMAGE_UNKNOWN;
}

static vkt_status check_limits(const char *name, int w, int h, const vkt_image_limits *lim,
                               vkt_err *err)
{
    int max_side = lim && lim->max_side > 0 ? lim->max_side : VKT_IMAGE_MAX_SIDE;
    uint64_t max_px = lim && lim->max_pixels ? lim->max_pixels : VKT_IMAGE_MAX_PIXELS;
    if (w <= 0 || h <= 0)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: image has no pixels (%dx%d)", name, w, h);
    if (w > max_side || h > max_side)
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "%s: image is %dx%d, larger than the limit of %d pixels per side", name, w,
                        h, max_side);
    if ((uint64_t)w * (uint64_t)h > max_px)
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "%s: image is %dx%d = %llu pixels, more than the limit of %llu", name, w, h,
                        (unsigned long long)w * (unsigned long long)h, (unsigned long long)max_px);
    return VKT_OK;
}

/* PNG dimensions and colour type straight from IHDR (which the standard puts first). */
static vkt_status png_header(const uint8_t *d, size_t n, const char *name, vkt_image_info *info,
                             vkt_err *err)
{
    if (n < 33 || rd_be32(d + 8) != 13 || memcmp(d + 12, "IHDR", 4))
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: PNG without a valid IHDR chunk", name);
    uint32_t w = rd_be32(d + 16), h = rd_be32(d + 20);
    if (w > INT_MAX || h > INT_MAX)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: PNG declares %ux%u pixels", name, w, h);
    uint8_t ct = d[25];
    info->w = (int)w;
    info->h = (int)h;
    info->has_alpha = ct == 4 || ct == 6; /* Pillow modes LA / RGBA; tRNS gives no 'A' band */
    return VKT_OK;
}

/* 32-bit BMP with BI_BITFIELDS (3) or BI_ALPHABITFIELDS (6) and a non-zero alpha mask: the alpha
 * mask is at offset 66 both for V3+ headers and for a 40-byte header followed by four masks. */
static bool bmp_alpha(const uint8_t *d, size_t n)
{
    if (n < 70) return false;
    uint32_t hdr = vkt_rd_le32(d + 14), comp = vkt_rd_le32(d + 30);
    uint16_t bpp = vkt_rd_le16(d + 28);
    if (bpp != 32 || (comp != 3 && comp != 6)) return false;
    if (hdr < 56 && !(hdr == 40 && comp == 6)) return false;
    return vkt_rd_le32(d + 66) != 0;
}

vkt_status vkt_image_probe_memory(const uint8_t *data, size_t n, const char *name,
                                  const vkt_image_limits *lim, vkt_image_info *out, vkt_err *err)
{
    vkt_image_info info = {.format = vkt_image_sniff(data, n, name)};
    vkt_status st = VKT_OK;
    switch (info.format) {
    case VKT_IMAGE_UNKNOWN:
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "%s: not a PNG, JPEG, BMP, TGA or WebP image (unrecognised content)", name);
    case VKT_IMAGE_OTHER:
        return vkt_fail(err, VKT_ERR_UNSUPPORTED,
                        "%s: image format not supported (use PNG, JPEG, BMP, TGA or WebP)", name);
    case VKT_IMAGE_PNG:
        st = png_header(data, n, name, &info, err);
        if (st) return st;
        break;
    case VKT_IMAGE_WEBP: {
        WebPBitstreamFeatures f;
        VP8StatusCode s = WebPGetFeatures(data, n, &f);
        if (s != VP8_STATUS_OK)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: unreadable WebP header (libwebp status %d)",
                            name, (int)s);
        if (f.has_animation)
            return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: animated WebP is not supported", name);
        info.w = f.width;
        info.h = f.height;
        info.has_alpha = f.has_alpha != 0;
        break;
    }
    default: {
        if (n > INT_MAX)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: file too large (%zu bytes)", name, n);
        int w = 0, h = 0, comp = 0;
        if (!stbi_info_from_memory(data, (int)n, &w, &h, &comp))
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: unreadable %s header (%s)", name,
                            vkt_image_format_name(info.format), stbi_failure_reason());
        info.w = w;
        info.h = h;
        if (info.format == VKT_IMAGE_BMP) info.has_alpha = bmp_alpha(data, n);
        if (info.format == VKT_IMAGE_TGA) info.has_alpha = comp == 2 || comp == 4;
        break;
    }
    }
    st = check_limits(name, info.w, info.h, lim, err);
    if (st) return st;
    *out = info;
    return VKT_OK;
}

vkt_status vkt_image_probe(const char *path, const vkt_image_limits *lim, vkt_image_info *out,
                           vkt_err *err)
{
    enum { PREFIX = 64 * 1024 };
    vkt_status st = VKT_OK;
    uint8_t *whole = NULL;
    uint8_t *buf = vkt_malloc(PREFIX);
    if (!buf) return vkt_fail(err, VKT_ERR_NOMEM, "%s: out of memory", path);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        st = vkt_fail(err, VKT_ERR_IO, "%s: %s", path, strerror(errno));
        goto done;
    }
    size_t n = fread(buf, 1, PREFIX, fp);
    bool more = n == PREFIX && fgetc(fp) != EOF;
    fclose(fp);
    st = vkt_image_probe_memory(buf, n, path, lim, out, err);
    /* A JPEG's SOF can sit behind EXIF/ICC segments longer than the prefix. */
    if (st == VKT_ERR_FORMAT && more && vkt_image_sniff(buf, n, path) == VKT_IMAGE_JPEG) {
        size_t wn;
        st = vkt_read_file(path, VKT_IMAGE_MAX_FILE, &whole, &wn, err);
        if (!st) st = vkt_image_probe_memory(whole, wn, path, lim, out, err);
    }
done:
    free(whole);
    free(buf);
    return st;
}

/* True when a JPEG has an EOI marker after its first SOS. stb_image decodes a file cut inside
 * its entropy-coded data as if the rest were zeros; Pillow refuses it ("image file is
 * truncated"), and so do we. Entropy-coded data never holds FF D9 (0xFF is stuffed as FF 00). */
static bool jpeg_complete(const uint8_t *d, size_t n)
{
    size_t p = 2;
    while (p + 4 <= n) {
        if (d[p] != 0xff) return false;
        uint8_t m = d[p + 1];
        if (m == 0xff) {
            p++;
            continue;
        }
        if (m == 0xd8 || m == 0x01 || (m >= 0xd0 && m <= 0xd7)) {
            p += 2;
            continue;
        }
        if (m == 0xd9) return true;
        size_t len = ((size_t)d[p + 2] << 8) | d[p + 3];
        if (len < 2 || !vkt_range_ok(p + 2, len, n)) return false;
        p += 2 + len;
        if (m == 0xda) {
            for (; p + 1 < n; p++)
                if (d[p] == 0xff && d[p + 1] == 0xd9) return true;
            return false;
        }
    }
    return false;
}

/* stb_image reads past the end of a short TGA or BMP as black pixels instead of failing: check
 * that the pixel data is all there. TGA: the uncompressed size, or a walk over the RLE packets;
 * BMP: rows padded to 4 bytes after bfOffBits, for the uncompressed kinds (other kinds: stb's own
 * checks). w, h come from the probe (bounded by the limits). */
static bool tga_complete(const uint8_t *d, size_t n, int w, int h)
{
    if (n < 18) return false;
    unsigned type = d[2], pb = (d[16] + 7u) / 8u;
    size_t off = 18 + (size_t)d[0] + (d[1] ? (size_t)vkt_rd_le16(d + 5) * ((d[7] + 7u) / 8u) : 0);
    uint64_t pixels = (uint64_t)w * (uint64_t)h;
    if (pb == 0) return false;
    if (type == 1 || type == 2 || type == 3) return off <= n && (n - off) / pb >= pixels;
    if (type != 9 && type != 10 && type != 11) return true; /* stb refuses the others */
    for (uint64_t got = 0; got < pixels;) { /* RLE packets: a header byte, then 1 or count pixels */
        if (off >= n) return false;
        unsigned hdr = d[off++], count = (hdr & 0x7f) + 1u;
        size_t need = (hdr & 0x80) ? pb : (size_t)count * pb;
        if (n - off < need) return false;
        off += need;
        got += count;
    }
    return true;
}

static bool bmp_complete(const uint8_t *d, size_t n, int w, int h)
{
    if (n < 34) return false;
    uint32_t off = vkt_rd_le32(d + 10), comp = vkt_rd_le32(d + 30);
    unsigned bpp = vkt_rd_le16(d + 28);
    if (comp != 0 && comp != 3 && comp != 6) return true; /* RLE: stb checks as it decodes */
    uint64_t row = (((uint64_t)w * bpp + 31) / 32) * 4;
    return off <= n && (n - off) / (row ? row : 1) >= (uint64_t)h;
}

vkt_status vkt_image_decode(const uint8_t *data, size_t n, const char *name,
                            const vkt_image_limits *lim, vkt_image *out, vkt_err *err)
{
    vkt_image_info info;
    vkt_status st = vkt_image_probe_memory(data, n, name, lim, &info, err);
    if (st) return st;
    if (info.format == VKT_IMAGE_JPEG && !jpeg_complete(data, n))
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: JPEG is truncated (no end-of-image marker)",
                        name);
    if ((info.format == VKT_IMAGE_TGA && !tga_complete(data, n, info.w, info.h)) ||
        (info.format == VKT_IMAGE_BMP && !bmp_complete(data, n, info.w, info.h)))
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: %s is truncated (the pixel data is shorter than %dx%d)",
                        name, vkt_image_format_name(info.format), info.w, info.h);
    size_t bytes = (size_t)info.w * (size_t)info.h * 4; /* bounded by the limits */
    uint8_t *px = vkt_malloc(bytes);
    if (!px)
        return vkt_fail(err, VKT_ERR_NOMEM, "%s: out of memory for %dx%d pixels", name, info.w,
                        info.h);
    if (info.format == VKT_IMAGE_WEBP) {
        if (!WebPDecodeRGBAInto(data, n, px, bytes, info.w * 4)) {
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: WebP data is corrupt or truncated", name);
            goto fail;
        }
    } else {
        int w = 0, h = 0, comp = 0;
        stbi_uc *s = stbi_load_from_memory(data, (int)n, &w, &h, &comp, 4);
        if (!s) {
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: %s data is corrupt or truncated (%s)", name,
                          vkt_image_format_name(info.format), stbi_failure_reason());
            goto fail;
        }
        if (w != info.w || h != info.h) {
            stbi_image_free(s);
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: decoded %dx%d, header said %dx%d", name, w, h,
                          info.w, info.h);
            goto fail;
        }
        memcpy(px, s, bytes);
        stbi_image_free(s);
    }
    out->info = info;
    out->w = info.w;
    out->h = info.h;
    out->rgba = px;
    return VKT_OK;
fail:
    free(px);
    return st;
}

vkt_status vkt_image_load(const char *path, const vkt_image_limits *lim, vkt_image *out,
                          vkt_err *err)
{
    uint8_t *data = NULL;
    size_t n = 0;
    vkt_status st = vkt_read_file(path, VKT_IMAGE_MAX_FILE, &data, &n, err);
    if (!st) st = vkt_image_decode(data, n, path, lim, out, err);
    free(data);
    return st;
}

void vkt_image_fini(vkt_image *img)
{
    if (!img) return;
    free(img->rgba);
    img->rgba = NULL;
}

/* ---- PNG writer ------------------------------------------------------------------------- */

/* Next code point of UTF-8 s (already validated); advances *i. */
static uint32_t utf8_next(const uint8_t *s, size_t *i)
{
    uint8_t c = s[*i];
    if (c < 0x80) return (*i)++, c;
    int len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
    uint32_t cp = c & (0x7f >> len);
    for (int k = 1; k < len; k++)
        cp = (cp << 6) | (s[*i + k] & 0x3f);
    *i += (size_t)len;
    return cp;
}

/* s as Latin-1 into b (false when some character is above U+00FF). */
static bool to_latin1(const char *s, vkt_buf *b)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t n = strlen(s), i = 0;
    while (i < n) {
        uint32_t cp = utf8_next(u, &i);
        if (cp > 0xff) return false;
        uint8_t c = (uint8_t)cp;
        vkt_buf_append(b, &c, 1);
    }
    return true;
}

static void put_chunk(vkt_buf *b, const char *type, const uint8_t *data, size_t n)
{
    uint8_t hdr[8];
    wr_be32(hdr, (uint32_t)n);
    memcpy(hdr + 4, type, 4);
    vkt_buf_append(b, hdr, 8);
    vkt_buf_append(b, data, n);
    uLong crc = crc32(0, (const Bytef *)type, 4);
    if (n) crc = crc32(crc, data, (uInt)n);
    uint8_t c[4];
    wr_be32(c, (uint32_t)crc);
    vkt_buf_append(b, c, 4);
}

static vkt_status check_key(const char *key, vkt_err *err)
{
    size_t n = key ? strlen(key) : 0;
    vkt_buf lat = {0};
    bool ok = n > 0 && vkt_utf8_valid((const uint8_t *)key, n) && to_latin1(key, &lat) &&
              !lat.failed && lat.len >= 1 && lat.len <= 79;
    for (size_t i = 0; ok && i < lat.len; i++) {
        uint8_t c = lat.data[i];
        if (!((c >= 32 && c <= 126) || c >= 161)) ok = false;
        if (c == ' ' && (i == 0 || i + 1 == lat.len || lat.data[i + 1] == ' ')) ok = false;
    }
    vkt_buf_free(&lat);
    if (!ok)
        return vkt_fail(err, VKT_ERR_USAGE,
                        "PNG text key \"%s\": must be 1-79 printable Latin-1 characters without "
                        "leading, trailing or double spaces",
                        key ? key : "(null)");
    return VKT_OK;
}

/* Filters one row with type f into out[0..rowlen); prev is NULL for the first row. */
static void filter_row(int f, const uint8_t *row, const uint8_t *prev, size_t rowlen, int bpp,
                       uint8_t *out)
{
    for (size_t i = 0; i < rowlen; i++) {
        int a = i >= (size_t)bpp ? row[i - bpp] : 0;
        int b = prev ? prev[i] : 0;
        int c = prev && i >= (size_t)bpp ? prev[i - bpp] : 0;
        int x = row[i], pred = 0;
        switch (f) {
        case 0:
            pred = 0;
            break;
        case 1:
            pred = a;
            break;
        case 2:
            pred = b;
            break;
        case 3:
            pred = (a + b) / 2;
            break;
        default: {
            int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
            pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        }
        }
        out[i] = (uint8_t)(x - pred);
    }
}

vkt_status vkt_image_png_encode(const uint8_t *px, int w, int h, int channels,
                                const vkt_png_text *texts, size_t n_texts, uint8_t **out,
                                size_t *out_n, vkt_err *err)
{
    static const uint8_t color_type[5] = {0, 0, 4, 2, 6};
    vkt_status st = VKT_OK;
    vkt_buf b = {0}, t = {0};
    uint8_t *raw = NULL, *cand = NULL, *z = NULL;
    if (channels < 1 || channels > 4)
        return vkt_fail(err, VKT_ERR_USAGE, "PNG writer: %d channels (want 1-4)", channels);
    st = check_limits("PNG writer", w, h, NULL, err);
    if (st) return st;
    for (size_t i = 0; i < n_texts; i++) {
        st = check_key(texts[i].key, err);
        if (st) return st;
        if (!texts[i].text ||
            !vkt_utf8_valid((const uint8_t *)texts[i].text, strlen(texts[i].text)))
            return vkt_fail(err, VKT_ERR_USAGE, "PNG text \"%s\": value is not valid UTF-8",
                            texts[i].key);
    }

    size_t rowlen = (size_t)w * (size_t)channels, raw_n = (size_t)h * (rowlen + 1);
    raw = vkt_malloc(raw_n);
    cand = vkt_malloc(rowlen * 5);
    if (!raw || !cand) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "PNG writer: out of memory for %dx%d", w, h);
        goto done;
    }
    for (int y = 0; y < h; y++) {
        const uint8_t *row = px + (size_t)y * rowlen, *prev = y ? row - rowlen : NULL;
        /* libpng's heuristic: the filter whose output has the least sum of |signed byte|. */
        int best = 0;
        uint64_t best_sum = UINT64_MAX;
        for (int f = 0; f < 5; f++) {
            uint8_t *o = cand + (size_t)f * rowlen;
            filter_row(f, row, prev, rowlen, channels, o);
            uint64_t s = 0;
            for (size_t i = 0; i < rowlen; i++)
                s += o[i] < 128 ? o[i] : 256 - o[i];
            if (s < best_sum) best_sum = s, best = f;
        }
        uint8_t *dst = raw + (size_t)y * (rowlen + 1);
        dst[0] = (uint8_t)best;
        memcpy(dst + 1, cand + (size_t)best * rowlen, rowlen);
    }

    uLong zcap = compressBound((uLong)raw_n);
    z = vkt_malloc(zcap);
    if (!z) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "PNG writer: out of memory");
        goto done;
    }
    z_stream zs = {0};
    if (deflateInit(&zs, 6) != Z_OK) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "PNG writer: deflateInit failed");
        goto done;
    }
    zs.next_in = raw;
    zs.avail_in = (uInt)raw_n;
    zs.next_out = z;
    zs.avail_out = (uInt)zcap;
    int zr = deflate(&zs, Z_FINISH);
    size_t zn = zs.total_out;
    deflateEnd(&zs);
    if (zr != Z_STREAM_END || zn > 0x7fffffff) {
        st = vkt_fail(err, VKT_ERR_INTERNAL, "PNG writer: deflate failed (%d)", zr);
        goto done;
    }

    vkt_buf_append(&b, png_sig, 8);
    uint8_t ihdr[13];
    wr_be32(ihdr, (uint32_t)w);
    wr_be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;
    ihdr[9] = color_type[channels];
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    put_chunk(&b, "IHDR", ihdr, 13);
    for (size_t i = 0; i < n_texts; i++) {
        /* Pillow PngInfo.add_text: tEXt when the value encodes as Latin-1, else iTXt with
         * compression flag 0, empty language and translated keyword. */
        t.len = 0;
        to_latin1(texts[i].key, &t);
        vkt_buf_append(&t, "", 1);
        size_t key_len = t.len;
        if (to_latin1(texts[i].text, &t)) {
            put_chunk(&b, "tEXt", t.data, t.len);
        } else {
            t.len = key_len;
            vkt_buf_append(&t, "\0\0\0\0", 4); /* flag, method, "" lang, "" translated key */
            vkt_buf_puts(&t, texts[i].text);
            put_chunk(&b, "iTXt", t.data, t.len);
        }
    }
    put_chunk(&b, "IDAT", z, zn);
    put_chunk(&b, "IEND", NULL, 0);
    if (b.failed || t.failed) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "PNG writer: out of memory");
        goto done;
    }
    *out = b.data;
    *out_n = b.len;
    b.data = NULL;
done:
    vkt_buf_free(&b);
    vkt_buf_free(&t);
    free(raw);
    free(cand);
    free(z);
    return st;
}

vkt_status vkt_image_write_png(const char *path, const uint8_t *px, int w, int h, int channels,
                               const vkt_png_text *texts, size_t n_texts, vkt_err *err)
{
    uint8_t *png = NULL;
    size_t n = 0;
    vkt_status st = vkt_image_png_encode(px, w, h, channels, texts, n_texts, &png, &n, err);
    if (st) {
        vkt_err_prefix(err, "%s", path);
        return st;
    }
    st = vkt_write_file(path, png, n, err);
    free(png);
    return st;
}

/* ---- PNG text reader -------------------------------------------------------------------- */

/* Latin-1 bytes as a NUL-terminated UTF-8 string (malloc'd). */
static char *latin1_to_utf8(const uint8_t *p, size_t n)
{
    vkt_buf b = {0};
    for (size_t i = 0; i < n; i++) {
        uint8_t c[2] = {p[i], 0};
        if (p[i] < 0x80) {
            vkt_buf_append(&b, c, 1);
        } else {
            c[0] = (uint8_t)(0xc0 | (p[i] >> 6));
            c[1] = (uint8_t)(0x80 | (p[i] & 0x3f));
            vkt_buf_append(&b, c, 2);
        }
    }
    vkt_buf_append(&b, "", 1);
    if (b.failed) {
        vkt_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

static char *utf8_dup(const uint8_t *p, size_t n)
{
    char *s = vkt_malloc(n + 1);
    if (!s) return NULL;
    if (n) memcpy(s, p, n);
    s[n] = 0;
    return s;
}

/* Pillow's _safe_zlib_decompress: inflate at most VKT_PNG_TEXT_MAX_INFLATED bytes.
 * Returns 0 ok, 1 corrupt data (zlib.error), 2 too large (ValueError), 3 host OOM. */
static int inflate_bounded(const uint8_t *p, size_t n, uint8_t **out, size_t *out_n)
{
    uint8_t *o = vkt_malloc(VKT_PNG_TEXT_MAX_INFLATED + 1);
    if (!o) return 3;
    z_stream zs = {0};
    if (inflateInit(&zs) != Z_OK) {
        free(o);
        return 3;
    }
    zs.next_in = (Bytef *)p;
    zs.avail_in = (uInt)n;
    zs.next_out = o;
    zs.avail_out = VKT_PNG_TEXT_MAX_INFLATED + 1;
    int r = inflate(&zs, Z_FINISH);
    size_t got = zs.total_out;
    inflateEnd(&zs);
    if (got > VKT_PNG_TEXT_MAX_INFLATED) {
        free(o);
        return 2;
    }
    /* Python's decompressobj().decompress() returns what it could for a stream cut short, but
     * raises zlib.error for corrupt data; Z_BUF_ERROR here means truncated input. */
    if (r != Z_STREAM_END && r != Z_BUF_ERROR) {
        free(o);
        return 1;
    }
    *out = o;
    *out_n = got;
    return 0;
}

static const uint8_t *memchr0(const uint8_t *p, size_t n)
{
    return memchr(p, 0, n);
}

typedef struct text_acc {
    vkt_png_texts t;
    size_t cap, total;
} text_acc;

/* Takes ownership of k and v (either may be NULL on OOM). */
static vkt_status add_text(text_acc *a, char *k, char *v, const char *name, vkt_err *err)
{
    vkt_status st = VKT_OK;
    if (!k || !v) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "%s: out of memory reading PNG text", name);
        goto fail;
    }
    size_t vn = strlen(v);
    if (vn > VKT_PNG_TEXT_MAX_TOTAL - a->total) {
        st = vkt_fail(err, VKT_ERR_FORMAT, "%s: PNG text chunks hold more than %zu bytes", name,
                      VKT_PNG_TEXT_MAX_TOTAL);
        goto fail;
    }
    if (a->t.n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        char **nk = vkt_realloc(a->t.keys, cap * sizeof *nk);
        if (!nk) {
            st = vkt_fail(err, VKT_ERR_NOMEM, "%s: out of memory reading PNG text", name);
            goto fail;
        }
        a->t.keys = nk;
        char **nv = vkt_realloc(a->t.values, cap * sizeof *nv);
        if (!nv) {
            st = vkt_fail(err, VKT_ERR_NOMEM, "%s: out of memory reading PNG text", name);
            goto fail;
        }
        a->t.values = nv;
        a->cap = cap;
    }
    a->total += vn;
    a->t.keys[a->t.n] = k;
    a->t.values[a->t.n] = v;
    a->t.n++;
    return VKT_OK;
fail:
    free(k);
    free(v);
    return st;
}

static vkt_status text_chunk(text_acc *a, const char *type, const uint8_t *p, size_t n, size_t off,
                             const char *name, vkt_err *err)
{
    const uint8_t *z = memchr0(p, n);
    size_t kn = z ? (size_t)(z - p) : n;
    const uint8_t *v = z ? z + 1 : p + n;
    size_t vn = z ? n - kn - 1 : 0;
    if (!strcmp(type, "tEXt")) {
        if (!kn) return VKT_OK;
        return add_text(a, latin1_to_utf8(p, kn), latin1_to_utf8(v, vn), name, err);
    }
    if (!strcmp(type, "zTXt")) {
        if (vn && v[0] != 0)
            return vkt_fail(err, VKT_ERR_FORMAT,
                            "%s: zTXt chunk at byte %zu: unknown compression method %u", name, off,
                            v[0]);
        uint8_t *txt = NULL;
        size_t tn = 0;
        int r = vn ? inflate_bounded(v + 1, vn - 1, &txt, &tn) : 1;
        if (r == 2)
            return vkt_fail(err, VKT_ERR_FORMAT,
                            "%s: zTXt chunk at byte %zu inflates to more than %zu bytes", name, off,
                            VKT_PNG_TEXT_MAX_INFLATED);
        if (r == 3) return vkt_fail(err, VKT_ERR_NOMEM, "%s: out of memory", name);
        if (!kn) {
            free(txt);
            return VKT_OK;
        }
        char *val = latin1_to_utf8(txt ? txt : (const uint8_t *)"", r ? 0 : tn);
        free(txt);
        return add_text(a, latin1_to_utf8(p, kn), val, name, err);
    }
    /* iTXt: key \0 flag method lang \0 translated-key \0 text */
    if (!z || !kn || vn < 2) return VKT_OK; /* Pillow keeps an empty iTXt key; we drop it */
    uint8_t flag = v[0], method = v[1];
    const uint8_t *lang = v + 2, *end = v + vn;
    const uint8_t *z1 = memchr0(lang, (size_t)(end - lang));
    if (!z1) return VKT_OK;
    const uint8_t *tk = z1 + 1;
    const uint8_t *z2 = memchr0(tk, (size_t)(end - tk));
    if (!z2) return VKT_OK;
    const uint8_t *txt = z2 + 1;
    size_t tn = (size_t)(end - txt);
    uint8_t *inflated = NULL;
    if (flag != 0) {
        if (method != 0) return VKT_OK;
        int r = inflate_bounded(txt, tn, &inflated, &tn);
        if (r == 2)
            return vkt_fail(err, VKT_ERR_FORMAT,
                            "%s: iTXt chunk at byte %zu inflates to more than %zu bytes", name, off,
                            VKT_PNG_TEXT_MAX_INFLATED);
        if (r == 3) return vkt_fail(err, VKT_ERR_NOMEM, "%s: out of memory", name);
        if (r == 1) return VKT_OK;
        txt = inflated;
    }
    vkt_status st = VKT_OK;
    if (vkt_utf8_valid(lang, (size_t)(z1 - lang)) && vkt_utf8_valid(tk, (size_t)(z2 - tk)) &&
        vkt_utf8_valid(txt, tn))
        st = add_text(a, latin1_to_utf8(p, kn), utf8_dup(txt, tn), name, err);
    free(inflated);
    return st;
}

vkt_status vkt_png_texts_read(const uint8_t *data, size_t n, const char *name, vkt_png_texts *out,
                              vkt_err *err)
{
    vkt_status st = VKT_OK;
    text_acc a = {0};
    size_t n_text = 0;
    if (n < 8 || memcmp(data, png_sig, 8)) {
        st = vkt_fail(err, VKT_ERR_FORMAT, "%s: not a PNG file (bad signature)", name);
        goto done;
    }
    size_t off = 8;
    for (int first = 1;; first = 0) {
        if (!vkt_range_ok(off, 8, n)) {
            st = vkt_fail(err, VKT_ERR_FORMAT,
                          "%s: truncated PNG: no IEND chunk (ends at byte %zu)", name, n);
            goto done;
        }
        uint32_t len = rd_be32(data + off);
        char type[5];
        memcpy(type, data + off + 4, 4);
        type[4] = 0;
        for (int i = 0; i < 4; i++) {
            char c = type[i];
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) {
                st = vkt_fail(err, VKT_ERR_FORMAT, "%s: bad PNG chunk type at byte %zu", name, off);
                goto done;
            }
        }
        if (len > 0x7fffffffu || !vkt_range_ok(off + 8, (size_t)len + 4, n)) {
            st = vkt_fail(err, VKT_ERR_FORMAT,
                          "%s: PNG chunk %s at byte %zu declares %u bytes, past the end of the "
                          "file (%zu bytes)",
                          name, type, off, len, n);
            goto done;
        }
        if (first && strcmp(type, "IHDR")) {
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: PNG does not start with IHDR", name);
            goto done;
        }
        const uint8_t *body = data + off + 8;
        uLong crc = crc32(0, data + off + 4, 4);
        if (len) crc = crc32(crc, body, len);
        if ((uint32_t)crc != rd_be32(body + len)) {
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: PNG chunk %s at byte %zu has a bad CRC", name,
                          type, off);
            goto done;
        }
        if (!strcmp(type, "IEND")) break;
        if (!strcmp(type, "tEXt") || !strcmp(type, "zTXt") || !strcmp(type, "iTXt")) {
            if (++n_text > VKT_PNG_TEXT_MAX_CHUNKS) {
                st = vkt_fail(err, VKT_ERR_FORMAT, "%s: more than %d PNG text chunks", name,
                              VKT_PNG_TEXT_MAX_CHUNKS);
                goto done;
            }
            st = text_chunk(&a, type, body, len, off, name, err);
            if (st) goto done;
        }
        off += 12 + (size_t)len;
    }
    *out = a.t;
    a.t = (vkt_png_texts){0};
done:
    vkt_png_texts_fini(&a.t);
    return st;
}

const char *vkt_png_texts_get(const vkt_png_texts *t, const char *key)
{
    for (size_t i = t->n; i-- > 0;)
        if (!strcmp(t->keys[i], key)) return t->values[i];
    return NULL;
}

void vkt_png_texts_fini(vkt_png_texts *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->keys[i]);
        free(t->values[i]);
    }
    free(t->keys);
    free(t->values);
    *t = (vkt_png_texts){0};
}

/* ---- infotext --------------------------------------------------------------------------- */

/* The webui's quote(): a value with ',', ':' or a newline becomes json.dumps(v,
 * ensure_ascii=False). */
static void put_quoted(vkt_buf *b, const char *v)
{
    if (!strpbrk(v, ",:\n")) {
        vkt_buf_puts(b, v);
        return;
    }
    vkt_buf_puts(b, "\"");
    for (const char *s = v; *s; s++)
        vkt_buf_pyjson_byte(b, (unsigned char)*s);
    vkt_buf_puts(b, "\"");
}

static void put_number(vkt_buf *b, double v)
{
    char f[VKT_PYFMT_FLOAT_MAX];
    vkt_pyfmt_float(v, f);
    size_t n = strlen(f);
    if (n > 2 && !strcmp(f + n - 2, ".0")) f[n - 2] = 0; /* "7", not "7.0" */
    vkt_buf_puts(b, f);
}

char *vkt_infotext_format(const vkt_infotext *p)
{
    vkt_buf b = {0};
    vkt_buf_puts(&b, p->prompt ? p->prompt : "");
    if (p->negative && *p->negative) {
        vkt_buf_puts(&b, "\nNegative prompt: ");
        vkt_buf_puts(&b, p->negative);
    }
    vkt_buf_printf(&b, "\nSteps: %d, Sampler: ", p->steps);
    put_quoted(&b, p->sampler ? p->sampler : "");
    vkt_buf_puts(&b, ", CFG scale: ");
    put_number(&b, p->cfg_scale);
    vkt_buf_printf(&b, ", Seed: %lld, Size: %dx%d", (long long)p->seed, p->width, p->height);
    if (p->model_hash && *p->model_hash) {
        vkt_buf_puts(&b, ", Model hash: ");
        put_quoted(&b, p->model_hash);
    }
    if (p->model && *p->model) {
        vkt_buf_puts(&b, ", Model: ");
        put_quoted(&b, p->model);
    }
    if (p->clip_skip > 1) vkt_buf_printf(&b, ", Clip skip: %d", p->clip_skip);
    if (p->extra && *p->extra) {
        vkt_buf_puts(&b, ", ");
        vkt_buf_puts(&b, p->extra);
    }
    vkt_buf_append(&b, "", 1);
    if (b.failed) {
        vkt_buf_free(&b);
        return NULL;
    }
    /* The webui strips the whole text (an empty prompt leaves no leading newline). */
    char *s = (char *)b.data;
    size_t lead = strspn(s, " \t\n\r\f\v");
    if (lead) memmove(s, s + lead, strlen(s + lead) + 1);
    return s;
}
