/* golden.clip.backward: the text encoder's backward to the learned vectors against the PyTorch
 * reference (tests/golden/text.extra: loss = sum(clip_out * grad_clip_out)), fp32 and fp16,
 * at the eval-case.md gradient tolerances (1e-3 / 3e-2 of max|ref|). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "models/clip.h"
#include "testkit.h"

static float *read_f32(vkt_safetensors *st, const char *name, size_t *n)
{
    const vkt_tensor_data *t = vkt_safetensors_find(st, name);
    if (!t) return NULL;
    *n = vkt_tensor_data_numel(t);
    float *v = malloc(*n * sizeof *v);
    vkt_err err;
    if (vkt_tensor_data_to_f32(t, v, &err)) { free(v); return NULL; }
    return v;
}

static double rel_err(const float *got, const float *ref, size_t n)
{
    double m = 0, d = 0;
    for (size_t i = 0; i < n; i++) {
        m = fmax(m, fabs(ref[i]));
        d = fmax(d, fabs((double)got[i] - ref[i]));
    }
    return d / m;
}

static void run(const char *model_path, vkt_dtype dt)
{
    vkt_err err = {0};
    vkt_safetensors *model = NULL, *cs = NULL, *ex = NULL;
    vkt_device *dev = NULL;
    vkt_step *s = NULL;
    vkt_clip *clip = NULL;
    vkt_tensor ids = {0}, src = {0}, vec = {0}, mult = {0}, dctx = {0}, dvec = {0};
    TK_CHECK(vkt_safetensors_open(model_path, &model, &err) == VKT_OK, "model: %s", err.msg);
    TK_CHECK(vkt_safetensors_open(tk_src("tests/golden/text.case.safetensors"), &cs, &err) == VKT_OK, "case: %s", err.msg);
    TK_CHECK(vkt_safetensors_open(tk_src("tests/golden/text.extra.safetensors"), &ex, &err) == VKT_OK, "extra: %s", err.msg);
    TK_CHECK(vkt_device_create(&(vkt_device_opts){.validation = 1}, &dev, &err) == VKT_OK, "device: %s", err.msg);
    if (!model || !cs || !ex || !dev) goto done;
    vkt_step_create(dev, &s, &err);
    vkt_weight_source ws = vkt_weight_source_safetensors(model, VKT_CLIP_PREFIX, model_path);
    TK_CHECK(vkt_clip_load(dev, &ws, dt, 4, &clip, &err) == VKT_OK, "load: %s", err.msg);
    if (!clip) goto done;
    size_t n_ids, n_at, n_l, n_m, n_g, n_ref;
    float *f_ids = read_f32(cs, "input_ids", &n_ids), *f_at = read_f32(cs, "learned_at", &n_at),
          *f_l = read_f32(cs, "learned", &n_l), *f_m = read_f32(cs, "multipliers", &n_m),
          *f_g = read_f32(ex, "grad_clip_out", &n_g), *f_ref = read_f32(ex, "grad_learned", &n_ref);
    int64_t B = 2, T = (int64_t)n_ids / 2, N = (int64_t)n_l / 128, P = (int64_t)n_at / 2;
    int32_t *i_ids = malloc(n_ids * 4), *i_src = malloc(n_ids * 4);
    for (size_t i = 0; i < n_ids; i++) { i_ids[i] = (int32_t)f_ids[i]; i_src[i] = -1; }
    for (int64_t b = 0; b < B; b++)
        for (int64_t p = 0; p < P; p++) {
            int64_t start = (int64_t)f_at[b * P + p];
            if (start < 0) continue;
            for (int64_t i = 0; i < N && start + i < (start / 77 + 1) * 77; i++) i_src[b * T + start + i] = (int32_t)i;
        }
    vkt_tensor_alloc(dev, VKT_I32, 2, (int64_t[]){B, T}, "ids", &ids, &err);
    vkt_tensor_alloc(dev, VKT_I32, 2, (int64_t[]){B, T}, "src", &src, &err);
    vkt_tensor_alloc(dev, VKT_F32, 2, (int64_t[]){N, 128}, "vec", &vec, &err);
    vkt_tensor_alloc(dev, VKT_F32, 2, (int64_t[]){B, T}, "mult", &mult, &err);
    vkt_tensor_alloc(dev, dt, 3, (int64_t[]){B, T, 128}, "dctx", &dctx, &err);
    vkt_tensor_alloc(dev, VKT_F32, 2, (int64_t[]){N, 128}, "dvec", &dvec, &err);
    vkt_buffer_upload(dev, ids.buf, 0, i_ids, n_ids * 4, &err);
    vkt_buffer_upload(dev, src.buf, 0, i_src, n_ids * 4, &err);
    vkt_tensor_upload_f32(dev, &vec, f_l, &err);
    vkt_tensor_upload_f32(dev, &mult, f_m, &err);
    vkt_tensor_upload_f32(dev, &dctx, f_g, &err);
    vkt_clip_saved *sv = NULL;
    vkt_tensor out;
    vkt_status st = vkt_step_begin_planned(s, &err);
    if (!st) st = vkt_clip_fwd(s, clip, &ids, &src, &vec, &mult, 1, &out, &sv, &err);
    if (!st) st = vkt_clip_bwd(s, clip, sv, &dctx, &dvec, VKT_GRAD_OVERWRITE, &err);
    if (!st) st = vkt_step_end(s, &err);
    if (!st) st = vkt_step_submit(s, &err);
    TK_CHECK(st == VKT_OK, "clip fwd/bwd: %s", err.msg);
    float *got = malloc(n_ref * sizeof *got);
    if (!st) {
        vkt_tensor_download_f32(dev, &dvec, got, &err);
        double e = rel_err(got, f_ref, n_ref), tol = dt == VKT_F16 ? 3e-2 : 1e-3;
        TK_CHECK(e <= tol, "%s grad_learned error %.3e > %.0e", vkt_dtype_name(dt), e, tol);
        printf("clip backward %s: grad_learned error %.3e (tolerance %.0e)\n", vkt_dtype_name(dt), e, tol);
    }
    TK_CHECK(vkt_device_validation_count(dev) == 0, "validation messages");
    free(got); free(f_ids); free(f_at); free(f_l); free(f_m); free(f_g); free(f_ref); free(i_ids); free(i_src);
done:
    vkt_tensor_free(dev, &ids); vkt_tensor_free(dev, &src); vkt_tensor_free(dev, &vec);
    vkt_tensor_free(dev, &mult); vkt_tensor_free(dev, &dctx); vkt_tensor_free(dev, &dvec);
    vkt_clip_destroy(clip);
    vkt_step_destroy(s);
    vkt_device_destroy(dev);
    vkt_safetensors_close(model); vkt_safetensors_close(cs); vkt_safetensors_close(ex);
}

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    run(argv[1], VKT_F32);
    run(argv[1], VKT_F16);
    return tk_finish("clip_golden");
}
