/* io/image: decode every supported format from fixtures made here (stb_image_write, libwebp),
 * PNG writing with text chunks and reading them back, the infotext layout, and hostile files
 * (truncated, huge declared sizes, bad CRCs, zlib bombs, garbage) that must fail with a message
 * naming the file. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <stb_image_write.h>
#include <webp/decode.h>
#include <webp/encode.h>
#include <zlib.h>

#include "base/checked.h"
#include "base/file.h"
#include "io/image.h"
#include "testkit.h"

typedef struct membuf {
    uint8_t *p;
    size_t n;
} membuf;

static void mb_write(void *ctx, void *data, int size)
{
    membuf *m = ctx;
    m->p = realloc(m->p, m->n + (size_t)size);
    memcpy(m->p + m->n, data, (size_t)size);
    m->n += (size_t)size;
}

/* Deterministic test picture [h][w][c]: smooth ramps (so lossy codecs stay close) plus alpha. */
static uint8_t *picture(int w, int h, int c)
{
    uint8_t *p = malloc((size_t)w * h * c);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                p[((size_t)y * w + x) * c + k] =
                    (uint8_t)(k == 3 ? 40 + (x * 7 + y) % 200
                                     : (x * 255 / w + y * 3 + k * 50) % 256);
    return p;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

/* Appends a chunk with a correct CRC (or a wrong one when bad_crc). */
static void chunk(membuf *m, const char *type, const void *data, size_t n, int bad_crc)
{
    uint8_t h[8];
    put_be32(h, (uint32_t)n);
    memcpy(h + 4, type, 4);
    mb_write(m, h, 8);
    if (n) mb_write(m, (void *)data, (int)n);
    uLong crc = crc32(0, (const Bytef *)type, 4);
    if (n) crc = crc32(crc, data, (uInt)n); /* zlib's crc32 of a NULL buffer is 0, not crc */
    uint8_t c[4];
    put_be32(c, (uint32_t)crc ^ (bad_crc ? 1u : 0u));
    mb_write(m, c, 4);
}

static void png_start(membuf *m, uint32_t w, uint32_t h, int ct)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    mb_write(m, (void *)sig, 8);
    uint8_t ihdr[13] = {0};
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = 8;
    ihdr[9] = (uint8_t)ct;
    chunk(m, "IHDR", ihdr, 13, 0);
}

static int has_msg(const vkt_err *e, const char *want)
{
    return strstr(e->msg, want) != NULL;
}

static void test_sniff(void)
{
    TK_CHECK(vkt_image_sniff((const uint8_t *)"\x89PNG\r\n\x1a\n", 8, "a") == VKT_IMAGE_PNG, "png");
    TK_CHECK(vkt_image_sniff((const uint8_t *)"\xff\xd8\xff\xe0", 4, "a") == VKT_IMAGE_JPEG,
             "jpeg");
    TK_CHECK(vkt_image_sniff((const uint8_t *)"RIFF\0\0\0\0WEBPVP8 ", 16, "a") == VKT_IMAGE_WEBP,
             "webp");
    TK_CHECK(vkt_image_sniff((const uint8_t *)"BM", 2, "a") == VKT_IMAGE_BMP, "bmp");
    TK_CHECK(vkt_image_sniff((const uint8_t *)"GIF89a", 6, "a.gif") == VKT_IMAGE_OTHER, "gif");
    TK_CHECK(vkt_image_sniff((const uint8_t *)"\0\0\2", 3, "a.TGA") == VKT_IMAGE_TGA,
             "tga by name");
    TK_CHECK(vkt_image_sniff((const uint8_t *)"hello", 5, "a.txt") == VKT_IMAGE_UNKNOWN, "text");
}

/* Encodes with our PNG writer, decodes, compares every pixel (grey expands to RGB, alpha 255
 * where the file has none). */
