/* Hypernetwork options, creation and files (host side). The webui code this mirrors is
 * modules/hypernetworks/hypernetwork.py (seed 001): HypernetworkModule.__init__, Hypernetwork
 * .load/.save, parse_dropout_structure, create_hypernetwork. Device code: hypernetwork_gpu.c. */
#include "models/hypernetwork.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "base/rng.h"
#include "io/hash.h"
#include "io/pt_writer.h"
#include "io/torch_file.h"

/* ---- activations ------------------------------------------------------------------------- */

/* HypernetworkModule.activation_dict: "linear", "relu", "leakyrelu", "elu", "swish"
 * (= Hardswish), "tanh", "sigmoid", then every torch.nn.modules.activation class by its lower-case
 * name (which re-adds relu, elu, ... as the same classes). */
static const struct {
    const char *name;
    vkt_act act;
} act_table[] = {
    {"linear", VKT_ACT_IDENTITY},
    {"relu", VKT_ACT_RELU},
    {"leakyrelu", VKT_ACT_LEAKY_RELU},
    {"elu", VKT_ACT_ELU},
    {"swish", VKT_ACT_HARDSWISH},
    {"tanh", VKT_ACT_TANH},
    {"sigmoid", VKT_ACT_SIGMOID},
    {"silu", VKT_ACT_SILU},
    {"gelu", VKT_ACT_GELU},
    {"mish", VKT_ACT_MISH},
    {"softplus", VKT_ACT_SOFTPLUS},
    {"celu", VKT_ACT_CELU},
    {"selu", VKT_ACT_SELU},
    {"relu6", VKT_ACT_RELU6},
    {"hardtanh", VKT_ACT_HARDTANH},
    {"hardsigmoid", VKT_ACT_HARDSIGMOID},
    {"hardswish", VKT_ACT_HARDSWISH},
    {"softsign", VKT_ACT_SOFTSIGN},
    {"tanhshrink", VKT_ACT_TANHSHRINK},
    {"logsigmoid", VKT_ACT_LOGSIGMOID},
    {"hardshrink", VKT_ACT_HARDSHRINK},
    {"softshrink", VKT_ACT_SOFTSHRINK},
};

static const struct {
    const char *name, *why;
} act_refused[] = {
    {"prelu", "has a learned slope parameter, which vktrain does not train"},
    {"rrelu", "draws random slopes in training, which vktrain does not reproduce"},
    {"glu", "halves the features (unusable in a hypernetwork module)"},
    {"softmax", "normalises over the batch dimension (unusable in a hypernetwork module)"},
    {"softmin", "normalises over the batch dimension (unusable in a hypernetwork module)"},
    {"logsoftmax", "normalises over the batch dimension (unusable in a hypernetwork module)"},
    {"softmax2d", "normalises over the batch dimension (unusable in a hypernetwork module)"},
    {"threshold", "needs constructor arguments (the webui cannot build it)"},
    {"multiheadattention", "needs constructor arguments (the webui cannot build it)"},
};

vkt_status vkt_hn_activation(const char *name, vkt_act *act, float *param, vkt_err *err)
{
    for (size_t i = 0; i < sizeof act_table / sizeof act_table[0]; i++)
        if (strcmp(name, act_table[i].name) == 0) {
            *act = act_table[i].act;
            *param = vkt_act_default_param(*act);
            return VKT_OK;
        }
    for (size_t i = 0; i < sizeof act_refused / sizeof act_refused[0]; i++)
        if (strcmp(name, act_refused[i].name) == 0)
            return vkt_fail(err, VKT_ERR_UNSUPPORTED, "hypernetwork activation \"%s\" %s", name,
                            act_refused[i].why);
    return vkt_fail(err, VKT_ERR_FORMAT, "unknown hypernetwork activation \"%s\"", name);
}

static bool has_activation(const vkt_hn_options *o)
{
    return !o->activation_none && strcmp(o->activation, "linear") != 0;
}

/* ---- option helpers ---------------------------------------------------------------------- */

vkt_status vkt_hn_parse_list(const char *text, double *out, int max, int *n, vkt_err *err)
{
    int k = 0;
    const char *p = text;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && isspace((unsigned char)*p))
            p++, len--;
        while (len && isspace((unsigned char)p[len - 1]))
            len--;
        char piece[64];
        if (len == 0 || len >= sizeof piece)
            return vkt_fail(err, VKT_ERR_USAGE, "\"%s\": item %d is not a number", text, k + 1);
        memcpy(piece, p, len);
        piece[len] = 0;
        char *e;
        errno = 0;
        double v = strtod(piece, &e);
        if (*e || (piece[0] == '0' && (piece[1] == 'x' || piece[1] == 'X')))
            return vkt_fail(err, VKT_ERR_USAGE, "\"%s\": \"%s\" is not a number", text, piece);
        if (k == max) return vkt_fail(err, VKT_ERR_USAGE, "\"%s\": more than %d items", text, max);
        out[k++] = v;
        if (!end) break;
        p = end + 1;
    }
    *n = k;
    return VKT_OK;
}

void vkt_hn_default_dropout(vkt_hn_options *o, bool use_dropout, bool last_layer_dropout)
{
    int n = o->n_layers;
    for (int i = 0; i < n; i++) {
        o->dropout_structure[i] = 0;
        o->dropout_int[i] = true;
    }
    if (!use_dropout || n < 2) return;
    /* [0] + [0.3]*(n-3) + [0.3 if last_layer_dropout else 0] + [0] */
    for (int i = 1; i < n - 2; i++) {
        o->dropout_structure[i] = 0.3;
        o->dropout_int[i] = false;
    }
    if (last_layer_dropout && n >= 3) {
        o->dropout_structure[n - 2] = 0.3;
        o->dropout_int[n - 2] = false;
    }
}

