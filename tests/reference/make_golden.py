#!/usr/bin/python3
"""Write vktrain's golden data (tests/golden/) from sd_ref.py, for the TINY model of seed 0.

    /usr/bin/python3 tests/reference/make_golden.py [--out tests/golden] [--full-checksums]

Every case is computed in float64 from float32 inputs and float32 model weights, stored as F32,
and recomputed in float32 with the same code to record what an fp32 implementation achieves
(metadata `vktrain.f32_err`). See tests/golden/README.md for the file list and conventions.
"""
import argparse
import json
import math
import os
import shutil
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sd_ref as R  # noqa: E402

SCRIPT = "tests/reference/make_golden.py"
MODEL_SEED = 0
F64, F32 = torch.float64, torch.float32

BOS, EOS, COMMA = 49406, 49407, 267


def base_meta(seed, **extra):
    m = OrderedDict([
        ("vktrain.script", SCRIPT),
        ("vktrain.seed", str(seed)),
        ("vktrain.model", f"vktrain-tiny-v1 seed={MODEL_SEED} (TINY)"),
        ("vktrain.torch", torch.__version__),
        ("vktrain.numpy", np.__version__),
        ("vktrain.reference_dtype", "float64"),
    ])
    m.update((f"vktrain.{k}", v if isinstance(v, str) else json.dumps(v)) for k, v in extra.items())
    return m


def f32(a):
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def rel_err(a, b):
    return R._maxrel(a, b)


def errors(r64, r32, skip=()):
    """float32-vs-float64 error per tensor (eval-case.md measure). Gradients that are zero in
    exact arithmetic (max |g| < 1e-9 of the largest gradient of their family) are listed
    separately; their error is max |g32 - g64| / (largest max |g| of the family)."""
    fam = lambda k: "grad_hn" if k.startswith("grad_hn.") else k
    scale = {}
    for k, v in r64.items():
        if k.startswith("grad"):
            scale[fam(k)] = max(scale.get(fam(k), 0.0), float(np.max(np.abs(v))))
    zero = [k for k, v in r64.items() if k.startswith("grad_hn.") and k not in skip
            and float(np.max(np.abs(v))) < 1e-9 * scale[fam(k)]]
    errs = OrderedDict()
    for k, v in r64.items():
        if k in skip:
            continue
        if k in zero:
            e = float(np.max(np.abs(np.asarray(r32[k], np.float64) - v))) / scale[fam(k)]
        else:
            e = rel_err(r32[k], v)
        errs[k] = float(f"{e:.3g}")
    return errs, zero


def report(errs, zero):
    rest = {k: v for k, v in errs.items() if k not in zero}
    w = max(rest.items(), key=lambda kv: kv[1])
    line = f"    float32 torch vs float64: worst {w[0]} {w[1]:.2e}"
    if zero:
        line += f"; zero in exact arithmetic: {zero} (abs/scale {max(errs[k] for k in zero):.1e})"
    print(line)


def save(path, tensors, meta, keep_f64=False):
    """Integers as I32, floats as F32 (F64 only with keep_f64: the checksum files)."""
    out = OrderedDict()
    for k, v in tensors.items():
        v = np.asarray(v)
        out[k] = v.astype(np.int32) if v.dtype.kind in "iu" else (v.astype(np.float64) if keep_f64 else f32(v))
    R.st_save(path, out, meta)
    kb = os.path.getsize(path) / 1024
    print(f"  {os.path.basename(path):40s} {kb:7.1f} KiB  {', '.join(out)[:110]}")
    assert kb < 1000, f"{path} is {kb:.0f} KiB"


# ------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------

