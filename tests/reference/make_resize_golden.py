#!/usr/bin/python3
"""Golden data for src/train/resize.c: Pillow's Image.resize(size, Image.BICUBIC) on small
synthetic 8-bit images (up- and down-scaling, odd sizes, one axis only, extreme ratios).

Writes tests/golden/resize_bicubic.safetensors (written by hand: no safetensors package needed)
with, for case i, "case{i}.src" [h, w, C] and "case{i}.dst" [dh, dw, C] as U8, C = 1 (mode "L",
e.g. an alpha plane) or 3 ("RGB"). Metadata records this script, the seed and the Pillow version.
Run with Debian's python3-pil:  /usr/bin/python3 tests/reference/make_resize_golden.py
"""
import json
import os
import struct

import numpy as np
import PIL
from PIL import Image

SEED = 20240607
# (src w, src h, channels, dst w, dst h, content)
CASES = [
    (37, 23, 3, 64, 64, "noise"),      # upscale both axes, non-integer ratio
    (97, 61, 3, 31, 17, "noise"),      # downscale both axes (antialiased kernel)
    (50, 50, 1, 50, 20, "noise"),      # vertical pass only
    (50, 50, 1, 17, 50, "noise"),      # horizontal pass only
    (13, 7, 3, 40, 3, "gradient"),     # up in x, down in y
    (1, 1, 3, 5, 5, "noise"),          # a single pixel
    (5, 5, 1, 1, 1, "noise"),          # down to a single pixel
    (300, 200, 3, 64, 48, "mixed"),    # large downscale (support ~ 9.4 px)
    (41, 29, 1, 6, 4, "gradient"),     # an alpha plane to latent size
    (64, 64, 3, 64, 64, "noise"),      # identity
    (3, 2, 3, 29, 31, "noise"),        # large upscale from a tiny image
    (7, 640, 1, 3, 1, "mixed"),        # extreme aspect, extreme downscale in y
    (200, 150, 3, 128, 128, "mixed"),  # the webui's squash to a square (no aspect kept)
    (131, 129, 3, 64, 64, "edges"),    # hard edges: bicubic overshoot clamps at 0 and 255
]


def make(rng, w, h, c, kind):
    if kind == "noise":
        a = rng.integers(0, 256, size=(h, w, c))
    elif kind == "gradient":
        y, x = np.mgrid[0:h, 0:w]
        a = np.stack([(x * 255 // max(w - 1, 1) + k * 40 + y * 3) % 256 for k in range(c)], -1)
    elif kind == "edges":
        y, x = np.mgrid[0:h, 0:w]
        a = np.stack([((x // 5 + y // 7 + k) % 2) * 255 for k in range(c)], -1)
    else:  # mixed: smooth field plus noise
        y, x = np.mgrid[0:h, 0:w]
        base = 127 + 100 * np.sin(x / 9.0)[..., None] * np.cos(y / 13.0)[..., None]
        a = np.clip(base + rng.normal(0, 25, size=(h, w, c)), 0, 255)
    return a.astype(np.uint8)


def main():
    rng = np.random.default_rng(SEED)
    tensors = []
    for i, (w, h, c, dw, dh, kind) in enumerate(CASES):
        src = make(rng, w, h, c, kind)
        im = Image.fromarray(src[..., 0] if c == 1 else src, "L" if c == 1 else "RGB")
        out = np.asarray(im.resize((dw, dh), Image.BICUBIC)).reshape(dh, dw, c)
        tensors.append((f"case{i}.src", src))
        tensors.append((f"case{i}.dst", out))
    header = {"__metadata__": {"script": "tests/reference/make_resize_golden.py",
                               "seed": str(SEED), "pillow": PIL.__version__,
                               "cases": str(len(CASES))}}
    off = 0
    blobs = []
    for name, a in tensors:
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": "U8", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    path = os.path.join(os.path.dirname(__file__), "..", "golden", "resize_bicubic.safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))
    print(f"wrote {os.path.normpath(path)}: {len(CASES)} cases, {8 + len(hj) + off} bytes")


if __name__ == "__main__":
    main()