vkt_status vkt_hn_validate(const vkt_hn_options *o, int64_t dim, vkt_err *err)
{
    if (o->n_layers < 2 || o->n_layers > VKT_HN_MAX_LAYERS)
        return vkt_fail(err, VKT_ERR_USAGE, "layer structure has %d entries, expected 2..%d",
                        o->n_layers, VKT_HN_MAX_LAYERS);
    if (o->layer_structure[0] != 1 || o->layer_structure[o->n_layers - 1] != 1)
        return vkt_fail(err, VKT_ERR_USAGE,
                        "layer structure must start and end with 1 (webui: \"Multiplier Sequence "
                        "should start and end with 1!\")");
    for (int i = 0; i < o->n_layers; i++) {
        double v = o->layer_structure[i];
        if (!isfinite(v) || v <= 0 || v > 1e6)
            return vkt_fail(err, VKT_ERR_USAGE,
                            "layer structure entry %d is %g, expected a positive number", i + 1, v);
        if (dim > 0 && (int64_t)((double)dim * v) < 1)
            return vkt_fail(err, VKT_ERR_USAGE,
                            "layer structure entry %d (%g) gives %lld features at size %lld", i + 1,
                            v, (long long)(int64_t)((double)dim * v), (long long)dim);
        double p = o->dropout_structure[i];
        if (isnan(p) || p >= 1)
            return vkt_fail(err, VKT_ERR_USAGE,
                            "dropout structure entry %d is %g, expected 0 <= p < 1", i + 1, p);
    }
    if (has_activation(o)) {
        vkt_act a;
        float prm;
        return vkt_hn_activation(o->activation, &a, &prm, err);
    }
    return VKT_OK;
}

/* ---- module layout ----------------------------------------------------------------------- */

static vkt_status add_param(vkt_hn_module *m, int idx, const char *what, int ndim, int64_t d0,
                            int64_t d1, int *slot, vkt_err *err)
{
    if (m->n_params == VKT_HN_MAX_PARAMS)
        return vkt_fail(err, VKT_ERR_INTERNAL, "hypernetwork: too many parameters");
    vkt_hn_param *p = &m->params[m->n_params];
    memset(p, 0, sizeof *p);
    snprintf(p->key, sizeof p->key, "linear.%d.%s", idx, what);
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = ndim == 2 ? d1 : 1;
    *slot = m->n_params++;
    return VKT_OK;
}

static int64_t param_numel(const vkt_hn_param *p)
{
    return p->ndim == 2 ? p->shape[0] * p->shape[1] : p->shape[0];
}

/* The Sequential of HypernetworkModule.__init__ for size d (training.md §9.2): per consecutive
 * pair Linear, activation (not after the last Linear unless activate_output), LayerNorm,
 * Dropout (p > 0). Host arrays are not allocated here. */
static vkt_status build_module(vkt_hn_module *m, int64_t d, const vkt_hn_options *o, vkt_err *err)
{
    memset(m, 0, sizeof *m);
    vkt_status st = vkt_hn_validate(o, d, err);
    if (st) return st;
    const int n = o->n_layers;
    for (int i = 0; i < n - 1 && !st; i++) {
        int64_t a = (int64_t)((double)d * o->layer_structure[i]),
                b = (int64_t)((double)d * o->layer_structure[i + 1]);
        if (m->n_layers + 4 > VKT_HN_MAX_SEQ)
            return vkt_fail(err, VKT_ERR_INTERNAL, "hypernetwork: too many layers");
        int idx = m->n_layers;
        vkt_hn_layer *L = &m->layers[m->n_layers++];
        *L = (vkt_hn_layer){VKT_HN_LINEAR, a, b, 0, -1, -1};
        st = add_param(m, idx, "weight", 2, b, a, &L->w, err);
        if (!st) st = add_param(m, idx, "bias", 1, b, 0, &L->b, err);
        if (has_activation(o) && (i < n - 2 || o->activate_output))
            m->layers[m->n_layers++] = (vkt_hn_layer){VKT_HN_ACT, b, b, 0, -1, -1};
        if (o->layer_norm && !st) {
            idx = m->n_layers;
            L = &m->layers[m->n_layers++];
            *L = (vkt_hn_layer){VKT_HN_LAYERNORM, b, b, 0, -1, -1};
            st = add_param(m, idx, "weight", 1, b, 0, &L->w, err);
            if (!st) st = add_param(m, idx, "bias", 1, b, 0, &L->b, err);
        }
        double p = o->dropout_structure[i + 1];
        if (p > 0)
            m->layers[m->n_layers++] = (vkt_hn_layer){VKT_HN_DROPOUT, b, b, (float)p, -1, -1};
    }
    return st;
}

static vkt_status alloc_host(vkt_hn_module *m, vkt_err *err)
{
    for (int i = 0; i < m->n_params; i++) {
        vkt_hn_param *p = &m->params[i];
        p->host = vkt_calloc((size_t)param_numel(p), sizeof(float));
        if (!p->host) return vkt_fail(err, VKT_ERR_NOMEM, "hypernetwork %s", p->key);
    }
    return VKT_OK;
}

static void free_module_host(vkt_hn_module *m)
{
    for (int i = 0; i < m->n_params; i++) {
        free(m->params[i].host);
        free(m->params[i].m_host);
        free(m->params[i].v_host);
        m->params[i].host = m->params[i].m_host = m->params[i].v_host = NULL;
    }
}

void vkt_hn_destroy(vkt_hypernetwork *hn)
{
    if (!hn) return;
    vkt_hn_release(hn);
    for (int s = 0; s < hn->n_sizes; s++) {
        free_module_host(&hn->sizes[s].mod[0]);
        free_module_host(&hn->sizes[s].mod[1]);
    }
    free(hn->sizes);
    free(hn->sd_checkpoint);
    free(hn->sd_checkpoint_name);
    free(hn->optional_info);
    free(hn);
}

