/* Embedding optimizer state (.pt.optim): reader, writer and the webui's acceptance rule
 * (textual_inversion.py Embedding.save() / train_embedding(), file-formats.md §5).
 * Knows nothing of Vulkan. */
#include "io/embedding_optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "io/pickle.h"
#include "io/pt_writer.h"
#include "io/tensor_data.h"
#include "io/torch_file.h"

void vkt_embedding_optim_destroy(vkt_embedding_optim *o)
{
    if (!o) return;
    free(o->hash);
    free(o->exp_avg);
    free(o->exp_avg_sq);
    free(o);
}

static vkt_status alloc_state(int n_vectors, int width, vkt_embedding_optim **out, vkt_err *err)
{
    if (n_vectors < 1 || n_vectors > VKT_EMBEDDING_MAX_VECTORS || width < 1 ||
        width > VKT_EMBEDDING_MAX_WIDTH || (int64_t)n_vectors * width > VKT_EMBEDDING_MAX_VALUES)
        return vkt_fail(err, VKT_ERR_USAGE, "optimizer state shape [%d, %d] out of range",
                        n_vectors, width);
    size_t n = (size_t)n_vectors * (size_t)width;
    vkt_embedding_optim *o = vkt_calloc(1, sizeof *o);
    if (!o || !(o->exp_avg = vkt_calloc(n, sizeof(float))) ||
        !(o->exp_avg_sq = vkt_calloc(n, sizeof(float)))) {
        vkt_embedding_optim_destroy(o);
        return vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
    }
    o->n_vectors = n_vectors;
    o->width = width;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    *out = o;
    return VKT_OK;
}

vkt_status vkt_embedding_optim_new(int n_vectors, int width, double lr, vkt_embedding_optim **out,
                                   vkt_err *err)
{
    vkt_status st = alloc_state(n_vectors, width, out, err);
    if (!st) (*out)->lr = lr;
    return st;
}

/* ---- reading ---- */

static vkt_status want_float(const vkt_py *g, const char *key, const char *label, double *out,
                             vkt_err *err)
{
    const vkt_py *v = vkt_py_get(g, key);
    if (!v) return vkt_fail(err, VKT_ERR_FORMAT, "%s: param_groups[0] has no '%s'", label, key);
    if (v->kind == VKT_PY_BOOL || !vkt_py_float(v, out) || !isfinite(*out))
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: param_groups[0]['%s'] is a %s, expected a number",
                        label, key, vkt_py_kind_name(v->kind));
    return VKT_OK;
}

static vkt_status want_bool(const vkt_py *g, const char *key, const char *label, bool *out,
                            vkt_err *err)
{
    const vkt_py *v = vkt_py_get(g, key);
    *out = false;
    if (!v) return VKT_OK; /* older torch lacks maximize; amsgrad defaults to False */
    if (v->kind != VKT_PY_BOOL)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: param_groups[0]['%s'] is a %s, expected a bool",
                        label, key, vkt_py_kind_name(v->kind));
    *out = v->b;
    return VKT_OK;
}

/* state[id][key] -> (*o)->exp_avg (second == false) or exp_avg_sq; the first call allocates *o
 * with the tensor's shape, the second must match it. */
static vkt_status take_moment(const vkt_py *st0, const char *key, bool second, const char *label,
                              vkt_embedding_optim **o, vkt_err *err)
{
    const vkt_tensor_data *t = vkt_py_tensor(vkt_py_get(st0, key));
    char sh[96];
    if (!t) return vkt_fail(err, VKT_ERR_FORMAT, "%s: state[0] has no tensor '%s'", label, key);
    vkt_tensor_data_shape_str(t, sh, sizeof sh);
    if (!vkt_io_dtype_is_float(t->dtype) || t->ndim != 2)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: state[0]['%s'] is %s %s, expected float [N, W]",
                        label, key, vkt_io_dtype_name(t->dtype), sh);
    if (!second) {
        if (t->shape[0] < 1 || t->shape[0] > VKT_EMBEDDING_MAX_VECTORS || t->shape[1] < 1 ||
            t->shape[1] > VKT_EMBEDDING_MAX_WIDTH ||
            t->shape[0] * t->shape[1] > VKT_EMBEDDING_MAX_VALUES)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: state[0]['%s'] has shape %s, out of range",
                            label, key, sh);
        vkt_status s = alloc_state((int)t->shape[0], (int)t->shape[1], o, err);
        if (s) return s;
    } else if (t->shape[0] != (*o)->n_vectors || t->shape[1] != (*o)->width) {
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: state[0]['%s'] has shape %s, expected [%d,%d]",
                        label, key, sh, (*o)->n_vectors, (*o)->width);
    }
    return vkt_tensor_data_to_f32(t, second ? (*o)->exp_avg_sq : (*o)->exp_avg, err);
}

