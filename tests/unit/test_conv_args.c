/* The conv2d, upsample and concat/slice wrappers refuse what their shaders cannot compute: each
 * bad call fails with the right status before recording anything, and a good call after them
 * still runs cleanly under validation. */
#include <string.h>

#include "nn/ops/concat.h"
#include "nn/ops/conv2d.h"
#include "nn/ops/upsample.h"
#include "testkit.h"

static vkt_device *dev;

static vkt_tensor T(vkt_dtype dt, int nd, int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t s[4] = {a, b, c, d};
    vkt_tensor t = {0};
    vkt_err err = {0};
    TK_CHECK(vkt_tensor_alloc(dev, dt, nd, s, "t", &t, &err) == VKT_OK, "alloc: %s", err.msg);
    return t;
}

/* call must return code; err holds its message afterwards. */
#define EXPECT(call, code)                                                                         \
    do {                                                                                           \
        memset(&err, 0, sizeof err);                                                               \
        vkt_status st_ = (call);                                                                   \
        TK_CHECK(st_ == (code), "%s -> %d (%s), expected %d", #call, (int)st_, err.msg,            \
                 (int)(code));                                                                     \
    } while (0)

int main(void)
{
    TK_CHECK(vkt_conv2d_out_size(9, 3, 2, 0, 1) == 4, "VAE downsample of 9 -> 4");
    TK_CHECK(vkt_conv2d_out_size(8, 3, 2, 0, 1) == 4, "VAE downsample of 8 -> 4");
    TK_CHECK(vkt_conv2d_out_size(9, 3, 2, 1, 1) == 5, "UNet downsample of 9 -> 5 (ceil)");
    TK_CHECK(vkt_conv2d_out_size(9, 3, 1, 1, 1) == 9, "3x3 same");
    TK_CHECK(vkt_conv2d_out_size(2, 3, 1, 0, 0) == 0, "kernel larger than input");
    TK_CHECK(vkt_conv2d_out_size(9, 3, 0, 1, 1) == 0, "stride 0");
    vkt_conv2d_params std = vkt_conv2d_std(2, 1);
    TK_CHECK(std.stride_h == 2 && std.stride_w == 2 && std.pad_top == 1 && std.pad_bottom == 1 &&
                 std.pad_left == 1 && std.pad_right == 1 && std.algo == VKT_CONV2D_AUTO &&
                 std.tile.bm == 0,
             "vkt_conv2d_std");

    vkt_err err = {0};
    vkt_step *s = NULL;
    vkt_status st = vkt_device_create(&(vkt_device_opts){.validation = 1}, &dev, &err);
    if (!st) st = vkt_step_create(dev, &s, &err);
    TK_CHECK(st == VKT_OK, "device: %s", err.msg);
    if (st) return tk_finish("conv.args");

    /* Every automatic tile is valid on this device, for small and large GEMMs. */
    const int64_t sizes[] = {1, 3, 16, 17, 33, 64, 127, 128, 1000, 4096, 100000};
    for (int i = 0; i < 11; i++)
        for (int j = 0; j < 11; j++) {
            vkt_conv2d_tile t = vkt_conv2d_pick_tile(s, sizes[i], sizes[j], 9);
            uint32_t wg = (t.bm / t.tm) * (t.bn / t.tn);
            TK_CHECK(t.bm % t.tm == 0 && t.bn % t.tn == 0 && wg % t.bk == 0 && wg % t.bn == 0 &&
                         wg <= vkt_device_get_info(dev)->max_wg_invocations,
                     "tile for M %lld N %lld", (long long)sizes[i], (long long)sizes[j]);
        }

    vkt_tensor x = T(VKT_F32, 4, 2, 3, 9, 11), w = T(VKT_F32, 4, 7, 3, 3, 3);
    vkt_tensor b = T(VKT_F32, 1, 7, 0, 0, 0), b6 = T(VKT_F32, 1, 6, 0, 0, 0);
    vkt_tensor y = T(VKT_F32, 4, 2, 7, 9, 11), y5 = T(VKT_F32, 4, 2, 7, 5, 6);
    vkt_tensor w4 = T(VKT_F32, 4, 7, 4, 3, 3), wh = T(VKT_F16, 4, 7, 3, 3, 3);
    vkt_tensor sq = T(VKT_F32, 4, 2, 3, 9, 11), w1 = T(VKT_F32, 4, 3, 3, 1, 1);
    vkt_tensor up = T(VKT_F32, 4, 2, 3, 18, 22), up4 = T(VKT_F32, 4, 2, 4, 18, 22);
    vkt_tensor cat = T(VKT_F32, 4, 2, 10, 9, 11), cat9 = T(VKT_F32, 4, 2, 9, 9, 11);
    vkt_tensor sl = T(VKT_F32, 4, 2, 4, 9, 11);
    vkt_conv2d_params p = vkt_conv2d_std(1, 1), p2 = vkt_conv2d_std(2, 1);

    TK_CHECK(vkt_step_begin(s, &err) == VKT_OK, "begin");
    EXPECT(vkt_op_conv2d_fwd(s, &p, &x, &w4, NULL, &y, &err), VKT_ERR_SHAPE);
    TK_CHECK(strstr(err.msg, "[7,4,3,3]") != NULL, "message names the shape: %s", err.msg);
    EXPECT(vkt_op_conv2d_fwd(s, &p2, &x, &w, NULL, &y, &err), VKT_ERR_SHAPE); /* y must be 5x6 */
    EXPECT(vkt_op_conv2d_fwd(s, &p, &x, &w, &b6, &y, &err), VKT_ERR_SHAPE);
    EXPECT(vkt_op_conv2d_fwd(s, &p, &x, &wh, NULL, &y, &err), VKT_ERR_SHAPE); /* mixed dtypes */
    vkt_conv2d_params bad = p;
    bad.stride_h = 0;
    EXPECT(vkt_op_conv2d_fwd(s, &bad, &x, &w, NULL, &y, &err), VKT_ERR_USAGE);
    bad = p;
    bad.pad_left = -1;
    EXPECT(vkt_op_conv2d_fwd(s, &bad, &x, &w, NULL, &y, &err), VKT_ERR_USAGE);
    bad = vkt_conv2d_std(1, 0);
    vkt_tensor tiny = T(VKT_F32, 4, 2, 3, 2, 11), ty = T(VKT_F32, 4, 2, 7, 1, 9);
    EXPECT(vkt_op_conv2d_fwd(s, &bad, &tiny, &w, NULL, &ty, &err), VKT_ERR_SHAPE); /* 2 < 3 */
    bad = p;
    bad.tile = (vkt_conv2d_tile){16, 16, 8, 3, 2};
    EXPECT(vkt_op_conv2d_fwd(s, &bad, &x, &w, NULL, &y, &err), VKT_ERR_USAGE); /* 16 % 3 */
    bad.tile = (vkt_conv2d_tile){64, 64, 16, 1, 1};
    EXPECT(vkt_op_conv2d_fwd(s, &bad, &x, &w, NULL, &y, &err), VKT_ERR_USAGE); /* 4096 threads */
    bad.tile = (vkt_conv2d_tile){32, 32, 48, 2, 2};
    EXPECT(vkt_op_conv2d_fwd(s, &bad, &x, &w, NULL, &y, &err), VKT_ERR_USAGE); /* 256 % 48 */
    bad = p;
    bad.algo = (vkt_conv2d_algo)7;
    EXPECT(vkt_op_conv2d_fwd(s, &bad, &x, &w, NULL, &y, &err), VKT_ERR_UNSUPPORTED);
    vkt_conv2d_params p0 = vkt_conv2d_std(1, 0);
    EXPECT(vkt_op_conv2d_fwd(s, &p0, &sq, &w1, NULL, &sq, &err), VKT_ERR_USAGE); /* y aliases x */
    EXPECT(vkt_op_conv2d_bwd_dx(s, &p2, &y, &w, &x, VKT_GRAD_OVERWRITE, &err), VKT_ERR_SHAPE);
    EXPECT(vkt_op_conv2d_bwd_dw(s, &p, &x, &y5, &w, VKT_GRAD_OVERWRITE, &err), VKT_ERR_SHAPE);
    EXPECT(vkt_op_conv2d_bwd_db(s, &y, &b6, VKT_GRAD_OVERWRITE, &err), VKT_ERR_SHAPE);

    EXPECT(vkt_op_upsample_fwd(s, &x, &up4, &err), VKT_ERR_SHAPE);
    EXPECT(vkt_op_upsample_fwd(s, &x, &x, &err), VKT_ERR_USAGE);
    EXPECT(vkt_op_upsample_bwd(s, &up4, &x, VKT_GRAD_OVERWRITE, &err), VKT_ERR_SHAPE);

    EXPECT(vkt_op_concat_fwd(s, 1, &x, &y, &cat9, &err), VKT_ERR_SHAPE); /* 3 + 7 != 9 */
    EXPECT(vkt_op_concat_fwd(s, 1, &x, &y5, &cat, &err), VKT_ERR_SHAPE); /* H, W differ */
    EXPECT(vkt_op_concat_fwd(s, 4, &x, &y, &cat, &err), VKT_ERR_USAGE);
    EXPECT(vkt_op_concat_bwd(s, 1, &cat, NULL, VKT_GRAD_OVERWRITE, NULL, VKT_GRAD_OVERWRITE, &err),
           VKT_ERR_USAGE);
    EXPECT(vkt_op_concat_bwd(s, 1, &cat9, &x, VKT_GRAD_OVERWRITE, &y, VKT_GRAD_OVERWRITE, &err),
           VKT_ERR_SHAPE);
    EXPECT(vkt_op_slice_fwd(s, 1, 7, &cat, &sl, &err), VKT_ERR_SHAPE); /* [7, 11) of 10 */
    EXPECT(vkt_op_slice_fwd(s, 1, -1, &cat, &sl, &err), VKT_ERR_SHAPE);
    EXPECT(vkt_op_slice_bwd(s, 1, 7, &sl, &cat, VKT_GRAD_ACCUMULATE, &err), VKT_ERR_SHAPE);

    /* Good calls still record and run cleanly after all the refusals. */
    EXPECT(vkt_op_conv2d_fwd(s, &p, &x, &w, &b, &y, &err), VKT_OK);
    EXPECT(vkt_op_conv2d_fwd(s, &p2, &x, &w, NULL, &y5, &err), VKT_OK);
    EXPECT(vkt_op_upsample_fwd(s, &x, &up, &err), VKT_OK);
    EXPECT(vkt_op_concat_fwd(s, 1, &x, &y, &cat, &err), VKT_OK);
    EXPECT(vkt_op_slice_fwd(s, 1, 6, &cat, &sl, &err), VKT_OK);
    TK_CHECK(vkt_step_run(s, &err) == VKT_OK, "run: %s", err.msg);
    TK_CHECK(vkt_device_validation_count(dev) == 0, "%u validation messages",
             vkt_device_validation_count(dev));

    vkt_tensor *all[] = {&x,  &w,  &b,   &b6,  &y,    &y5, &w4,   &wh, &sq,
                         &w1, &up, &up4, &cat, &cat9, &sl, &tiny, &ty};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        vkt_tensor_free(dev, all[i]);
    vkt_step_destroy(s);
    vkt_device_destroy(dev);
    return tk_finish("conv.args");
}
