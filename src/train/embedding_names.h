/* Glue between embedding files (io/embedding_db) and the prompt parser (text/prompt): registers
 * every loaded embedding's trigger word with a vkt_prompt_embs, the user pointer of each
 * placement being the vkt_embedding itself. Host only.
 *
 *   vkt_embedding_db_load_dir(db, "embeddings", 768, &err);
 *   vkt_embedding_names_register(db, tok, pe, &err);   // refused names become db notes
 *   ... vkt_prompt_tokenize(tok, pe, prompt, ...) ... fix->user is a (vkt_embedding *)
 */
#ifndef VKT_TRAIN_EMBEDDING_NAMES_H
#define VKT_TRAIN_EMBEDDING_NAMES_H

#include "base/err.h"
#include "io/embedding_db.h"
#include "text/prompt.h"
#include "text/tokenizer.h"

/* Registers db->embs in order (the webui's registration order, so equal-length matches resolve
 * as there). An embedding the parser refuses (a trigger word that tokenizes to nothing or is not
 * valid UTF-8, more than 75 vectors) is dropped from db with a SKIPPED note. Fails only on host
 * OOM or an internal error. The db must outlive pe's placements (user pointers are borrowed). */
vkt_status vkt_embedding_names_register(vkt_embedding_db *db, vkt_tokenizer *tok,
                                        vkt_prompt_embs *pe, vkt_err *err);

#endif