static vkt_status parse(const vkt_py *r, const char *label, vkt_embedding_optim **out, vkt_err *err)
{
    vkt_status st = VKT_OK;
    vkt_embedding_optim *o = NULL;
    if (!r || r->kind != VKT_PY_DICT)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: holds a %s, expected the webui's optimizer dict",
                        label, r ? vkt_py_kind_name(r->kind) : "nothing");
    const char *hash = vkt_py_str(vkt_py_get(r, "hash"));
    const vkt_py *osd = vkt_py_get(r, "optimizer_state_dict");
    if (!hash) return vkt_fail(err, VKT_ERR_FORMAT, "%s: 'hash' is missing or not a str", label);
    if (!osd || osd->kind != VKT_PY_DICT)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: 'optimizer_state_dict' is missing or not a dict",
                        label);
    const vkt_py *state = vkt_py_get(osd, "state"), *groups = vkt_py_get(osd, "param_groups");
    if (!state || state->kind != VKT_PY_DICT)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: optimizer 'state' is missing or not a dict",
                        label);
    if (!groups || groups->kind != VKT_PY_LIST || vkt_py_len(groups) != 1)
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "%s: optimizer 'param_groups' must be a list of one group (an embedding "
                        "has one parameter)",
                        label);
    const vkt_py *g = vkt_py_item(groups, 0), *params = vkt_py_get(g, "params");
    int64_t pid;
    if (!g || g->kind != VKT_PY_DICT || !params || params->kind != VKT_PY_LIST ||
        vkt_py_len(params) != 1 || vkt_py_item(params, 0)->kind != VKT_PY_INT ||
        !vkt_py_int(vkt_py_item(params, 0), &pid))
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "%s: param_groups[0]['params'] must list exactly one parameter id", label);
    if (vkt_py_len(state) > 1 ||
        (vkt_py_len(state) == 1 && vkt_py_key(state, 0)->kind != VKT_PY_INT))
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "%s: optimizer 'state' must hold at most one parameter's state", label);
    const vkt_py *st0 = vkt_py_get_int(state, pid);
    if (vkt_py_len(state) == 1 && !st0)
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "%s: optimizer 'state' is for another parameter id than the group's %lld",
                        label, (long long)pid);
    double step = 0;
    if (st0) {
        if (st0->kind != VKT_PY_DICT)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: state[%lld] is a %s, expected a dict", label,
                            (long long)pid, vkt_py_kind_name(st0->kind));
        const vkt_py *sv = vkt_py_get(st0, "step");
        const vkt_tensor_data *stt = vkt_py_tensor(sv);
        bool ok;
        if (stt) /* torch >= 1.12: a 0-d float32 tensor */
            ok = vkt_tensor_data_numel(stt) == 1 && stt->ndim == 0 &&
                 ((step = vkt_tensor_data_get(stt, 0)), true);
        else
            ok = sv && sv->kind != VKT_PY_BOOL && vkt_py_float(sv, &step);
        if (!ok || !(step >= 0 && step <= 1e15) || step != floor(step))
            return vkt_fail(err, VKT_ERR_FORMAT,
                            "%s: state[0]['step'] must be a non-negative whole number", label);
        if ((st = take_moment(st0, "exp_avg", false, label, &o, err)) ||
            (st = take_moment(st0, "exp_avg_sq", true, label, &o, err)))
            goto done;
        if (step == 0) {
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: state[0] has moments but step 0", label);
            goto done;
        }
    } else {
        /* torch before the first update: empty state, shape unknown (moments stay NULL) */
        if (!(o = vkt_calloc(1, sizeof *o))) {
            st = vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
            goto done;
        }
    }
    o->step = (int64_t)step;
    double betas[2];
    const vkt_py *b = vkt_py_get(g, "betas");
    if (!b || (b->kind != VKT_PY_TUPLE && b->kind != VKT_PY_LIST) || vkt_py_len(b) != 2 ||
        !vkt_py_float(vkt_py_item(b, 0), &betas[0]) ||
        !vkt_py_float(vkt_py_item(b, 1), &betas[1])) {
        st = vkt_fail(err, VKT_ERR_FORMAT, "%s: param_groups[0]['betas'] must be two numbers",
                      label);
        goto done;
    }
    o->beta1 = betas[0];
    o->beta2 = betas[1];
    if ((st = want_float(g, "lr", label, &o->lr, err)) ||
        (st = want_float(g, "eps", label, &o->eps, err)) ||
        (st = want_float(g, "weight_decay", label, &o->weight_decay, err)) ||
        (st = want_bool(g, "amsgrad", label, &o->amsgrad, err)) ||
        (st = want_bool(g, "maximize", label, &o->maximize, err)))
        goto done;
    size_t hn = strlen(hash) + 1;
    if (!(o->hash = vkt_malloc(hn))) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "out of host memory");
        goto done;
    }
    memcpy(o->hash, hash, hn);
    *out = o;
    o = NULL;
