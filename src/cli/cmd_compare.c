/* `vktrain compare REF OUT`: the match rule of ../shared/spec/eval-case.md. Error of a tensor =
 * max|out - ref| / max|ref|; forward outputs pass at <= 1e-4 (fp32) or 1e-2 (fp16), gradients
 * (names starting with "grad_") at 1e-3 or 3e-2. Gradients that are zero in exact arithmetic
 * (a hypernetwork k module's bias followed only by affine layers: the softmax ignores a constant
 * added to every key) are compared absolutely against the largest gradient of the file instead:
 * the last bias always, an earlier one when its reference is numerically zero (a linear
 * activation makes every k bias such a one). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "cli/cli.h"
#include "io/safetensors.h"

static const char *HELP =
    "usage: vktrain compare REF.safetensors OUT.safetensors [--precision fp32|fp16] [--rtol R] [--json]\n\n"
    "Compares every tensor of REF with the same tensor of OUT: error = max|out-ref| / max|ref|.\n"
    "Forward outputs pass at 1e-4 (fp16: 1e-2), gradients (grad_*) at 1e-3 (fp16: 3e-2). Inputs\n"
    "that REF repeats from the case file are compared too when OUT has them. Prints one line per\n"
    "tensor and exits 1 if any tensor fails or is missing from OUT.\n\n"
    "options:\n"
    "  --precision P   tolerance set: fp32 (default) or fp16\n"
    "  --rtol R        one tolerance for every tensor\n"
    "  --json          one JSON document on stdout\n\n"
    "example:\n  vktrain compare tests/golden/tiny_unet.ref.safetensors out.safetensors\n";

typedef struct row {
    const char *name;
    char shape[64];
    double err, tol;
    const char *status; /* "pass", "FAIL", "missing", "shape" */
} row;

/* A hypernetwork k module bias (grad_hn.<size>.0.linear.<i>.bias) whose gradient is zero in
 * exact arithmetic: the last one of its size always, an earlier one when its reference is zero
 * to rounding (<= 1e-9 of the file's largest gradient; a real gradient is many orders above). */
static bool zero_in_exact(const vkt_safetensors *ref, const char *name, double max_ref, double grad_scale)
{
    int size, i;
    char tail[16];
    if (sscanf(name, "grad_hn.%d.0.linear.%d.%15s", &size, &i, tail) != 3 || strcmp(tail, "bias") != 0) return false;
    if (max_ref <= 1e-9 * grad_scale) return true;
    char probe[128];
    for (int j = i + 1; j < i + 16; j++) {
        snprintf(probe, sizeof probe, "grad_hn.%d.0.linear.%d.bias", size, j);
        if (vkt_safetensors_find(ref, probe)) return false;
    }
    return true;
}

static vkt_status to_f32(const vkt_tensor_data *t, float **out, vkt_err *err)
{
    size_t n = vkt_tensor_data_numel(t);
    float *v = vkt_malloc((n ? n : 1) * sizeof *v);
    if (!v) return vkt_fail(err, VKT_ERR_NOMEM, "%zu floats", n);
    vkt_status st = vkt_tensor_data_to_f32(t, v, err);
    if (st) { free(v); return st; }
    *out = v;
    return VKT_OK;
}

