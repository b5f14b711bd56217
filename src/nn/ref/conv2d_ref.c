/* 2-D convolution in double, written from the definition (torch.nn.functional.conv2d with the
 * padding applied first, as F.pad then conv2d). The backward passes scatter over the forward's
 * loops instead of gathering like the shaders do, so the two derivations check each other. */
#include "nn/ref/conv2d_ref.h"

#include <math.h>
#include <string.h>

bool vkt_ref_conv2d_init(vkt_ref_conv2d *c, int B, int Cin, int H, int W, int Cout, int KH, int KW,
                         const vkt_conv2d_params *p)
{
    int64_t OH = vkt_conv2d_out_size(H, KH, p->stride_h, p->pad_top, p->pad_bottom);
    int64_t OW = vkt_conv2d_out_size(W, KW, p->stride_w, p->pad_left, p->pad_right);
    *c = (vkt_ref_conv2d){.B = B,
                          .Cin = Cin,
                          .H = H,
                          .W = W,
                          .Cout = Cout,
                          .KH = KH,
                          .KW = KW,
                          .OH = (int)OH,
                          .OW = (int)OW,
                          .sh = p->stride_h,
                          .sw = p->stride_w,
                          .pt = p->pad_top,
                          .pl = p->pad_left};
    return B > 0 && Cin > 0 && Cout > 0 && OH > 0 && OW > 0;
}

/* Calls body(xi, wi, yi) for every (input, weight, output) index triple that the forward
 * multiplies: y[yi] += w[wi] * x[xi]. */
#define FOR_EACH_TAP(c, body)                                                                      \
    for (int b = 0; b < (c)->B; b++)                                                               \
        for (int co = 0; co < (c)->Cout; co++)                                                     \
            for (int oy = 0; oy < (c)->OH; oy++)                                                   \
                for (int ox = 0; ox < (c)->OW; ox++) {                                             \
                    size_t yi = (((size_t)b * (c)->Cout + co) * (c)->OH + oy) * (c)->OW + ox;      \
                    for (int ci = 0; ci < (c)->Cin; ci++)                                          \
                        for (int ky = 0; ky < (c)->KH; ky++) {                                     \
                            int iy = oy * (c)->sh - (c)->pt + ky;                                  \
                            if (iy < 0 || iy >= (c)->H) continue;                                  \
                            for (int kx = 0; kx < (c)->KW; kx++) {                                 \
                                int ix = ox * (c)->sw - (c)->pl + kx;                              \
                                if (ix < 0 || ix >= (c)->W) continue;                              \
                                size_t xi =                                                        \
                                    (((size_t)b * (c)->Cin + ci) * (c)->H + iy) * (c)->W + ix;     \
                                size_t wi =                                                        \
                                    (((size_t)co * (c)->Cin + ci) * (c)->KH + ky) * (c)->KW + kx;  \
                                body;                                                              \
                            }                                                                      \
                        }                                                                          \
                }

void vkt_ref_conv2d_fwd(const vkt_ref_conv2d *c, const double *x, const double *w,
                        const double *bias, double *y, double *mag)
{
    size_t ny = (size_t)c->B * c->Cout * c->OH * c->OW, plane = (size_t)c->OH * c->OW;
    for (size_t i = 0; i < ny; i++) {
        size_t co = (i / plane) % (size_t)c->Cout;
        y[i] = bias ? bias[co] : 0.0;
        if (mag) mag[i] = bias ? fabs(bias[co]) : 0.0;
    }
    FOR_EACH_TAP(c, {
        y[yi] += w[wi] * x[xi];
        if (mag) mag[yi] += fabs(w[wi] * x[xi]);
    })
}

void vkt_ref_conv2d_bwd_dx(const vkt_ref_conv2d *c, const double *dy, const double *w, double *dx,
                           double *mag)
{
    size_t nx = (size_t)c->B * c->Cin * c->H * c->W;
    memset(dx, 0, nx * sizeof *dx);
    if (mag) memset(mag, 0, nx * sizeof *mag);
    FOR_EACH_TAP(c, {
        dx[xi] += w[wi] * dy[yi];
        if (mag) mag[xi] += fabs(w[wi] * dy[yi]);
    })
}

void vkt_ref_conv2d_bwd_dw(const vkt_ref_conv2d *c, const double *x, const double *dy, double *dw,
                           double *mag)
{
    size_t nw = (size_t)c->Cout * c->Cin * c->KH * c->KW;
    memset(dw, 0, nw * sizeof *dw);
    if (mag) memset(mag, 0, nw * sizeof *mag);
    FOR_EACH_TAP(c, {
        dw[wi] += x[xi] * dy[yi];
        if (mag) mag[wi] += fabs(x[xi] * dy[yi]);
    })
}

void vkt_ref_conv2d_bwd_db(const vkt_ref_conv2d *c, const double *dy, double *db, double *mag)
{
    size_t plane = (size_t)c->OH * c->OW;
    for (int co = 0; co < c->Cout; co++) {
        db[co] = 0;
        if (mag) mag[co] = 0;
    }
    for (int b = 0; b < c->B; b++)
        for (int co = 0; co < c->Cout; co++)
            for (size_t p = 0; p < plane; p++) {
                double v = dy[((size_t)b * c->Cout + co) * plane + p];
                db[co] += v;
                if (mag) mag[co] += fabs(v);
            }
}
