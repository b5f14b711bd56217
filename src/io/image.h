/* Images: decoding PNG/JPEG/BMP/TGA (stb_image) and WebP (libwebp) to RGBA8 with bounded
 * dimensions, PNG writing with text chunks (the webui's `parameters` infotext), and a bounded
 * PNG text-chunk reader (embeddings stored in PNGs). Knows nothing of Vulkan.
 *
 *   vkt_image img;
 *   if (vkt_image_load("cat.webp", NULL, &img, &err)) return err.code;   // img.rgba: [h, w, 4]
 *   ...
 *   vkt_image_fini(&img);
 *
 *   vkt_infotext it = {.prompt = "a cat", .steps = 20, .sampler = "Euler a", .cfg_scale = 7,
 *                      .seed = 1, .width = 512, .height = 512, .model_hash = "abcdef12"};
 *   char *params = vkt_infotext_format(&it);                           // free()
 *   vkt_png_text t = {"parameters", params};
 *   vkt_image_write_png("out.png", px, 512, 512, 3, &t, 1, &err);      // temp file, then rename
 *
 *   vkt_png_texts texts;
 *   vkt_png_texts_read(buf, n, "emb.png", &texts, &err);
 *   const char *b64 = vkt_png_texts_get(&texts, "sd-ti-embedding");   // NULL when absent
 *   vkt_png_texts_fini(&texts);
 */
#ifndef VKT_IO_IMAGE_H
#define VKT_IO_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef enum vkt_image_format {
    VKT_IMAGE_UNKNOWN = 0,
    VKT_IMAGE_PNG,
    VKT_IMAGE_JPEG,
    VKT_IMAGE_BMP,
    VKT_IMAGE_TGA,
    VKT_IMAGE_WEBP,
    VKT_IMAGE_OTHER, /* a recognised image format that vktrain does not decode (GIF, TIFF, ...) */
} vkt_image_format;

/* Default bounds: a side of at most 16384 px and at most 64 Mi pixels (256 MiB as RGBA8), files
 * of at most 256 MiB. Anything larger is refused before any pixel memory is allocated. */
#define VKT_IMAGE_MAX_SIDE 16384
#define VKT_IMAGE_MAX_PIXELS (64u * 1024u * 1024u)
#define VKT_IMAGE_MAX_FILE ((size_t)256 << 20)

typedef struct vkt_image_limits {
    int max_side;        /* <= 0: VKT_IMAGE_MAX_SIDE */
    uint64_t max_pixels; /* 0: VKT_IMAGE_MAX_PIXELS */
} vkt_image_limits;

typedef struct vkt_image_info {
    vkt_image_format format;
    int w, h;
    /* The file has an alpha band as Pillow reports it ('A' in Image.getbands()): PNG colour types
     * 4 and 6 (not a tRNS chunk), WebP with alpha, 32-bit TGA, 32-bit BMP with an alpha mask. */
    bool has_alpha;
} vkt_image_info;

typedef struct vkt_image {
    vkt_image_info info;
    int w, h;      /* = info.w, info.h */
    uint8_t *rgba; /* owned: [h][w][4], top row first; alpha 255 where the file has none */
} vkt_image;

/* Short upper-case name ("PNG", "WebP", ...). */
const char *vkt_image_format_name(vkt_image_format f);

/* Format from the first bytes; TGA (which has no signature) only when name ends in ".tga"
 * (any case). n may be a prefix of the file (16 bytes suffice). */
vkt_image_format vkt_image_sniff(const uint8_t *data, size_t n, const char *name);

/* Dimensions and alpha from the header only. Fails (VKT_ERR_FORMAT, message naming `name`) for
 * an unknown or unsupported format, an unreadable header, or a size over the limits (lim may be
 * NULL for the defaults). */
vkt_status vkt_image_probe_memory(const uint8_t *data, size_t n, const char *name,
                                  const vkt_image_limits *lim, vkt_image_info *out, vkt_err *err);
/* Same, reading only as much of the file as the header needs (JPEG headers may sit behind large
 * metadata segments). */
vkt_status vkt_image_probe(const char *path, const vkt_image_limits *lim, vkt_image_info *out,
                           vkt_err *err);

/* Decodes to RGBA8 (16-bit samples keep their high byte; palette and grey are expanded; alpha is
 * kept as stored, not premultiplied). The dimensions are checked against lim (NULL = defaults)
 * before decoding. Fills *out only on success; release with vkt_image_fini. */