static void test_png_roundtrip(void)
{
    for (int c = 1; c <= 4; c++) {
        int w = 37 + c, h = 23 - c;
        uint8_t *px = picture(w, h, c);
        uint8_t *png = NULL;
        size_t n = 0;
        vkt_err err = {0};
        TK_CHECK(vkt_image_png_encode(px, w, h, c, NULL, 0, &png, &n, &err) == VKT_OK, "%s",
                 err.msg);
        vkt_image img = {0};
        TK_CHECK(vkt_image_decode(png, n, "rt.png", NULL, &img, &err) == VKT_OK, "%s", err.msg);
        TK_CHECK(img.w == w && img.h == h && img.info.format == VKT_IMAGE_PNG, "dims c=%d", c);
        TK_CHECK(img.info.has_alpha == (c == 2 || c == 4), "alpha flag c=%d", c);
        int bad = 0;
        for (int i = 0; img.rgba && i < w * h; i++) {
            const uint8_t *s = px + (size_t)i * c, *d = img.rgba + (size_t)i * 4;
            uint8_t want[4] = {s[0], s[0], s[0], 255};
            if (c == 2) want[3] = s[1];
            if (c >= 3) want[1] = s[1], want[2] = s[2];
            if (c == 4) want[3] = s[3];
            bad += memcmp(want, d, 4) != 0;
        }
        TK_CHECK(bad == 0, "png c=%d: %d pixels differ", c, bad);
        vkt_image_fini(&img);
        free(png);
        free(px);
    }
}

/* stb_image_write fixtures: JPEG (lossy), BMP and TGA (lossless, 3 and 4 channels). */
static void test_stb_formats(void)
{
    int w = 45, h = 31;
    uint8_t *rgb = picture(w, h, 3), *rgba = picture(w, h, 4);
    vkt_err err = {0};
    vkt_image img = {0};

    membuf j = {0};
    TK_CHECK(stbi_write_jpg_to_func(mb_write, &j, w, h, 3, rgb, 95), "jpg written");
    TK_CHECK(vkt_image_decode(j.p, j.n, "x.jpg", NULL, &img, &err) == VKT_OK, "%s", err.msg);
    double sum = 0;
    for (int i = 0; img.rgba && i < w * h; i++)
        for (int k = 0; k < 3; k++)
            sum += abs(img.rgba[i * 4 + k] - rgb[i * 3 + k]);
    /* Lossy at quality 95 on smooth ramps: a mean error of a few LSB. */
    TK_CHECK(img.w == w && img.h == h && !img.info.has_alpha && sum / (w * h * 3) < 4.0,
             "jpeg mean abs error %.2f", sum / (w * h * 3));
    vkt_image_fini(&img);

    /* A JPEG cut in its entropy-coded data has no EOI: refused like Pillow's "truncated". */
    TK_CHECK(vkt_image_decode(j.p, j.n * 2 / 3, "cut.jpg", NULL, &img, &err) == VKT_ERR_FORMAT &&
                 has_msg(&err, "cut.jpg") && has_msg(&err, "truncated"),
             "truncated jpeg: %s", err.msg);
    free(j.p);

    for (int c = 3; c <= 4; c++) {
        stbi_write_tga_with_rle = c == 3; /* RLE (stb's default) and uncompressed TGA */
        membuf b = {0}, t = {0};
        const uint8_t *src = c == 3 ? rgb : rgba;
        TK_CHECK(stbi_write_bmp_to_func(mb_write, &b, w, h, c, src), "bmp written");
        TK_CHECK(stbi_write_tga_to_func(mb_write, &t, w, h, c, src), "tga written");
        for (int f = 0; f < 2; f++) {
            membuf *m = f ? &t : &b;
            const char *name = f ? "x.tga" : "x.bmp";
            TK_CHECK(vkt_image_decode(m->p, m->n, name, NULL, &img, &err) == VKT_OK, "%s", err.msg);
            int bad = 0;
            for (int i = 0; img.rgba && i < w * h; i++)
                for (int k = 0; k < c; k++)
                    bad += img.rgba[i * 4 + k] != src[i * c + k];
            TK_CHECK(img.w == w && img.h == h && bad == 0, "%s c=%d: %d samples differ", name, c,
                     bad);
            /* stb writes 32-bit BMPs with BI_BITFIELDS and an alpha mask (Pillow: RGBA) and
             * 32-bit TGAs (Pillow: RGBA). */
            TK_CHECK(img.info.has_alpha == (c == 4), "%s c=%d alpha flag %d", name, c,
                     img.info.has_alpha);
            vkt_image_fini(&img);
        }
        /* stb_image would read a short TGA/BMP as black pixels: every cut must be refused
         * (stb writes no trailer, so every byte belongs to the image) */
        for (int f = 0; f < 2; f++) {
            membuf *m = f ? &t : &b;
            int accepted = 0;
            for (size_t cut = 1; cut < m->n; cut++) {
                vkt_status cs = vkt_image_decode(m->p, cut, f ? "cut.tga" : "cut.bmp", NULL, &img, &err);
                if (cs == VKT_OK) accepted++;
                vkt_image_fini(&img);
            }
            TK_CHECK(accepted == 0, "%s c=%d: %d of %zu truncations decoded", f ? "tga" : "bmp", c, accepted,
                     m->n - 1);
        }
        /* TGA has no signature: without the extension it is not recognised. */
        TK_CHECK(vkt_image_decode(t.p, t.n, "x.dat", NULL, &img, &err) == VKT_ERR_FORMAT &&
                     has_msg(&err, "x.dat"),
                 "tga without extension: %s", err.msg);
        free(b.p);
        free(t.p);
    }
    free(rgb);
    free(rgba);
}

