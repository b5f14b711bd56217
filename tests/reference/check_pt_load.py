#!/usr/bin/python3
"""Loads the .pt files `test_pt_writer --write DIR` wrote, the way the webui and PyTorch do.

For each file: (1) the webui's safety check (modules/safe.py check_pt, mirrored from
../shared/spec/file-formats.md 3.3: member-name regex, exactly one data.pkl, RestrictedUnpickler
allowlist), (2) torch.load(weights_only=True) where this torch's weights-only unpickler can read
the file (torch 1.13's lacks BINFLOAT, so files holding Python floats then use a plain
torch.load after the check passed, as the webui itself does), (3) the values, compared with the
pattern the C side used, and the webui's own loading rules (one string_to_param entry; the
hypernetwork modules load_state_dict(strict=True) into the Sequential the webui builds).

Exit 0 when every check passes, 1 on a failure, 77 (ctest SKIP) when torch is not installed.
"""
import collections
import math
import os
import pickle
import re
import sys
import zipfile

try:
    import torch
except ImportError:
    print("SKIP: no torch for", sys.executable)
    sys.exit(77)

NAMES_RE = re.compile(r"^[^/]+/(data/\d+|version|data\.pkl)$")
DATA_PKL_RE = re.compile(r"^[^/]+/data\.pkl$")


class WebuiRestrictedUnpickler(pickle.Unpickler):
    """modules/safe.py RestrictedUnpickler (without the lightning/numpy imports we never use)."""

    def persistent_load(self, saved_id):
        assert saved_id[0] == "storage"
        try:
            return torch.storage.TypedStorage(_internal=True)
        except TypeError:
            return torch.storage.TypedStorage()

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ["_rebuild_tensor_v2", "_rebuild_parameter",
                                                 "_rebuild_device_tensor_from_numpy"]:
            return getattr(torch._utils, name)
        if module == "torch" and name in ["FloatStorage", "HalfStorage", "IntStorage", "LongStorage",
                                          "DoubleStorage", "ByteStorage", "float32", "BFloat16Storage"]:
            return getattr(torch, name)
        if module == "torch.nn.modules.container" and name in ["ParameterDict"]:
            return torch.nn.modules.container.ParameterDict
        if module == "__builtin__" and name == "set":
            return set
        raise Exception(f"global '{module}/{name}' is forbidden")


def webui_check(path):
    """modules/safe.py check_pt(): raises when the webui would refuse the file.

    The one definition of the check: check_hn_load.py and webui_embedding.py (hence
    check_embedding_files.py, check_trained_embedding.py) import it from here."""
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if not NAMES_RE.match(info.filename):
                raise Exception(f"bad file inside {path}: {info.filename}")
            z.read(info.filename)  # zipfile verifies each CRC-32
        pkls = [n for n in z.namelist() if DATA_PKL_RE.match(n)]
        if len(pkls) != 1:
            raise Exception(f"{len(pkls)} data.pkl in {path}")
        with z.open(pkls[0]) as f:
            WebuiRestrictedUnpickler(f).load()


def weights_only_reads_floats():
    import io
    buf = io.BytesIO()
    torch.save({"x": 0.5}, buf)
    buf.seek(0)
    try:
        torch.load(buf, weights_only=True)
        return True
    except Exception:
        return False


def pattern(k):
    return (k % 7) * 0.5 - 1.25


def expect_pattern(t, shape, dtype, off=0):
    assert tuple(t.shape) == tuple(shape), (t.shape, shape)
    assert t.dtype == dtype, (t.dtype, dtype)
    flat = t.detach().reshape(-1).double().tolist()
    want = [float(torch.tensor(pattern(k + off), dtype=torch.float32)) for k in range(len(flat))]
    assert flat == want, (flat[:8], want[:8])


def check_emb(d):
    assert list(d.keys()) == ["string_to_token", "string_to_param", "name", "step", "sd_checkpoint",
                              "sd_checkpoint_name"], list(d.keys())
    assert d["string_to_token"] == {"*": 265}
    s2p = d["string_to_param"]
    assert len(s2p) == 1, "webui: exactly one string_to_param entry"
    vec = next(iter(s2p.values()))
    expect_pattern(vec, (2, 8), torch.float32)
    assert vec.requires_grad
    assert d["name"] == "cat-500" and d["step"] == 500
    assert d["sd_checkpoint"] == "abcdef0123" and d["sd_checkpoint_name"] == "tiny"


