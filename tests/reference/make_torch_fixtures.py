#!/usr/bin/python3
"""Writes the small torch.save files that tests/unit/test_torch.c reads (tests/data/torch/).

Run by hand with the system PyTorch (`/usr/bin/python3 tests/reference/make_torch_fixtures.py`)
and commit the outputs together with this script. Every file is a few KiB. The "evil_*" files
are what a hostile upload looks like: torch.save of objects whose __reduce__ names os.system,
builtins.eval, subprocess.Popen or a nested pickle.loads; vktrain must refuse them by name.
"""
import collections
import io
import os
import pickle
import subprocess
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "torch")


def save(obj, name, **kw):
    path = os.path.join(OUT, name)
    torch.save(obj, path, **kw)
    print(f"{name}: {os.path.getsize(path)} bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)

    # webui embedding, as textual_inversion.py save() writes it (file-formats.md 4.1)
    vec = (torch.arange(16, dtype=torch.float32).reshape(2, 8) / 8 - 1).requires_grad_(True)
    save({"string_to_token": {"*": 265}, "string_to_param": {"*": vec}, "name": "cat", "step": 100,
          "sd_checkpoint": "abcdef0123", "sd_checkpoint_name": "sd15"}, "emb_webui.pt")

    # every storage type, views sharing a storage, 0-d and empty tensors, a Parameter, plain values
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    d = {
        "f32": torch.tensor([1.5, -2.0, 3.25], dtype=torch.float32),
        "f16": torch.tensor([1.0, -0.5, 65504.0], dtype=torch.float16),
        "bf16": torch.tensor([1.0, -3.0, 0.15625], dtype=torch.bfloat16),
        "f64": torch.tensor([1e-300, -2.5], dtype=torch.float64),
        "i64": torch.tensor([-(2**40), 7], dtype=torch.int64),
        "i32": torch.tensor([-5, 2**30], dtype=torch.int32),
        "i16": torch.tensor([-300, 300], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "base": base,
        "transposed": base.t(),
        "slice": base[1:, 1:3],
        "param": torch.nn.Parameter(torch.tensor([[0.25, -0.75]])),
        "int": 7, "neg": -123456789012, "big": 2**62, "float": 0.1, "true": True, "none": None,
        "str": "h\u00e9llo \u4e16\u754c", "bytes": b"\x00\x01\xff",
        "tuple": (0.9, 0.999), "list": [1, [2, [3]]], 768: "int key",
    }
    save(d, "values.pt")

    # Lightning-style checkpoint: state_dict of a module (OrderedDict with _metadata via BUILD)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    sd = collections.OrderedDict(("model." + k, v) for k, v in net.state_dict().items())
    sd._metadata = net.state_dict()._metadata
    save({"state_dict": sd, "global_step": 5, "epoch": 1}, "ckpt_like.ckpt")

    # webui hypernetwork (file-formats.md 6) with a tiny size 8 instead of 768
    def module(dim):
        seq = torch.nn.Sequential(torch.nn.Linear(dim, 2 * dim), torch.nn.Linear(2 * dim, dim))
        return collections.OrderedDict(("linear." + k, v) for k, v in seq.state_dict().items())
    save({8: [module(8), module(8)], "step": 3, "name": "hn", "layer_structure": [1.0, 2.0, 1.0],
          "activation_func": "linear", "is_layer_norm": False, "weight_initialization": "Normal",
          "sd_checkpoint": None, "sd_checkpoint_name": None, "activate_output": False,
          "use_dropout": False, "dropout_structure": [0.0, 0.0, 0.0], "last_layer_dropout": False,
          "optional_info": None}, "hypernetwork.pt")

    # AdamW optimizer state (.pt.optim): int keys, tuples, None, 0-d step tensor
    p = torch.nn.Parameter(torch.ones(2, 3))
    opt = torch.optim.AdamW([p], lr=0.005)
    p.sum().backward()
    opt.step()
    save({"hash": "9f20", "optimizer_state_dict": opt.state_dict()}, "emb.pt.optim")

    # old-style embedding: string_to_param is a ParameterDict
    pd = torch.nn.ParameterDict({"*": torch.nn.Parameter(torch.full((1, 4), 0.5))})
    save({"string_to_token": {"*": torch.tensor(265)}, "string_to_param": pd, "name": "old"}, "emb_paramdict.pt")

    # numpy scalar (numpy.core.multiarray.scalar + numpy.dtype + _codecs.encode)
    save({"x": np.float64(1.5), "n": np.int64(-3)}, "numpy_scalar.pt")

    # protocol 4: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL
    save({"w": torch.tensor([1.0, 2.0]), "name": "p4"}, "protocol4.pt", pickle_protocol=4)

    # pre-1.6 format
    save({"w": torch.tensor([1.0])}, "legacy.pt", _use_new_zipfile_serialization=False)

    # hostile files
    class Evil:
        def __init__(self, fn, args):
            self.fn, self.args = fn, args

        def __reduce__(self):
            return (self.fn, self.args)

    save({"x": Evil(os.system, ("echo pwned",))}, "evil_os_system.pt")
    save({"x": Evil(eval, ("__import__('os').system('echo pwned')",))}, "evil_eval.pt")
    save({"x": Evil(subprocess.Popen, (["echo", "pwned"],))}, "evil_popen.pt")
    inner = pickle.dumps(Evil(os.system, ("echo pwned",)), protocol=2)
    save({"x": Evil(pickle.loads, (inner,))}, "evil_nested_pickle.pt")
    save({"x": Evil(torch.load, (io.BytesIO(b"x"),))}, "evil_torch_load.pt")
    print("torch", torch.__version__, "python", sys.version.split()[0])


if __name__ == "__main__":
    main()
