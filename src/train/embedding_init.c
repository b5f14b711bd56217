/* New embeddings from an init text (webui create_embedding() + encode_embedding_init_text()).
 * Host only: the token-embedding rows are read straight from the model file's map. */
#include "train/embedding_init.h"

#include <string.h>

#include "text/prompt.h"

vkt_status vkt_embedding_init_from_text(const vkt_model_file *mf, vkt_tokenizer *tok,
                                        const char *name, const char *init_text, int n_vectors,
                                        vkt_embedding **out, vkt_ids *ids_out, vkt_err *err)
{
    vkt_status st = VKT_OK;
    vkt_embedding *e = NULL;
    vkt_ids ids = {0};
    if (n_vectors < 1 || n_vectors > VKT_PROMPT_CHUNK)
        return vkt_fail(err, VKT_ERR_USAGE, "vectors per token must be 1..%d, got %d",
                        VKT_PROMPT_CHUNK, n_vectors);
    const vkt_tensor_data *t = vkt_model_file_find(mf, VKT_TOKEN_EMBEDDING_KEY);
    if (!t || t->ndim != 2 || t->shape[0] < 1 || t->shape[1] < 1 ||
        !vkt_io_dtype_is_float(t->dtype)) {
        char sh[96] = "missing";
        if (t) vkt_tensor_data_shape_str(t, sh, sizeof sh);
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "model has no usable token-embedding table \"%s\" (%s, expected a float "
                        "[vocab, width])",
                        VKT_TOKEN_EMBEDDING_KEY, sh);
    }
    int64_t vocab = t->shape[0], width = t->shape[1];
    if (width > VKT_EMBEDDING_MAX_WIDTH)
        return vkt_fail(err, VKT_ERR_FORMAT, "token embedding width %lld is too large",
                        (long long)width);
    if ((st = vkt_embedding_file_new(name, n_vectors, (int)width, &e, err))) return st;
    if (init_text[0]) {
        /* webui: tokenizer(init_text, max_length=N, add_special_tokens=False) -> first N ids */
        if ((st = vkt_tokenizer_encode(tok, init_text, strlen(init_text), &ids, err))) {
            vkt_err_prefix(err, "init text");
            goto done;
        }
        if (ids.n == 0) {
            st = vkt_fail(err, VKT_ERR_USAGE, "init text \"%s\" has no tokens", init_text);
            goto done;
        }
        if (ids.n > (size_t)n_vectors) ids.n = (size_t)n_vectors;
        for (size_t k = 0; k < ids.n; k++)
            if (ids.v[k] < 0 || ids.v[k] >= vocab) {
                st = vkt_fail(err, VKT_ERR_FORMAT,
                              "init text token %d is outside the model's %lld-token vocabulary",
                              ids.v[k], (long long)vocab);
                goto done;
            }
        /* vec[i] = embedded[i * n // N] */
        size_t n = ids.n;
        for (int i = 0; i < n_vectors; i++) {
            int64_t row = ids.v[(size_t)i * n / (size_t)n_vectors];
            for (int64_t c = 0; c < width; c++)
                e->vectors[(size_t)i * (size_t)width + (size_t)c] =
                    (float)vkt_tensor_data_get(t, (size_t)(row * width + c));
        }
    }
    e->has_step = true;
    e->step = 0;
    e->requires_grad = false;
    if (ids_out) {
        *ids_out = ids;
        ids = (vkt_ids){0};
    }
    *out = e;
    e = NULL;
done:
    vkt_ids_fini(&ids);
    vkt_embedding_file_destroy(e);
    return st;
}
