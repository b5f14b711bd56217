#!/usr/bin/python3
"""`vktrain info` on the tiny model re-saved by other writers: torch.save (a Lightning-style
{"state_dict": ...} .ckpt and a bare state dict, fp16) and a safetensors file laid out the way
the official safetensors library writes it (tensors ordered by dtype size then name, header with
__metadata__ first, padded with spaces). The family, dims and parameter counts must equal those
of the original file. Exit 77 (ctest SKIP) without torch.

usage: check_info_torch.py VKTRAIN TINY.safetensors WORKDIR
"""
import json
import os
import struct
import subprocess
import sys

try:
    import numpy as np
    import torch
except ImportError:
    print("SKIP: no torch/numpy for", sys.executable)
    sys.exit(77)

NP = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for k, v in header.items():
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(data[b:e], dtype=NP[v["dtype"]]).reshape(v["shape"])
    return out, meta


def write_safetensors_like_library(path, tensors, meta):
    """safetensors' serialize(): sort by (dtype size desc, name), compact JSON, pad to 8."""
    names = {np.float32: "F32", np.float16: "F16", np.int64: "I64"}
    order = sorted(tensors, key=lambda k: (-tensors[k].dtype.itemsize, k))
    header, off = {"__metadata__": meta}, 0
    for k in order:
        a = tensors[k]
        header[k] = {"dtype": names[a.dtype.type], "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for k in order:
            f.write(np.ascontiguousarray(tensors[k]).tobytes())


def info(vktrain, path):
    r = subprocess.run([vktrain, "info", path, "--json", "--no-hash"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"info {path}: exit {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout)


def main():
    vktrain, tiny, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    tensors, meta = read_safetensors(tiny)
    ref = info(vktrain, tiny)
    half = {k: (v.astype(np.float16) if v.dtype == np.float32 else v) for k, v in tensors.items()}
    torch_sd = {k: torch.from_numpy(np.array(v)) for k, v in half.items()}
    ckpt = os.path.join(work, "tiny.ckpt")
    torch.save({"state_dict": torch_sd, "global_step": 10, "epoch": 0}, ckpt)
    bare = os.path.join(work, "tiny-bare.ckpt")
    torch.save(torch_sd, bare)
    lib = os.path.join(work, "tiny-lib.safetensors")
    write_safetensors_like_library(lib, tensors, meta)
    failed = 0
    for path, heads in ((ckpt, "default"), (bare, "default"), (lib, "metadata")):
        got = info(vktrain, path)
        try:
            assert got["kind"] == "model" and got["family"] == "SD 1.x", got["family"]
            assert got["params"] == ref["params"], (got["params"], ref["params"])
            for part in ("unet", "vae", "text_encoder"):
                g, w = dict(got[part]), dict(ref[part])
                if heads == "default":  # no metadata in a .ckpt: SD1 defaults (8 UNet heads, W/64)
                    for d in (g, w):
                        d.pop("heads", None), d.pop("heads_from", None)
                assert g == w, (part, g, w)
            if path != lib:
                assert got["dtypes"].get("F16") == 436, got["dtypes"]
            print(f"ok   {os.path.basename(path)} ({got['format']})")
        except AssertionError as e:
            failed += 1
            print(f"FAIL {os.path.basename(path)}: {e}")
    print(f"info_torch: {3 - failed} passed, {failed} failed (torch {torch.__version__})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