def check_hn(d):
    assert d["name"] == "hn" and d["step"] == 3 and d["layer_structure"] == [1.0, 2.0, 1.0]
    assert d["activation_func"] == "linear" and d["is_layer_norm"] is False and d["sd_checkpoint"] is None
    sizes = [k for k in d if isinstance(k, int)]
    assert sizes == [8], sizes
    pair = d[8]
    assert len(pair) == 2
    for m, sd in enumerate(pair):
        assert isinstance(sd, collections.OrderedDict)
        # webui HypernetworkModule for [1, 2, 1], linear activation, no LayerNorm, no dropout
        seq = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Linear(16, 8))
        seq.load_state_dict({k[len("linear."):]: v for k, v in sd.items()}, strict=True)
        expect_pattern(sd["linear.0.weight"], (16, 8), torch.float32, 2 * m)
        expect_pattern(sd["linear.1.bias"], (8,), torch.float32, 2 * (2 * m + 1))


def check_values(d):
    expect_pattern(d["f32"], (4, 4), torch.float32)
    expect_pattern(d["f16"], (2, 3), torch.float16)
    expect_pattern(d["bf16"], (6,), torch.bfloat16)
    assert d["f64"].dtype == torch.float64 and d["f64"].tolist() == [pattern(k) / 3.0 for k in range(3)]
    assert d["i64"].dtype == torch.int64 and d["i64"].tolist() == [k * 3000000000 - 1 for k in range(3)]
    assert d["i32"].dtype == torch.int32 and d["i32"].tolist() == [k * 100000 - 7 for k in range(3)]
    assert d["u8"].dtype == torch.uint8 and d["u8"].tolist() == [[0, 80], [160, 240]]
    assert d["scalar"].shape == () and float(d["scalar"]) == 42.5
    assert tuple(d["empty"].shape) == (0, 5)
    assert d["shared_a"].tolist() == d["shared_b"].tolist() == [pattern(k) for k in range(3)]
    assert d["ints"] == [0, 1, 255, 256, 65535, 65536, -1, -129, 2**31 - 1, 2**31, -2**31, -2**31 - 1,
                         2**63 - 1, -2**63, 2**40], d["ints"]
    assert d["floats"][0] == 0.1 and d["floats"][1] == -1e-300 and math.isinf(d["floats"][2])
    assert d["empty_tuple"] == () and d["empty_list"] == [] and d["empty_dict"] == {}
    assert d["unicode"] == "h\u00e9llo \u4e16\u754c \"quoted\"\n"
    assert d["none"] is None and d["yes"] is True
    assert d["big_dict"] == {i: 2 * i for i in range(2500)}
    assert d["big_list"] == [-i for i in range(2001)]


def check_optim(d):
    assert d["hash"] == "9f20"
    osd = d["optimizer_state_dict"]
    s0 = osd["state"][0]
    assert s0["step"].shape == () and float(s0["step"]) == 3.0
    assert s0["exp_avg"].shape == (2, 8) and s0["exp_avg_sq"].shape == (2, 8)
    pg = osd["param_groups"][0]
    assert pg["lr"] == 0.005 and pg["betas"] == (0.9, 0.999) and pg["eps"] == 1e-8 and pg["params"] == [0]
    # the state dict must be loadable into a real AdamW over a [2, 8] parameter
    p = torch.nn.Parameter(torch.zeros(2, 8))
    opt = torch.optim.AdamW([p])
    opt.load_state_dict(osd)
    assert opt.param_groups[0]["lr"] == 0.005


CHECKS = {"emb.pt": check_emb, "hn.pt": check_hn, "values.pt": check_values, "emb.pt.optim": check_optim}


def main():
    if len(sys.argv) != 2:
        print("usage: check_pt_load.py DIR", file=sys.stderr)
        return 2
    wo_floats = weights_only_reads_floats()
    failed = 0
    for name, check in CHECKS.items():
        path = os.path.join(sys.argv[1], name)
        try:
            webui_check(path)
            try:
                d = torch.load(path, weights_only=True)
                how = "weights_only=True"
            except pickle.UnpicklingError:
                if wo_floats:
                    raise
                d = torch.load(path)  # this torch's weights-only unpickler lacks BINFLOAT
                how = "webui check + torch.load"
            check(d)
            print(f"ok   {name} ({how})")
        except Exception as e:  # report every file, then fail
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
    print(f"torch {torch.__version__}: {len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
