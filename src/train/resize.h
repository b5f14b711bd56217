/* Pillow-exact bicubic resize of 8-bit images and the webui's rule for turning a training image
 * into the pixels the VAE sees. Host code only (no Vulkan).
 *
 *   uint8_t *dst = malloc(512 * 512 * 3);
 *   vkt_resize_bicubic(src, 640, 480, 3, dst, 512, 512, &err);
 *   // = PIL: Image.fromarray(src).resize((512, 512), Image.BICUBIC)
 *
 * Pillow's algorithm (libImaging/Resample.c), reproduced bit for bit for 8-bit images:
 * separable, horizontal pass first (only over the source rows the vertical pass reads), then
 * vertical, each pass rounding to uint8. Kernel (a = -0.5)
 *   K(x) = ((a+2)|x| - (a+3))|x|^2 + 1         for |x| < 1,
 *          (((|x|-5)|x| + 8)|x| - 4)a          for 1 <= |x| < 2, else 0.
 * For output index o, scale s = in/out and fs = max(s, 1) (downscaling widens the kernel, which
 * antialiases): center = (o + 0.5)s, support = 2fs, taps x in [max(0, (int)(center - support +
 * 0.5)), min(in, (int)(center + support + 0.5))), weight K((x - center + 0.5) * (1/fs)),
 * normalised to sum 1, then fixed point: (int)(w * 2^22 +- 0.5) (half away from zero);
 * out = clamp((2^21 + sum(px * k)) >> 22, 0, 255). A pass whose size does not change is skipped
 * (it would be the identity). Channels are independent (like Pillow's RGB/RGBX; Pillow
 * premultiplies RGBA by alpha first, which this function does not do).
 */
#ifndef VKT_TRAIN_RESIZE_H
#define VKT_TRAIN_RESIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

/* src [sh][sw][C] -> dst [dh][dw][C], C in 1..4; all sizes > 0 and <= 65536. dst must not overlap
 * src. Fails only for bad arguments or host OOM. */
vkt_status vkt_resize_bicubic(const uint8_t *src, int sw, int sh, int C, uint8_t *dst, int dw,
                              int dh, vkt_err *err);

/* How a training image becomes the pixels the VAE encodes (training.md §4.2). */
typedef struct vkt_resize_rule {
    int width, height; /* training size (webui default 512x512) */
    /* Train at the image's own size (webui "do not resize images"). Otherwise every image is
     * resized to exactly width x height with bicubic: aspect ratio NOT kept, no crop, no flip. */
    bool varsize;
    /* vktrain extra, varsize only: centre-crop each side down to a multiple of this (e.g. 64 so
     * the latent is divisible by 8). 0 or 1 = no crop (the webui). */
    int varsize_multiple;
} vkt_resize_rule;

/* Training size of a w x h image under the rule (after crop); false when the crop leaves
 * nothing (a side smaller than varsize_multiple). */
bool vkt_resize_train_size(const vkt_resize_rule *r, int w, int h, int *tw, int *th);

/* Crop rectangle (x0, y0, cw, ch) the rule applies to a w x h image before resizing: the whole
 * image unless varsize with a multiple. */
void vkt_resize_train_crop(const vkt_resize_rule *r, int w, int h, int *x0, int *y0, int *cw,
                           int *ch);

/* RGBA8 [h][w][4] -> RGB8 at the training size, alpha dropped without compositing (Pillow's
 * convert('RGB')), then cropped/resized by the rule. *out is malloc'd [th][tw][3]. */
vkt_status vkt_resize_train_rgb(const vkt_resize_rule *r, const uint8_t *rgba, int w, int h,
                                uint8_t **out, int *tw, int *th, vkt_err *err);

#endif
