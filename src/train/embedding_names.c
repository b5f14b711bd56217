/* Registers loaded embeddings with the prompt parser (webui EmbeddingDatabase.register_embedding).
 * Host only. */
#include "train/embedding_names.h"

#include <stdio.h>

vkt_status vkt_embedding_names_register(vkt_embedding_db *db, vkt_tokenizer *tok,
                                        vkt_prompt_embs *pe, vkt_err *err)
{
    size_t i = 0;
    while (i < db->n) {
        vkt_embedding *e = db->embs[i];
        vkt_err aerr = {0};
        vkt_status st;
        if (e->n_vectors > VKT_PROMPT_CHUNK) {
            st = vkt_fail(&aerr, VKT_ERR_USAGE, "%d vectors, more than a %d-token chunk holds",
                          e->n_vectors, VKT_PROMPT_CHUNK);
        } else {
            st = vkt_prompt_embs_add(pe, tok, e->name, e->n_vectors, e, &aerr);
        }
        if (st == VKT_ERR_NOMEM || st == VKT_ERR_INTERNAL) {
            *err = aerr;
            return st;
        }
        if (st) {
            char why[300];
            snprintf(why, sizeof why, "embedding \"%s\" not usable in prompts: %s", e->name,
                     aerr.msg);
            if ((st = vkt_embedding_db_drop(db, i, why, err))) return st;
            continue;
        }
        i++;
    }
    return VKT_OK;
}
