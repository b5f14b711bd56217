#!/usr/bin/python3
"""Embedding files written by vktrain, loaded the way PyTorch and the webui load them.

    check_embedding_files.py TEST_EMBEDDING VKTRAIN DIR

writes DIR/lib/* with `TEST_EMBEDDING --write` (webui .pt fresh and trained, kohya .safetensors,
a PNG with the text chunk and pixel blocks, a PNG with pixel blocks only, a .pt.optim) and
DIR/cli/* with `VKTRAIN embedding create` on the tiny model, then checks every file with
(1) the webui's safety check (modules/safe.py, file-formats.md 3.3), (2) torch.load with
weights_only=True where this torch can (torch 1.13's weights-only unpickler lacks BINFLOAT, so
the .optim, which holds Python floats, then uses a plain torch.load after the safety check, as the
webui does), (3) the webui's loading rules (create_embedding_from_data, the image decoders, the
.optim hash rule) re-implemented in webui_embedding.py, (4) the exact layout of file-formats.md
4.1 / 5 (keys in order, types, dtypes, requires_grad), (5) the values: the formula the C side
used, or for `embedding create` the tiny model's token-embedding rows picked by the webui's rule.

Exit 0 when every check passes, 1 on a failure, 77 (ctest SKIP) without torch.
"""
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile

try:
    import numpy as np
    import torch
    from PIL import Image
except ImportError as e:
    print("SKIP:", e, "for", sys.executable)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webui_embedding as wu  # noqa: E402

W = 128
FAILS = []
PASSES = [0]


def check(cond, what):
    if cond:
        PASSES[0] += 1
    else:
        FAILS.append(what)
        print("FAIL:", what)


def formula(n, w, seed):
    k = np.arange(n * w, dtype=np.int64)
    return torch.tensor((((k * 37 + seed) % 101 - 50) / 37.0).reshape(n, w), dtype=torch.float32)


def weights_only_reads_floats():
    buf = io.BytesIO()
    torch.save({"x": 0.5}, buf)
    buf.seek(0)
    try:
        torch.load(buf, weights_only=True)
        return True
    except Exception:
        return False


def load_pt(path, floats=False):
    """safety check, then torch.load(weights_only=True) (plain load for floats on old torch)."""
    wu.webui_check(path)
    if floats and not weights_only_reads_floats():
        return torch.load(path, map_location="cpu")
    return torch.load(path, map_location="cpu", weights_only=True)


def check_members(path):
    stem = os.path.basename(path).rsplit(".", 1)[0]
    with zipfile.ZipFile(path) as z:
        names = sorted(z.namelist())
        data = sorted(n for n in names if "/data/" in n)
        check(names == sorted([f"{stem}/data.pkl", f"{stem}/version"] + data) and len(data) >= 1,
              f"{path}: members {names}")
        check(z.read(f"{stem}/version") == b"3\n", f"{path}: version")
        check(all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist()), f"{path}: stored")