def text_inputs(rng):
    """2 rows x 2 chunks (T = 154) of real-looking CLIP ids, an embedding of N = 2 vectors placed
    3 times, emphasis multipliers. Placeholder ids are 0 as the tokenizer writes them."""
    L = 77
    ids = np.full((2, 2 * L), EOS, dtype=np.int32)
    mult = np.ones((2, 2 * L), dtype=np.float32)
    # row 0, chunk 0: "a photo of <emb>, (red:1.1) hair"  -> emb at chunk offset 3 (positions 4, 5)
    ids[0, 0:10] = [BOS, 320, 1125, 539, 0, 0, COMMA, 736, 2225, EOS]
    mult[0, 7] = 1.1
    # row 0, chunk 1: "<emb> on a ((beach)) at sunset"  -> emb at offset 0 (positions 78, 79)
    ids[0, L:L + 9] = [BOS, 0, 0, 525, 320, 2117, 536, 3424, EOS]
    mult[0, L + 5] = 1.21
    # row 1, chunk 0: "[(<emb>:1.2)] portrait, detailed" -> emb at offset 0 (positions 1, 2), weight 1.2/1.1
    ids[1, 0:7] = [BOS, 0, 0, 5352, COMMA, 12609, EOS]
    mult[1, 1:3] = 1.2 / 1.1
    mult[1, 5] = 0.9
    # row 1, chunk 1: empty chunk (BOS + 76 EOS), multipliers 1
    ids[1, L] = BOS
    learned_at = np.array([[4, L + 1], [1, -1]], dtype=np.int32)
    learned = f32(rng.standard_normal((2, 128)) * 0.03)
    return ids, learned, learned_at, mult


def hn_params(name, d, o, seed):
    """Hypernetwork module parameters from the deterministic generator (keys prefixed by the HN
    name, size and module), scaled like the model weights so the modules matter."""
    pair = []
    for j in range(2):
        p = OrderedDict()
        for k, shape in R.hn_param_shapes(d, o):
            key = f"{name}.{d}.{j}.{k}"
            if len(shape) >= 2:
                p[k] = R.gen_tensor(key, shape, seed)
            elif k.endswith(".weight"):
                p[k] = R.gen_tensor(key, shape, seed)       # LayerNorm gamma 1 + 0.1u
            else:
                p[k] = R.gen_tensor(key, shape, seed)       # bias 0.1u
        pair.append(p)
    return pair


def write_hn_pt(path, name, o, params, seed):
    """Webui hypernetwork .pt (file-formats.md §6): real torch.nn modules so the module state
    dicts carry torch's `_metadata`, keys in the webui's save order."""
    obj = {}
    for d, pair in params.items():
        sds = []
        for p in pair:
            layers = []
            for kind, a, b in R.hn_layout(d, o):
                if kind == "linear":
                    layers.append(torch.nn.Linear(a, b))
                elif kind == "act":
                    layers.append(getattr(torch.nn, R.HN_ACT_CLASSES[o.activation])())
                elif kind == "ln":
                    layers.append(torch.nn.LayerNorm(b))
                else:
                    layers.append(torch.nn.Dropout(0.3))
            m = torch.nn.Module()
            m.linear = torch.nn.Sequential(*layers)
            m.load_state_dict({k: torch.from_numpy(v) for k, v in p.items()}, strict=True)
            sds.append(m.state_dict())
        obj[d] = (sds[0], sds[1])
    ds = list(o.dropout_structure) if o.dropout_structure else [0] * len(o.layer_structure)
    obj["step"] = 0
    obj["name"] = name
    obj["layer_structure"] = [float(x) for x in o.layer_structure]
    obj["activation_func"] = o.activation
    obj["is_layer_norm"] = o.layer_norm
    obj["weight_initialization"] = "Normal"
    obj["sd_checkpoint"] = None
    obj["sd_checkpoint_name"] = None
    obj["activate_output"] = o.activate_output
    obj["use_dropout"] = any(ds)
    obj["dropout_structure"] = ds
    obj["last_layer_dropout"] = ds[-2] != 0
    obj["optional_info"] = f"vktrain golden test hypernetwork; {SCRIPT}; generator keys '{name}.<size>.<0|1>.<param>' seed {seed}"
    torch.save(obj, path)
    names = zipfile.ZipFile(path).namelist()
    import re
    bad = [n for n in names if not re.match(r"^[^/]+/(data/\d+|version|data\.pkl)$", n)]
    assert not bad, f"{path}: zip members the webui would refuse: {bad}"
    print(f"  {os.path.basename(path):40s} {os.path.getsize(path) / 1024:7.1f} KiB  ({len(names)} zip members)")


