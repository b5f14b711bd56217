#!/usr/bin/env python3
"""Sigma schedules of the webui's k-diffusion samplers and its DDIM timesteps, for
tests/unit/test_sampler.c (`schedule`), written to tests/golden/sampler_sigmas.safetensors.

The formulas are written out from k-diffusion (k_diffusion/external.py: DiscreteSchedule,
DiscreteEpsDDPMDenoiser; k_diffusion/sampling.py: get_ancestral_step) and the webui
(modules/sd_samplers_timesteps.py: CompVisSampler.get_timesteps), since k-diffusion itself is not
installed. Each schedule is computed twice from the SD1 model's float32 alphas_cumprod (LDM's
register_schedule: float64 formulas stored as float32):
  *_torch  torch float32, the way the webui computes them (CompVisDenoiser's buffers are float32);
  *_f64    numpy float64 of the same formulas, what vktrain's double host code should equal.

    /usr/bin/python3 tests/reference/sampler_sigmas.py          # writes the golden file
"""
import os
import sys
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sd_ref as R  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "sampler_sigmas.safetensors")
STEPS = [1, 2, 3, 7, 10, 20, 25, 50, 150]
DDIM_STEPS = [1, 2, 3, 7, 10, 20, 30, 50, 150, 333, 600, 999, 1000]


class TorchSchedule:
    """DiscreteSchedule over DiscreteEpsDDPMDenoiser's sigmas, float32 (quantize=False)."""

    def __init__(self, ac32):
        self.sigmas = ((1 - ac32) / ac32) ** 0.5
        self.log_sigmas = self.sigmas.log()

    def t_to_sigma(self, t):
        t = t.float()
        low_idx, high_idx, w = t.floor().long(), t.ceil().long(), t.frac()
        log_sigma = (1 - w) * self.log_sigmas[low_idx] + w * self.log_sigmas[high_idx]
        return log_sigma.exp()

    def sigma_to_t(self, sigma):
        log_sigma = sigma.log()
        dists = log_sigma - self.log_sigmas[:, None]
        low_idx = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=self.log_sigmas.shape[0] - 2)
        high_idx = low_idx + 1
        low, high = self.log_sigmas[low_idx], self.log_sigmas[high_idx]
        w = (low - log_sigma) / (low - high)
        w = w.clamp(0, 1)
        t = (1 - w) * low_idx + w * high_idx
        return t.view(sigma.shape)

    def get_sigmas(self, n):
        t_max = len(self.sigmas) - 1
        t = torch.linspace(t_max, 0, n)
        return torch.cat([self.t_to_sigma(t), torch.zeros(1)])


class F64Schedule:
    def __init__(self, ac64):
        self.sigmas = np.sqrt((1 - ac64) / ac64)
        self.log_sigmas = np.log(self.sigmas)

    def t_to_sigma(self, t):
        low, high = np.floor(t).astype(np.int64), np.ceil(t).astype(np.int64)
        w = t - np.floor(t)
        return np.exp((1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high])

    def sigma_to_t(self, sigma):
        ls = np.log(sigma)
        dists = ls - self.log_sigmas[:, None]
        low = np.minimum(np.argmax(np.cumsum(dists >= 0, axis=0), axis=0), len(self.log_sigmas) - 2)
        lo, hi = self.log_sigmas[low], self.log_sigmas[low + 1]
        w = np.clip((lo - ls) / (lo - hi), 0, 1)
        return (1 - w) * low + w * (low + 1)

    def get_sigmas(self, n):
        t_max = len(self.sigmas) - 1
        t = np.array([t_max]) if n == 1 else t_max - t_max * np.arange(n, dtype=np.float64) / (n - 1)
        return np.append(self.t_to_sigma(t), 0.0)


def ancestral(sigma_from, sigma_to):
    """k_diffusion.sampling.get_ancestral_step with eta = 1."""
    up = np.minimum(sigma_to, np.sqrt(sigma_to ** 2 * (sigma_from ** 2 - sigma_to ** 2) / sigma_from ** 2))
    down = np.sqrt(sigma_to ** 2 - up ** 2)
    return down, up


def main():
    ac32 = R.schedule_f64()["alphas_cumprod"].astype(np.float32)
    ts32 = TorchSchedule(torch.from_numpy(ac32))
    s64 = F64Schedule(ac32.astype(np.float64))
    out = OrderedDict()
    out["alphas_cumprod"] = ac32
    out["sigmas_table_torch"] = ts32.sigmas.numpy()
    out["sigmas_table_f64"] = s64.sigmas
    for n in STEPS:
        st = ts32.get_sigmas(n)
        sf = s64.get_sigmas(n)
        out[f"sigmas_n{n}_torch"] = st.numpy()
        out[f"sigmas_n{n}_f64"] = sf
        out[f"t_n{n}_torch"] = ts32.sigma_to_t(st[:-1]).numpy()
        out[f"t_n{n}_f64"] = s64.sigma_to_t(sf[:-1])
        down, up = ancestral(sf[:-1], sf[1:])
        out[f"sigma_down_n{n}_f64"] = down
        out[f"sigma_up_n{n}_f64"] = up
    for steps in DDIM_STEPS:
        out[f"ddim_ts_{steps}"] = np.clip(np.arange(0, 1000, 1000 // steps) + 1, 0, 999).astype(np.int32)
    meta = {
        "vktrain.script": "tests/reference/sampler_sigmas.py",
        "vktrain.torch": torch.__version__,
        "vktrain.numpy": np.__version__,
        "vktrain.note": "k-diffusion DiscreteSchedule get_sigmas/sigma_to_t and webui DDIM timesteps "
                        "for the SD1 schedule; *_torch float32 as the webui computes, *_f64 float64",
    }
    R.st_save(OUT, out, meta)
    print(f"wrote {OUT} ({os.path.getsize(OUT) / 1024:.1f} KiB, {len(out)} tensors)")
    d = np.max(np.abs(out["sigmas_n20_torch"][:-1] / out["sigmas_n20_f64"][:-1] - 1))
    print(f"  20 steps: float32 vs float64 sigmas, max relative difference {d:.2e}")
    d = np.max(np.abs(out["t_n20_torch"] - out["t_n20_f64"]))
    print(f"  20 steps: float32 vs float64 t, max difference {d:.2e}")


if __name__ == "__main__":
    main()
