#!/usr/bin/env python3
"""Whole txt2img runs on the TINY model (seed 0) as the webui samples them, for the golden test
golden.sample.* (tests/unit/test_sampler.c `golden`): prompt -> the webui's chunks (the
independent Python prompt model of tokenizer_reference.py) -> CLIP with emphasis and clip skip
(negative and positive prompt each in a call of its own, as processing.setup_conds makes them)
-> k-diffusion Euler a / Euler over CompVisDenoiser with CFGDenoiser's guidance, or the webui's
DDIM -> VAE decode, all in float64 torch (sd_ref.py). The noise is vktrain's documented RNG
(src/nn/philox.h: Philox4x32-10 + Box-Muller in double, rounded to float32; image b uses seed +
b, draw 0 the initial latent, draw i + 1 Euler a's noise after step i), written out here in numpy
and stored too, so the test also checks the C generator bit for bit.

    /usr/bin/python3 tests/reference/sampler_ref.py     # writes tests/golden/sample_<case>.safetensors
"""
import json
import math
import os
import sys
from collections import OrderedDict

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sd_ref as R  # noqa: E402
import sampler_sigmas as S  # noqa: E402
import tokenizer_reference as TR  # noqa: E402

GOLDEN = os.path.join(HERE, "..", "golden")
M32 = 0xFFFFFFFF

CASES = [
    # name, sampler, prompt, negative, steps, cfg, seed, batch, clip skip
    ("euler_a", "euler_a", "a (photo:1.2) of a [cat] on a (red:1.3) sofa", "(blurry:1.4), ugly", 4, 7.5, 42, 2, 1),
    ("euler", "euler", "a photo of a cat BREAK on a sofa, (sunny:1.1)", "", 3, 7.0, 7, 1, 2),
    ("ddim", "ddim", "a photo of a dog", "bad", 5, 5.0, 3, 1, 1),
]


# --- vktrain's noise (src/nn/philox.h) ---------------------------------------------------------

