#!/usr/bin/python3
"""Writes the seed corpora of the io fuzz targets (tests/fuzz/{safetensors,zip,pickle}/corpus/).
Stdlib only; the torch files come from tests/data/torch/ (make_torch_fixtures.py). Each file is
small (< 8 KiB). Run by hand and commit the output with this script."""
import io
import json
import os
import pickle
import struct
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH = os.path.join(HERE, "..", "data", "torch")


def out(target, name, data):
    d = os.path.join(HERE, target, "corpus")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors(tensors, meta=None):
    header, blob = {}, b""
    if meta:
        header["__metadata__"] = meta
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def main():
    # safetensors
    sizes = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4,
             "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
    allt = {f"t.{k}": (k, [2, 3], bytes((i * 37 + 1) % 256 if k != "BOOL" else i % 2 for i in range(6 * v)))
            for k, v in sizes.items()}
    out("safetensors", "all_dtypes", safetensors(allt, {"vktrain.unet_heads": "4", "name": "x\u00e9"}))
    out("safetensors", "empty", safetensors({}))
    out("safetensors", "scalar_and_empty", safetensors({"s": ("F32", [], b"\x00\x00\x80\x3f"),
                                                        "z": ("F16", [0, 4], b""), "e": ("I8", [0], b"")}))
    out("safetensors", "model_keys", safetensors({
        "model.diffusion_model.input_blocks.0.0.weight": ("F16", [2, 4, 1, 1], bytes(16)),
        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": ("F32", [3, 2], bytes(24)),
        "first_stage_model.encoder.conv_in.weight": ("BF16", [1, 3, 1, 1], bytes(6))}))
    # zip / torch
    names = ["emb_webui.pt", "hypernetwork.pt", "emb.pt.optim", "protocol4.pt", "numpy_scalar.pt",
             "emb_paramdict.pt", "ckpt_like.ckpt", "values.pt", "evil_os_system.pt"]
    for n in names:
        with open(os.path.join(TORCH, n), "rb") as f:
            data = f.read()
        out("zip", n, data)
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            pkl = [m for m in z.namelist() if m.endswith("/data.pkl")][0]
            out("pickle", n + ".pkl", z.read(pkl))
            # the same archive re-zipped with DEFLATE, and with ZIP64 records
            if n in ("emb_webui.pt", "hypernetwork.pt"):
                for tag, kw in (("deflate", {"compression": zipfile.ZIP_DEFLATED}), ("zip64", {})):
                    b = io.BytesIO()
                    with zipfile.ZipFile(b, "w", **kw) as w:
                        for m in z.infolist():
                            with w.open(m.filename, "w", force_zip64=(tag == "zip64")) as f:
                                f.write(z.read(m))
                    out("zip", f"{n}.{tag}", b.getvalue())
    # plain pickles of assorted values, protocols 2, 4 and 5
    shared = [1, 2]
    value = {"d": {1: "a", "b": (1.5, -2, 2**62, -(2**63))}, "l": [shared, shared, None, True, False],
             "s": {1, 2, 3}, "f": frozenset([4]), "b": b"\x00\xff", "t": (), "u": "\u4e16\u754c",
             "big": [i for i in range(300)], "n": -1}
    for proto in (2, 4, 5):
        out("pickle", f"values_p{proto}", pickle.dumps(value, protocol=proto))
    out("pickle", "bytearray_p5", pickle.dumps(bytearray(b"abc"), protocol=5))
    # a tensor on storage "0" (served by the fuzz target) and one on "x1" (refused)
    t = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
         b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x10tQK\x02K\x02K\x03\x86K\x03K\x01\x86\x89ccollections\n"
         b"OrderedDict\n)RtR.")
    out("pickle", "tensor", t)
    out("pickle", "tensor_refused", t.replace(b"X\x01\x00\x00\x000", b"X\x02\x00\x00\x00x1"))
    print("corpora written")


if __name__ == "__main__":
    main()