static char *dup_str(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = vkt_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

vkt_hn_size *vkt_hn_find_size(const vkt_hypernetwork *hn, int64_t dim)
{
    for (int s = 0; hn && s < hn->n_sizes; s++)
        if (hn->sizes[s].dim == dim) return &hn->sizes[s];
    return NULL;
}

int64_t vkt_hn_param_count(const vkt_hypernetwork *hn)
{
    int64_t n = 0;
    for (int s = 0; s < hn->n_sizes; s++)
        for (int j = 0; j < 2; j++)
            for (int i = 0; i < hn->sizes[s].mod[j].n_params; i++)
                n += param_numel(&hn->sizes[s].mod[j].params[i]);
    return n;
}

bool vkt_hn_has_dropout(const vkt_hypernetwork *hn)
{
    for (int s = 0; s < hn->n_sizes; s++)
        for (int l = 0; l < hn->sizes[s].mod[0].n_layers; l++)
            if (hn->sizes[s].mod[0].layers[l].kind == VKT_HN_DROPOUT) return true;
    return false;
}

/* ---- creation ---------------------------------------------------------------------------- */

static const char *const weight_inits[] = {"Normal", "XavierUniform", "XavierNormal",
                                           "KaimingUniform", "KaimingNormal"};

/* Standard normal by Box-Muller from two 53-bit uniforms (u1 in (0, 1]). */
static double normal01(vkt_rng *r)
{
    double u1 = 1.0 - vkt_rng_f64(r), u2 = vkt_rng_f64(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* HypernetworkModule.__init__'s init loop: Linear weights by the scheme, biases 0; LayerNorm
 * weight N(0, 0.01²) and bias 0 whatever the scheme. */
static void init_module(vkt_hn_module *m, int scheme, uint64_t seed, uint64_t stream)
{
    for (int l = 0; l < m->n_layers; l++) {
        const vkt_hn_layer *L = &m->layers[l];
        if (L->kind != VKT_HN_LINEAR && L->kind != VKT_HN_LAYERNORM) continue;
        vkt_hn_param *w = &m->params[L->w];
        vkt_rng r = vkt_rng_keyed(seed, VKT_RNG_TAG('h', 'n', 'i', 'w'), stream, (uint64_t)l);
        double fan_in = (double)L->in, fan_out = (double)L->out;
        int64_t n = param_numel(w);
        int sc = L->kind == VKT_HN_LAYERNORM ? 0 : scheme;
        for (int64_t i = 0; i < n; i++) {
            double v;
            switch (sc) {
            case 1:
                v = sqrt(6.0 / (fan_in + fan_out)) * (2.0 * vkt_rng_f64(&r) - 1.0);
                break; /* xavier_uniform_ */
            case 2:
                v = sqrt(2.0 / (fan_in + fan_out)) * normal01(&r);
                break; /* xavier_normal_ */
            /* kaiming_*_ with nonlinearity relu or leaky_relu (slope 0): gain sqrt(2) */
            case 3:
                v = sqrt(6.0 / fan_in) * (2.0 * vkt_rng_f64(&r) - 1.0);
                break;
            case 4:
                v = sqrt(2.0 / fan_in) * normal01(&r);
                break;
            default:
                v = 0.01 * normal01(&r);
                break; /* normal_(w, 0, 0.01) */
            }
            w->host[i] = (float)v;
        }
        /* biases stay 0 (zeros_ / normal_(b, std=0)) */
    }
}

vkt_status vkt_hn_create(const vkt_hn_create_opts *o, vkt_hypernetwork **out, vkt_err *err)
{
    vkt_status st = VKT_OK;
    vkt_hypernetwork *hn = NULL;
    const vkt_hn_options *op = &o->opt;
    int scheme = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(op->weight_init, weight_inits[i]) == 0) scheme = i;
    if (scheme < 0)
        return vkt_fail(err, VKT_ERR_USAGE,
                        "weight initialization \"%s\": expected Normal, XavierUniform, "
                        "XavierNormal, KaimingUniform "
                        "or KaimingNormal",
                        op->weight_init);
    if (!o->name || !o->name[0]) return vkt_fail(err, VKT_ERR_USAGE, "hypernetwork name is empty");
    if ((st = vkt_hn_validate(op, -1, err))) return st;
    if (op->dropout_structure[0] != 0 || op->dropout_structure[op->n_layers - 1] != 0)
        return vkt_fail(err, VKT_ERR_USAGE, "dropout structure must start and end with 0");
    for (int i = 0; i < op->n_layers; i++)
        if (op->dropout_structure[i] < 0)
            return vkt_fail(err, VKT_ERR_USAGE, "dropout structure entry %d is negative", i + 1);

    vkt_hn_options op2 = *op;
    op2.activate_output = false; /* the Create tab never sets it */
    op2.last_layer_dropout = op->n_layers >= 2 && op->dropout_structure[op->n_layers - 2] != 0;
    if ((st = vkt_hn_new(o->name, &op2, o->sizes, o->n_sizes, &hn, err))) return st;
    for (int i = 0; i < hn->n_sizes; i++)
        for (int j = 0; j < 2; j++)
            init_module(&hn->sizes[i].mod[j], scheme, o->seed, (uint64_t)(i * 2 + j));
    *out = hn;
    return VKT_OK;
}

vkt_status vkt_hn_new(const char *name, const vkt_hn_options *o, const int64_t *sizes, int n_sizes,
                      vkt_hypernetwork **out, vkt_err *err)
{
    vkt_status st = VKT_OK;
    vkt_hypernetwork *hn = NULL;
    if (!name || strlen(name) >= sizeof hn->name)
        return vkt_fail(err, VKT_ERR_USAGE, "hypernetwork name too long");
    if (n_sizes < 1 || n_sizes > VKT_HN_MAX_SIZES)
        return vkt_fail(err, VKT_ERR_USAGE, "%d module sizes, expected 1..%d", n_sizes,
                        VKT_HN_MAX_SIZES);
    for (int i = 0; i < n_sizes; i++) {
        if (sizes[i] < 1 || sizes[i] > 65536)
            return vkt_fail(err, VKT_ERR_USAGE, "module size %lld is out of range",
                            (long long)sizes[i]);
        for (int j = 0; j < i; j++)
            if (sizes[j] == sizes[i])
                return vkt_fail(err, VKT_ERR_USAGE, "module size %lld given twice",
                                (long long)sizes[i]);
    }
    hn = vkt_calloc(1, sizeof *hn);
    if (!hn || !(hn->sizes = vkt_calloc((size_t)n_sizes, sizeof *hn->sizes))) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "hypernetwork");
        goto done;
    }
    hn->opt = *o;
    snprintf(hn->name, sizeof hn->name, "%s", name);
    hn->multiplier = 1.0f;
    for (int i = 0; i < n_sizes && !st; i++) {
        vkt_hn_size *sz = &hn->sizes[i];
        sz->dim = sizes[i];
        hn->n_sizes = i + 1;
        for (int j = 0; j < 2 && !st; j++) {
            st = build_module(&sz->mod[j], sz->dim, &hn->opt, err);
            if (!st) st = alloc_host(&sz->mod[j], err);
        }
        if (st) vkt_err_prefix(err, "module size %lld", (long long)sz->dim);
    }
    if (st) goto done;
    *out = hn;
    hn = NULL;
done:
    vkt_hn_destroy(hn);
    return st;
}

