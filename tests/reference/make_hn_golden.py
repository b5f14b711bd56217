#!/usr/bin/python3
"""Golden data for vktrain's hypernetwork module (src/models/hypernetwork.{c,h}), written with
real torch.nn modules built exactly as the webui's HypernetworkModule builds them (seed 001,
training.md §9.2), computed in float64 from float32 inputs and stored as F32.

    /usr/bin/python3 tests/reference/make_hn_golden.py [--out tests/golden]

Writes
  hn_modules.safetensors   one case per activation name the webui accepts and vktrain supports
                           (module size d = 16, x [2, 5, 16]): inputs c<i>.x, c<i>.dy and the
                           module parameters c<i>.<key> (key as in the webui file:
                           linear.<idx>.weight|bias); outputs c<i>.y = x + MLP(x)*mult, c<i>.dx
                           and c<i>.grad.<key> = d sum(y*dy) / d param. The case's options
                           are in metadata vktrain.case.<i> = "activation;layer structure;layer
                           norm 0|1;activate_output 0|1;multiplier".
  hn_small.pt              a second webui hypernetwork (sizes 128 and 64, [1, 0.25, 1], elu,
                           no LayerNorm, activate_output False) for chaining.
  block_unet_st_hn_chain.safetensors
                           the SpatialTransformer of block_unet_st (input_blocks.3.1.) with the
                           chain [hn_ln.pt, hn_small.pt] active (webui apply_hypernetworks: each
                           maps the previous (c_k, c_v)): x, context, grad_out, out, grad_x,
                           grad_context, grad_hn0.* (hn_ln) and grad_hn1.* (hn_small).
"""
import argparse
import inspect
import json
import os
import sys
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as G  # noqa: E402
import sd_ref as R  # noqa: E402

SCRIPT = "tests/reference/make_hn_golden.py"
F64, F32 = torch.float64, torch.float32

# The webui's activation_dict (hypernetwork.py): explicit entries, then every class of
# torch.nn.modules.activation by its lower-case name.
ACTS = {"linear": torch.nn.Identity, "relu": torch.nn.ReLU, "leakyrelu": torch.nn.LeakyReLU,
        "elu": torch.nn.ELU, "swish": torch.nn.Hardswish, "tanh": torch.nn.Tanh,
        "sigmoid": torch.nn.Sigmoid}
ACTS.update({n.lower(): c for n, c in inspect.getmembers(torch.nn.modules.activation)
             if inspect.isclass(c) and c.__module__ == "torch.nn.modules.activation"})

# vktrain supports these (training.md §9.2); the rest are refused.
SUPPORTED = ["linear", "relu", "leakyrelu", "elu", "swish", "tanh", "sigmoid", "silu", "gelu", "mish",
             "softplus", "celu", "selu", "relu6", "hardtanh", "hardsigmoid", "hardswish", "softsign",
             "tanhshrink", "logsigmoid", "hardshrink", "softshrink"]

# kinks of each activation's derivative (or value, for the shrinks)
KINKS = {"relu": [0.0], "leakyrelu": [0.0], "selu": [0.0], "swish": [-3.0, 3.0], "hardswish": [-3.0, 3.0],
         "relu6": [0.0, 6.0], "hardtanh": [-1.0, 1.0], "hardsigmoid": [-3.0, 3.0],
         "hardshrink": [-0.5, 0.5], "softshrink": [-0.5, 0.5]}


def webui_module(d, ls, act, layer_norm, activate_output, dropout_structure=None):
    """HypernetworkModule.__init__'s Sequential (without loading or init)."""
    layers = []
    for i in range(len(ls) - 1):
        layers.append(torch.nn.Linear(int(d * ls[i]), int(d * ls[i + 1])))
        if act == "linear" or act is None or (i >= len(ls) - 2 and not activate_output):
            pass
        else:
            layers.append(ACTS[act]())
        if layer_norm:
            layers.append(torch.nn.LayerNorm(int(d * ls[i + 1])))
        if dropout_structure is not None and dropout_structure[i + 1] > 0:
            layers.append(torch.nn.Dropout(p=dropout_structure[i + 1]))
    return torch.nn.Sequential(*layers)


