#!/usr/bin/python3
"""Cross-check sd_ref.py against the upstream implementations it was written to match.

Not needed to regenerate goldens; run by hand when sd_ref.py changes:

    /usr/bin/python3 tests/reference/xcheck_upstream.py --ldm <CompVis/stable-diffusion checkout> \
        --clip <openai/CLIP checkout> [--full]

The upstream code is imported from those checkouts at run time (nothing is copied here). If the
`einops` package is missing, a minimal stand-in for the few rearrange/repeat patterns LDM uses is
installed into sys.modules. Everything runs in float64; three upstream float32 casts are patched
out so the comparison is exact up to float64 rounding (and reported separately where they matter):
  * ldm GroupNorm32.forward casts to float32 -> patched to run in the input dtype
  * ldm timestep_embedding computes freqs/args in float32 -> replaced by sd_ref's float64 version
    (the float32 effect is measured and printed)
  * openai CLIP LayerNorm casts to float32 -> patched
Checks: TINY UNet (8x8 and 8x16), TINY VAE encode/decode incl. the posterior, TINY CLIP (clip
skip 1 = last layer + ln_final), webui-layout hypernetwork modules built from torch.nn layers;
with --full also the SD1.5 UNet/VAE/CLIP at small sizes with random weights.
"""
import argparse
import math
import os
import re
import sys
import types

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sd_ref as R  # noqa: E402


def _einops_shim():
    def parse(side):
        out = []
        for m in re.finditer(r"\(([^)]*)\)|(\S+)", side):
            out.append([m.group(2)] if m.group(2) is not None else m.group(1).split())
        return out

    def prep(x, pattern, sizes):
        lhs, rhs = pattern.split("->")
        L, Rr = parse(lhs), parse(rhs)
        assert len(L) == x.dim(), (pattern, x.shape)
        dims = dict(sizes)
        for g, n in zip(L, x.shape):
            unk = [a for a in g if a not in dims]
            known = math.prod(dims[a] for a in g if a in dims)
            if unk:
                assert len(unk) == 1, pattern
                dims[unk[0]] = n // known
        elem = [a for g in L for a in g]
        return x.reshape([dims[a] for a in elem]), elem, Rr, dims

    def rearrange(x, pattern, **sizes):
        x, elem, Rr, dims = prep(x, pattern, sizes)
        order = [a for g in Rr for a in g]
        x = x.permute([elem.index(a) for a in order])
        return x.reshape([math.prod(dims[a] for a in g) if g else 1 for g in Rr])

    def repeat(x, pattern, **sizes):
        x, elem, Rr, dims = prep(x, pattern, sizes)
        order = [a for g in Rr for a in g]
        x = x.permute([elem.index(a) for a in order if a in elem])
        x = x.reshape([dims[a] if a in elem else 1 for a in order]).expand([dims[a] for a in order])
        return x.reshape([math.prod(dims[a] for a in g) if g else 1 for g in Rr])

    m = types.ModuleType("einops")
    m.rearrange, m.repeat = rearrange, repeat
    return m


def maxrel(a, b):
    return R._maxrel(a, b)