/* ---- loading ----------------------------------------------------------------------------- */

/* Python truthiness of a loaded value (None, False, 0, 0.0, "" and empty containers are false). */
static bool truthy(const vkt_py *v)
{
    if (!v) return false;
    switch (v->kind) {
    case VKT_PY_NONE:
        return false;
    case VKT_PY_BOOL:
        return v->b;
    case VKT_PY_INT:
        return v->i != 0;
    case VKT_PY_FLOAT:
        return v->f != 0;
    case VKT_PY_STR:
    case VKT_PY_BYTES:
        return v->str.n != 0;
    default:
        return vkt_py_len(v) != 0 || v->kind == VKT_PY_TENSOR || v->kind == VKT_PY_OBJECT;
    }
}

static vkt_status read_number_list(const vkt_py *v, const char *key, double *out, bool *is_int,
                                   int max, int *n, vkt_err *err)
{
    if (!v || (v->kind != VKT_PY_LIST && v->kind != VKT_PY_TUPLE))
        return vkt_fail(err, VKT_ERR_FORMAT, "\"%s\" is a %s, expected a list of numbers", key,
                        v ? vkt_py_kind_name(v->kind) : "?");
    size_t len = vkt_py_len(v);
    if (len > (size_t)max)
        return vkt_fail(err, VKT_ERR_FORMAT, "\"%s\" has %zu entries, at most %d supported", key,
                        len, max);
    for (size_t i = 0; i < len; i++) {
        const vkt_py *x = vkt_py_item(v, i);
        if (!vkt_py_float(x, &out[i]))
            return vkt_fail(err, VKT_ERR_FORMAT, "\"%s\"[%zu] is a %s, expected a number", key, i,
                            vkt_py_kind_name(x->kind));
        if (is_int) is_int[i] = x->kind != VKT_PY_FLOAT;
    }
    *n = (int)len;
    return VKT_OK;
}

/* Options from the file's keys with the defaults of Hypernetwork.load. */
static vkt_status load_options(const vkt_py *r, vkt_hn_options *o, vkt_err *err)
{
    memset(o, 0, sizeof *o);
    vkt_status st = VKT_OK;
    const vkt_py *ls = vkt_py_get(r, "layer_structure");
    if (ls) {
        bool ints[VKT_HN_MAX_LAYERS];
        if ((st = read_number_list(ls, "layer_structure", o->layer_structure, ints,
                                   VKT_HN_MAX_LAYERS, &o->n_layers, err)))
            return st;
        o->layer_structure_int = true;
        for (int i = 0; i < o->n_layers; i++)
            o->layer_structure_int &= ints[i];
    } else {
        o->n_layers = 3;
        o->layer_structure[0] = 1, o->layer_structure[1] = 2, o->layer_structure[2] = 1;
        o->layer_structure_int = true;
    }
    const vkt_py *af = vkt_py_get(r, "activation_func");
    if (!af || vkt_py_is_none(af)) {
        o->activation_none = true;
        snprintf(o->activation, sizeof o->activation, "linear");
    } else if (vkt_py_str(af) && strlen(vkt_py_str(af)) < sizeof o->activation) {
        snprintf(o->activation, sizeof o->activation, "%s", vkt_py_str(af));
    } else {
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "\"activation_func\" is not a supported activation name");
    }
    const vkt_py *wi = vkt_py_get(r, "weight_initialization");
    snprintf(o->weight_init, sizeof o->weight_init, "%s",
             vkt_py_str(wi) ? vkt_py_str(wi) : "Normal");
    o->layer_norm = truthy(vkt_py_get(r, "is_layer_norm"));
    const vkt_py *ao = vkt_py_get(r, "activate_output");
    o->activate_output = ao ? truthy(ao) : true; /* webui: missing -> True (old files) */
    o->last_layer_dropout = truthy(vkt_py_get(r, "last_layer_dropout"));
    const vkt_py *ds = vkt_py_get(r, "dropout_structure");
    if (ds && !vkt_py_is_none(ds)) {
        double v[VKT_HN_MAX_LAYERS * 4];
        bool ints[VKT_HN_MAX_LAYERS * 4];
        int n = 0;
        if ((st = read_number_list(ds, "dropout_structure", v, ints, VKT_HN_MAX_LAYERS * 4, &n,
                                   err)))
            return st;
        /* the module indexes dropout_structure[i + 1] for every Linear: a shorter list fails there
         */
        if (n < o->n_layers)
            return vkt_fail(err, VKT_ERR_FORMAT,
                            "\"dropout_structure\" has %d entries, the layer structure %d", n,
                            o->n_layers);
        bool any = false;
        for (int i = 0; i < n; i++)
            any |= v[i] != 0;
        for (int i = 0; i < o->n_layers; i++) {
            o->dropout_structure[i] = v[i];
            o->dropout_int[i] = ints[i];
        }
        o->use_dropout = any ? true : truthy(vkt_py_get(r, "use_dropout"));
    } else {
        o->use_dropout = truthy(vkt_py_get(r, "use_dropout"));
        vkt_hn_default_dropout(o, o->use_dropout, o->last_layer_dropout);
    }
    return VKT_OK;
}