static void test_webp(void)
{
    int w = 33, h = 21;
    uint8_t *rgba = picture(w, h, 4), *rgb = picture(w, h, 3);
    uint8_t *out = NULL;
    vkt_err err = {0};
    vkt_image img = {0};
    size_t n = WebPEncodeLosslessRGBA(rgba, w, h, w * 4, &out);
    TK_CHECK(n > 0, "webp lossless encoded");
    TK_CHECK(vkt_image_decode(out, n, "x.webp", NULL, &img, &err) == VKT_OK, "%s", err.msg);
    TK_CHECK(img.rgba && img.info.has_alpha && !memcmp(img.rgba, rgba, (size_t)w * h * 4),
             "lossless webp round trip with alpha");
    vkt_image_fini(&img);
    /* Hostile: truncated and garbage bodies behind a valid RIFF/WEBP header. */
    TK_CHECK(vkt_image_decode(out, n / 2, "cut.webp", NULL, &img, &err) == VKT_ERR_FORMAT &&
                 has_msg(&err, "cut.webp"),
             "truncated webp: %s", err.msg);
    uint8_t *junk = malloc(n);
    memcpy(junk, out, 20);
    for (size_t i = 20; i < n; i++)
        junk[i] = (uint8_t)(i * 131);
    TK_CHECK(vkt_image_decode(junk, n, "junk.webp", NULL, &img, &err) == VKT_ERR_FORMAT &&
                 has_msg(&err, "junk.webp"),
             "garbage webp: %s", err.msg);
    free(junk);
    WebPFree(out);

    n = WebPEncodeRGB(rgb, w, h, w * 3, 90, &out);
    TK_CHECK(vkt_image_decode(out, n, "lossy.webp", NULL, &img, &err) == VKT_OK, "%s", err.msg);
    /* Lossy: the pixels must be exactly what libwebp's own decoder gives. */
    int dw = 0, dh = 0;
    uint8_t *ref = WebPDecodeRGBA(out, n, &dw, &dh);
    TK_CHECK(ref && img.rgba && !img.info.has_alpha && dw == w && dh == h &&
                 !memcmp(ref, img.rgba, (size_t)w * h * 4),
             "lossy webp = libwebp's decode");
    WebPFree(ref);
    vkt_image_fini(&img);
    WebPFree(out);
    free(rgba);
    free(rgb);
}

