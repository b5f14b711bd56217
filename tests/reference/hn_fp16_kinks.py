#!/usr/bin/python3
"""Why tests/golden/hn_relu has no fp16 eval test: how far its gradients move when only the
hypernetwork modules' inputs are rounded to fp16 and everything else stays float64.

    /usr/bin/python3 tests/reference/hn_fp16_kinks.py [--golden tests/golden]

Measured (torch 1.13): grad_hn.128.0.linear.0.weight 5.1e-2, grad_hn.128.1.linear.0.weight
8.9e-2, grad_hn.64.1.linear.0.weight 2.1e-2, grad_context 1.9e-2 (error of eval-case.md against
hn_relu.ref) — ReLU inputs near 0 change sides, so no fp16-storage implementation can meet the
3e-2 gradient tolerance on this case (vktrain's fp16 eval shows 5.1e-2 / 8.8e-2 / 4.5e-2). The
Hardswish case hn_ln has no such units and passes in fp16.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sd_ref as R  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--golden", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
G = ap.parse_args().golden
m = R.SDModel(R.make_model(R.TINY, 0), R.model_metadata(R.TINY, 0), torch.float64)
case, _ = R.st_load(os.path.join(G, "hn_relu.case.safetensors"))
ref, _ = R.st_load(os.path.join(G, "hn_relu.ref.safetensors"))
hn, _ = R.hn_from_torch_file(os.path.join(G, "hn_relu.pt"), torch.float64)
orig = R.Hypernetwork.apply
def apply16(self, c):
    c = c + (c.to(torch.float16).to(c.dtype) - c).detach()
    return orig(self, c)
R.Hypernetwork.apply = apply16
out = R.run_case(m, case, hn)
for k in ref:
    if k.startswith("grad"):
        e = np.abs(out[k] - ref[k]).max() / max(np.abs(ref[k]).max(), 1e-30)
        print(f"{k:40s} {e:.3g}")
