#!/usr/bin/python3
"""Seed corpus for fuzz_png (tiny files; rerun to regenerate): PNGs with tEXt / zTXt / iTXt
(compressed and not), an sd-ti-embedding style text, grey/palette/16-bit PNGs, and one small
JPEG, WebP, BMP and TGA. Uses Debian's python3-pil."""
import base64
import json
import os

from PIL import Image, PngImagePlugin

d = os.path.join(os.path.dirname(__file__), "corpus")
os.makedirs(d, exist_ok=True)


def img(mode, w, h):
    im = Image.new(mode, (w, h))
    im.putdata([((x * 37 + y * 11) % 256) if mode in ("L", "P") else
                tuple((x * 37 + y * 11 + k * 60) % 256 for k in range(len(mode)))
                for y in range(h) for x in range(w)])
    return im


info = PngImagePlugin.PngInfo()
info.add_text("parameters", "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
              "Seed: 1, Size: 512x512, Model hash: abcdef12")
info.add_text("latin", "caf\u00e9")
info.add_text("utf8", "\u732b")
info.add_text("ztxt", "compressed " * 8, zip=True)
info.add_itxt("itxt", "\u732b compressed " * 4, lang="ja", tkey="\u732b", zip=True)
img("RGB", 3, 2).save(os.path.join(d, "texts.png"), pnginfo=info)

emb = {"string_to_token": {"*": 265}, "string_to_param": {"*": {"TORCHTENSOR": [[0.1, -0.25]]}},
       "name": "tiny", "step": 0, "sd_checkpoint": None, "sd_checkpoint_name": None}
info = PngImagePlugin.PngInfo()
info.add_text("sd-ti-embedding", base64.b64encode(json.dumps(emb).encode()).decode())
img("RGBA", 2, 2).save(os.path.join(d, "embedding.png"), pnginfo=info)

img("L", 5, 3).save(os.path.join(d, "grey.png"))
img("P", 4, 4).save(os.path.join(d, "palette.png"), transparency=3)
Image.new("I;16", (3, 3), 40000).save(os.path.join(d, "grey16.png"))
img("LA", 3, 3).save(os.path.join(d, "grey_alpha.png"))
img("RGB", 8, 8).save(os.path.join(d, "small.jpg"), quality=80)
img("RGBA", 4, 3).save(os.path.join(d, "small.webp"), lossless=True)
img("RGB", 3, 3).save(os.path.join(d, "small.bmp"))
img("RGBA", 3, 2).save(os.path.join(d, "small.tga"))
print(sorted(os.listdir(d)))
