/* Initial vectors of a new embedding, as the webui's Create-embedding tab makes them
 * (training.md §6, textual_inversion.py create_embedding()): the init text's token-embedding
 * rows read from the model file, stretched or trimmed to N vectors. Host only.
 *
 *   vkt_embedding *e; vkt_ids ids = {0};
 *   vkt_embedding_init_from_text(mf, tok, "cat", "a photo", 4, &e, &ids, &err);  // a a photo photo
 */
#ifndef VKT_TRAIN_EMBEDDING_INIT_H
#define VKT_TRAIN_EMBEDDING_INIT_H

#include "base/err.h"
#include "io/embedding_file.h"
#include "io/model_file.h"
#include "text/tokenizer.h"

/* The model's CLIP token-embedding table. */
#define VKT_TOKEN_EMBEDDING_KEY                                                                    \
    "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"

/* A new embedding `name` with n_vectors (1..75) vectors: init_text is tokenized with the plain
 * tokenizer (no BOS/EOS, no emphasis), the first n_vectors ids kept (n of them), and vector i is
 * token-embedding row ids[floor(i * n / n_vectors)] (so "a b" with 4 vectors gives a, a, b, b).
 * An empty init_text gives zero vectors; one that tokenizes to nothing (only spaces) fails
 * (VKT_ERR_USAGE) as it does in the webui. Rows of any float dtype are converted to float32. step
 * is 0, requires_grad false, no checkpoint fields. ids (may be NULL) receives the ids used.
 * Errors: VKT_ERR_FORMAT when the model has no token-embedding table of shape [vocab, W] or an id
 * is out of its range, tokenizer errors, VKT_ERR_NOMEM. */
vkt_status vkt_embedding_init_from_text(const vkt_model_file *mf, vkt_tokenizer *tok,
                                        const char *name, const char *init_text, int n_vectors,
                                        vkt_embedding **out, vkt_ids *ids, vkt_err *err);

#endif