static const char *legacy_key(const char *k)
{
    static const char *const from[] = {"linear1.weight", "linear1.bias", "linear2.weight",
                                       "linear2.bias"};
    static const char *const to[] = {"linear.0.weight", "linear.0.bias", "linear.1.weight",
                                     "linear.1.bias"};
    for (int i = 0; i < 4; i++)
        if (strcmp(k, from[i]) == 0) return to[i];
    return k;
}

/* module.linear.load_state_dict(sd) after fix_old_state_dict: strict keys, exact shapes. */
static vkt_status load_module(vkt_hn_module *m, const vkt_py *sd, vkt_err *err)
{
    if (!sd || sd->kind != VKT_PY_DICT)
        return vkt_fail(err, VKT_ERR_FORMAT, "module state dict is a %s, expected a dict",
                        sd ? vkt_py_kind_name(sd->kind) : "?");
    bool seen[VKT_HN_MAX_PARAMS] = {0};
    for (size_t i = 0; i < vkt_py_len(sd); i++) {
        const char *k0 = vkt_py_str(vkt_py_key(sd, i));
        if (!k0) return vkt_fail(err, VKT_ERR_FORMAT, "module state dict has a non-string key");
        const char *k = legacy_key(k0);
        int slot = -1;
        for (int p = 0; p < m->n_params; p++)
            if (strcmp(m->params[p].key, k) == 0) slot = p;
        if (slot < 0)
            return vkt_fail(err, VKT_ERR_FORMAT,
                            "unexpected key \"%s\" (the options describe another module)", k0);
        const vkt_tensor_data *t = vkt_py_tensor(vkt_py_value(sd, i));
        if (!t) return vkt_fail(err, VKT_ERR_FORMAT, "\"%s\" is not a tensor", k0);
        vkt_hn_param *p = &m->params[slot];
        bool ok = t->ndim == p->ndim && t->shape[0] == p->shape[0] &&
                  (p->ndim == 1 || t->shape[1] == p->shape[1]);
        if (!ok) {
            char b[64];
            return vkt_fail(err, VKT_ERR_FORMAT, "\"%s\": shape %s, expected [%lld%s%lld]", k0,
                            vkt_tensor_data_shape_str(t, b, sizeof b), (long long)p->shape[0],
                            p->ndim == 2 ? "," : "", p->ndim == 2 ? (long long)p->shape[1] : 0LL);
        }
        if (!vkt_io_dtype_is_float(t->dtype) && t->dtype != VKT_IO_I64 && t->dtype != VKT_IO_I32)
            return vkt_fail(err, VKT_ERR_FORMAT, "\"%s\": dtype %s", k0,
                            vkt_io_dtype_name(t->dtype));
        vkt_status st = vkt_tensor_data_to_f32(t, p->host, err);
        if (st) return st;
        seen[slot] = true; /* a repeated key overwrites, as the dict it came from would */
    }
    for (int p = 0; p < m->n_params; p++)
        if (!seen[p]) return vkt_fail(err, VKT_ERR_FORMAT, "missing key \"%s\"", m->params[p].key);
    return VKT_OK;
}

static const char *stem_of(const char *path, char *buf, size_t n)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, n, "%s", base);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = 0;
    return buf;
}

vkt_status vkt_hn_load(const char *path, vkt_hypernetwork **out, vkt_err *err)
{
    vkt_status st = VKT_OK;
    vkt_torch *t = NULL;
    vkt_hypernetwork *hn = vkt_calloc(1, sizeof *hn);
    if (!hn) return vkt_fail(err, VKT_ERR_NOMEM, "%s", path);
    hn->multiplier = 1.0f;
    if ((st = vkt_torch_open(path, 0, &t, err))) goto done;
    const vkt_py *r = vkt_torch_root(t);
    if (!r || r->kind != VKT_PY_DICT) {
        st = vkt_fail(err, VKT_ERR_FORMAT, "%s: not a hypernetwork (the pickle is not a dict)",
                      path);
        goto done;
    }
    if ((st = load_options(r, &hn->opt, err))) goto prefix;
    if ((st = vkt_hn_validate(&hn->opt, -1, err))) goto prefix;
    size_t n_int = 0;
    for (size_t i = 0; i < vkt_py_len(r); i++)
        n_int += vkt_py_key(r, i)->kind == VKT_PY_INT;
    if (n_int > VKT_HN_MAX_SIZES) {
        st = vkt_fail(err, VKT_ERR_FORMAT, "%s: %zu module sizes, at most %d supported", path,
                      n_int, VKT_HN_MAX_SIZES);
        goto done;
    }
    if (!(hn->sizes = vkt_calloc(n_int ? n_int : 1, sizeof *hn->sizes))) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "%s", path);
        goto done;
    }
    for (size_t i = 0; i < vkt_py_len(r); i++) {
        const vkt_py *k = vkt_py_key(r, i), *v = vkt_py_value(r, i);
        if (k->kind != VKT_PY_INT) continue; /* only Python int keys are sizes */
        if (k->i < 1 || k->i > 65536) {
            st = vkt_fail(err, VKT_ERR_FORMAT, "%s: module size %lld is out of range", path,
                          (long long)k->i);
            goto done;
        }
        vkt_hn_size *sz =
            vkt_hn_find_size(hn, k->i); /* a repeated key replaces the earlier value */
        if (!sz) {
            sz = &hn->sizes[hn->n_sizes++];
            sz->dim = k->i;
        } else {
            free_module_host(&sz->mod[0]);
            free_module_host(&sz->mod[1]);
        }
        if ((v->kind != VKT_PY_TUPLE && v->kind != VKT_PY_LIST) || vkt_py_len(v) < 2) {
            st = vkt_fail(err, VKT_ERR_FORMAT,
                          "%s: size %lld: expected a (k, v) pair of state dicts", path,
                          (long long)k->i);
            goto done;
        }
        for (int j = 0; j < 2 && !st; j++) {
            st = build_module(&sz->mod[j], sz->dim, &hn->opt, err);
            if (!st) st = alloc_host(&sz->mod[j], err);
            if (!st) st = load_module(&sz->mod[j], vkt_py_item(v, (size_t)j), err);
            if (st)
                vkt_err_prefix(err, "%s: size %lld module %s", path, (long long)sz->dim,
                               j ? "v" : "k");
        }
        if (st) goto done;
    }
    char stem[256];
    const char *nm = vkt_py_str(vkt_py_get(r, "name"));
    snprintf(hn->name, sizeof hn->name, "%s", nm ? nm : stem_of(path, stem, sizeof stem));
    int64_t step = 0;
    hn->step = vkt_py_int(vkt_py_get(r, "step"), &step) ? step : 0;
    const char *ck = vkt_py_str(vkt_py_get(r, "sd_checkpoint")),
               *ckn = vkt_py_str(vkt_py_get(r, "sd_checkpoint_name")),
               *info = vkt_py_str(vkt_py_get(r, "optional_info"));
    if ((ck && !(hn->sd_checkpoint = dup_str(ck))) ||
        (ckn && !(hn->sd_checkpoint_name = dup_str(ckn))) ||
        (info && !(hn->optional_info = dup_str(info)))) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "%s", path);
        goto done;
    }
    *out = hn;
    hn = NULL;
    goto done;