def f32(a):
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def module_cases(out):
    d = 16
    tensors = OrderedDict()
    meta = G.base_meta(901, note="hypernetwork module cases (make_hn_golden.py docstring)")
    meta["vktrain.script"] = SCRIPT
    worst32 = 0.0
    for i, act in enumerate(SUPPORTED):
        ls = (1.0, 1.5, 0.75, 1.0) if i % 2 == 0 else (1.0, 2.0, 1.0)
        ln = i % 3 != 1
        ao = i % 4 in (0, 3)
        mult = 1.0 if i % 5 else 0.7
        for attempt in range(50):
            rng = np.random.default_rng(9000 + 100 * i + attempt)
            x = f32(rng.standard_normal((2, 5, d)))
            dy = f32(rng.standard_normal((2, 5, d)))
            seq = webui_module(d, ls, act, ln, ao).to(F64)
            params = OrderedDict()
            for k, p in seq.state_dict().items():
                if p.ndim == 2:
                    v = rng.uniform(-1, 1, p.shape) * 1.5 / np.sqrt(p.shape[1])
                elif k.endswith("weight"):
                    v = 1 + 0.2 * rng.uniform(-1, 1, p.shape)
                else:
                    v = 0.3 * rng.uniform(-1, 1, p.shape)
                params[k] = f32(v)
            res = {}
            pre = {}
            for dt in (F64, F32):
                seq = webui_module(d, ls, act, ln, ao).to(dt)
                seq.load_state_dict({k: torch.from_numpy(v).to(dt) for k, v in params.items()})
                seq.train()
                acts_in = []
                for m in seq:
                    if not isinstance(m, (torch.nn.Linear, torch.nn.LayerNorm)):
                        m.register_forward_hook(lambda mod, inp, o: acts_in.append(inp[0].detach()))
                xt = torch.from_numpy(x).to(dt).requires_grad_(True)
                y = xt + seq(xt) * mult
                ps = list(seq.parameters())
                grads = torch.autograd.grad((y * torch.from_numpy(dy).to(dt)).sum(), [xt] + ps)
                r = OrderedDict(y=y.detach().numpy(), dx=grads[0].numpy())
                for (k, _), g in zip(seq.named_parameters(), grads[1:]):
                    r["grad.linear." + k] = g.numpy()
                res[dt] = r
                pre[dt] = torch.cat([a.reshape(-1).to(F64) for a in acts_in]) if acts_in else None
            if act in KINKS and pre[F64] is not None:
                dist = torch.stack([(pre[F64] - k).abs() for k in KINKS[act]]).min(dim=0).values
                if dist.min().item() < 1e-3:   # far from every kink: rounding cannot flip a unit
                    continue
            break
        else:
            raise RuntimeError(f"{act}: no attempt keeps the activation inputs off the kinks")
        c = f"c{i}."
        tensors[c + "x"] = x
        tensors[c + "dy"] = dy
        for k, v in params.items():
            tensors[c + "linear." + k] = v
        for k, v in res[F64].items():
            tensors[c + k] = v
            e = np.abs(res[F32][k] - v).max() / max(np.abs(v).max(), 1e-30)
            worst32 = max(worst32, e)
        meta[f"vktrain.case.{i}"] = f"{act};{','.join(str(v) for v in ls)};{int(ln)};{int(ao)};{mult}"
    meta["vktrain.cases"] = str(len(SUPPORTED))
    meta["vktrain.f32_worst"] = f"{worst32:.3g}"
    G.save(os.path.join(out, "hn_modules.safetensors"), tensors, meta)
    print(f"    float32 torch vs float64: worst {worst32:.2e}")


