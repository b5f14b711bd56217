#!/usr/bin/python3
"""Writes the embedding files tests/unit/test_embedding.c reads (tests/data/embeddings/), each the
way the webui, diffusers or kohya write them, with the system PyTorch (file-formats.md 4, 5).

Run by hand (`/usr/bin/python3 tests/reference/make_embedding_fixtures.py`) and commit the outputs
together with this script. Every file is a few KiB. Vector values follow one formula that the C test
repeats: element k of a tensor (row-major) is float32(((k * 37 + seed) % 101 - 50) / 37).
"""
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image, PngImagePlugin

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webui_embedding as wu  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "embeddings")
W = 128  # the tiny model's CLIP width


def vecs(n, w, seed=0, dtype=torch.float32):
    k = np.arange(n * w, dtype=np.int64)
    v = ((k * 37 + seed) % 101 - 50) / 37.0
    return torch.tensor(v.reshape(n, w), dtype=torch.float32).to(dtype)


def save(obj, name):
    path = os.path.join(OUT, name)
    torch.save(obj, path)
    print(f"{name}: {os.path.getsize(path)} bytes")


def webui_dict(vec, name, step, ckpt=None, ckpt_name=None):
    # textual_inversion.py Embedding.save()
    return {"string_to_token": {"*": 265}, "string_to_param": {"*": vec}, "name": name, "step": step,
            "sd_checkpoint": ckpt, "sd_checkpoint_name": ckpt_name}


def preview(w=24, h=16):
    y, x = np.mgrid[0:h, 0:w]
    px = np.stack([40 + x * 8, 40 + y * 10, 90 + 0 * x], axis=2).astype(np.uint8)
    return Image.fromarray(px, mode="RGB")


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)

    save(webui_dict(vecs(3, W, 1).requires_grad_(True), "webui-name", 250, "0123456789", "tiny"), "webui.pt")
    save(webui_dict(vecs(1, W, 2), "fresh", None), "webui_none.pt")
    save(webui_dict(vecs(2, W, 3, torch.bfloat16), "bf", 7), "webui_bf16.pt")
    pd = torch.nn.ParameterDict({"*": torch.nn.Parameter(vecs(1, W, 4, torch.float16))})
    save({"string_to_token": {"*": torch.tensor(265)}, "string_to_param": pd, "name": "old"}, "paramdict.pt")
    save({"<cat-toy>": vecs(1, W, 5)[0]}, "diffusers.bin")
    save({"emb_params": vecs(2, W, 6)}, "kohya.pt")
    wu.safetensors_save({"emb_params": vecs(2, W, 7)}, os.path.join(OUT, "kohya.safetensors"))
    wu.safetensors_save({"emb_params": vecs(4, W, 8, torch.float16)}, os.path.join(OUT, "kohya_f16.safetensors"),
                        metadata={"ss_note": "kohya metadata is ignored"})
    wu.safetensors_save({"clip_g": vecs(2, 32, 9), "clip_l": vecs(2, 16, 10)}, os.path.join(OUT, "sdxl.safetensors"))

    # images: the text chunk (embedding_to_b64 of the dict torch.load gives back) and pixel blocks
    data = webui_dict(vecs(2, W, 11), "text-name", 500, "abcdef0123", "tiny")
    info = PngImagePlugin.PngInfo()
    info.add_text("sd-ti-embedding", wu.embedding_to_b64(data))
    preview().save(os.path.join(OUT, "text.png"), pnginfo=info)
    data = webui_dict(vecs(2, W, 12), "pixels-name", 600, None, None)
    img = wu.insert_image_data_embed(preview(), data)
    img.save(os.path.join(OUT, "pixels.png"))
    img.save(os.path.join(OUT, "pixels.webp"), lossless=True, quality=100)
    img.save(os.path.join(OUT, "pixels.preview.png"))
    assert wu.extract_image_data_embed(Image.open(os.path.join(OUT, "pixels.webp")))["name"] == "pixels-name"
    Image.fromarray(np.full((8, 8, 3), 0x77, np.uint8), mode="RGB").save(os.path.join(OUT, "plain.png"))
    bad = PngImagePlugin.PngInfo()
    bad.add_text("sd-ti-embedding", "!!not*base64")
    preview().save(os.path.join(OUT, "bad_b64.png"), pnginfo=bad)

    # resumable optimizer state after two AdamW updates (textual_inversion.py train_embedding())
    vec = vecs(3, W, 13).requires_grad_(True)
    opt = torch.optim.AdamW([vec], lr=0.005, weight_decay=0.0)
    for i in range(2):
        opt.zero_grad()
        (vec * vecs(3, W, 14 + i)).sum().backward()
        opt.step()
    emb = wu.Embedding(vec.detach(), "resume")
    save(webui_dict(vec, "resume", 2), "resume.pt")
    save({"hash": emb.checksum(), "optimizer_state_dict": opt.state_dict()}, "resume.pt.optim")
    print("resume checksum", emb.checksum())

    # broken files the loader must name
    save(webui_dict(vecs(1, W), "x", 0) | {"string_to_param": {"*": vecs(1, W), "+": vecs(1, W)}}, "multi.pt")
    save({"foo": 1, "bar": "baz"}, "notemb.pt")
    save(webui_dict(torch.arange(W, dtype=torch.int64).reshape(1, W), "int", 0), "int.pt")
    save(webui_dict(torch.zeros(2, 3, 4), "3d", 0), "shape3d.pt")
    save([vecs(1, W)], "list_root.pt")
    # a few bytes claiming 9M values (stride-0 view of a one-element storage)
    save(webui_dict(torch.zeros(1).expand(3000, 3000), "huge", 0), "huge_expand.pt")
    for name in ("webui.pt", "text.png", "pixels.png"):
        e = wu.load_embedding_file(os.path.join(OUT, name), name)
        print(f"{name}: webui loads it as {e.name!r}, {e.vectors} x {e.shape}, checksum {e.checksum()}")
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
