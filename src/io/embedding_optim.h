/* Optimizer state of a textual-inversion embedding (`<name>.pt.optim`, file-formats.md §5): the
 * dict the webui saves next to the .pt — {'hash': <4-hex embedding checksum>,
 * 'optimizer_state_dict': torch AdamW state for the one [N, W] parameter} — and the rule the
 * webui uses to accept it on resume (hash == checksum of the loaded vectors). Knows nothing of
 * Vulkan.
 *
 *   vkt_embedding_optim *o;
 *   if (vkt_embedding_optim_read("cat.pt.optim", &o, &err) == VKT_OK) {
 *       char why[160];
 *       if (!vkt_embedding_optim_usable(o, emb, why, sizeof why)) warn(why); // fresh AdamW
 *   }
 *   vkt_embedding_optim_write(o, emb, "cat.pt.optim", &err);  // hash = checksum(emb)
 *   vkt_embedding_optim_destroy(o);
 */
#ifndef VKT_IO_EMBEDDING_OPTIM_H
#define VKT_IO_EMBEDDING_OPTIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "io/embedding_file.h"

typedef struct vkt_embedding_optim {
    char *hash; /* owned: the file's 'hash' string (NULL for a fresh state) */
    /* The moments, owned, [N, W]. A file saved before the first update has an empty state: then
     * step is 0, the moments are NULL and n_vectors = width = 0 (start from zeros). */
    int n_vectors, width;
    float *exp_avg;
    float *exp_avg_sq;
    int64_t step; /* AdamW t: updates done */
    /* param_groups[0]; the webui restores these with the state (training.md §8) */
    double lr, beta1, beta2, eps, weight_decay;
    bool amsgrad, maximize;
} vkt_embedding_optim;

/* A fresh AdamW state as the webui's TI trainer makes it: zero moments, step 0, the given lr,
 * betas (0.9, 0.999), eps 1e-8, weight_decay 0. */
vkt_status vkt_embedding_optim_new(int n_vectors, int width, double lr, vkt_embedding_optim **out,
                                   vkt_err *err);
void vkt_embedding_optim_destroy(vkt_embedding_optim *o);

/* Reads a .pt.optim (torch zip through the restricted unpickler). Accepts the layouts of torch
 * 1.x and 2.x: 'step' as a 0-d tensor or a number, optional keys absent. Fails (VKT_ERR_FORMAT,
 * naming the key) when the structure is not one AdamW group over one [N, W] parameter with float
 * moments of the same shape, or when a value has the wrong type. */
vkt_status vkt_embedding_optim_read(const char *path, vkt_embedding_optim **out, vkt_err *err);
vkt_status vkt_embedding_optim_read_memory(const uint8_t *data, size_t n, const char *label,
                                           vkt_embedding_optim **out, vkt_err *err);

/* The webui's acceptance rule for resuming: the hash equals the checksum of e's vectors; and, so
 * the state fits, the moments have e's shape and amsgrad/maximize are off. False with the reason
 * in why (may be NULL) otherwise: the caller then starts a fresh AdamW, as the webui does. */
bool vkt_embedding_optim_usable(const vkt_embedding_optim *o, const vkt_embedding *e, char *why,
                                size_t why_n);

/* Writes {'hash': checksum(e), 'optimizer_state_dict': {'state': {0: {'step': tensor(float32),
 * 'exp_avg', 'exp_avg_sq'}}, 'param_groups': [{'lr', 'betas', 'eps', 'weight_decay', 'amsgrad',
 * 'foreach': None, 'maximize', 'capturable': False, 'differentiable': False, 'fused': None,
 * 'params': [0]}]}} as torch 2.x's AdamW.state_dict() (step 0 writes an empty state, as torch
 * does before the first update), via path.tmp + rename. Fails when the shapes differ from e or
 * the vectors are not finite (no checksum). */
vkt_status vkt_embedding_optim_write(const vkt_embedding_optim *o, const vkt_embedding *e,
                                     const char *path, vkt_err *err);
vkt_status vkt_embedding_optim_write_memory(const vkt_embedding_optim *o, const vkt_embedding *e,
                                            const char *folder, uint8_t **out, size_t *out_n,
                                            vkt_err *err);

#endif
