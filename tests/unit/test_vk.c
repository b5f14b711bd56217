/* src/vk + nn/tensor: device creation under validation, memory accounting and OOM errors,
 * transfers and f16 conversion, hazard-tracked barriers, resubmission, pipeline cache, timings. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "nn/ops/act.h"
#include "nn/step.h"
#include "testkit.h"
#include "vk/pipeline.h"

static void test_f16(void)
{
    const float v[] = {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.333333f, 1e-9f};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        float back = vkt_f16_to_f32(vkt_f32_to_f16(v[i]));
        TK_CHECK(fabsf(back - v[i]) <= fabsf(v[i]) * 4.9e-4f + 3e-8f, "f16 round trip %g -> %g", v[i], back);
    }
    TK_CHECK(vkt_f32_to_f16(1e6f) == 0x7c00, "overflow to inf");
    TK_CHECK(vkt_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00, "ties to even (down)");
    TK_CHECK(vkt_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02, "ties to even (up)");
    TK_CHECK(isnan(vkt_f16_to_f32(vkt_f32_to_f16(NAN))), "nan stays nan");
    TK_CHECK(vkt_bf16_to_f32(vkt_f32_to_bf16(1.5f)) == 1.5f, "bf16");
}

int main(void)
{
    test_f16();
    vkt_err err = {0};
    vkt_device *dev = NULL;
    vkt_step *s = NULL;
    vkt_status st = vkt_device_create(&(vkt_device_opts){.validation = 1}, &dev, &err);
    TK_CHECK(st == VKT_OK, "device: %s", err.msg);
    if (st) return tk_finish("vk");
    const vkt_device_info *inf = vkt_device_get_info(dev);
    TK_CHECK(inf->subgroup_size > 0 && inf->n_heaps > 0 && inf->max_wg_invocations >= 128, "features queried");
    TK_CHECK(vkt_device_validation_on(dev), "validation layer on");
    TK_CHECK(vkt_shader_count() > 0 && vkt_shader_built("act_fwd_f32") && !vkt_shader_built("nope_fwd_f32"),
             "embedded shaders");

    /* Memory: transfers and accounting. */
    vkt_mem_stats m0 = vkt_mem_get_stats(dev);
    vkt_buffer *b = NULL;
    TK_CHECK(vkt_buffer_create(dev, 1000, VKT_MEM_DEVICE, "test", &b, &err) == VKT_OK, "buffer: %s", err.msg);
    vkt_mem_stats m1 = vkt_mem_get_stats(dev);
    TK_CHECK(m1.current >= m0.current + 1000 && m1.peak >= m1.current, "accounting");
    uint32_t src[250], dst[250];
    for (int i = 0; i < 250; i++) src[i] = (uint32_t)i * 2654435761u;
    TK_CHECK(vkt_buffer_upload(dev, b, 0, src, sizeof src, &err) == VKT_OK, "upload");
    TK_CHECK(vkt_buffer_download(dev, b, 0, dst, sizeof dst, &err) == VKT_OK && memcmp(src, dst, sizeof src) == 0,
             "round trip");
    TK_CHECK(vkt_buffer_upload(dev, b, 996, src, 8, &err) == VKT_ERR_INTERNAL, "out-of-range upload refused");
    vkt_buffer_destroy(dev, b);
    TK_CHECK(vkt_mem_get_stats(dev).current == m0.current, "freed");

    /* Out of memory: a clear error naming what and how much, not a crash. */
    vkt_buffer *big[64] = {0};
    int nb = 0;
    size_t chunk = inf->max_storage_range < ((size_t)1 << 30) ? inf->max_storage_range : ((size_t)1 << 30);
    uint64_t heap = 0;
    for (uint32_t h = 0; h < inf->n_heaps; h++) heap = inf->heap_size[h] > heap ? inf->heap_size[h] : heap;
    if (heap <= ((uint64_t)8 << 30)) { /* only where the heap is small (lavapipe: 2 GiB) */
        while (nb < 64 && (st = vkt_buffer_create(dev, chunk, VKT_MEM_DEVICE, "oom probe", &big[nb], &err)) == VKT_OK) nb++;
        TK_CHECK(st == VKT_ERR_OOM_DEVICE && strstr(err.msg, "oom probe") && strstr(err.msg, "GiB"),
                 "OOM message: %s", err.msg);
        for (int i = 0; i < nb; i++) vkt_buffer_destroy(dev, big[i]);
    }

    /* Hazards: two independent dispatches need no barrier; a dependent one needs exactly one. */
    TK_CHECK(vkt_step_create(dev, &s, &err) == VKT_OK, "step");
    vkt_tensor x, y, z, w;
    int64_t shp[1] = {1000};
    vkt_tensor_alloc(dev, VKT_F32, 1, shp, "x", &x, &err);
    vkt_tensor_alloc(dev, VKT_F32, 1, shp, "y", &y, &err);
    vkt_tensor_alloc(dev, VKT_F32, 1, shp, "z", &z, &err);
    vkt_tensor_alloc(dev, VKT_F32, 1, shp, "w", &w, &err);
    float hx[1000], hy[1000];
    for (int i = 0; i < 1000; i++) hx[i] = (float)(i - 500) / 100.0f;
    vkt_tensor_upload_f32(dev, &x, hx, &err);
    vkt_step_begin(s, &err);
    vkt_op_act_fwd(s, VKT_ACT_RELU, 0, &x, &y, &err);
    vkt_op_act_fwd(s, VKT_ACT_TANH, 0, &x, &z, &err);
    TK_CHECK(vkt_cmd_n_barriers(s->cmd) == 0, "independent dispatches: no barrier");
    vkt_op_act_fwd(s, VKT_ACT_SIGMOID, 0, &y, &w, &err); /* reads y: RAW */
    TK_CHECK(vkt_cmd_n_barriers(s->cmd) == 1, "dependent dispatch: one barrier (%u)", vkt_cmd_n_barriers(s->cmd));
    vkt_op_act_fwd(s, VKT_ACT_SILU, 0, &x, &y, &err); /* writes y, which was read: WAR */
    TK_CHECK(vkt_cmd_n_barriers(s->cmd) == 2, "write after read: barrier");
    TK_CHECK(vkt_step_run(s, &err) == VKT_OK, "run: %s", err.msg);
    vkt_tensor_download_f32(dev, &w, hy, &err);
    int ok = 1;
    for (int i = 0; i < 1000; i++) ok &= fabsf(hy[i] - 1.0f / (1.0f + expf(-fmaxf(hx[i], 0.0f)))) < 1e-6f;
    TK_CHECK(ok, "chained result correct");
    /* Resubmitting the same recording gives the same result. */
    TK_CHECK(vkt_step_submit(s, &err) == VKT_OK, "resubmit: %s", err.msg);
    vkt_tensor_download_f32(dev, &w, hy, &err);
    ok = 1;
    for (int i = 0; i < 1000; i++) ok &= fabsf(hy[i] - 1.0f / (1.0f + expf(-fmaxf(hx[i], 0.0f)))) < 1e-6f;
    TK_CHECK(ok, "resubmitted result correct");

    /* Profiling timestamps. */
    vkt_cmd_set_profiling(s->cmd, true);
    vkt_step_begin(s, &err);
    vkt_op_act_fwd(s, VKT_ACT_RELU, 0, &x, &y, &err);
    vkt_op_act_fwd(s, VKT_ACT_GELU, 0, &y, &z, &err);
    vkt_step_run(s, &err);
    const char *const *labels;
    const double *ms;
    uint32_t n = 0;
    if (inf->timestamps) {
        TK_CHECK(vkt_cmd_timings(s->cmd, &labels, &ms, &n) && n == 2 && strcmp(labels[1], "act_fwd") == 0 && ms[0] >= 0,
                 "timings");
    }
    /* Shape errors are messages, not crashes. */
    int64_t shp2[1] = {999};
    vkt_tensor bad = vkt_tensor_reshape(&y, 1, shp2);
    vkt_step_begin(s, &err);
    st = vkt_op_act_fwd(s, VKT_ACT_RELU, 0, &x, &bad, &err);
    TK_CHECK(st == VKT_ERR_SHAPE && strstr(err.msg, "[999]") && strstr(err.msg, "[1000]"), "shape error: %s", err.msg);
    vkt_step_run(s, &err);

    /* Planned step: a -> b -> c -> y; a is dead once b exists, so c reuses a's bytes. */
    vkt_tensor a, bb, c;
    TK_CHECK(vkt_step_begin_planned(s, &err) == VKT_OK, "planned begin");
    vkt_step_tensor(s, VKT_F32, 1, shp, "a", &a, &err);
    vkt_step_tensor(s, VKT_F32, 1, shp, "b", &bb, &err);
    vkt_step_tensor(s, VKT_F32, 1, shp, "c", &c, &err);
    TK_CHECK(vkt_tensor_upload_f32(dev, &a, hx, &err) == VKT_ERR_INTERNAL, "upload to a step tensor refused");
    vkt_op_act_fwd(s, VKT_ACT_RELU, 0, &x, &a, &err);
    vkt_op_act_fwd(s, VKT_ACT_TANH, 0, &a, &bb, &err);
    vkt_op_act_fwd(s, VKT_ACT_SIGMOID, 0, &bb, &c, &err);
    vkt_op_act_fwd(s, VKT_ACT_IDENTITY, 0, &c, &y, &err);
    TK_CHECK(vkt_step_keep(s, &bb, &err) == VKT_OK, "keep b");
    TK_CHECK(vkt_step_end(s, &err) == VKT_OK, "planned end: %s", err.msg);
    TK_CHECK(vkt_step_naive_bytes(s) == 3 * 4096 && vkt_step_peak_bytes(s) == 2 * 4096,
             "liveness reuse: peak %llu naive %llu", (unsigned long long)vkt_step_peak_bytes(s),
             (unsigned long long)vkt_step_naive_bytes(s));
    TK_CHECK(vkt_step_submit(s, &err) == VKT_OK, "planned submit: %s", err.msg);
    vkt_tensor_download_f32(dev, &y, hy, &err);
    ok = 1;
    for (int i = 0; i < 1000; i++) ok &= fabsf(hy[i] - 1.0f / (1.0f + expf(-tanhf(fmaxf(hx[i], 0.0f))))) < 1e-6f;
    TK_CHECK(ok, "planned result correct");
    vkt_tensor rb = vkt_step_resolve(s, &bb);
    TK_CHECK(vkt_tensor_download_f32(dev, &rb, hy, &err) == VKT_OK && fabsf(hy[999] - tanhf(fmaxf(hx[999], 0))) < 1e-6f,
             "kept tensor readable after the step");

    vkt_tensor_free(dev, &x);
    vkt_tensor_free(dev, &y);
    vkt_tensor_free(dev, &z);
    vkt_tensor_free(dev, &w);
    vkt_step_destroy(s);
    TK_CHECK(vkt_device_validation_count(dev) == 0, "no validation messages (%u)", vkt_device_validation_count(dev));
    /* The messenger really counts: an invalid call (zero-sized buffer) must be reported. */
    VkBufferCreateInfo bad_ci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = 0,
                                 .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT};
    VkBuffer bad_buf = VK_NULL_HANDLE;
    fprintf(stderr, "(the next validation message is expected)\n");
    if (vkCreateBuffer(vkt_device_vk(dev), &bad_ci, NULL, &bad_buf) == VK_SUCCESS && bad_buf)
        vkDestroyBuffer(vkt_device_vk(dev), bad_buf, NULL);
    TK_CHECK(vkt_device_validation_count(dev) > 0, "validation messages are counted");
    vkt_device_destroy(dev);

    /* Pipeline cache: a corrupt file is ignored. */
    const char *cache = getenv("XDG_CACHE_HOME");
    if (cache) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "for f in '%s'/vktrain/pipelines-*.bin; do [ -f \"$f\" ] && printf 'garbage' > \"$f\"; done; true", cache);
        TK_CHECK(system(cmd) == 0, "corrupt cache");
        st = vkt_device_create(&(vkt_device_opts){.validation = 1}, &dev, &err);
        TK_CHECK(st == VKT_OK, "device with corrupt cache: %s", err.msg);
        vkt_device_destroy(dev);
    }
    return tk_finish("vk");
}