prefix:
    vkt_err_prefix(err, "%s", path);
done:
    vkt_torch_close(t);
    vkt_hn_destroy(hn);
    return st;
}

vkt_status vkt_hn_set_meta(vkt_hypernetwork *hn, const char *name, int64_t step,
                           const char *sd_checkpoint, const char *sd_checkpoint_name, vkt_err *err)
{
    char *ck = NULL, *ckn = NULL;
    if (name && strlen(name) >= sizeof hn->name)
        return vkt_fail(err, VKT_ERR_USAGE, "hypernetwork name too long");
    if ((sd_checkpoint && sd_checkpoint[0] && !(ck = dup_str(sd_checkpoint))) ||
        (sd_checkpoint_name && sd_checkpoint_name[0] && !(ckn = dup_str(sd_checkpoint_name)))) {
        free(ck);
        return vkt_fail(err, VKT_ERR_NOMEM, "hypernetwork meta");
    }
    if (name) snprintf(hn->name, sizeof hn->name, "%s", name);
    hn->step = step;
    if (sd_checkpoint) {
        free(hn->sd_checkpoint);
        hn->sd_checkpoint = ck;
    }
    if (sd_checkpoint_name) {
        free(hn->sd_checkpoint_name);
        hn->sd_checkpoint_name = ckn;
    }
    return VKT_OK;
}

/* ---- saving ------------------------------------------------------------------------------ */

static vkt_pt_val *str_or_none(vkt_pt *b, const char *s)
{
    return s ? vkt_pt_str(b, s) : vkt_pt_none(b);
}

static vkt_pt_val *number_list(vkt_pt *b, const double *v, const bool *ints, bool all_int, int n)
{
    vkt_pt_val *l = vkt_pt_list(b);
    for (int i = 0; i < n; i++)
        vkt_pt_append(b, l,
                      (all_int || (ints && ints[i])) ? vkt_pt_int(b, (int64_t)v[i])
                                                     : vkt_pt_float(b, v[i]));
    return l;
}

static vkt_pt_val *module_state(vkt_pt *b, const vkt_hn_module *m)
{
    vkt_pt_val *d = vkt_pt_ordered_dict(b);
    for (int i = 0; i < m->n_params; i++) {
        const vkt_hn_param *p = &m->params[i];
        vkt_pt_set_str(b, d, p->key,
                       vkt_pt_tensor(b, VKT_IO_F32, p->ndim, p->shape, p->host, false));
    }
    return d;
}

vkt_status vkt_hn_save(const vkt_hypernetwork *hn, const char *path, vkt_err *err)
{
    vkt_pt *b = NULL;
    vkt_status st = vkt_pt_create(&b, err);
    if (st) return st;
    const vkt_hn_options *o = &hn->opt;
    vkt_pt_val *root = vkt_pt_dict(b);
    for (int s = 0; s < hn->n_sizes; s++) {
        vkt_pt_val *pair = vkt_pt_tuple(b);
        vkt_pt_append(b, pair, module_state(b, &hn->sizes[s].mod[0]));
        vkt_pt_append(b, pair, module_state(b, &hn->sizes[s].mod[1]));
        vkt_pt_set_int(b, root, hn->sizes[s].dim, pair);
    }
    vkt_pt_set_str(b, root, "step", vkt_pt_int(b, hn->step));
    vkt_pt_set_str(b, root, "name", vkt_pt_str(b, hn->name));
    vkt_pt_set_str(b, root, "layer_structure",
                   number_list(b, o->layer_structure, NULL, o->layer_structure_int, o->n_layers));
    vkt_pt_set_str(b, root, "activation_func",
                   o->activation_none ? vkt_pt_none(b) : vkt_pt_str(b, o->activation));
    vkt_pt_set_str(b, root, "is_layer_norm", vkt_pt_bool(b, o->layer_norm));
    vkt_pt_set_str(b, root, "weight_initialization", vkt_pt_str(b, o->weight_init));
    vkt_pt_set_str(b, root, "sd_checkpoint", str_or_none(b, hn->sd_checkpoint));
    vkt_pt_set_str(b, root, "sd_checkpoint_name", str_or_none(b, hn->sd_checkpoint_name));
    vkt_pt_set_str(b, root, "activate_output", vkt_pt_bool(b, o->activate_output));
    vkt_pt_set_str(b, root, "use_dropout", vkt_pt_bool(b, o->use_dropout));
    vkt_pt_set_str(b, root, "dropout_structure",
                   number_list(b, o->dropout_structure, o->dropout_int, false, o->n_layers));
    /* webui: (self.dropout_structure[-2] != 0) */
    vkt_pt_set_str(b, root, "last_layer_dropout",
                   vkt_pt_bool(b, o->dropout_structure[o->n_layers - 2] != 0));
    vkt_pt_set_str(b, root, "optional_info",
                   hn->optional_info && hn->optional_info[0] ? vkt_pt_str(b, hn->optional_info)
                                                             : vkt_pt_none(b));
    st = vkt_pt_write(b, root, path, err);
    vkt_pt_destroy(b);
    return st;
}