# ------------------------------------------------------------------------------------------
# generation
# ------------------------------------------------------------------------------------------

class Gen:
    def __init__(self, out):
        self.out = out
        self.sd = R.make_model(R.TINY, MODEL_SEED)
        self.meta = R.model_metadata(R.TINY, MODEL_SEED)
        self.m64 = R.SDModel(self.sd, self.meta, F64)
        self.m32 = R.SDModel(self.sd, self.meta, F32)
        self.readme = []

    def path(self, name):
        return os.path.join(self.out, name)

    def case(self, name, seed, inputs, hn_name=None, clip_skip=1, note="", extra=None):
        """An eval case: <name>.case.safetensors (inputs only) + <name>.ref.safetensors."""
        hn64 = hn32 = None
        args = []
        if hn_name:
            hn64, _ = R.hn_from_torch_file(self.path(hn_name + ".pt"), F64)
            hn32, _ = R.hn_from_torch_file(self.path(hn_name + ".pt"), F32)
            args.append(f"--hypernetwork {hn_name}.pt")
        if clip_skip != 1:
            args.append(f"--clip-skip {clip_skip}")
        ref = R.run_case(self.m64, inputs, hn64, clip_skip)
        r32 = R.run_case(self.m32, inputs, hn32, clip_skip)
        errs, zero = errors(ref, r32)
        meta = base_meta(seed, eval_args=" ".join(args), note=note)
        save(self.path(name + ".case.safetensors"), inputs, meta)
        rmeta = base_meta(seed, eval_args=" ".join(args), note=note, f32_err=errs)
        if zero:
            rmeta["vktrain.zero_in_exact_arithmetic"] = ",".join(zero)
        save(self.path(name + ".ref.safetensors"), ref, rmeta)
        report(errs, zero)
        return ref, errs

    # --------------------------------------------------------------------------------------
    def keys_and_checksums(self, full_checksums):
        tk = R.key_list(R.TINY)
        assert R.key_counts(tk) == (37, 208, 180, 12)
        fk = R.key_list(R.FULL)
        assert fk == R.read_sd15_tsv(), "FULL keys != sd15-keys.tsv"
        shutil.copyfile(os.path.join(R.SPEC_DIR, "sd15-keys.tsv"), self.path("sd15-keys.tsv"))
        with open(self.path("tiny_keys.tsv"), "w", encoding="utf-8") as f:
            f.write("key\tshape\n")
            for k, s in tk:
                f.write(f"{k}\t{','.join(map(str, s))}\n")
        print(f"  tiny_keys.tsv ({len(tk)} keys), sd15-keys.tsv copied ({len(fk)} keys)")
        cs = R.checksums(self.sd)
        save(self.path("tiny_model_checksums.safetensors"),
             OrderedDict((k, np.array(v, dtype=np.float64)) for k, v in cs.items()),
             base_meta(MODEL_SEED, generator=self.meta["vktrain.generator"],
                       unet_heads=self.meta["vktrain.unet_heads"], clip_heads=self.meta["vktrain.clip_heads"],
                       layout="per model key: F64 [3] = (fsum of all values, first value, last value); tensors in sd15-keys.tsv order (position_ids after the VAE), compare by name"),
             keep_f64=True)
        if full_checksums:
            sched = R.schedule_buffers()
            out = OrderedDict()
            for k, s in fk:
                v = R.gen_tensor(k, s, MODEL_SEED, sched)
                out[k] = np.array(R.checksums({k: v})[k], dtype=np.float64)
            save(self.path("full_model_checksums.safetensors"), out,
                 base_meta(MODEL_SEED, generator=f"vktrain-tiny-v1 seed={MODEL_SEED}",
                           model="FULL (SD1.5 dims, make-tiny-model --sd15)", unet_heads="8", clip_heads="12",
                           layout="per model key: F64 [3] = (fsum of all values, first value, last value); tensors in sd15-keys.tsv order (position_ids after the VAE), compare by name"),
                 keep_f64=True)

    # --------------------------------------------------------------------------------------
    def hypernetworks(self):
        self.hn_opts = {
            "hn_relu": R.HNOptions((1.0, 2.0, 1.0), "relu", False, False, (0, 0, 0)),
            "hn_ln": R.HNOptions((1.0, 0.5, 0.25, 1.0), "swish", True, True, (0, 0, 0, 0)),
        }
        self.hn_seed = {}

    def make_hn(self, name, runs, K=50.0):
        """Write <name>.pt with the first generator seed s = 0, 1, ... for which no activation
        input lies within K times its own float32 deviation of a kink (relu: 0, hardswish: ±3)
        in any of `runs` (functions (dt, hn) -> None that run a forward with the hypernetwork).
        A kink crossed by rounding would flip one unit's derivative and move a gradient far more
        than the tolerances allow."""
        o = self.hn_opts[name]
        kinks = {"relu": [0.0], "swish": [-3.0, 3.0]}[o.activation]
        for seed in range(50):
            write_hn_pt(self.path(name + ".pt"), name, o,
                        OrderedDict((d, hn_params(name, d, o, seed)) for d in (128, 64)), seed)
            worst = math.inf
            for run in runs:
                pre = {}
                for dt in (F64, F32):
                    hn, _ = R.hn_from_torch_file(self.path(name + ".pt"), dt)
                    hn.preacts = []
                    run(dt, hn)
                    pre[dt] = torch.cat([p.reshape(-1).to(F64) for p in hn.preacts])
                dev = (pre[F32] - pre[F64]).abs().clamp_min(1e-30)
                dist = torch.stack([(pre[F64] - k).abs() for k in kinks]).min(dim=0).values
                worst = min(worst, (dist / dev).min().item())
            print(f"    {name} seed {seed}: min over activation inputs of distance-to-kink / float32 "
                  f"deviation = {worst:.3g} (need > {K:g})")
            if worst > K:
                self.hn_seed[name] = seed
                return
        raise RuntimeError(f"{name}: no seed passes the kink margin")

    # --------------------------------------------------------------------------------------
    def eval_cases(self):
        rng = np.random.default_rng(101)
        ids, learned, learned_at, mult = text_inputs(rng)
        text = OrderedDict(input_ids=ids, learned=learned, learned_at=learned_at, multipliers=mult)

        # text only, + the extra file for a text-only gradient check
        ref, _ = self.case("text", 101, text, note="text group only: clip_out")
        R_ = f32(np.random.default_rng(102).standard_normal(ref["clip_out"].shape))
        la = torch.from_numpy(learned).to(F64).requires_grad_(True)
        co = self.m64.clip(torch.from_numpy(ids), la, torch.from_numpy(learned_at),
                           torch.from_numpy(mult).to(F64))
        g = torch.autograd.grad((co * torch.from_numpy(R_).to(F64)).sum(), la)[0]
        la32 = torch.from_numpy(learned).requires_grad_(True)
        co32 = self.m32.clip(torch.from_numpy(ids), la32, torch.from_numpy(learned_at), torch.from_numpy(mult))
        g32 = torch.autograd.grad((co32 * torch.from_numpy(R_)).sum(), la32)[0]
        e = rel_err(g32, g)
        save(self.path("text.extra.safetensors"), OrderedDict(grad_clip_out=R_, grad_learned=g.numpy()),
             base_meta(102, loss="sum(clip_out * grad_clip_out) for the inputs of text.case.safetensors",
                       f32_err={"grad_learned": float(f"{e:.3g}")}))
        print(f"    text.extra grad_learned: float32 torch vs float64 {e:.2e}")
        # emphasis mean ratio sanity (the restore divides by the new mean; keep it well away from 0)
        with torch.no_grad():
            e = self.m64.clip.embed(torch.from_numpy(ids), torch.from_numpy(learned).to(F64),
                                    torch.from_numpy(learned_at))
            for c in range(2):
                z = self.m64.clip.encode_chunk(e[:, 77 * c:77 * (c + 1)])
                zm = (z * torch.from_numpy(mult[:, 77 * c:77 * (c + 1)]).to(F64)[:, :, None]).mean()
                print(f"    emphasis chunk {c}: mean(z) {z.mean().item():+.5f}, mean(z*m) {zm.item():+.5f}")

        self.case("text_skip2", 101, OrderedDict(input_ids=ids, learned=learned, learned_at=learned_at),
                  clip_skip=2, note="text group without multipliers, clip skip 2")

        rng = np.random.default_rng(201)
        unet = OrderedDict(latent=f32(rng.standard_normal((2, 4, 8, 8)) * 0.8),
                           noise=f32(rng.standard_normal((2, 4, 8, 8))),
                           timestep=np.array([17, 901], dtype=np.int32))
        self.case("unet_text", 201, OrderedDict(**text, **unet),
                  note="text + unet 8x8, B=2: full chain down to grad_learned")
        lw = f32(rng.uniform(0.0, 2.0, (2, 1, 8, 8)))
        self.case("unet_text_weighted", 201, OrderedDict(**text, **unet, loss_weight=lw),
                  note="as unet_text plus a per-pixel loss_weight")

        rng = np.random.default_rng(301)
        ctx = OrderedDict(latent=f32(rng.standard_normal((2, 4, 8, 16)) * 0.8),
                          noise=f32(rng.standard_normal((2, 4, 8, 16))),
                          timestep=np.array([999, 250], dtype=np.int32),
                          context=f32(rng.standard_normal((2, 77, 128))))
        self.case("unet_ctx_8x16", 301, ctx, note="unet group with a given context, non-square 8x16 latent")

        rng = np.random.default_rng(401)
        hn_in = OrderedDict(latent=f32(rng.standard_normal((2, 4, 8, 8)) * 0.8),
                            noise=f32(rng.standard_normal((2, 4, 8, 8))),
                            timestep=np.array([300, 700], dtype=np.int32),
                            context=f32(rng.standard_normal((2, 77, 128))))
        for name in ("hn_relu", "hn_ln"):
            runs = [lambda dt, hn: R.run_case(self.m64 if dt == F64 else self.m32, hn_in, hn)]
            if name == "hn_ln":
                runs.append(self.st_hn_run)
            self.make_hn(name, runs)
            self.case(name, 401, hn_in, hn_name=name,
                      note=f"unet group with context and the hypernetwork {name}.pt (sizes 128 and 64)")

        rng = np.random.default_rng(501)
        self.case("vae_enc", 501, OrderedDict(image=f32(rng.uniform(-1, 1, (2, 3, 64, 64)))),
                  note="VAE encoder posterior mean/logvar, 64x64 px, B=2")
        rng = np.random.default_rng(601)
        self.case("vae_dec", 601, OrderedDict(decode_latent=f32(rng.standard_normal((2, 4, 8, 8)) * 0.8)),
                  note="VAE decoder from a scaled 8x8 latent, B=2")

    # --------------------------------------------------------------------------------------
    def block(self, name, seed, prefix, fn, inputs, grad_wrt, note, hn=None, hn_name=None):
        """Per-block golden: inputs, out, a fixed random upstream gradient grad_out, gradients of
        sum(out * grad_out) wrt each tensor in grad_wrt; dbg.* intermediates from the trace."""
        res = {}
        for dt in (F64, F32):
            t_in = OrderedDict()
            for k, v in inputs.items():
                t = torch.from_numpy(v)
                t_in[k] = t.to(dt).requires_grad_(k in grad_wrt) if t.is_floating_point() else t
            h = None
            if hn_name:
                h, _ = R.hn_from_torch_file(self.path(hn_name + ".pt"), dt)
            trace = {}
            out = fn(dt, t_in, trace, h)
            if dt == F64:
                gout = f32(np.random.default_rng(seed + 1).standard_normal(out.shape))
            wrt = [t_in[k] for k in grad_wrt]
            hp = h.parameters() if h is not None else OrderedDict()
            grads = torch.autograd.grad((out * torch.from_numpy(gout).to(dt)).sum(), wrt + list(hp.values()))
            r = OrderedDict(out=out.detach().numpy())
            r["grad_out"] = gout
            for k, g in zip(grad_wrt, grads):
                r["grad_" + k] = g.numpy()
            for k, g in zip(hp, grads[len(wrt):]):
                r["grad_hn." + k] = g.numpy()
            for k, v in trace.items():
                r["dbg." + k] = v.detach().numpy()
            res[dt] = r
        errs, zero = errors(res[F64], res[F32], skip=("grad_out",))
        tensors = OrderedDict(inputs)
        tensors.update(res[F64])
        meta = base_meta(seed, weights_prefix=prefix, note=note, f32_err=errs,
                         **({"hypernetwork": hn_name + ".pt"} if hn_name else {}))
        if zero:
            meta["vktrain.zero_in_exact_arithmetic"] = ",".join(zero)
        save(self.path(f"block_{name}.safetensors"), tensors, meta)
        report(errs, zero)

    @staticmethod
    def st_inputs():
        rng = np.random.default_rng(731)
        return OrderedDict(x=f32(rng.standard_normal((2, 64, 4, 6))),
                           context=f32(rng.standard_normal((2, 77, 128))))

    def st_hn_run(self, dt, hn):
        m = self.m64 if dt == F64 else self.m32
        x = {k: torch.from_numpy(v).to(dt) for k, v in self.st_inputs().items()}
        with torch.no_grad():
            R.SpatialTransformer(R.Weights(m.sd, R.UNET_PREFIX + "input_blocks.3.1."), 4)(x["x"], x["context"], hn)

    def blocks(self):
        M = {F64: self.m64, F32: self.m32}
        W = {dt: R.Weights(M[dt].sd) for dt in M}
        U, V, C = R.UNET_PREFIX, R.VAE_PREFIX, R.CLIP_PREFIX

        rng = np.random.default_rng(701)
        t = np.array([0, 1, 500, 999], dtype=np.int32)
        temb0 = R.timestep_embedding(torch.from_numpy(t), 32).numpy()

        def f_temb(dt, x, tr, h):
            w = W[dt].sub(U + "time_embed.")
            return R.linear(R.silu(R.linear(x["temb0"], w("0.weight"), w("0.bias"))), w("2.weight"), w("2.bias"))
        self.block("timestep_embedding", 701, U + "time_embed.", f_temb,
                   OrderedDict(t=t, temb0=f32(temb0)), ["temb0"],
                   "temb0 = [cos(t*freq_i), sin(t*freq_i)], freq_i = exp(-ln(10000) i/16), i < 16 (float64, "
                   "stored F32); out = time_embed.2(SiLU(time_embed.0(temb0)))")

        rng = np.random.default_rng(711)
        x_res = OrderedDict(x=f32(rng.standard_normal((2, 32, 6, 4))), emb=f32(rng.standard_normal((2, 128))))

        def f_res(pfx):
            def f(dt, x, tr, h):
                return R.ResBlock(W[dt].sub(pfx))(x["x"], x["emb"], tr)
            return f
        self.block("unet_resblock", 711, U + "input_blocks.3.0.", f_res(U + "input_blocks.3.0."), x_res,
                   ["x", "emb"], "UNet ResBlock 32->64 with 1x1 skip (GN eps 1e-5: 1 channel/group in, 2 out)")
        rng = np.random.default_rng(721)
        x_res2 = OrderedDict(x=f32(rng.standard_normal((2, 96, 4, 6))), emb=f32(rng.standard_normal((2, 128))))
        self.block("unet_resblock_out1", 721, U + "output_blocks.1.0.", f_res(U + "output_blocks.1.0."), x_res2,
                   ["x", "emb"], "UNet ResBlock 96->64 (3 channels/group in GN1)")

        x_st = self.st_inputs()

        def f_st(dt, x, tr, h):
            return R.SpatialTransformer(W[dt].sub(U + "input_blocks.3.1."), 4)(x["x"], x["context"], h, tr)
        self.block("unet_st", 731, U + "input_blocks.3.1.", f_st, x_st, ["x", "context"],
                   "SpatialTransformer C=64, 4 heads (head dim 16), context 128; GN eps 1e-6; tokens row-major over "
                   "H then W; dbg.* are [B, HW, C] token tensors except dbg.norm/proj_in ([B, C, H, W])")
        self.block("unet_st_hn", 731, U + "input_blocks.3.1.", f_st, x_st, ["x", "context"],
                   "as block_unet_st with hn_ln.pt active (size 64 on attn1's input, 128 on the context)",
                   hn_name="hn_ln")

        rng = np.random.default_rng(741)
        x_cl = OrderedDict(x=f32(rng.standard_normal((2, 77, 128)) * 0.5))

        def f_clip(dt, x, tr, h):
            return M[dt].clip.layer(0, x["x"], tr)
        self.block("clip_layer", 741, C + "encoder.layers.0.", f_clip, x_cl, ["x"],
                   "CLIP encoder layer 0: pre-LN causal MHA (4 heads) + quick_gelu MLP, LN eps 1e-5")

        rng = np.random.default_rng(751)
        x_vr = OrderedDict(x=f32(rng.standard_normal((2, 32, 12, 10))))

        def f_vres(dt, x, tr, h):
            return R.VAEResnetBlock(W[dt].sub(V + "encoder.down.1.block.0."))(x["x"], tr)
        self.block("vae_resnet", 751, V + "encoder.down.1.block.0.", f_vres, x_vr, ["x"],
                   "VAE ResnetBlock 32->64 with nin_shortcut, GN eps 1e-6, no time embedding")

        rng = np.random.default_rng(761)
        x_va = OrderedDict(x=f32(rng.standard_normal((2, 64, 6, 5))))

        def f_vattn(dt, x, tr, h):
            return R.VAEAttnBlock(W[dt].sub(V + "encoder.mid.attn_1."))(x["x"], tr)
        self.block("vae_attn", 761, V + "encoder.mid.attn_1.", f_vattn, x_va, ["x"],
                   "VAE mid attention, single head, scale C^-1/2, GN eps 1e-6")

        rng = np.random.default_rng(771)
        x_vd = OrderedDict(x=f32(rng.standard_normal((2, 32, 9, 8))))

        def f_vdown(dt, x, tr, h):
            w = W[dt].sub(V + "encoder.down.0.downsample.conv.")
            return R.conv(torch.nn.functional.pad(x["x"], (0, 1, 0, 1)), w("weight"), w("bias"), stride=2, padding=0)
        self.block("vae_downsample", 771, V + "encoder.down.0.downsample.conv.", f_vdown, x_vd, ["x"],
                   "VAE Downsample: pad right/bottom by 1, 3x3 conv stride 2 pad 0 (9x8 -> 4x4)")


