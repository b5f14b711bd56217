#!/usr/bin/python3
"""Loads the hypernetwork files `test_hypernetwork --write DIR` wrote, the way the webui does.

For each DIR/<name>.pt: (1) the webui's safety check (check_pt_load.webui_check: member names,
one data.pkl, the RestrictedUnpickler allowlist), (2) torch.load, (3) the dict the webui's
Hypernetwork.save writes (keys and order, int size keys with (k, v) tuples of OrderedDicts,
last_layer_dropout = dropout_structure[-2] != 0), (4) Hypernetwork.load's rules mirrored from
modules/hypernetworks/hypernetwork.py (seed 001; defaults for missing keys, parse_dropout_structure,
fix_old_state_dict) building real torch.nn modules as HypernetworkModule does, loaded with
load_state_dict(strict=True), (5) their eval-mode output x + MLP(x)*multiplier against vktrain's
(<name>.expect.safetensors), and (6) for <name>.pt.optim: the hash the webui compares
(sha256 of the .pt, first 10 hex digits) and torch.optim.AdamW(weights).load_state_dict of the
saved state, followed by a step.

Exit 0 when every check passes, 1 on a failure, 77 (ctest SKIP) when torch is not installed.
"""
import collections
import glob
import hashlib
import inspect
import os
import sys

try:
    import torch
except ImportError:
    print("SKIP: no torch for", sys.executable)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_pt_load import webui_check  # noqa: E402
import sd_ref as R  # noqa: E402

SAVE_KEYS = ["step", "name", "layer_structure", "activation_func", "is_layer_norm", "weight_initialization",
             "sd_checkpoint", "sd_checkpoint_name", "activate_output", "use_dropout", "dropout_structure",
             "last_layer_dropout", "optional_info"]

ACTS = {"linear": torch.nn.Identity, "relu": torch.nn.ReLU, "leakyrelu": torch.nn.LeakyReLU,
        "elu": torch.nn.ELU, "swish": torch.nn.Hardswish, "tanh": torch.nn.Tanh,
        "sigmoid": torch.nn.Sigmoid}
ACTS.update({n.lower(): c for n, c in inspect.getmembers(torch.nn.modules.activation)
             if inspect.isclass(c) and c.__module__ == "torch.nn.modules.activation"})


def parse_dropout_structure(layer_structure, use_dropout, last_layer_dropout):
    if layer_structure is None:
        layer_structure = [1, 2, 1]
    if not use_dropout:
        return [0] * len(layer_structure)
    dropout_values = [0]
    dropout_values.extend([0.3] * (len(layer_structure) - 3))
    dropout_values.append(0.3 if last_layer_dropout else 0)
    dropout_values.append(0)
    return dropout_values


class HypernetworkModule(torch.nn.Module):
    """The webui's HypernetworkModule (construction, state dict loading, forward)."""

    def __init__(self, dim, state_dict, layer_structure, activation_func, add_layer_norm, activate_output,
                 dropout_structure):
        super().__init__()
        self.multiplier = 1.0
        assert layer_structure is not None and layer_structure[0] == 1 and layer_structure[-1] == 1
        linears = []
        for i in range(len(layer_structure) - 1):
            linears.append(torch.nn.Linear(int(dim * layer_structure[i]), int(dim * layer_structure[i + 1])))
            if activation_func == "linear" or activation_func is None or \
                    (i >= len(layer_structure) - 2 and not activate_output):
                pass
            elif activation_func in ACTS:
                linears.append(ACTS[activation_func]())
            else:
                raise RuntimeError(f"unsupported activation {activation_func}")
            if add_layer_norm:
                linears.append(torch.nn.LayerNorm(int(dim * layer_structure[i + 1])))
            if dropout_structure is not None and dropout_structure[i + 1] > 0:
                assert 0 < dropout_structure[i + 1] < 1
                linears.append(torch.nn.Dropout(p=dropout_structure[i + 1]))
        self.linear = torch.nn.Sequential(*linears)
        changes = {"linear1.bias": "linear.0.bias", "linear1.weight": "linear.0.weight",
                   "linear2.bias": "linear.1.bias", "linear2.weight": "linear.1.weight"}
        state_dict = collections.OrderedDict(state_dict)
        for fr, to in changes.items():
            x = state_dict.get(fr, None)
            if x is not None:
                del state_dict[fr]
                state_dict[to] = x
        self.linear.load_state_dict({k[len("linear."):]: v for k, v in state_dict.items()}, strict=True)

    def forward(self, x):
        return x + self.linear(x) * (self.multiplier if not self.training else 1)