def strip(sd, prefix):
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def check(name, err, tol, log):
    ok = err <= tol
    line = f"{'ok  ' if ok else 'FAIL'} {name}: max rel err {err:.3e} (tol {tol:.0e})"
    print(line, flush=True)
    log.append(line)
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ldm", required=True, help="CompVis/stable-diffusion checkout (has ldm/)")
    ap.add_argument("--clip", required=True, help="openai/CLIP checkout (has clip/model.py)")
    ap.add_argument("--full", action="store_true", help="also SD1.5-size checks (slow, ~8 GB RAM)")
    a = ap.parse_args()
    try:
        import einops  # noqa: F401
    except ImportError:
        sys.modules["einops"] = _einops_shim()
    try:
        import omegaconf.listconfig  # noqa: F401
    except ImportError:                 # UNetModel only uses it for an isinstance test
        oc, lc = types.ModuleType("omegaconf"), types.ModuleType("omegaconf.listconfig")
        lc.ListConfig = type("ListConfig", (list,), {})
        oc.listconfig = lc
        sys.modules["omegaconf"], sys.modules["omegaconf.listconfig"] = oc, lc
    sys.path.insert(0, a.ldm)
    import ldm.modules.diffusionmodules.openaimodel as om
    import ldm.modules.diffusionmodules.util as du
    from ldm.modules.diffusionmodules.model import Encoder, Decoder
    from ldm.modules.distributions.distributions import DiagonalGaussianDistribution
    import importlib.util
    spec = importlib.util.spec_from_file_location("openai_clip_model", os.path.join(a.clip, "clip", "model.py"))
    cm = importlib.util.module_from_spec(spec)     # clip/model.py alone (clip/__init__ needs torchvision)
    spec.loader.exec_module(cm)

    du.GroupNorm32.forward = lambda self, x: nn.GroupNorm.forward(self, x)
    ldm_temb_f32 = om.timestep_embedding
    cur = {"dt": torch.float64}
    temb64 = lambda t, dim, repeat_only=False: R.timestep_embedding(t, dim).to(cur["dt"])
    om.timestep_embedding = temb64
    cm.LayerNorm.forward = lambda self, x: nn.LayerNorm.forward(self, x)

    torch.manual_seed(0)
    ok = True
    log = []

    def run_sizes(cfg, sd_np, meta, latent_sizes, vae_sizes, B, tag, tol, dt=torch.float64):
        nonlocal ok
        cur["dt"] = dt
        u, v, c = cfg.unet, cfg.vae, cfg.clip
        model = R.SDModel(sd_np, meta, dt)
        sdt = model.sd
        # UNet
        un = om.UNetModel(image_size=32, in_channels=u.in_channels, out_channels=u.out_channels,
                          model_channels=u.model_channels,
                          attention_resolutions=list(u.attn_rates), num_res_blocks=u.num_res_blocks,
                          channel_mult=list(u.mult), num_heads=u.heads, use_spatial_transformer=True,
                          transformer_depth=u.depth, context_dim=u.context_dim, use_checkpoint=False,
                          legacy=False)
        un.load_state_dict(strip(sdt, R.UNET_PREFIX), strict=True)
        un = un.to(dt).eval()
        un.dtype = dt
        for (h, w) in latent_sizes:
            x = torch.randn(B, 4, h, w, dtype=dt)
            t = torch.tensor([0, 999, 500, 17][:B])
            ctx = torch.randn(B, 77, u.context_dim, dtype=dt)
            with torch.no_grad():
                ref = un(x, t, context=ctx)
                mine = model.unet(x, t, ctx)
            ok &= check(f"{tag} UNet {h}x{w} vs ldm UNetModel", maxrel(mine, ref), tol, log)
            if tag == "TINY":
                # the float32 timestep embedding of LDM vs our float64 one
                t32 = ldm_temb_f32(t, u.model_channels).to(dt)
                e = (t32 - R.timestep_embedding(t, u.model_channels)).abs().max().item()
                print(f"info {tag} LDM float32 timestep embedding vs float64: max abs diff {e:.2e} "
                      f"(t = {t.tolist()})")
                om.timestep_embedding = lambda tt, dim, repeat_only=False: ldm_temb_f32(tt, dim).to(dt)
                with torch.no_grad():
                    ref32 = un(x, t, context=ctx)
                om.timestep_embedding = temb64
                print(f"info {tag} UNet output with LDM's float32 timestep embedding: max rel diff "
                      f"{maxrel(ref32, mine):.2e}")
        del un
        # VAE
        dd = dict(double_z=True, z_channels=v.z_channels, resolution=256, in_channels=v.in_channels,
                  out_ch=v.out_channels, ch=v.ch, ch_mult=list(v.mult), num_res_blocks=v.num_res_blocks,
                  attn_resolutions=[], dropout=0.0)
        enc, dec = Encoder(**dd).to(dt).eval(), Decoder(**dd).to(dt).eval()
        enc.load_state_dict(strip(sdt, R.VAE_PREFIX + "encoder."), strict=True)
        dec.load_state_dict(strip(sdt, R.VAE_PREFIX + "decoder."), strict=True)
        qw, qb = sdt[R.VAE_PREFIX + "quant_conv.weight"], sdt[R.VAE_PREFIX + "quant_conv.bias"]
        pw, pb = sdt[R.VAE_PREFIX + "post_quant_conv.weight"], sdt[R.VAE_PREFIX + "post_quant_conv.bias"]
        for (H, W) in vae_sizes:
            img = torch.rand(B, 3, H, W, dtype=dt) * 2 - 1
            with torch.no_grad():
                post = DiagonalGaussianDistribution(F.conv2d(enc(img), qw, qb))
                mean, logvar = model.vae.encode(img)
                ok &= check(f"{tag} VAE mean {H}x{W} vs ldm Encoder+quant_conv", maxrel(mean, post.mean), tol, log)
                ok &= check(f"{tag} VAE logvar {H}x{W} (clamped)", maxrel(logvar, post.logvar), tol, log)
                eps = torch.randn_like(mean)
                ok &= check(f"{tag} VAE posterior sample", maxrel(R.VAE.sample(mean, logvar, eps),
                                                             post.mean + post.std * eps), tol, log)
                lat = torch.randn(B, 4, H // 8, W // 8, dtype=dt) * 0.8
                ref = dec(F.conv2d(lat / R.SCALE_FACTOR, pw, pb))
                ok &= check(f"{tag} VAE decode {H // 8}x{W // 8} vs ldm Decoder", maxrel(model.vae.decode(lat), ref), tol, log)
        del enc, dec
        # CLIP
        tr = cm.Transformer(c.width, c.layers, c.heads,
                            attn_mask=torch.full((77, 77), float("-inf")).triu_(1).to(dt)).to(dt)
        p = R.CLIP_PREFIX
        osd = {}
        for l in range(c.layers):
            q = f"{p}encoder.layers.{l}."
            o = f"resblocks.{l}."
            osd[o + "attn.in_proj_weight"] = torch.cat([sdt[q + f"self_attn.{n}_proj.weight"] for n in "qkv"])
            osd[o + "attn.in_proj_bias"] = torch.cat([sdt[q + f"self_attn.{n}_proj.bias"] for n in "qkv"])
            osd[o + "attn.out_proj.weight"] = sdt[q + "self_attn.out_proj.weight"]
            osd[o + "attn.out_proj.bias"] = sdt[q + "self_attn.out_proj.bias"]
            for a_, b_ in (("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"), ("mlp.c_fc", "mlp.fc1"),
                           ("mlp.c_proj", "mlp.fc2")):
                osd[o + a_ + ".weight"] = sdt[q + b_ + ".weight"]
                osd[o + a_ + ".bias"] = sdt[q + b_ + ".bias"]
        tr.load_state_dict(osd, strict=True)
        lnf = cm.LayerNorm(c.width).to(dt)
        lnf.load_state_dict({"weight": sdt[p + "final_layer_norm.weight"], "bias": sdt[p + "final_layer_norm.bias"]})
        ids = torch.randint(0, c.vocab - 2, (B, 77))
        ids[:, 0] = 49406
        ids[:, 9:] = 49407
        with torch.no_grad():
            x = sdt[p + "embeddings.token_embedding.weight"][ids] + sdt[p + "embeddings.position_embedding.weight"]
            ref = lnf(tr(x.permute(1, 0, 2)).permute(1, 0, 2))
            mine = model.clip(ids)
            ok &= check(f"{tag} CLIP (clip skip 1) vs openai CLIP Transformer + ln_final", maxrel(mine, ref), tol, log)
            # clip skip 2 = output of layer L-1 through ln_final
            tr.resblocks = tr.resblocks[:c.layers - 1]
            ref2 = lnf(tr(x.permute(1, 0, 2)).permute(1, 0, 2))
            ok &= check(f"{tag} CLIP clip skip 2 vs openai first L-1 blocks + ln_final",
                        maxrel(model.clip(ids, clip_skip=2), ref2), tol, log)

    seed = 0
    sd = R.make_model(R.TINY, seed)
    run_sizes(R.TINY, sd, R.model_metadata(R.TINY, seed), [(8, 8), (8, 16), (6, 10)], [(64, 64), (64, 96)],
              2, "TINY", 1e-12)

    # hypernetwork: webui Sequential layout from torch.nn layers vs sd_ref HNModule
    dt = torch.float64
    for o in (R.HNOptions((1, 2, 1), "relu", False, False),
              R.HNOptions((1, 2, 1.5, 1), "swish", True, True),
              R.HNOptions((1, 0.5, 1), "elu", True, False, (0, 0.3, 0))):
        d = 64
        layers = []
        for kind, i_, o_ in R.hn_layout(d, o):
            if kind == "linear":
                layers.append(nn.Linear(i_, o_))
            elif kind == "act":
                layers.append(getattr(nn, R.HN_ACT_CLASSES[o.activation])())
            elif kind == "ln":
                layers.append(nn.LayerNorm(o_))
            else:
                layers.append(nn.Dropout(0.3))
        mod = nn.Module()
        mod.linear = nn.Sequential(*layers)
        mod = mod.to(dt)
        with torch.no_grad():
            for prm in mod.parameters():
                prm.uniform_(-0.3, 0.3)
        mod.eval()
        sdm = {k: v.clone() for k, v in mod.state_dict().items()}
        assert [k for k, _ in R.hn_param_shapes(d, o)] == list(sdm), (list(sdm), R.hn_param_shapes(d, o))
        hm = R.HNModule(d, sdm, o)
        xx = torch.randn(2, 7, d, dtype=dt)
        with torch.no_grad():
            ok &= check(f"HN {o.layer_structure} {o.activation} ln={o.layer_norm} act_out={o.activate_output} "
                        f"vs torch.nn Sequential (keys {list(sdm)[::2]})", maxrel(hm(xx), xx + mod.linear(xx)), 1e-13, log)

    if a.full:
        torch.manual_seed(1)
        sdf = {}
        for n, sh in R.key_list(R.FULL):
            if n.endswith("position_ids"):
                sdf[n] = np.arange(77, dtype=np.int64).reshape(1, 77)
            elif n in R.SCHEDULE_KEYS:
                sdf[n] = np.zeros(sh, np.float32)
            elif len(sh) >= 2:
                sdf[n] = ((np.random.rand(*sh).astype(np.float32) * 2 - 1) *
                          (0.05 if "embedding" in n else 1 / math.sqrt(np.prod(sh[1:])))).astype(np.float32)
            elif n.endswith(".weight"):
                sdf[n] = (1 + 0.1 * (np.random.rand(*sh) * 2 - 1)).astype(np.float32)
            else:
                sdf[n] = (0.1 * (np.random.rand(*sh) * 2 - 1)).astype(np.float32)
        # float32 to fit in memory; two float32 implementations agree to ~1e-6
        run_sizes(R.FULL, sdf, {}, [(8, 8)], [(64, 64)], 1, "FULL", 1e-5, torch.float32)
    print("ALL OK" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
