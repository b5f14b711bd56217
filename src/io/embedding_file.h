/* Textual-inversion embedding files (../shared/spec/file-formats.md §4): reads every form the
 * webui's EmbeddingDatabase loads — the webui .pt dict, diffusers .bin {token: tensor}, kohya
 * .safetensors/.pt {"emb_params": tensor}, SDXL {clip_l, clip_g}, PNG/WebP images carrying the
 * dict in an `sd-ti-embedding` text chunk or in pixel blocks — and writes the webui .pt (exactly
 * the dict textual_inversion.py saves), kohya-style .safetensors and the JSON form used inside
 * images. Also the webui's 4-hex embedding checksum. Knows nothing of Vulkan or of tokenizers.
 *
 *   vkt_embedding *e;
 *   if (vkt_embedding_file_read("embeddings/cat.pt", &e, &err)) return err.code;
 *   if (!e) ...                        // an image without an embedding: not an error
 *   use(e->name, e->vectors, e->n_vectors, e->width);   // vectors: float32 [N, W]
 *   vkt_embedding_file_destroy(e);
 *
 *   vkt_embedding_file_new("cat", 4, 768, &e, &err);    // zero vectors, step 0
 *   vkt_embedding_file_write_pt(e, "embeddings/cat.pt", &err);   // temp file, then rename
 */
#ifndef VKT_IO_EMBEDDING_FILE_H
#define VKT_IO_EMBEDDING_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Bounds on what a reader accepts (an SD1 embedding is at most [75, 768] = 57,600 values; SDXL's
 * clip_g is 1280 wide). Larger shapes are refused before any allocation, so a hostile file of a
 * few bytes (a stride-0 tensor) cannot make the reader allocate more than 16 MiB per tensor. */
#define VKT_EMBEDDING_MAX_VECTORS 4096
#define VKT_EMBEDDING_MAX_WIDTH 16384
#define VKT_EMBEDDING_MAX_VALUES (1 << 22)

/* Which of the webui's interpretation rules (file-formats.md §4.2) matched. */
typedef enum vkt_embedding_layout {
    VKT_EMB_LAYOUT_WEBUI,     /* string_to_param holding one tensor (also a ParameterDict) */
    VKT_EMB_LAYOUT_SDXL,      /* {clip_g, clip_l} */
    VKT_EMB_LAYOUT_KOHYA,     /* a dict with one tensor, keyed "emb_params" */
    VKT_EMB_LAYOUT_DIFFUSERS, /* a dict with one tensor under any other key ({"<token>": [W]}) */
} vkt_embedding_layout;

/* Where the dict came from. */
typedef enum vkt_embedding_container {
    VKT_EMB_FILE_PT,          /* torch zip pickle (.pt, .bin) */
    VKT_EMB_FILE_SAFETENSORS, /* .safetensors */
    VKT_EMB_FILE_IMAGE_TEXT,  /* PNG text chunk `sd-ti-embedding` (base64 JSON) */
    VKT_EMB_FILE_IMAGE_PIXELS /* pixel blocks of a PNG/WebP (zlib JSON, §4.4) */
} vkt_embedding_container;

typedef struct vkt_embedding {
    /* The trigger word the webui registers: the file stem for .pt/.bin/.safetensors, the dict's
     * `name` (else the stem) for images. Owned. */
    char *name;
    /* The dict's `name` field when it is a string, else NULL (always NULL for safetensors).
     * Owned. */
    char *stored_name;
    int n_vectors;  /* N: rows */
    int width;      /* W of `vectors` (for SDXL: the clip_l width) */
    float *vectors; /* owned: [N, W] row-major */
    /* SDXL only: the clip_g part [N, width_g]; width_g = 0 and vectors_g = NULL otherwise. */
    int width_g;
    float *vectors_g;
    /* `step`: has_step false when missing or None (or not an int: metadata of other types is
     * ignored, as the webui ignores it for prompts). */
    bool has_step;
    int64_t step;
    char *sd_checkpoint;      /* owned; NULL for None / missing */
    char *sd_checkpoint_name; /* owned; NULL for None / missing */
    /* Written as the tensor's requires_grad flag (the webui: False when created, True once
     * trained). Readers set it from the file where it has one. */
    bool requires_grad;
    vkt_embedding_layout layout;
    vkt_embedding_container container;
} vkt_embedding;

/* A fresh embedding named `name` (copied) with N zero vectors of width W, step 0, no checkpoint.
 * Fails (VKT_ERR_USAGE) for N or W out of range, VKT_ERR_NOMEM. */
