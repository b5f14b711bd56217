#!/usr/bin/python3
"""Golden data for src/train/dataset.c: what the webui's dataset.py computes for an image, i.e.
  x      = (np.array(Image.open(f).convert('RGB').resize((W, H), BICUBIC)) / 127.5 - 1).astype(f32)
  weight = alpha.resize((w, h)) -> float32, repeated over 4 channels, w -= w.min(); w /= w.mean()
           (torch float32, as the webui; vktrain passes (w, h) where the webui passes (h, w))
for three small PNGs (RGBA, LA, RGB) at training size 48x32 (latent 6x4, non-square on purpose).

Writes tests/golden/dataset_webui.safetensors: "img{i}.file" (the PNG bytes, U8), "img{i}.x"
[3, 32, 48] F32 and "img{i}.weight" [4, 6] F32 (one of the 4 identical channels; all ones without
alpha); metadata: file names, script, seed, Pillow and torch versions.
Run: /usr/bin/python3 tests/reference/make_dataset_golden.py
"""
import io
import json
import os
import struct

import numpy as np
import PIL
import torch
from PIL import Image

SEED = 7
W, H = 48, 32
LW, LH = W // 8, H // 8


def main():
    rng = np.random.default_rng(SEED)
    y, x = np.mgrid[0:61, 0:83]
    rgb = np.clip(127 + 90 * np.sin(x / 7.0)[..., None] * np.cos(y / 5.0)[..., None]
                  + rng.normal(0, 20, (61, 83, 3)), 0, 255).astype(np.uint8)
    alpha = np.clip(x * 3 + rng.normal(0, 30, (61, 83)), 0, 255).astype(np.uint8)
    images = [
        ("a_rgba.png", Image.fromarray(np.dstack([rgb, alpha]), "RGBA")),
        ("b_la.png", Image.fromarray(np.dstack([rgb[..., 1], 255 - alpha]), "LA")),
        ("c_rgb.png", Image.fromarray(rgb[:50, :70], "RGB")),
    ]
    tensors, names = [], []
    for i, (name, im) in enumerate(images):
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        data = buf.getvalue()
        im = Image.open(io.BytesIO(data))
        a = im.getchannel("A") if "A" in im.getbands() else None
        xs = (np.array(im.convert("RGB").resize((W, H), Image.BICUBIC)).astype(np.uint8) / 127.5
              - 1.0).astype(np.float32).transpose(2, 0, 1)
        if a is not None:
            npw = np.array(a.resize((LW, LH))).astype(np.float32)
            w = torch.tensor(np.stack([npw] * 4)).reshape([4, LH, LW])
            w -= w.min()
            w /= w.mean()
            w = w[0].numpy()
        else:
            w = np.ones((LH, LW), np.float32)
        names.append(name)
        tensors += [(f"img{i}.file", np.frombuffer(data, np.uint8)), (f"img{i}.x", xs),
                    (f"img{i}.weight", np.ascontiguousarray(w, np.float32))]
    header = {"__metadata__": {"script": "tests/reference/make_dataset_golden.py", "seed": str(SEED),
                               "pillow": PIL.__version__, "torch": torch.__version__,
                               "files": ",".join(names), "size": f"{W}x{H}"}}
    off, blobs = 0, []
    for name, a in tensors:
        b = np.ascontiguousarray(a).tobytes()
        dt = "U8" if a.dtype == np.uint8 else "F32"
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    path = os.path.join(os.path.dirname(__file__), "..", "golden", "dataset_webui.safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))
    print(f"wrote {os.path.normpath(path)}: {len(images)} images, {8 + len(hj) + off} bytes")


if __name__ == "__main__":
    main()