def webui_load(path):
    """Hypernetwork.load: returns (layers {size: (k, v)}, fields)."""
    sd = torch.load(path, map_location="cpu")
    f = {}
    f["layer_structure"] = sd.get("layer_structure", [1, 2, 1])
    f["activation_func"] = sd.get("activation_func", None)
    f["weight_init"] = sd.get("weight_initialization", "Normal")
    f["add_layer_norm"] = sd.get("is_layer_norm", False)
    f["dropout_structure"] = sd.get("dropout_structure", None)
    f["use_dropout"] = True if f["dropout_structure"] is not None and any(f["dropout_structure"]) \
        else sd.get("use_dropout", False)
    f["activate_output"] = sd.get("activate_output", True)
    f["last_layer_dropout"] = sd.get("last_layer_dropout", False)
    if f["dropout_structure"] is None:
        f["dropout_structure"] = parse_dropout_structure(f["layer_structure"], f["use_dropout"],
                                                         f["last_layer_dropout"])
    layers = {}
    for size, msd in sd.items():
        if type(size) == int:
            layers[size] = tuple(HypernetworkModule(size, msd[j], f["layer_structure"], f["activation_func"],
                                                    f["add_layer_norm"], f["activate_output"],
                                                    f["dropout_structure"]) for j in range(2))
    f["name"] = sd.get("name", os.path.splitext(os.path.basename(path))[0])
    f["step"] = sd.get("step", 0)
    f["sd_checkpoint"] = sd.get("sd_checkpoint", None)
    f["sd_checkpoint_name"] = sd.get("sd_checkpoint_name", None)
    return sd, layers, f


def check_file(path):
    name = os.path.splitext(os.path.basename(path))[0]
    webui_check(path)
    sd, layers, f = webui_load(path)
    keys = list(sd.keys())
    sizes = [k for k in keys if type(k) == int]
    assert keys == sizes + SAVE_KEYS, f"key order {keys}"
    for s in sizes:
        assert isinstance(sd[s], tuple) and len(sd[s]) == 2, "size entry is a (k, v) tuple"
        assert all(isinstance(m, collections.OrderedDict) for m in sd[s]), "OrderedDict state dicts"
        for m in sd[s]:
            for k, v in m.items():
                assert v.dtype == torch.float32 and not v.requires_grad, k
    ds = sd["dropout_structure"]
    assert sd["last_layer_dropout"] == (ds[-2] != 0), "last_layer_dropout = dropout_structure[-2] != 0"
    assert sd["name"] == name, (sd["name"], name)
    assert isinstance(sd["layer_structure"], list) and sd["layer_structure"][0] == 1

    expect = os.path.join(os.path.dirname(path), name + ".expect.safetensors")
    if not os.path.exists(expect):     # a trained file (e2e.train.hn): no module outputs to compare
        print(f"  {name}.pt: webui check ok, {len(sizes)} sizes {sizes}, step {sd['step']}, "
              f"checkpoint {sd['sd_checkpoint']} ({sd['sd_checkpoint_name']})")
        check_optim(path, sizes, layers)
        return
    exp, meta = R.st_load(expect)
    mult = float(meta["vktrain.multiplier"])
    worst = 0.0
    for s, pair in layers.items():
        x = torch.from_numpy(exp[f"x.{s}"])
        for j, m in enumerate(pair):
            m.eval()                      # webui Hypernetwork.eval(): dropout off, multiplier used
            m.multiplier = mult
            with torch.no_grad():
                y = m(x).numpy()
            ref = exp[f"y.{s}.{j}"]
            e = float(abs(y - ref).max() / max(abs(ref).max(), 1e-30))
            worst = max(worst, e)
    # float32 torch vs vktrain's f32 GPU modules: both round the same sums differently
    assert worst < 1e-5, f"{name}: module outputs differ by {worst:.2e}"
    print(f"  {name}.pt: webui check ok, {len(sizes)} sizes {sizes}, options {dict(ls=f['layer_structure'], act=f['activation_func'], ln=f['add_layer_norm'], ao=f['activate_output'], ds=f['dropout_structure'])}, outputs match vktrain ({worst:.1e})")

    check_optim(path, sizes, layers)


def check_optim(path, sizes, layers):
    opt_path = path + ".optim"
    if os.path.exists(opt_path):
        webui_check(opt_path)
        o = torch.load(opt_path, map_location="cpu")
        assert list(o.keys()) == ["optimizer_name", "hash", "optimizer_state_dict"], list(o.keys())
        with open(path, "rb") as fh:
            want = hashlib.sha256(fh.read()).hexdigest()[:10]
        assert o["hash"] == want, (o["hash"], want)
        assert o["optimizer_name"] == "AdamW"
        weights = []                      # Hypernetwork.weights(): sizes in order, k then v
        for s in sizes:
            for m in layers[s]:
                weights += list(m.parameters())
        for w in weights:
            w.requires_grad_(True)
        opt = torch.optim.AdamW(params=weights, lr=1e-5)
        opt.load_state_dict(o["optimizer_state_dict"])
        g = opt.param_groups[0]
        assert g["weight_decay"] == 0.01 and g["betas"] == (0.9, 0.999) and g["eps"] == 1e-8
        with_state = [i for i, w in enumerate(weights) if w in opt.state]
        for w in weights:
            w.grad = torch.ones_like(w) * 1e-3
        opt.step()
        print(f"  {os.path.basename(path)}.optim: hash {o['hash']} matches, AdamW state for {len(with_state)} of {len(weights)} "
              f"parameters, lr {g['lr']}, loads and steps")


def main():
    d = sys.argv[1]
    files = sorted(glob.glob(os.path.join(d, "*.pt")))
    assert files, f"no .pt files in {d}"
    for p in files:
        check_file(p)
    print(f"{len(files)} hypernetwork files ok")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line for ctest
        import traceback
        traceback.print_exc()
        print("FAIL:", e)
        sys.exit(1)
