/* Nearest resize in double; the index map is torch's (aten/src/ATen/native/UpSample.h:
 * nearest_idx, compute_scales_value, nearest_neighbor_compute_source_index), float included. */
#include "nn/ref/upsample_ref.h"

#include <math.h>
#include <string.h>

int64_t vkt_ref_nearest_src(int64_t d, int64_t in, int64_t out)
{
    if (out == in) return d;
    if (out == 2 * in) return d >> 1;
    float scale = (float)in / (float)out;
    int64_t s = (int64_t)floorf((float)d * scale);
    return s < in - 1 ? s : in - 1;
}

void vkt_ref_upsample_fwd(int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW, const double *x,
                          double *y)
{
    for (int64_t p = 0; p < P; p++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++)
                y[(p * OH + oy) * OW + ox] = x[(p * H + vkt_ref_nearest_src(oy, H, OH)) * W +
                                               vkt_ref_nearest_src(ox, W, OW)];
}

/* Scatter over the forward's loops (the shader gathers). */
void vkt_ref_upsample_bwd(int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW, const double *dy,
                          double *dx, double *mag)
{
    memset(dx, 0, (size_t)(P * H * W) * sizeof *dx);
    if (mag) memset(mag, 0, (size_t)(P * H * W) * sizeof *mag);
    for (int64_t p = 0; p < P; p++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                int64_t i =
                    (p * H + vkt_ref_nearest_src(oy, H, OH)) * W + vkt_ref_nearest_src(ox, W, OW);
                double v = dy[(p * OH + oy) * OW + ox];
                dx[i] += v;
                if (mag) mag[i] += fabs(v);
            }
}