vkt_status vkt_image_decode(const uint8_t *data, size_t n, const char *name,
                            const vkt_image_limits *lim, vkt_image *out, vkt_err *err);
vkt_status vkt_image_load(const char *path, const vkt_image_limits *lim, vkt_image *out,
                          vkt_err *err);
void vkt_image_fini(vkt_image *img);

/* One PNG text entry. key: 1-79 printable Latin-1 characters given as UTF-8, no leading,
 * trailing or double spaces; text: UTF-8 without NUL. */
typedef struct vkt_png_text {
    const char *key;
    const char *text;
} vkt_png_text;

/* Encodes 8-bit pixels [h][w][channels] (channels 1 = grey, 2 = grey+alpha, 3 = RGB, 4 = RGBA)
 * as a PNG. Text entries go after IHDR, in order, as Pillow's PngInfo.add_text writes them: tEXt
 * (Latin-1) when every character fits Latin-1, else an uncompressed iTXt (UTF-8). Rows use the
 * per-row minimum-absolute-sum filter heuristic, deflate level 6. *out is malloc'd. */
vkt_status vkt_image_png_encode(const uint8_t *px, int w, int h, int channels,
                                const vkt_png_text *texts, size_t n_texts, uint8_t **out,
                                size_t *out_n, vkt_err *err);
/* Same, written to path.tmp and renamed to path. */
vkt_status vkt_image_write_png(const char *path, const uint8_t *px, int w, int h, int channels,
                               const vkt_png_text *texts, size_t n_texts, vkt_err *err);

/* Text entries of a PNG, keys and values converted to UTF-8, in file order. */
typedef struct vkt_png_texts {
    size_t n;
    char **keys;   /* owned */
    char **values; /* owned */
} vkt_png_texts;

/* Limits of the reader, the same as Pillow's: a compressed text inflates to at most 1 MiB, all
 * texts together hold at most 64 MiB, and at most 4096 text chunks are read. */
#define VKT_PNG_TEXT_MAX_INFLATED ((size_t)1 << 20)
#define VKT_PNG_TEXT_MAX_TOTAL ((size_t)64 << 20)
#define VKT_PNG_TEXT_MAX_CHUNKS 4096

/* Walks every chunk of a PNG up to IEND, verifying the signature, chunk bounds, chunk types,
 * IHDR first and every CRC, and collects tEXt, zTXt and iTXt entries with Pillow's rules: a tEXt
 * or zTXt without a NUL has an empty value; an empty key is ignored; zTXt with a compression
 * method other than 0 is an error; undecodable compressed data gives an empty zTXt value and
 * skips an iTXt; an iTXt whose key, language or text is not valid UTF-8 is skipped; a compressed
 * text over the inflate limit or texts over the total limit fail. Fails with VKT_ERR_FORMAT and a
 * message naming `name` and the byte offset. */
vkt_status vkt_png_texts_read(const uint8_t *data, size_t n, const char *name, vkt_png_texts *out,
                              vkt_err *err);
/* Value of the last entry with this key (later chunks win, as in Pillow's dict), or NULL. */
const char *vkt_png_texts_get(const vkt_png_texts *t, const char *key);
void vkt_png_texts_fini(vkt_png_texts *t);

/* Generation parameters in the webui's infotext layout (what its PNG Info tab parses):
 *   <prompt>\nNegative prompt: <negative>\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1,
 *   Size: 512x512, Model hash: abcdef12, Model: name, Clip skip: 2, <extra>
 * (processing.py create_infotext's order). The negative-prompt line is left out when negative is
 * NULL or empty; NULL/empty model_hash and model are left out; Clip skip only when above 1; extra
 * (already formatted "Key: value, ..." pairs, the webui's extra_generation_params) when not
 * NULL/empty; a value containing ',', ':' or a newline is written as a JSON string, as
 * the webui's quote() does. Numbers use the shortest form ("7", "7.5"). Returns a malloc'd string
 * or NULL on host OOM. */
typedef struct vkt_infotext {
    const char *prompt;
    const char *negative;
    int steps;
    const char *sampler;
    double cfg_scale;
    int64_t seed;
    int width, height;
    const char *model_hash;
    const char *model;
    int clip_skip;     /* "Clip skip: N" when > 1 */
    const char *extra; /* appended as is */
} vkt_infotext;
char *vkt_infotext_format(const vkt_infotext *p);

#endif
