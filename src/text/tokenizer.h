/* CLIP BPE tokenizer, identical in output to the one SD1 uses (HF CLIPTokenizer over openai's
 * bpe_simple_vocab_16e6 merges), minus ftfy. Knows nothing of Vulkan; uses base + utf8proc + zlib.
 *
 *   vkt_tokenizer *tok = NULL;
 *   vkt_ids ids = {0};
 *   if (vkt_tokenizer_create(NULL, &tok, &err) == VKT_OK &&              // embedded merges
 *       vkt_tokenizer_encode(tok, "a photo of a cat", 16, &ids, &err) == VKT_OK)
 *       use(ids.v, ids.n);                                               // 320 1125 539 320 2368
 *   vkt_ids_fini(&ids);
 *   vkt_tokenizer_destroy(tok);
 *
 * Text cleaning (../shared/spec/tokenizer-and-prompts.md §2): NFC, every run of Unicode
 * whitespace -> one space, strip both ends, full lower-casing as Python's str.lower() does it
 * (including U+0130 -> "i\u0307" and the final-sigma rule). ftfy's other fixes (mojibake, curly
 * quotes, ligatures, full-width forms, control characters, HTML entities) are NOT applied: prompts
 * with characters ftfy would change can tokenize differently from a webui that has ftfy.
 * The strings "<|startoftext|>" / "<|endoftext|>" become BOS/EOS only where the pre-tokenizer regex
 * finds them (spec §3); HF's slow tokenizer also splits the raw text on them first, so after
 * punctuation (",<|endoftext|>") HF gives "," + EOS where this gives the regex's pieces.
 * Invalid UTF-8 is an error (VKT_ERR_FORMAT naming the byte offset), never replaced.
 * A vkt_tokenizer caches BPE results per pre-token, so it is not thread-safe; use one per thread.
 */
#ifndef VKT_TEXT_TOKENIZER_H
#define VKT_TEXT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

enum {
    VKT_CLIP_N_MERGES = 48894, /* = 49152 - 256 - 2 merges used from the file */
    VKT_CLIP_N_VOCAB = 49408,
    VKT_CLIP_BOS = 49406, /* <|startoftext|> */
    VKT_CLIP_EOS = 49407, /* <|endoftext|>, also SD1's pad id */
    VKT_CLIP_COMMA = 267, /* ",</w>" */
};

/* A growable array of token ids (zero-initialise; release with vkt_ids_fini). */
typedef struct vkt_ids {
    int32_t *v;
    size_t n, cap;
} vkt_ids;

vkt_status vkt_ids_push(vkt_ids *ids, int32_t id, vkt_err *err);
void vkt_ids_fini(vkt_ids *ids);

typedef struct vkt_tokenizer vkt_tokenizer;

/* Builds the vocabulary from a merges file: `vocab_path` (gzip'd or plain text, the first line a
 * header, then one "a b" merge per line; the first 48,894 are used), or the embedded
 * assets/clip/bpe_simple_vocab_16e6.txt.gz when vocab_path is NULL. Fails (VKT_ERR_FORMAT) when
 * the file has fewer than 48,894 merges or a malformed line, VKT_ERR_IO when it cannot be read. */
vkt_status vkt_tokenizer_create(const char *vocab_path, vkt_tokenizer **out, vkt_err *err);
/* Same from bytes in memory (gzip'd or plain); `what` names the source in messages. */
vkt_status vkt_tokenizer_create_from_memory(const uint8_t *data, size_t n, const char *what,
                                            vkt_tokenizer **out, vkt_err *err);
void vkt_tokenizer_destroy(vkt_tokenizer *tok);

/* Appends the BPE ids of text[0..len) (no BOS/EOS) to *out. On failure *out keeps what it had
 * before the call. Fails on invalid UTF-8 (VKT_ERR_FORMAT) or host OOM. */
vkt_status vkt_tokenizer_encode(vkt_tokenizer *tok, const char *text, size_t len, vkt_ids *out,
                                vkt_err *err);

/* The cleaned text the pre-tokenizer sees (NFC, whitespace collapsed and stripped, lower-cased)
 * as a malloc'd NUL-terminated UTF-8 string in *out (caller frees). For tests and tools. */
vkt_status vkt_tokenizer_clean(const char *text, size_t len, char **out, size_t *out_len,
                               vkt_err *err);

/* The vocabulary entry of an id as the vocab files spell it (byte-level symbols, "</w>" ending a
 * word), e.g. "photo</w>"; NULL when id is out of range. Borrowed from tok. */
const char *vkt_tokenizer_symbol(const vkt_tokenizer *tok, int32_t id);

/* The UTF-8 bytes an id stands for ("</w>" becomes a trailing space), written to buf (at most
 * cap-1 bytes, NUL-terminated); returns the byte count before truncation, or -1 for a bad id.
 * The bytes of one id can be part of a multi-byte character. */
int vkt_tokenizer_decode_id(const vkt_tokenizer *tok, int32_t id, char *buf, size_t cap);

#endif
