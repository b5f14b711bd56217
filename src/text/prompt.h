/* The webui's prompt handling for SD1 (../shared/spec/tokenizer-and-prompts.md §5-§6): emphasis
 * syntax, BREAK, 75-token chunks framed by BOS/EOS and padded with EOS to 77, comma
 * back-tracking, and textual-inversion embeddings found by name in the token stream.
 * Knows nothing of Vulkan or of embedding files: the caller registers names and vector counts.
 *
 *   vkt_prompt_embs *embs = NULL;
 *   vkt_prompt_embs_create(&embs, &err);
 *   vkt_prompt_embs_add(embs, tok, "myemb", 3, NULL, &err);       // name -> 3 vectors
 *   vkt_prompt_result r = {0};
 *   if (vkt_prompt_tokenize(tok, embs, "a photo of (myemb:1.2)", SIZE_MAX, NULL, &r, &err) ==
 * VKT_OK) for (size_t c = 0; c < r.n_chunks; c++) use(r.chunks[c].ids, r.chunks[c].multipliers);
 *   vkt_prompt_result_fini(&r);
 *   vkt_prompt_embs_destroy(embs);
 */
#ifndef VKT_TEXT_PROMPT_H
#define VKT_TEXT_PROMPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "text/tokenizer.h"

enum {
    VKT_PROMPT_CHUNK = 75,    /* tokens of text per chunk */
    VKT_PROMPT_CHUNK_IDS = 77 /* with BOS and EOS */
};

/* ---------------------------------------------------------------------------------------------
 * Emphasis parsing: prompt -> (text, weight) fragments, as the webui's parse_prompt_attention. */

typedef struct vkt_prompt_frag {
    char *text; /* owned by the vkt_prompt_frags; UTF-8, NUL-terminated (may hold NULs too) */
    size_t len; /* bytes of text */
    double weight;
    bool is_break; /* the BREAK marker (text "BREAK", weight -1 after all multiplications) */
} vkt_prompt_frag;

typedef struct vkt_prompt_frags {
    vkt_prompt_frag *v;
    size_t n;
} vkt_prompt_frags;

/* Splits text[0..len) (len == SIZE_MAX: NUL-terminated) into fragments: `( )` x1.1, `[ ]` x1/1.1,
 * `(text:W)`, escapes \( \) \[ \] \\, a lone backslash dropped, unbalanced groups closed at the
 * end, BREAK markers, adjacent fragments of equal weight merged. With parse == false (the webui's
 * emphasis mode "None") the whole text is one fragment of weight 1.
 * Fails (VKT_ERR_FORMAT) on invalid UTF-8, on a malformed weight such as "1.2.3" inside an open
 * round group (the webui raises there too) and when a weight is not finite. */
vkt_status vkt_prompt_parse(const char *text, size_t len, bool parse, vkt_prompt_frags *out,
                            vkt_err *err);
void vkt_prompt_frags_fini(vkt_prompt_frags *f);

/* ---------------------------------------------------------------------------------------------
 * Embedding names. Each name is tokenized with the same tokenizer; at each position of a
 * fragment's ids the longest registered id sequence that matches wins (equal lengths: the
 * earlier registration), as the webui's EmbeddingDatabase.find_embedding_at_position. */

typedef struct vkt_prompt_embs vkt_prompt_embs;

vkt_status vkt_prompt_embs_create(vkt_prompt_embs **out, vkt_err *err);
void vkt_prompt_embs_destroy(vkt_prompt_embs *e);
/* Registers `name` with n_vectors (1..75) vectors; `user` is handed back in placements
 * (borrowed). Registering a name again replaces the earlier entry and moves it to the end of the
 * registration order (webui register_embedding_by_name). Returns the entry's index in *index
 * (may be NULL). Fails (VKT_ERR_USAGE) for n_vectors out of range or a name that tokenizes to
 * nothing. */
vkt_status vkt_prompt_embs_add(vkt_prompt_embs *e, vkt_tokenizer *tok, const char *name,
                               int n_vectors, void *user, vkt_err *err);
size_t vkt_prompt_embs_count(const vkt_prompt_embs *e);

/* ---------------------------------------------------------------------------------------------
 * Chunking. */

typedef struct vkt_prompt_opts {
    /* webui "comma_padding_backtrack" (Prompt word wrap length limit): 0..74, default 20 */
    int comma_backtrack;
    /* false: emphasis mode "None" (no parsing, brackets are text). The modes Original, No norm
     * and Ignore all parse; they differ only in how the encoder applies the multipliers. */
    bool parse_emphasis;
    /* When the comma rule moves a chunk's tail into the next chunk, the webui leaves the moved
     * embeddings' placements behind (they then point at padding of the earlier chunk). false
     * (default) reproduces that; true moves them along with their tokens. */
    bool move_embeddings_with_tail;
} vkt_prompt_opts;

/* The webui defaults: backtrack 20, parse emphasis, webui placement quirk. */
vkt_prompt_opts vkt_prompt_opts_default(void);

typedef struct vkt_prompt_fix {
    int32_t position; /* index of the first vector in the chunk, counted from BOS = 0 */
    int32_t vectors;  /* positions it occupies (their ids are 0) */
    int32_t emb;      /* registration index in the vkt_prompt_embs */
    const char *name; /* borrowed from the vkt_prompt_embs */
    void *user;       /* as given to vkt_prompt_embs_add */
} vkt_prompt_fix;

typedef struct vkt_prompt_chunk {
    int32_t ids[VKT_PROMPT_CHUNK_IDS];        /* BOS, 75 tokens/placeholders/EOS padding, EOS */
    double multipliers[VKT_PROMPT_CHUNK_IDS]; /* emphasis weight per position (1.0 for BOS/EOS) */
    vkt_prompt_fix *fixes;                    /* owned by the result */
    size_t n_fixes;
} vkt_prompt_chunk;

typedef struct vkt_prompt_result {
    vkt_prompt_chunk *chunks; /* at least one chunk on success ("" -> BOS + 76 x EOS) */
    size_t n_chunks;
    size_t n_tokens; /* the webui's token count: 75 per full chunk + the last chunk's tokens */
} vkt_prompt_result;

/* Parses (per opts->parse_emphasis), tokenizes each fragment separately and cuts the stream
 * into chunks. embs may be NULL (no embeddings); opts NULL means the defaults. On failure *out
 * is left empty. Same failures as vkt_prompt_parse and vkt_tokenizer_encode. */
vkt_status vkt_prompt_tokenize(vkt_tokenizer *tok, const vkt_prompt_embs *embs, const char *text,
                               size_t len, const vkt_prompt_opts *opts, vkt_prompt_result *out,
                               vkt_err *err);
void vkt_prompt_result_fini(vkt_prompt_result *r);

/* Appends empty chunks (BOS + 76 x EOS, multipliers 1, no embeddings) until r has n_chunks, as
 * the webui pads the rows of a batch whose prompts have different chunk counts (chunk k of every
 * row is then encoded together). No-op when r already has that many. n_tokens is unchanged. */
vkt_status vkt_prompt_result_pad(vkt_prompt_result *r, size_t n_chunks, vkt_err *err);

#endif
