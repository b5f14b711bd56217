/* Embeddings carried by images (../shared/spec/file-formats.md §4.3-4.4): the PNG text chunk
 * `sd-ti-embedding` (base64 of the embedding JSON) and the pixel-encoded form the webui puts
 * around a preview ("image_embeddings": zlib'd JSON split into nibbles, scrambled with an LCG,
 * in two RGB blocks left and right of the preview). This module moves bytes between images and
 * the JSON text; io/embedding_file turns the JSON into an embedding. Knows nothing of Vulkan.
 *
 *   char *json; size_t n; vkt_embedding_container how;
 *   vkt_embedding_image_extract(file_bytes, size, "cat.png", &json, &n, &how, &err);
 *   // json == NULL: the image carries no embedding
 *
 *   vkt_embedding_image_write_png("cat.png", emb, preview_rgb, w, h, &err);  // both forms
 */
#ifndef VKT_IO_EMBEDDING_IMAGE_H
#define VKT_IO_EMBEDDING_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "io/embedding_file.h"

/* Largest JSON accepted from an image (a [75, 768] embedding is about 1.3 MB of JSON; the bound
 * keeps a hostile image from making the JSON parser build hundreds of MB of nodes). */
#define VKT_EMBEDDING_IMAGE_MAX_JSON ((size_t)4 << 20)

/* The embedding JSON an image file carries: the PNG text entry `sd-ti-embedding` (base64) when
 * present, else the pixel blocks. *json (malloc'd, NUL-terminated) is NULL when the image has
 * neither (no text entry and fewer than two black columns: the webui's "not an embedding"); *how
 * says which form was found. Errors: VKT_ERR_FORMAT for an undecodable image, bad base64, pixel
 * blocks that do not inflate (naming the file), VKT_ERR_NOMEM. */
vkt_status vkt_embedding_image_extract(const uint8_t *data, size_t n, const char *filename,
                                       char **json, size_t *json_n, vkt_embedding_container *how,
                                       vkt_err *err);

/* Base64 (standard alphabet, padded) of bytes, as Python's base64.b64encode; *out is malloc'd and
 * NUL-terminated. */
vkt_status vkt_embedding_image_b64_encode(const void *data, size_t n, char **out, size_t *out_n,
                                          vkt_err *err);
/* Decodes base64 as Python's base64.b64decode (non-strict): characters outside the alphabet are
 * skipped, data ends at the first '='. Fails (VKT_ERR_FORMAT) when the data length leaves a
 * single dangling character. *out is malloc'd (NUL-terminated for convenience). */
vkt_status vkt_embedding_image_b64_decode(const char *s, size_t n, uint8_t **out, size_t *out_n,
                                          vkt_err *err);

/* webui extract_image_data_embed() on 8-bit pixels [h][w][channels] (channels 3 or 4; alpha is
 * ignored, as Image.convert('RGB')): crop to the non-black bounding box, find the black columns,
 * unscramble both blocks and inflate. *json is NULL (and VKT_OK) when there are fewer than two
 * black columns. Fails (VKT_ERR_FORMAT) when the blocks differ in size or do not inflate. */
vkt_status vkt_embedding_image_pixels_decode(const uint8_t *px, int w, int h, int channels,
                                             const char *label, char **json, size_t *json_n,
                                             vkt_err *err);

/* webui insert_image_data_embed(): json[0..n) zlib-compressed (level 9) into two blocks of
 * height h around the preview (RGB [h][w][3]). Returns a new RGB image [h][*out_w][3] (malloc'd):
 * lower block, a black column, the preview, a black column, upper block. The high nibble of every
 * data pixel is 0x80 (the webui draws grey dots there; decoding ignores it) so no data pixel is
 * black. The result is decoded again and compared before it is returned. */
vkt_status vkt_embedding_image_pixels_encode(const char *json, size_t n, const uint8_t *preview,
                                             int w, int h, uint8_t **out, int *out_w, vkt_err *err);

/* What the webui saves in image_embeddings/: the preview (RGB [h][w][3]) with e in pixel blocks
 * and in an `sd-ti-embedding` text chunk, as a PNG at path (temp file, then rename). */
vkt_status vkt_embedding_image_write_png(const char *path, const vkt_embedding *e,
                                         const uint8_t *preview, int w, int h, vkt_err *err);

#endif