def check_goldens(out):
    """Re-read every case through st_load, recompute, compare with the stored reference, and check
    the stored gradients against central finite differences of the float64 loss along random
    directions (d loss/d learned, context, one hypernetwork tensor)."""
    sd = R.make_model(R.TINY, MODEL_SEED)
    m = R.SDModel(sd, R.model_metadata(R.TINY, MODEL_SEED), F64)
    cs, _ = R.st_load(os.path.join(out, "tiny_model_checksums.safetensors"))
    for k, v in R.checksums(sd).items():
        assert tuple(cs[k]) == v, k
    rng = np.random.default_rng(9)
    for f in sorted(os.listdir(out)):
        if not f.endswith(".case.safetensors"):
            continue
        name = f[:-len(".case.safetensors")]
        case, meta = R.st_load(os.path.join(out, f))
        ref, rmeta = R.st_load(os.path.join(out, name + ".ref.safetensors"))
        args = meta["vktrain.eval_args"].split()
        hn_file = args[args.index("--hypernetwork") + 1] if "--hypernetwork" in args else None
        skip = int(args[args.index("--clip-skip") + 1]) if "--clip-skip" in args else 1

        def loss_of(perturb_key=None, direction=None, h=0.0):
            c = OrderedDict((k, v.copy()) for k, v in case.items())
            hn = R.hn_from_torch_file(os.path.join(out, hn_file), F64)[0] if hn_file else None
            if perturb_key and perturb_key.startswith("grad_hn."):
                p = hn.parameters()[perturb_key[len("grad_hn."):]]
                with torch.no_grad():
                    p += h * torch.from_numpy(direction)
                return R.run_case(m, c, hn, skip)
            if perturb_key:
                c[perturb_key] = c[perturb_key].astype(np.float64) + h * direction
            return R.run_case(m, c, hn, skip)
        got = loss_of()
        assert list(got) == list(ref), (name, list(got), list(ref))
        worst = max(R._maxrel(np.float32(got[k]), ref[k]) for k in ref)
        assert worst == 0.0, (name, worst)
        line = f"  {name}: recomputed == stored"
        if "loss" in ref:
            keys = [k for k in ("learned", "context") if k in case]
            if "input_ids" in case:
                keys = ["learned"]
            if hn_file:
                keys.append(next(k for k in ref if k.startswith("grad_hn.") and k.endswith("0.weight")))
            for k in keys:
                gk = k if k.startswith("grad_hn.") else "grad_" + k
                shape = ref[gk].shape
                d = rng.standard_normal(shape)
                # relu kinks: keep the step small enough that no unit changes side
                h = 1e-7 if hn_file == "hn_relu.pt" else 1e-4
                lp = loss_of(k, d, h)["loss"][0]
                lm = loss_of(k, d, -h)["loss"][0]
                fd = (lp - lm) / (2 * h)
                an = float(np.sum(ref[gk].astype(np.float64) * d))
                err = abs(fd - an) / max(abs(an), 1e-30)
                line += f"; {gk}: fd {fd:.6e} vs stored {an:.6e} (rel {err:.1e})"
                assert err < 1e-4, (name, gk, fd, an)
        print(line)
    print("check OK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
    ap.add_argument("--full-checksums", action="store_true",
                    help="also full_model_checksums.safetensors (generates every SD1.5-size tensor; minutes)")
    ap.add_argument("--check", action="store_true", help="only verify existing golden files")
    a = ap.parse_args()
    if a.check:
        check_goldens(os.path.abspath(a.out))
        return
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    g = Gen(os.path.abspath(a.out))
    print("keys and checksums")
    g.keys_and_checksums(a.full_checksums)
    print("hypernetworks")
    g.hypernetworks()
    print("eval cases")
    g.eval_cases()
    print("blocks")
    g.blocks()
    print("done")


if __name__ == "__main__":
    main()