/* ---- optimizer state --------------------------------------------------------------------- */

/* Every parameter in .optim order (file-formats §6.1). */
static int all_params(const vkt_hypernetwork *hn, vkt_hn_param **out, int max)
{
    int n = 0;
    for (int s = 0; s < hn->n_sizes; s++)
        for (int j = 0; j < 2; j++)
            for (int i = 0; i < hn->sizes[s].mod[j].n_params; i++) {
                if (n < max) out[n] = (vkt_hn_param *)&hn->sizes[s].mod[j].params[i];
                n++;
            }
    return n;
}

vkt_status vkt_hn_save_optim(const vkt_hypernetwork *hn, const char *pt_path, double lr,
                             vkt_err *err)
{
    vkt_status st = VKT_OK;
    vkt_pt *b = NULL;
    int n = all_params(hn, NULL, 0);
    vkt_hn_param **ps = vkt_malloc((size_t)(n ? n : 1) * sizeof *ps);
    float *steps = vkt_malloc((size_t)(n ? n : 1) * sizeof *steps);
    char path[1100];
    vkt_file_hash h;
    if (!ps || !steps) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "optimizer state");
        goto done;
    }
    all_params(hn, ps, n);
    if (snprintf(path, sizeof path, "%s.optim", pt_path) >= (int)sizeof path) {
        st = vkt_fail(err, VKT_ERR_USAGE, "%s: path too long", pt_path);
        goto done;
    }
    if ((st = vkt_hash_file(pt_path, false, &h, err))) goto done;
    if ((st = vkt_pt_create(&b, err))) goto done;
    vkt_pt_val *root = vkt_pt_dict(b), *osd = vkt_pt_dict(b), *state = vkt_pt_dict(b),
               *groups = vkt_pt_list(b), *g = vkt_pt_dict(b), *plist = vkt_pt_list(b),
               *betas = vkt_pt_tuple(b);
    char hash[11];
    snprintf(hash, sizeof hash, "%.10s", h.sha256);
    vkt_pt_set_str(b, root, "optimizer_name", vkt_pt_str(b, "AdamW"));
    vkt_pt_set_str(b, root, "hash", vkt_pt_str(b, hash));
    for (int i = 0; i < n; i++) {
        const vkt_hn_param *p = ps[i];
        vkt_pt_append(b, plist, vkt_pt_int(b, i));
        if (p->opt_step <= 0 || !p->m_host || !p->v_host) continue; /* no gradient yet: no state */
        steps[i] = (float)p->opt_step;
        vkt_pt_val *e = vkt_pt_dict(b);
        vkt_pt_set_str(b, e, "step", vkt_pt_tensor(b, VKT_IO_F32, 0, NULL, &steps[i], false));
        vkt_pt_set_str(b, e, "exp_avg",
                       vkt_pt_tensor(b, VKT_IO_F32, p->ndim, p->shape, p->m_host, false));
        vkt_pt_set_str(b, e, "exp_avg_sq",
                       vkt_pt_tensor(b, VKT_IO_F32, p->ndim, p->shape, p->v_host, false));
        vkt_pt_set_int(b, state, i, e);
    }
    /* torch 1.13 AdamW param group, key order as torch writes it */
    vkt_pt_append(b, betas, vkt_pt_float(b, VKT_HN_ADAM_BETA1));
    vkt_pt_append(b, betas, vkt_pt_float(b, VKT_HN_ADAM_BETA2));
    vkt_pt_set_str(b, g, "lr", vkt_pt_float(b, lr));
    vkt_pt_set_str(b, g, "betas", betas);
    vkt_pt_set_str(b, g, "eps", vkt_pt_float(b, VKT_HN_ADAM_EPS));
    vkt_pt_set_str(b, g, "weight_decay", vkt_pt_float(b, VKT_HN_ADAM_WEIGHT_DECAY));
    vkt_pt_set_str(b, g, "amsgrad", vkt_pt_bool(b, false));
    vkt_pt_set_str(b, g, "foreach", vkt_pt_none(b));
    vkt_pt_set_str(b, g, "maximize", vkt_pt_bool(b, false));
    vkt_pt_set_str(b, g, "capturable", vkt_pt_bool(b, false));
    vkt_pt_set_str(b, g, "params", plist);
    vkt_pt_append(b, groups, g);
    vkt_pt_set_str(b, osd, "state", state);
    vkt_pt_set_str(b, osd, "param_groups", groups);
    vkt_pt_set_str(b, root, "optimizer_state_dict", osd);
    st = vkt_pt_write(b, root, path, err);
done:
    vkt_pt_destroy(b);
    free(ps);
    free(steps);
    return st;
}

static void set_why(char *why, size_t n, const char *fmt, const char *a)
{
    if (why && n) snprintf(why, n, fmt, a);
}

