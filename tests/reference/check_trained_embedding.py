#!/usr/bin/python3
"""The files of a `vktrain embedding train` run, loaded the way the webui loads them.

    check_trained_embedding.py FINAL.pt RUN_DIR STEPS

FINAL.pt (the file in --out) and every RUN_DIR/embeddings/*.pt copy: the webui's safety check
(modules/safe.py) and EmbeddingDatabase.load_from_file (re-implemented in webui_embedding.py);
the final file holds step STEPS and the base name, copy NAME-K.pt holds step K-1 and name
NAME-K (training.md 7.2); each .pt.optim carries the checksum of its vectors (file-formats 4.5)
and loads as a torch AdamW state; every RUN_DIR/image_embeddings/NAME-K.png decodes (text chunk
and, without it, the pixel blocks) to the vectors of copy NAME-K.pt.

Exit 0 when every check passes, 1 on a failure, 77 (ctest SKIP) without torch.
"""
import glob
import os
import sys

try:
    import numpy as np  # noqa: F401  (webui_embedding needs it)
    import torch
    from PIL import Image
except ImportError:
    print("SKIP: no torch/numpy/Pillow for", sys.executable)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webui_embedding as wu  # noqa: E402

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


def load(path):
    e = wu.load_embedding_file(path, os.path.basename(path))
    check(e is not None, f"{path}: the webui loads it")
    return e


def check_optim(path, e):
    opt = path + ".optim"
    if not os.path.exists(opt):
        return
    wu.webui_check(opt)
    d = torch.load(opt, map_location="cpu")
    check(d.get("hash") == e.checksum(), f"{opt}: hash {d.get('hash')} vs checksum {e.checksum()}")
    vec = e.vec.clone().requires_grad_(True)
    o = torch.optim.AdamW([vec], lr=0.005, weight_decay=0.0)
    o.load_state_dict(d["optimizer_state_dict"])
    vec.grad = torch.ones_like(vec)
    o.step()


def main():
    final, run, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    base = os.path.splitext(os.path.basename(final))[0]
    e = load(final)
    check(e.name == base and e.step == steps, f"{final}: name {e.name!r} step {e.step} (want {base!r}, {steps})")
    check(e.sd_checkpoint is not None and len(e.sd_checkpoint) == 10, f"{final}: sd_checkpoint {e.sd_checkpoint!r}")
    check_optim(final, e)
    copies = {}
    for p in sorted(glob.glob(os.path.join(run, "embeddings", "*.pt"))):
        c = load(p)
        stem = os.path.splitext(os.path.basename(p))[0]
        k = int(stem.rsplit("-", 1)[1])
        check(c.name == stem and c.step == k - 1, f"{p}: name {c.name!r} step {c.step} (webui: {stem!r}, {k - 1})")
        check_optim(p, c)
        copies[stem] = c
    for p in sorted(glob.glob(os.path.join(run, "image_embeddings", "*.png"))):
        stem = os.path.splitext(os.path.basename(p))[0]
        e_txt = load(p)
        data = wu.extract_image_data_embed(Image.open(p))        # the pixel blocks alone
        check(data is not None, f"{p}: pixel blocks decode")
        e_px = wu.create_embedding_from_data(data, data.get("name", stem)) if data else None
        src = copies.get(stem)
        check(src is not None, f"{p}: copy {stem}.pt exists")
        if src is not None and e_txt is not None and e_px is not None:
            check(torch.equal(e_txt.vec, src.vec) and torch.equal(e_px.vec, src.vec),
                  f"{p}: the embedded vectors are those of {stem}.pt")
    n = 1 + len(copies) + len(glob.glob(os.path.join(run, "image_embeddings", "*.png")))
    print(f"{n} files: {'ok' if failures == 0 else f'{failures} failures'}")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as ex:  # one line for ctest
        import traceback
        traceback.print_exc()
        print("FAIL:", ex)
        sys.exit(1)