vkt_status vkt_embedding_file_new(const char *name, int n_vectors, int width, vkt_embedding **out,
                                  vkt_err *err);
/* Frees everything; NULL is a no-op. */
void vkt_embedding_file_destroy(vkt_embedding *e);
/* Replaces a string field (name, sd_checkpoint, ...) with a copy of s (NULL clears it). */
vkt_status vkt_embedding_file_set_str(char **field, const char *s, vkt_err *err);

/* The width the webui compares with the model's token-embedding width: W, or W_g + W_l for SDXL. */
int vkt_embedding_file_shape(const vkt_embedding *e);

/* Reads one file, dispatching on its extension (any case) as the webui does: .pt/.bin (torch zip
 * through the restricted unpickler), .safetensors, .png/.webp (text chunk, else pixel blocks).
 * On success *out is the embedding, or NULL when the file is not an embedding the webui would
 * load: an image carrying none, an image whose stem ends in ".preview", an extension the webui
 * ignores. Errors: VKT_ERR_IO; VKT_ERR_FORMAT naming the file and what is wrong (hostile pickle,
 * "multiple terms", not a float tensor, shape [..] not [N, W], ...); VKT_ERR_UNSUPPORTED (legacy
 * torch files, .jxl/.avif images); VKT_ERR_NOMEM. Values are converted to float32 (NaN and Inf
 * are kept: check them where they matter). */
vkt_status vkt_embedding_file_read(const char *path, vkt_embedding **out, vkt_err *err);
/* Same over bytes in memory; `filename` gives the extension, the stem and the messages. */
vkt_status vkt_embedding_file_read_memory(const uint8_t *data, size_t n, const char *filename,
                                          vkt_embedding **out, vkt_err *err);

/* The embedding dict in the JSON form of file-formats.md §4.3 (Python's json.dumps with the
 * webui's EmbeddingEncoder: ", " / ": " separators, ASCII-only escapes, every tensor as
 * {"TORCHTENSOR": nested lists} of the float32 values printed as Python floats), keys in the
 * order of the webui .pt. *out is malloc'd and NUL-terminated. Not for SDXL embeddings. */
vkt_status vkt_embedding_file_to_json(const vkt_embedding *e, char **out, size_t *out_n,
                                      vkt_err *err);
/* Parses that JSON form (as the webui's EmbeddingDecoder) and applies the loading rules;
 * `filename` names the source and gives the fallback name. Sets container to IMAGE_TEXT. */
vkt_status vkt_embedding_file_from_json(const char *json, size_t n, const char *filename,
                                        vkt_embedding **out, vkt_err *err);

/* Writes the webui .pt of file-formats.md §4.1: {string_to_token: {'*': 265}, string_to_param:
 * {'*': float32 [N, W]}, name, step (None when !has_step), sd_checkpoint, sd_checkpoint_name},
 * in that order, via path.tmp + rename. `name` written is stored_name when set, else name.
 * Refuses SDXL embeddings (VKT_ERR_UNSUPPORTED). */
vkt_status vkt_embedding_file_write_pt(const vkt_embedding *e, const char *path, vkt_err *err);
/* Same bytes into a malloc'd buffer; `folder` is the archive folder ("cat" for cat.pt). */
vkt_status vkt_embedding_file_write_pt_memory(const vkt_embedding *e, const char *folder,
                                              uint8_t **out, size_t *out_n, vkt_err *err);
/* Writes kohya's layout: {"emb_params": float32 [N, W]} (SDXL: {"clip_g", "clip_l"}) as
 * .safetensors with no metadata (the webui ignores it), via path.tmp + rename. */
vkt_status vkt_embedding_file_write_safetensors(const vkt_embedding *e, const char *path,
                                                vkt_err *err);

/* The webui's Embedding.checksum() (file-formats.md §4.5) of n float32 values: 4 lowercase hex
 * digits + NUL into out. Fails (VKT_ERR_NUMERIC) on NaN or Inf, where the webui raises. */
vkt_status vkt_embedding_file_checksum(const float *v, size_t n, char out[5], vkt_err *err);

/* Human-readable names: "webui", "sdxl", "kohya", "diffusers" / "pt", "safetensors",
 * "image-text", "image-pixels". */
const char *vkt_embedding_file_layout_name(vkt_embedding_layout l);
const char *vkt_embedding_file_container_name(vkt_embedding_container c);

#endif