vkt_status vkt_hn_load_optim(vkt_hypernetwork *hn, const char *pt_path, bool *used, char *why,
                             size_t why_n, vkt_err *err)
{
    vkt_status st = VKT_OK;
    vkt_torch *t = NULL;
    vkt_hn_param **ps = NULL;
    float **mv = NULL;
    char path[1100];
    *used = false;
    if (snprintf(path, sizeof path, "%s.optim", pt_path) >= (int)sizeof path) {
        set_why(why, why_n, "%s", "path too long");
        return VKT_OK;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_why(why, why_n, "%s: none", path);
        return VKT_OK;
    }
    fclose(f);
    vkt_file_hash h;
    if ((st = vkt_hash_file(pt_path, false, &h, err))) return st;
    if ((st = vkt_torch_open(path, 0, &t, err))) return st;
    const vkt_py *r = vkt_torch_root(t);
    const char *hash = vkt_py_str(vkt_py_get(r, "hash"));
    const char *oname = vkt_py_str(vkt_py_get(r, "optimizer_name"));
    const vkt_py *osd = vkt_py_get(r, "optimizer_state_dict");
    if (!hash || strlen(hash) != 10 || strncmp(hash, h.sha256, 10) != 0) {
        set_why(why, why_n, "%s: its hash does not match the hypernetwork file", path);
        goto done;
    }
    if (!osd || osd->kind != VKT_PY_DICT) {
        set_why(why, why_n, "%s: no optimizer state", path);
        goto done;
    }
    if (oname && strcmp(oname, "AdamW") != 0) {
        set_why(why, why_n, "optimizer %s is not supported (vktrain trains with AdamW)", oname);
        goto done;
    }
    int n = all_params(hn, NULL, 0);
    ps = vkt_malloc((size_t)(n ? n : 1) * sizeof *ps);
    mv = vkt_calloc((size_t)(n ? n : 1) * 2, sizeof *mv);
    if (!ps || !mv) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "%s", path);
        goto done;
    }
    all_params(hn, ps, n);
    const vkt_py *groups = vkt_py_get(osd, "param_groups"), *state = vkt_py_get(osd, "state");
    const vkt_py *g0 = vkt_py_item(groups, 0);
    if (vkt_py_len(groups) != 1 || vkt_py_len(vkt_py_get(g0, "params")) != (size_t)n || !state ||
        state->kind != VKT_PY_DICT) {
        set_why(why, why_n, "%s: the parameter list does not fit this hypernetwork", path);
        goto done;
    }
    /* check everything before changing hn */
    for (size_t i = 0; i < vkt_py_len(state); i++) {
        const vkt_py *k = vkt_py_key(state, i), *e = vkt_py_value(state, i);
        const vkt_tensor_data *m = vkt_py_tensor(vkt_py_get(e, "exp_avg")),
                              *v = vkt_py_tensor(vkt_py_get(e, "exp_avg_sq"));
        if (k->kind != VKT_PY_INT || k->i < 0 || k->i >= n || !m || !v) {
            set_why(why, why_n, "%s: an optimizer state entry does not fit this hypernetwork",
                    path);
            goto done;
        }
        const vkt_hn_param *p = ps[k->i];
        int64_t numel = param_numel(p);
        if (vkt_tensor_data_numel(m) != (size_t)numel ||
            vkt_tensor_data_numel(v) != (size_t)numel || !vkt_io_dtype_is_float(m->dtype) ||
            !vkt_io_dtype_is_float(v->dtype)) {
            set_why(why, why_n, "%s: a moment's shape does not fit this hypernetwork", path);
            goto done;
        }
    }
    for (size_t i = 0; i < vkt_py_len(state); i++) {
        const vkt_py *k = vkt_py_key(state, i), *e = vkt_py_value(state, i);
        vkt_hn_param *p = ps[k->i];
        size_t numel = (size_t)param_numel(p);
        float *m = vkt_malloc(numel * sizeof *m), *v = vkt_malloc(numel * sizeof *v);
        mv[2 * k->i] = m, mv[2 * k->i + 1] = v;
        if (!m || !v) {
            st = vkt_fail(err, VKT_ERR_NOMEM, "%s", path);
            goto done;
        }
        if ((st = vkt_tensor_data_to_f32(vkt_py_tensor(vkt_py_get(e, "exp_avg")), m, err)) ||
            (st = vkt_tensor_data_to_f32(vkt_py_tensor(vkt_py_get(e, "exp_avg_sq")), v, err)))
            goto done;
    }
    /* commit: every parameter takes its state (or none) from the file */
    for (int i = 0; i < n; i++) {
        vkt_hn_param *p = ps[i];
        free(p->m_host);
        free(p->v_host);
        p->m_host = mv[2 * i], p->v_host = mv[2 * i + 1];
        mv[2 * i] = mv[2 * i + 1] = NULL;
        p->opt_step = 0;
        const vkt_py *e = vkt_py_get_int(state, i);
        if (!e || !p->m_host) continue;
        const vkt_py *sp = vkt_py_get(e, "step");
        const vkt_tensor_data *stt = vkt_py_tensor(sp);
        double sv = 0;
        if (stt && vkt_tensor_data_numel(stt) == 1)
            sv = vkt_tensor_data_get(stt, 0);
        else
            vkt_py_float(sp, &sv); /* older torch: a plain int */
        p->opt_step = sv > 0 ? (int64_t)sv : 0;
    }
    snprintf(hn->optimizer_name, sizeof hn->optimizer_name, "AdamW");
    double lr = 0;
    hn->optim_lr = vkt_py_float(vkt_py_get(g0, "lr"), &lr) ? lr : 0;
    *used = true;
done:
    if (mv)
        for (int i = 0; i < 2 * all_params(hn, NULL, 0); i++)
            free(mv[i]);
    free(mv);
    free(ps);
    vkt_torch_close(t);
    return st;
}