class Chain:
    """apply_hypernetworks: context_k, context_v pass through each hypernetwork in turn."""

    def __init__(self, hns):
        self.hns = hns
        self.preacts = None

    def apply(self, c):
        ck, cv = c, c
        for h in self.hns:
            pair = h.modules.get(c.shape[-1])
            if pair is not None:
                ck, cv = pair[0](ck, h.multiplier), pair[1](cv, h.multiplier)
        return ck, cv


def chain_case(out):
    o = R.HNOptions((1.0, 0.25, 1.0), "elu", False, False, (0, 0, 0))
    G.write_hn_pt(os.path.join(out, "hn_small.pt"), "hn_small", o,
                  OrderedDict((d, G.hn_params("hn_small", d, o, 0)) for d in (128, 64)), 0)
    sd = R.make_model(R.TINY, G.MODEL_SEED)
    meta_m = R.model_metadata(R.TINY, G.MODEL_SEED)
    inputs = G.Gen.st_inputs()
    rng = np.random.default_rng(732)
    gout = f32(rng.standard_normal((2, 64, 4, 6)))
    res = {}
    for dt in (F64, F32):
        m = R.SDModel(sd, meta_m, dt)
        hns = [R.hn_from_torch_file(os.path.join(out, n), dt)[0] for n in ("hn_ln.pt", "hn_small.pt")]
        x = {k: torch.from_numpy(v).to(dt).requires_grad_(True) for k, v in inputs.items()}
        y = R.SpatialTransformer(R.Weights(m.sd, R.UNET_PREFIX + "input_blocks.3.1."), 4)(x["x"], x["context"],
                                                                                          Chain(hns))
        hp = OrderedDict()
        for j, h in enumerate(hns):
            for k, v in h.parameters().items():
                hp[f"grad_hn{j}.{k}"] = v
        grads = torch.autograd.grad((y * torch.from_numpy(gout).to(dt)).sum(),
                                    [x["x"], x["context"]] + list(hp.values()))
        r = OrderedDict(out=y.detach().numpy(), grad_x=grads[0].numpy(), grad_context=grads[1].numpy())
        for k, g in zip(hp, grads[2:]):
            r[k] = g.numpy()
        res[dt] = r
    tensors = OrderedDict(inputs)
    tensors["grad_out"] = gout
    tensors.update(res[F64])
    errs = {k: float(np.abs(res[F32][k] - v).max() / max(np.abs(v).max(), 1e-30)) for k, v in res[F64].items()}
    # the last bias of each k module: zero in exact arithmetic (tests/golden/README.md)
    zero = [k for k, v in res[F64].items() if k.startswith("grad_hn") and np.abs(v).max() <
            1e-9 * max(np.abs(w).max() for n, w in res[F64].items() if n.startswith("grad_hn"))]
    meta = G.base_meta(731, weights_prefix=R.UNET_PREFIX + "input_blocks.3.1.",
                       note="block_unet_st inputs with the chain [hn_ln.pt, hn_small.pt]; grad_out rng 732",
                       f32_err={k: errs[k] for k in errs if k not in zero})
    meta["vktrain.script"] = SCRIPT
    meta["vktrain.hypernetworks"] = "hn_ln.pt,hn_small.pt"
    if zero:
        meta["vktrain.zero_in_exact_arithmetic"] = ",".join(zero)
    G.save(os.path.join(out, "block_unet_st_hn_chain.safetensors"), tensors, meta)
    rest = {k: v for k, v in errs.items() if k not in zero}
    w = max(rest.items(), key=lambda kv: kv[1])
    print(f"    float32 torch vs float64: worst {w[0]} {w[1]:.2e}; zero in exact arithmetic: {zero}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
    a = ap.parse_args()
    torch.set_grad_enabled(True)
    module_cases(a.out)
    chain_case(a.out)


if __name__ == "__main__":
    main()