int vkt_cmd_compare(int argc, char **argv)
{
    const char *files[2] = {0};
    int n_files = 0;
    bool json = false, fp16 = false;
    double rtol = -1;
    for (int i = 1; i < argc; i++) {
        const char *v;
        bool missing;
        if (vkt_cli_is_help(argv[i])) { fputs(HELP, stdout); return 0; }
        if (vkt_cli_flag(argv, i, "--json")) json = true;
        else if (vkt_cli_opt(argc, argv, &i, "--precision", &v, &missing)) {
            if (missing || (strcmp(v, "fp32") && strcmp(v, "fp16"))) return vkt_cli_usage("compare", "--precision is fp32 or fp16");
            fp16 = strcmp(v, "fp16") == 0;
        } else if (vkt_cli_opt(argc, argv, &i, "--rtol", &v, &missing)) {
            char *end;
            rtol = missing ? -1 : strtod(v, &end);
            if (missing || *end || !(rtol > 0)) return vkt_cli_usage("compare", "--rtol needs a positive number");
        } else if (argv[i][0] == '-') {
            return vkt_cli_usage("compare", "unknown option \"%s\"", argv[i]);
        } else if (n_files < 2) {
            files[n_files++] = argv[i];
        } else {
            return vkt_cli_usage("compare", "two files: REF and OUT");
        }
    }
    if (n_files != 2) return vkt_cli_usage("compare", "two files: REF and OUT");
    vkt_err err = {0};
    vkt_safetensors *ref = NULL, *out = NULL;
    row *rows = NULL;
    int rc = 0;
    vkt_status st = vkt_safetensors_open(files[0], &ref, &err);
    if (!st) st = vkt_safetensors_open(files[1], &out, &err);
    size_t n = st ? 0 : vkt_safetensors_count(ref);
    if (!st && !(rows = vkt_calloc(n ? n : 1, sizeof *rows))) st = vkt_fail(&err, VKT_ERR_NOMEM, "compare");
    if (st) { rc = vkt_cli_fail(&err); goto done; }
    /* Scale for absolute comparisons: the largest |value| over all reference gradients. */
    double grad_scale = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = vkt_safetensors_name(ref, i);
        if (strncmp(name, "grad_", 5) != 0) continue;
        const vkt_tensor_data *t = vkt_safetensors_at(ref, i);
        for (size_t k = 0; k < vkt_tensor_data_numel(t); k++) grad_scale = fmax(grad_scale, fabs(vkt_tensor_data_get(t, k)));
    }
    uint32_t fails = 0;
    for (size_t i = 0; i < n; i++) {
        row *r = &rows[i];
        r->name = vkt_safetensors_name(ref, i);
        const vkt_tensor_data *a = vkt_safetensors_at(ref, i), *b = vkt_safetensors_find(out, r->name);
        bool grad = strncmp(r->name, "grad_", 5) == 0;
        r->tol = rtol > 0 ? rtol : grad ? (fp16 ? 3e-2 : 1e-3) : (fp16 ? 1e-2 : 1e-4);
        vkt_tensor_data_shape_str(a, r->shape, sizeof r->shape);
        if (!b) { r->status = "missing"; fails++; continue; }
        bool same = a->ndim == b->ndim;
        for (int d = 0; same && d < a->ndim; d++) same = a->shape[d] == b->shape[d];
        if (!same) { r->status = "shape"; r->err = INFINITY; fails++; continue; }
        float *va = NULL, *vb = NULL;
        if ((st = to_f32(a, &va, &err)) || (st = to_f32(b, &vb, &err))) {
            free(va);
            vkt_err_prefix(&err, "%s", r->name);
            rc = vkt_cli_fail(&err);
            goto done;
        }
        double max_ref = 0, max_diff = 0;
        bool finite = true;
        for (size_t k = 0; k < vkt_tensor_data_numel(a); k++) {
            max_ref = fmax(max_ref, fabs(va[k]));
            double d = fabs((double)vb[k] - va[k]);
            if (!isfinite(vb[k])) finite = false;
            max_diff = fmax(max_diff, d);
        }
        free(va);
        free(vb);
        double denom = zero_in_exact(ref, r->name, max_ref, grad_scale) ? grad_scale : max_ref;
        r->err = !finite ? INFINITY : max_diff == 0 ? 0 : denom > 0 ? max_diff / denom : INFINITY;
        r->status = r->err <= r->tol ? "pass" : "FAIL";
        if (r->err > r->tol) fails++;
    }
    if (json) {
        cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "tensors");
        cJSON_AddNumberToObject(root, "failures", fails);
        for (size_t i = 0; i < n; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", rows[i].name);
            cJSON_AddStringToObject(o, "shape", rows[i].shape);
            cJSON_AddNumberToObject(o, "error", isfinite(rows[i].err) ? rows[i].err : -1);
            cJSON_AddNumberToObject(o, "tolerance", rows[i].tol);
            cJSON_AddStringToObject(o, "status", rows[i].status);
            cJSON_AddItemToArray(arr, o);
        }
        vkt_cli_print_json(root);
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%-44s %-18s error %.3e  tol %.0e  %s\n", rows[i].name, rows[i].shape, rows[i].err, rows[i].tol,
                   rows[i].status);
        printf("%zu tensors, %u failed\n", n, fails);
    }
    rc = fails ? 1 : 0;
done:
    free(rows);
    vkt_safetensors_close(ref);
    vkt_safetensors_close(out);
    return rc;
}