done:
    vkt_embedding_optim_destroy(o);
    return st;
}

vkt_status vkt_embedding_optim_read_memory(const uint8_t *data, size_t n, const char *label,
                                           vkt_embedding_optim **out, vkt_err *err)
{
    vkt_torch *t = NULL;
    vkt_status st = vkt_torch_open_memory(data, n, label, 0, &t, err);
    if (!st) st = parse(vkt_torch_root(t), label, out, err);
    vkt_torch_close(t);
    return st;
}

vkt_status vkt_embedding_optim_read(const char *path, vkt_embedding_optim **out, vkt_err *err)
{
    vkt_torch *t = NULL;
    vkt_status st = vkt_torch_open(path, 0, &t, err);
    if (!st) st = parse(vkt_torch_root(t), path, out, err);
    vkt_torch_close(t);
    return st;
}

/* ---- acceptance ---- */

bool vkt_embedding_optim_usable(const vkt_embedding_optim *o, const vkt_embedding *e, char *why,
                                size_t why_n)
{
    char sum[5];
    vkt_err err = {0};
    char tmp[160];
    if (!why) {
        why = tmp;
        why_n = sizeof tmp;
    }
    size_t n = (size_t)e->n_vectors * (size_t)e->width;
    if (e->vectors_g) {
        snprintf(why, why_n, "SDXL embeddings have no webui optimizer state");
        return false;
    }
    if (vkt_embedding_file_checksum(e->vectors, n, sum, &err)) {
        snprintf(why, why_n, "%s", err.msg);
        return false;
    }
    /* webui train_embedding(): optimizer state used only if its hash matches the vectors */
    if (!o->hash || strcmp(o->hash, sum) != 0) {
        snprintf(why, why_n, "its hash %s is not the checksum %s of the embedding's vectors",
                 o->hash ? o->hash : "(none)", sum);
        return false;
    }
    if (o->step > 0 && (o->n_vectors != e->n_vectors || o->width != e->width)) {
        snprintf(why, why_n, "its moments are [%d,%d], the embedding is [%d,%d]", o->n_vectors,
                 o->width, e->n_vectors, e->width);
        return false;
    }
    if (o->amsgrad || o->maximize) {
        snprintf(why, why_n, "it uses %s, which vktrain's AdamW does not",
                 o->amsgrad ? "amsgrad" : "maximize");
        return false;
    }
    snprintf(why, why_n, "ok");
    return true;
}

/* ---- writing ---- */