static void test_hostile_decode(void)
{
    vkt_err err = {0};
    vkt_image img = {0};
    vkt_image_info info;
    /* PNG declaring 100000 x 100000 pixels (IHDR only): refused before any allocation. */
    membuf m = {0};
    png_start(&m, 100000, 100000, 2);
    chunk(&m, "IEND", NULL, 0, 0);
    TK_CHECK(vkt_image_decode(m.p, m.n, "huge.png", NULL, &img, &err) == VKT_ERR_FORMAT &&
                 has_msg(&err, "huge.png") && has_msg(&err, "100000x100000"),
             "huge png: %s", err.msg);
    free(m.p);
    m = (membuf){0};
    png_start(&m, 0x80000000u, 1, 2);
    TK_CHECK(vkt_image_decode(m.p, m.n, "neg.png", NULL, &img, &err) == VKT_ERR_FORMAT,
             "2^31 wide");
    free(m.p);
    m = (membuf){0};
    png_start(&m, 9000, 9000, 6); /* 81 Mpx: under the side limit, over the pixel limit */
    TK_CHECK(vkt_image_probe_memory(m.p, m.n, "big.png", NULL, &info, &err) == VKT_ERR_FORMAT &&
                 has_msg(&err, "pixels"),
             "pixel limit: %s", err.msg);
    vkt_image_limits lim = {.max_side = 64};
    free(m.p);
    m = (membuf){0};
    png_start(&m, 65, 10, 6);
    TK_CHECK(vkt_image_probe_memory(m.p, m.n, "l.png", &lim, &info, &err) == VKT_ERR_FORMAT,
             "caller limit");
    free(m.p);

    /* JPEG SOI + SOF0 declaring 65000 x 65000. */
    static const uint8_t jpg[] = {0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0xfd,
                                  0xe8, 0xfd, 0xe8, 0x03, 0x01, 0x22, 0x00, 0x02,
                                  0x11, 0x01, 0x03, 0x11, 0x01, 0xff, 0xd9};
    TK_CHECK(vkt_image_decode(jpg, sizeof jpg, "huge.jpg", NULL, &img, &err) == VKT_ERR_FORMAT &&
                 has_msg(&err, "huge.jpg") && has_msg(&err, "65000x65000"),
             "huge jpeg: %s", err.msg);

    /* Truncated PNGs at every length up to the first IDAT bytes: an error, never a crash. */
    uint8_t *px = picture(20, 20, 3), *png = NULL;
    size_t n = 0;
    vkt_image_png_encode(px, 20, 20, 3, NULL, 0, &png, &n, &err);
    int fails = 0;
    for (size_t cut = 0; cut + 12 < n; cut += 1 + cut / 8) {
        vkt_status s = vkt_image_decode(png, cut, "cut.png", NULL, &img, &err);
        if (s == VKT_OK) vkt_image_fini(&img);
        fails += s != VKT_OK && has_msg(&err, "cut.png");
    }
    TK_CHECK(fails > 10, "truncated PNGs refused with the file named (%d)", fails);
    free(png);
    free(px);

    uint8_t junk[64];
    for (int i = 0; i < 64; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    TK_CHECK(vkt_image_decode(junk, 64, "junk.png", NULL, &img, &err) == VKT_ERR_FORMAT &&
                 has_msg(&err, "junk.png") && has_msg(&err, "not a PNG"),
             "junk: %s", err.msg);
    TK_CHECK(vkt_image_decode((const uint8_t *)"GIF89a\1\0\1\0", 10, "a.gif", NULL, &img, &err) ==
                     VKT_ERR_UNSUPPORTED &&
                 has_msg(&err, "not supported"),
             "gif: %s", err.msg);
    TK_CHECK(vkt_image_load("/nonexistent/x.png", NULL, &img, &err) == VKT_ERR_IO &&
                 has_msg(&err, "/nonexistent/x.png"),
             "missing file: %s", err.msg);
}

static void test_png_texts(void)
{
    uint8_t px[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    vkt_png_text texts[] = {
        {"parameters", "a cat\nSteps: 20, Sampler: Euler a"},
        {"latin", "caf\xc3\xa9"},     /* é fits Latin-1: tEXt */
        {"utf8", "\xe7\x8c\xab cat"}, /* 猫: iTXt */
        {"parameters", "second wins"},
    };
    uint8_t *png = NULL;
    size_t n = 0;
    vkt_err err = {0};
    TK_CHECK(vkt_image_png_encode(px, 2, 2, 3, texts, 4, &png, &n, &err) == VKT_OK, "%s", err.msg);
    /* Chunk order: IHDR, tEXt, tEXt, iTXt, tEXt, IDAT, IEND. */
    const char *want[] = {"IHDR", "tEXt", "tEXt", "iTXt", "tEXt", "IDAT", "IEND"};
    size_t off = 8;
    int k = 0, order_ok = 1;
    while (png && off + 8 <= n && k < 7) {
        uint32_t len =
            (uint32_t)png[off] << 24 | png[off + 1] << 16 | png[off + 2] << 8 | png[off + 3];
        order_ok &= !memcmp(png + off + 4, want[k++], 4);
        off += 12 + len;
    }
    TK_CHECK(order_ok && k == 7 && off == n, "chunk order and layout");
    /* The Latin-1 text is stored as one byte per character. */
    TK_CHECK(png && memmem(png, n, "latin\0caf\xe9", 10), "tEXt holds Latin-1");
    vkt_png_texts t = {0};
    TK_CHECK(vkt_png_texts_read(png, n, "t.png", &t, &err) == VKT_OK, "%s", err.msg);
    TK_CHECK(t.n == 4, "4 entries (%zu)", t.n);
    const char *v = vkt_png_texts_get(&t, "parameters");
    TK_CHECK(v && !strcmp(v, "second wins"), "last duplicate wins");
    v = vkt_png_texts_get(&t, "latin");
    TK_CHECK(v && !strcmp(v, "caf\xc3\xa9"), "latin-1 back to UTF-8");
    v = vkt_png_texts_get(&t, "utf8");
    TK_CHECK(v && !strcmp(v, "\xe7\x8c\xab cat"), "iTXt UTF-8");
    TK_CHECK(!vkt_png_texts_get(&t, "absent"), "absent key");
    vkt_png_texts_fini(&t);

    /* Atomic write: the file appears under its name, no temp left behind. */
    char path[2100];
    snprintf(path, sizeof path, "%s/p.png", tk_tmpdir("image"));
    TK_CHECK(vkt_image_write_png(path, px, 2, 2, 3, texts, 1, &err) == VKT_OK, "%s", err.msg);
    uint8_t *back = NULL, *one = NULL;
    size_t bn = 0, on = 0;
    vkt_image_png_encode(px, 2, 2, 3, texts, 1, &one, &on, &err);
    TK_CHECK(vkt_read_file(path, 1 << 20, &back, &bn, &err) == VKT_OK && one && bn == on &&
                 !memcmp(back, one, on),
             "file holds the encoded bytes");
    free(one);
    char tmp[2200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "rb");
    TK_CHECK(!fp, "no temp file left");
    if (fp) fclose(fp);
    free(back);

    TK_CHECK(vkt_image_png_encode(px, 2, 2, 3, &(vkt_png_text){" lead", "x"}, 1, &png, &n, &err) ==
                 VKT_ERR_USAGE,
             "bad key refused");
    TK_CHECK(vkt_image_png_encode(px, 2, 2, 3, &(vkt_png_text){"k", "\xff"}, 1, &png, &n, &err) ==
                 VKT_ERR_USAGE,
             "bad UTF-8 value refused");
    free(png);
}

/* Hand-made chunk streams for the reader's rules and bounds. */
static void test_png_texts_hostile(void)
{
    vkt_err err = {0};
    vkt_png_texts t = {0};
    membuf m = {0};

    /* zTXt, compressed iTXt, tEXt without NUL, empty key, iTXt with bad UTF-8. */
    png_start(&m, 1, 1, 0);
    const char *ztxt_val = "compressed words";
    uint8_t z[256];
    uLongf zn = sizeof z;
    compress2(z, &zn, (const Bytef *)ztxt_val, strlen(ztxt_val), 9);
    uint8_t buf[512];
    memcpy(buf, "zk\0\0", 4);
    memcpy(buf + 4, z, zn);
    chunk(&m, "zTXt", buf, 4 + zn, 0);
    memcpy(buf, "ik\0\1\0en\0tk\0", 11);
    memcpy(buf + 11, z, zn);
    chunk(&m, "iTXt", buf, 11 + zn, 0);
    chunk(&m, "tEXt", "nonul", 5, 0);
    chunk(&m, "tEXt", "\0value", 6, 0);
    chunk(&m, "iTXt", "bad\0\0\0\0\0\xff", 9, 0);
    chunk(&m, "IEND", NULL, 0, 0);
    TK_CHECK(vkt_png_texts_read(m.p, m.n, "h.png", &t, &err) == VKT_OK, "%s", err.msg);
    const char *v = vkt_png_texts_get(&t, "zk");
    TK_CHECK(v && !strcmp(v, ztxt_val), "zTXt inflated");
    v = vkt_png_texts_get(&t, "ik");
    TK_CHECK(v && !strcmp(v, ztxt_val), "compressed iTXt inflated");
    v = vkt_png_texts_get(&t, "nonul");
    TK_CHECK(v && !*v, "tEXt without NUL: key only");
    TK_CHECK(!vkt_png_texts_get(&t, "bad") && t.n == 3, "empty key and bad UTF-8 iTXt skipped");
    vkt_png_texts_fini(&t);

    /* Every truncation of that stream fails cleanly. */
    int ok = 1;
    for (size_t cut = 0; cut < m.n; cut++) {
        vkt_status s = vkt_png_texts_read(m.p, cut, "cut.png", &t, &err);
        ok &= s == VKT_ERR_FORMAT && has_msg(&err, "cut.png");
        if (s == VKT_OK) vkt_png_texts_fini(&t);
    }
    TK_CHECK(ok, "every truncation refused");

    /* A flipped CRC bit. */
    membuf c = {0};
    png_start(&c, 1, 1, 0);
    chunk(&c, "tEXt", "k\0v", 3, 1);
    chunk(&c, "IEND", NULL, 0, 0);
    TK_CHECK(vkt_png_texts_read(c.p, c.n, "crc.png", &t, &err) == VKT_ERR_FORMAT &&
                 has_msg(&err, "bad CRC") && has_msg(&err, "crc.png"),
             "bad crc: %s", err.msg);
    free(c.p);

    /* Declared chunk length past the end of the file. */
    c = (membuf){0};
    png_start(&c, 1, 1, 0);
    uint8_t hdr[8] = {0x7f, 0xff, 0xff, 0xff, 't', 'E', 'X', 't'};
    mb_write(&c, hdr, 8);
    TK_CHECK(vkt_png_texts_read(c.p, c.n, "len.png", &t, &err) == VKT_ERR_FORMAT &&
                 has_msg(&err, "past the end"),
             "length bomb: %s", err.msg);
    free(c.p);

    /* zlib bomb: 4 MiB of zeros compress to a few KiB; the inflate limit is 1 MiB. */
    size_t big = 4 << 20;
    uint8_t *zeros = calloc(1, big);
    uLongf bn = compressBound(big);
    uint8_t *bz = malloc(bn + 8);
    memcpy(bz, "bomb\0\0", 6);
    compress2(bz + 6, &bn, zeros, big, 9);
    c = (membuf){0};
    png_start(&c, 1, 1, 0);
    chunk(&c, "zTXt", bz, 6 + bn, 0);
    chunk(&c, "IEND", NULL, 0, 0);
    TK_CHECK(vkt_png_texts_read(c.p, c.n, "bomb.png", &t, &err) == VKT_ERR_FORMAT &&
                 has_msg(&err, "inflates to more than"),
             "zlib bomb: %s", err.msg);
    free(c.p);
    free(bz);
    free(zeros);

    /* Not starting with IHDR; unknown zTXt method. */
    c = (membuf){0};
    mb_write(&c, (void *)"\x89PNG\r\n\x1a\n", 8);
    chunk(&c, "tEXt", "k\0v", 3, 0);
    TK_CHECK(vkt_png_texts_read(c.p, c.n, "o.png", &t, &err) == VKT_ERR_FORMAT &&
                 has_msg(&err, "IHDR"),
             "IHDR first: %s", err.msg);
    free(c.p);
    c = (membuf){0};
    png_start(&c, 1, 1, 0);
    chunk(&c, "zTXt", "k\0\7xx", 5, 0);
    chunk(&c, "IEND", NULL, 0, 0);
    TK_CHECK(vkt_png_texts_read(c.p, c.n, "m.png", &t, &err) == VKT_ERR_FORMAT &&
                 has_msg(&err, "compression method"),
             "zTXt method: %s", err.msg);
    free(c.p);
    free(m.p);
}

static void test_infotext(void)
{
    vkt_infotext it = {.prompt = "portrait of usada pekora",
                       .steps = 20,
                       .sampler = "Euler a",
                       .cfg_scale = 7,
                       .seed = 4077357776LL,
                       .width = 512,
                       .height = 512,
                       .model_hash = "45dee52b"};
    char *s = vkt_infotext_format(&it);
    /* The wiki's example infotext (seed 003), byte for byte. */
    TK_CHECK(s && !strcmp(s, "portrait of usada pekora\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
                             "Seed: 4077357776, Size: 512x512, Model hash: 45dee52b"),
             "wiki infotext: %s", s);
    free(s);
    it.negative = "ugly, blurry";
    it.cfg_scale = 7.5;
    it.model = "tiny: test,model";
    it.seed = -1;
    s = vkt_infotext_format(&it);
    TK_CHECK(s && !strcmp(s, "portrait of usada pekora\nNegative prompt: ugly, blurry\nSteps: 20, "
                             "Sampler: Euler a, CFG scale: 7.5, Seed: -1, Size: 512x512, Model "
                             "hash: 45dee52b, Model: \"tiny: test,model\""),
             "negative + quoted model: %s", s);
    free(s);
    it = (vkt_infotext){
        .prompt = "", .steps = 1, .sampler = "DDIM", .cfg_scale = 1, .width = 64, .height = 64};
    s = vkt_infotext_format(&it);
    TK_CHECK(s && !strcmp(s, "Steps: 1, Sampler: DDIM, CFG scale: 1, Seed: 0, Size: 64x64"),
             "empty prompt stripped: %s", s);
    free(s);
    it.clip_skip = 2;
    it.model = "tiny";
    it.extra = "Pad conds: True";
    s = vkt_infotext_format(&it);
    TK_CHECK(s && !strcmp(s, "Steps: 1, Sampler: DDIM, CFG scale: 1, Seed: 0, Size: 64x64, Model: tiny, "
                             "Clip skip: 2, Pad conds: True"),
             "clip skip and extra params: %s", s);
    free(s);
    it.clip_skip = 1; /* the webui writes Clip skip only above 1 */
    it.extra = NULL;
    s = vkt_infotext_format(&it);
    TK_CHECK(s && !strcmp(s, "Steps: 1, Sampler: DDIM, CFG scale: 1, Seed: 0, Size: 64x64, Model: tiny"),
             "clip skip 1 left out: %s", s);
    free(s);
}

int main(void)
{
    test_sniff();
    test_png_roundtrip();
    test_stb_formats();
    test_webp();
    test_hostile_decode();
    test_png_texts();
    test_png_texts_hostile();
    test_infotext();
    return tk_finish("image");
}