def philox4x32_10(c, key):
    c0, c1, c2, c3 = (np.asarray(v, dtype=np.uint64) for v in c)
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    m = np.uint64(M32)
    for r in range(10):
        if r:
            k0 = (k0 + np.uint64(0x9E3779B9)) & m
            k1 = (k1 + np.uint64(0xBB67AE85)) & m
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        hi0, lo0, hi1, lo1 = p0 >> np.uint64(32), p0 & m, p1 >> np.uint64(32), p1 & m
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def philox_normal(seed, offset, n):
    """float32 [n]: element i of stream (seed, offset), Box-Muller on word pairs in double."""
    nb = (n + 3) // 4
    b = np.arange(nb, dtype=np.uint64)
    m = np.uint64(M32)
    words = philox4x32_10((b & m, b >> np.uint64(32), np.full(nb, offset & M32, np.uint64),
                           np.full(nb, offset >> 32, np.uint64)), (seed & M32, seed >> 32))
    w = np.stack(words, axis=1).reshape(-1)[: ((n + 1) // 2) * 2]
    even, odd = w[0::2], w[1::2]
    u1 = ((even >> np.uint64(8)).astype(np.float64) + 1.0) * (1.0 / 16777216.0)
    u2 = (odd >> np.uint64(8)).astype(np.float64) * (1.0 / 16777216.0)
    r, th = np.sqrt(-2.0 * np.log(u1)), 2.0 * math.pi * u2
    z = np.stack([r * np.cos(th), r * np.sin(th)], axis=1).reshape(-1)[:n]
    return z.astype(np.float32)


def draw(seeds, k, shape):
    return np.stack([philox_normal(s, k, int(np.prod(shape))).reshape(shape) for s in seeds])


# --- conditioning --------------------------------------------------------------------------------

def encode(model, tok, text, batch, clip_skip):
    """processing.get_learned_conditioning for `batch` copies of one prompt: one CLIP call."""
    ch = TR.chunks_of(tok, text, [])
    ids = torch.tensor([sum((c["ids"] for c in ch), [])] * batch, dtype=torch.int64)
    mult = torch.tensor([sum((c["multipliers"] for c in ch), [])] * batch, dtype=torch.float64)
    return model.clip(ids, None, None, mult, clip_skip), len(ch), ids, mult


# --- samplers (k_diffusion/sampling.py, external.py; webui sd_samplers_*) ------------------------

def run(model, sampler, cu, cc, steps, cfg, seeds, lat_shape):
    ac32 = model.sched["alphas_cumprod"].astype(np.float32)
    sch = S.F64Schedule(ac32.astype(np.float64))
    B = len(seeds)

    def eps_pair(x_in, t):
        tt = torch.full((B,), float(np.float32(t)), dtype=torch.float64)  # vktrain feeds float32 t
        xi = torch.from_numpy(x_in)
        return (model.unet(xi, tt, cu).numpy(), model.unet(xi, tt, cc).numpy())

    z0 = draw(seeds, 0, lat_shape).astype(np.float64)
    extra = OrderedDict(noise_draw0=draw(seeds, 0, lat_shape))
    if sampler == "ddim":
        ts = np.clip(np.arange(0, 1000, 1000 // steps) + 1, 0, 999)
        ac = ac32.astype(np.float64)
        x = z0
        for i in range(len(ts) - 1):
            index = len(ts) - 1 - i
            eu, ec = eps_pair(x, ts[index])
            e = eu + (ec - eu) * cfg  # combine_denoised on the eps the timestep denoiser returns
            at, ap = ac[ts[index]], ac[ts[index - 1]]
            pred_x0 = (x - math.sqrt(1 - at) * e) / math.sqrt(at)
            x = math.sqrt(ap) * pred_x0 + math.sqrt(1 - ap) * e
        return x, len(ts) - 1, extra
    sig = sch.get_sigmas(steps)
    x = z0 * sig[0]
    for i in range(steps):
        s, sn = sig[i], sig[i + 1]
        t = sch.sigma_to_t(np.array([s]))[0]
        c_in = 1.0 / math.sqrt(s * s + 1.0)
        eu, ec = eps_pair(x * c_in, t)
        du, dc = x - s * eu, x - s * ec
        denoised = du + (dc - du) * cfg
        d = (x - denoised) / s
        if sampler == "euler":
            x = x + d * (sn - s)
        else:
            down, up = S.ancestral(s, sn)
            x = x + d * (down - s)
            if sn > 0:
                z = draw(seeds, i + 1, lat_shape)
                if i == 0:
                    extra["noise_draw1"] = z
                x = x + z.astype(np.float64) * up
    return x, steps, extra


def main():
    sd = R.make_model(R.TINY, 0)
    model = R.SDModel(sd, R.model_metadata(R.TINY, 0))
    tok = TR.make_tokenizer()
    # the C generator and this one agree bit for bit on a few values (also checked by the test)
    for name, sampler, prompt, negative, steps, cfg, seed, batch, clip_skip in CASES:
        seeds = [seed + b for b in range(batch)]
        cc, kc, _, _ = encode(model, tok, prompt, batch, clip_skip)
        cu, ku, _, _ = encode(model, tok, negative, batch, clip_skip)
        x, calls, extra = run(model, sampler, cu, cc, steps, cfg, seeds, (4, 8, 8))
        image = model.vae.decode(torch.from_numpy(x)).numpy()
        out = OrderedDict(latent=x.astype(np.float32), image=image.astype(np.float32))
        out.update(extra)
        meta = {
            "vktrain.script": "tests/reference/sampler_ref.py",
            "vktrain.model": "TINY seed 0",
            "vktrain.torch": torch.__version__,
            "vktrain.numpy": np.__version__,
            "vktrain.reference_dtype": "float64",
            "vktrain.sample": json.dumps({"sampler": sampler, "prompt": prompt, "negative": negative,
                                          "steps": steps, "cfg": cfg, "seed": seed, "batch": batch,
                                          "clip_skip": clip_skip, "width": 64, "height": 64,
                                          "unet_calls": calls, "chunks": [kc, ku]}),
        }
        path = os.path.join(GOLDEN, f"sample_{name}.safetensors")
        R.st_save(path, out, meta)
        print(f"wrote {path} ({os.path.getsize(path) / 1024:.1f} KiB): {calls} UNet calls, chunks {kc}/{ku}, "
              f"|latent| max {np.abs(x).max():.3f}")


if __name__ == "__main__":
    main()