/* stepf: storage for the 0-d step tensor, which the builder borrows until the write. */
static vkt_status build(vkt_pt *b, const vkt_embedding_optim *o, const vkt_embedding *e,
                        float *stepf, vkt_pt_val **root, vkt_err *err)
{
    char sum[5];
    if (e->vectors_g)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "SDXL embeddings have no webui optimizer state");
    if (o->step > 0 && (o->n_vectors != e->n_vectors || o->width != e->width))
        return vkt_fail(err, VKT_ERR_USAGE, "optimizer state is [%d,%d], the embedding [%d,%d]",
                        o->n_vectors, o->width, e->n_vectors, e->width);
    vkt_status st =
        vkt_embedding_file_checksum(e->vectors, (size_t)e->n_vectors * (size_t)e->width, sum, err);
    if (st) return st;
    vkt_pt_val *r = vkt_pt_dict(b), *osd = vkt_pt_dict(b), *state = vkt_pt_dict(b);
    if (o->step > 0) {
        /* torch AdamW.state_dict(): per-parameter state keyed by the parameter's index */
        vkt_pt_val *s0 = vkt_pt_dict(b);
        *stepf = (float)o->step;
        int64_t shape[2] = {o->n_vectors, o->width};
        vkt_pt_set_str(b, s0, "step", vkt_pt_tensor(b, VKT_IO_F32, 0, NULL, stepf, false));
        vkt_pt_set_str(b, s0, "exp_avg", vkt_pt_tensor(b, VKT_IO_F32, 2, shape, o->exp_avg, false));
        vkt_pt_set_str(b, s0, "exp_avg_sq",
                       vkt_pt_tensor(b, VKT_IO_F32, 2, shape, o->exp_avg_sq, false));
        vkt_pt_set_int(b, state, 0, s0);
    }
    vkt_pt_val *groups = vkt_pt_list(b), *g = vkt_pt_dict(b), *betas = vkt_pt_tuple(b),
               *params = vkt_pt_list(b);
    vkt_pt_append(b, betas, vkt_pt_float(b, o->beta1));
    vkt_pt_append(b, betas, vkt_pt_float(b, o->beta2));
    vkt_pt_append(b, params, vkt_pt_int(b, 0));
    vkt_pt_set_str(b, g, "lr", vkt_pt_float(b, o->lr));
    vkt_pt_set_str(b, g, "betas", betas);
    vkt_pt_set_str(b, g, "eps", vkt_pt_float(b, o->eps));
    vkt_pt_set_str(b, g, "weight_decay", vkt_pt_float(b, o->weight_decay));
    vkt_pt_set_str(b, g, "amsgrad", vkt_pt_bool(b, o->amsgrad));
    vkt_pt_set_str(b, g, "foreach", vkt_pt_none(b));
    vkt_pt_set_str(b, g, "maximize", vkt_pt_bool(b, o->maximize));
    vkt_pt_set_str(b, g, "capturable", vkt_pt_bool(b, false));
    vkt_pt_set_str(b, g, "differentiable", vkt_pt_bool(b, false));
    vkt_pt_set_str(b, g, "fused", vkt_pt_none(b));
    vkt_pt_set_str(b, g, "params", params);
    vkt_pt_append(b, groups, g);
    vkt_pt_set_str(b, osd, "state", state);
    vkt_pt_set_str(b, osd, "param_groups", groups);
    vkt_pt_set_str(b, r, "hash", vkt_pt_str(b, sum));
    vkt_pt_set_str(b, r, "optimizer_state_dict", osd);
    *root = r;
    return VKT_OK;
}

vkt_status vkt_embedding_optim_write_memory(const vkt_embedding_optim *o, const vkt_embedding *e,
                                            const char *folder, uint8_t **out, size_t *out_n,
                                            vkt_err *err)
{
    vkt_pt *b = NULL;
    vkt_pt_val *root = NULL;
    float stepf;
    vkt_status st = vkt_pt_create(&b, err);
    if (!st && !(st = build(b, o, e, &stepf, &root, err)))
        st = vkt_pt_write_memory(b, root, folder, out, out_n, err);
    vkt_pt_destroy(b);
    return st;
}

vkt_status vkt_embedding_optim_write(const vkt_embedding_optim *o, const vkt_embedding *e,
                                     const char *path, vkt_err *err)
{
    vkt_pt *b = NULL;
    vkt_pt_val *root = NULL;
    float stepf;
    vkt_status st = vkt_pt_create(&b, err);
    if (!st && !(st = build(b, o, e, &stepf, &root, err))) st = vkt_pt_write(b, root, path, err);
    vkt_pt_destroy(b);
    return st;
}