def check_webui_pt(path, n, vec, requires_grad, name, step, ckpt, ckpt_name):
    """file-formats.md 4.1 exactly, then the webui's loader."""
    check_members(path)
    d = load_pt(path)
    check(type(d) is dict and list(d.keys()) == ["string_to_token", "string_to_param", "name", "step",
                                                 "sd_checkpoint", "sd_checkpoint_name"],
          f"{path}: keys {list(d.keys())}")
    check(type(d["string_to_token"]) is dict and d["string_to_token"] == {"*": 265}
          and type(d["string_to_token"]["*"]) is int, f"{path}: string_to_token")
    s2p = d["string_to_param"]
    check(type(s2p) is dict and list(s2p.keys()) == ["*"], f"{path}: string_to_param keys")
    t = s2p["*"]
    check(type(t) is torch.Tensor and t.dtype == torch.float32 and tuple(t.shape) == (n, W)
          and t.is_contiguous(), f"{path}: tensor {type(t)} {t.dtype} {tuple(t.shape)}")
    check(t.requires_grad == requires_grad, f"{path}: requires_grad {t.requires_grad}")
    check(torch.equal(t.detach(), vec), f"{path}: values")
    check(d["name"] == name and type(d["name"]) is str, f"{path}: name {d['name']!r}")
    check(d["step"] == step and type(d["step"]) is type(step), f"{path}: step {d['step']!r}")
    check(d["sd_checkpoint"] == ckpt and d["sd_checkpoint_name"] == ckpt_name,
          f"{path}: checkpoint {d['sd_checkpoint']!r} {d['sd_checkpoint_name']!r}")
    e = wu.load_embedding_file(path, os.path.basename(path))
    stem = os.path.basename(path).rsplit(".", 1)[0]
    check(e.name == stem and e.vectors == n and e.shape == W and torch.equal(e.vec, vec),
          f"{path}: webui loads it as {e.name!r} {e.vectors}x{e.shape}")
    check(n <= 75, f"{path}: at most 75 vectors")
    return d, e


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    test_bin, vktrain, root = sys.argv[1:]
    lib, cli = os.path.join(root, "lib"), os.path.join(root, "cli")
    subprocess.run(["rm", "-rf", root], check=True)
    os.makedirs(root)
    subprocess.run([test_bin, "--write", lib], check=True)

    # ---- library writers ----
    vec = formula(4, W, 31)
    check_webui_pt(os.path.join(lib, "fresh.pt"), 4, vec, False, "fresh", 0, None, None)
    d, e = check_webui_pt(os.path.join(lib, "trained.pt"), 4, vec, True, "trained", 42, "0123456789", "tiny")

    st = wu.safetensors_load(os.path.join(lib, "trained.safetensors"))
    check(list(st.keys()) == ["emb_params"] and st["emb_params"].dtype == torch.float32,
          "safetensors: {emb_params: float32}")
    es = wu.load_embedding_file(os.path.join(lib, "trained.safetensors"), "trained.safetensors")
    check(es.vectors == 4 and es.shape == W and torch.equal(es.vec, vec) and es.step is None,
          "safetensors: webui rules")

    png = os.path.join(lib, "trained.png")
    img = Image.open(png)
    text = img.text.get("sd-ti-embedding")
    check(text is not None, "png: sd-ti-embedding text chunk")
    want = json.dumps(d, cls=wu.EmbeddingEncoder).encode()
    check(text is not None and wu.base64.b64decode(text) == want,
          "png: text chunk = base64 of json.dumps(torch.load(.pt)) byte for byte")
    ep = wu.load_embedding_file(png, "trained.png")
    check(ep.name == "trained" and ep.step == 42 and ep.sd_checkpoint == "0123456789"
          and torch.equal(ep.vec, vec), "png: webui loads the text chunk")
    pix = wu.extract_image_data_embed(Image.open(png))
    check(pix is not None and pix["name"] == "trained"
          and torch.equal(pix["string_to_param"]["*"].to(torch.float32), vec), "png: pixel blocks decode")
    eo = wu.load_embedding_file(os.path.join(lib, "pixels_only.png"), "pixels_only.png")
    check(eo is not None and eo.name == "trained" and torch.equal(eo.vec, vec), "pixel-only png: webui loads it")
    webp = os.path.join(root, "pixels_only.webp")
    Image.open(os.path.join(lib, "pixels_only.png")).save(webp, lossless=True, quality=100)
    ew = wu.load_embedding_file(webp, "pixels_only.webp")
    check(ew is not None and torch.equal(ew.vec, vec), "pixel blocks survive a lossless WebP re-encode")

    # ---- .optim ----
    optim = os.path.join(lib, "trained.pt.optim")
    check_members(optim)
    o = load_pt(optim, floats=True)
    check(type(o) is dict and list(o.keys()) == ["hash", "optimizer_state_dict"], "optim: keys")
    check(o["hash"] == e.checksum(), f"optim: hash {o['hash']} = webui checksum {e.checksum()}")
    osd = o["optimizer_state_dict"]
    s0 = osd["state"][0]
    check(list(s0.keys()) == ["step", "exp_avg", "exp_avg_sq"] and s0["step"].dtype == torch.float32
          and s0["step"].dim() == 0 and float(s0["step"]) == 3.0, "optim: state[0] step tensor(3.)")
    g = osd["param_groups"][0]
    check(g["lr"] == 0.005 and g["betas"] == (0.9, 0.999) and g["eps"] == 1e-08 and g["weight_decay"] == 0.0
          and g["amsgrad"] is False and g["params"] == [0], f"optim: param group {g}")
    m_want = formula(4, W, 32) * torch.tensor(0.01, dtype=torch.float32)
    v_want = formula(4, W, 33) * formula(4, W, 33) * torch.tensor(1e-4, dtype=torch.float32)
    check(torch.equal(s0["exp_avg"], m_want) and torch.equal(s0["exp_avg_sq"], v_want), "optim: moments")
    # the webui: optimizer.load_state_dict(...) on a fresh AdamW over the loaded vector, then train
    p = e.vec.clone().requires_grad_(True)
    opt = torch.optim.AdamW([p], lr=0.005, weight_decay=0.0)
    opt.load_state_dict(osd)
    grad = formula(4, W, 34)
    p.grad = grad.clone()
    before = p.detach().clone().double()
    opt.step()
    m = 0.9 * m_want.double() + 0.1 * grad.double()
    v = 0.999 * v_want.double() + 0.001 * grad.double() ** 2
    t = 4
    upd = (0.005 / (1 - 0.9 ** t)) * m / (v.sqrt() / (1 - 0.999 ** t) ** 0.5 + 1e-8)
    # float32 AdamW vs the same formula in float64, per element in units of float32 spacing at
    # max(|p|, |update|): the new p is rounded to float32 once and the update carries a few
    # float32 roundings, so 4 units bound it; a wrong t, moment or lr is off by orders more
    ulp = torch.maximum(before.abs(), upd.abs()) * 2.0 ** -23
    err = ((p.detach().double() - (before - upd)).abs() / ulp).max().item()
    print(f"resumed AdamW step vs float64: {err:.2g} float32 units (bound 4)")
    check(err <= 4, f"optim: resumed AdamW step matches t=4 ({err:.2g} float32 units)")
    wrong = (0.005 / (1 - 0.9 ** 1)) * m / (v.sqrt() / (1 - 0.999 ** 1) ** 0.5 + 1e-8)
    check(((before - wrong) - p.detach().double()).abs().max().item() > 1e-4,
          "optim: t=1 (a lost step count) would be detected")
    check(float(opt.state[p]["step"]) == 4.0, "optim: step advanced to 4")

    # ---- vktrain embedding create ----
    tiny = os.path.join(root, "tiny.safetensors")
    subprocess.run([vktrain, "make-tiny-model", tiny], check=True, stdout=subprocess.DEVNULL)
    sha10 = hashlib.sha256(open(tiny, "rb").read()).hexdigest()[:10]
    table = wu.safetensors_load(tiny)["cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"]
    cases = [("cli-emb", "a photo of a cat", 6), ("two", "a cat", 4), ("trim", "one two three four five", 2),
             ("star", None, 3), ("zero", "", 2)]
    for name, init, n in cases:
        args = [vktrain, "embedding", "create", name, "--model", tiny, "--out", cli, "--vectors", str(n), "--json"]
        if init is not None:
            args += ["--init-text", init]
        out = json.loads(subprocess.run(args, check=True, stdout=subprocess.PIPE).stdout)
        text = "*" if init is None else init
        if text:
            ids = json.loads(subprocess.run([vktrain, "tokenize", "--json", text], check=True,
                                            stdout=subprocess.PIPE).stdout)["bpe_ids"][:n]
            embedded = table[ids]
            # webui create_embedding(): vec[i] = embedded[i * embedded.shape[0] // N]
            want = torch.zeros((n, W))
            for i in range(n):
                want[i] = embedded[i * int(embedded.shape[0]) // n]
        else:
            ids, want = [], torch.zeros((n, W))
        check(out["init_ids"] == ids and out["sd_checkpoint"] == sha10 and out["sd_checkpoint_name"] == "tiny",
              f"create {name}: json {out}")
        check_webui_pt(os.path.join(cli, name + ".pt"), n, want, False, name, 0, sha10, "tiny")
    r = subprocess.run([vktrain, "embedding", "create", "two", "--model", tiny, "--out", cli],
                       stderr=subprocess.PIPE)
    check(r.returncode == 1 and b"already exists" in r.stderr, "create refuses to overwrite")

    print(f"check_embedding_files: {PASSES[0]} passed, {len(FAILS)} failed (torch {torch.__version__})")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
