/* `vktrain eval`: one training step's computation from a case file (../shared/spec/eval-case.md)
 * run on a device, outputs written to a safetensors file for `vktrain compare`.
 *
 *   vkt_eval_opts o = {.model = "tiny.safetensors", .case_path = "c.safetensors", .out_path = "o.safetensors",
 *                      .clip_skip = 1, .dtype = VKT_F32};
 *   vkt_eval_run(&o, &err);
 */
#ifndef VKT_TRAIN_EVAL_H
#define VKT_TRAIN_EVAL_H

#include "base/err.h"
#include "nn/tensor.h"

typedef struct vkt_eval_opts {
    const char *model;     /* model file */
    const char *case_path; /* inputs */
    const char *out_path;  /* outputs (temp file + rename) */
    const char *hypernetwork; /* webui .pt or NULL */
    const char *device;    /* NULL: default */
    int clip_skip;         /* >= 1 */
    vkt_dtype dtype;       /* VKT_F32 or VKT_F16 (storage) */
} vkt_eval_opts;

/* Runs every group whose inputs are present and writes every output it can. Unknown input
 * tensors, and shapes that disagree with the model, are errors naming the tensor. */
vkt_status vkt_eval_run(const vkt_eval_opts *o, vkt_err *err);

#endif
