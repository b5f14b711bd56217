#!/usr/bin/python3
"""The textual-inversion training step of `vktrain bench step`, in PyTorch, for side-by-side runs.

One step: CLIP text encoder forward with the learned vectors substituted at their placements,
x_t = sqrt(abar_t)·x0 + sqrt(1-abar_t)·ε, UNet forward, ε-MSE loss (f32), backward to the vectors
(frozen weights, no weight gradients), AdamW (lr 5e-3, betas 0.9/0.999, eps 1e-8, no weight
decay). Inputs are drawn on the host every step (random prompt with the N vectors at a random
position, latent, noise, timestep) before the step's timing starts; the copies to the device,
the step, the optimizer and reading the loss back are timed, as in vktrain.

The model is the SD1 architecture of sd_ref.py (../shared/spec/sd1-architecture.md) built from
torch's own layers (Conv2d, Linear, GroupNorm, LayerNorm, scaled_dot_product_attention when
torch has it), every dim inferred from the checkpoint, head counts from the `vktrain.*_heads`
metadata. `--selfcheck` compares one step's loss and vector gradient with sd_ref.py (float64).

--hypernetwork FILE times the webui's hypernetwork training step instead (issue #9): the .pt is
loaded by the webui's rules (Hypernetwork.load / HypernetworkModule, as check_hn_load.py mirrors
them) into torch modules in train mode (multiplier 1, dropout active where the file has it), fp32
parameters. Each UNet CrossAttention, attn1 and attn2, passes the tensor that feeds to_k / to_v
through the (k, v) pair of the size equal to its last dim (sd1-architecture.md §6; no pair: left
alone; the query is never touched). The step: text encoder forward under no_grad every step (no
learned vectors; the webui caches this conditioning unless tags are shuffled or dropped, so the
phase `text_fwd` is an upper bound on what it pays), x_t, UNet forward, ε-MSE loss, backward to
the hypernetwork parameters only (frozen UNet), AdamW over every module of the file (lr 1e-5,
weight decay 0.01, betas 0.9/0.999, eps 1e-8; a size no attention uses gets no gradient and so
no optimizer state, as in the webui). JSON: the TI fields (`vectors` 0, `text_bwd` 0, as vktrain
writes them) plus `hypernetwork`, `hypernetwork_params`. `--selfcheck --hypernetwork FILE`
compares one float64 step (loss and every parameter gradient, dropout off) with sd_ref.py and,
with `--vktrain BIN`, with `BIN eval --hypernetwork` on the same case (float32 on its device).

Precision: fp16 = fp16 weights with torch.autocast(float16) (the webui's TI setup); fp32 = fp32
weights, no autocast. CPU runs use fp32 (no fp16 convolutions on CPU).
Modes: eager, compile (torch.compile of the text encoder and the UNet; torch 2.x), or both.

Output (--json): one document per mode in the shape of `vktrain bench step --json` (a JSON list
when several modes run). Fields vktrain has and torch does not (the planned memory, command
count) are null; memory.peak_bytes is torch.cuda.max_memory_allocated over the timed steps,
reserved_bytes max_memory_reserved. Phase times (eager only) come from CUDA events (CPU: host
clock) at the phase boundaries; the end of the UNet backward is a hook on d context.

    /usr/bin/python3 tests/reference/bench_torch.py --model sd15.safetensors --json
    /usr/bin/python3 tests/reference/bench_torch.py --model tiny.safetensors --size 64 --steps 2
    /usr/bin/python3 tests/reference/bench_torch.py --model sd15.safetensors --hypernetwork hn.pt --json

Needs torch and numpy only (no safetensors package).
"""
import argparse
import contextlib
import json
import math
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CLIP_PREFIX = "cond_stage_model.transformer.text_model."
UNET_PREFIX = "model.diffusion_model."
BOS, EOS, T_TOKENS = 49406, 49407, 77
PHASES = ["inputs", "text_fwd", "unet_fwd", "loss", "unet_bwd", "text_bwd", "optimizer"]
HN_PHASES = ["inputs", "text_fwd", "unet_fwd", "loss", "unet_bwd", "optimizer"]
_ST_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
              "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


# --------------------------------------------------------------------------------------------
# safetensors (memory-mapped; the file can be 2 GB)
# --------------------------------------------------------------------------------------------

def st_open(path, prefixes):
    """Tensors whose names start with one of prefixes, as numpy views of a memory map; metadata."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    mm = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, h in header.items():
        if not any(name.startswith(p) for p in prefixes):
            continue
        b, e = h["data_offsets"]
        dt = np.dtype(_ST_DTYPES[h["dtype"]]).newbyteorder("<")
        out[name] = mm[b:e].view(dt).reshape(h["shape"])
    return out, meta


def sub_state(sd, prefix):
    """CPU tensors in the file's dtype; load_state_dict converts them into the modules'."""
    return {k[len(prefix):]: torch.from_numpy(np.array(v)) for k, v in sd.items() if k.startswith(prefix)}


# --------------------------------------------------------------------------------------------
# Model (module names follow the checkpoint keys, so load_state_dict maps them)
# --------------------------------------------------------------------------------------------

HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


def attention(q, k, v, heads, causal=False, use_sdpa=True):
    """[B, T, C] with heads in the channel dim (head h = channels h*D..h*D+D-1), scale D^-1/2."""
    B, Tq, C = q.shape
    Tk, D = k.shape[1], C // heads
    q, k, v = (t.reshape(B, -1, heads, D).transpose(1, 2) for t in (q, k, v))
    if use_sdpa and HAS_SDPA:
        o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    else:
        s = torch.matmul(q, k.transpose(-1, -2)) * (D ** -0.5)
        if causal:
            s = s.masked_fill(torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
        o = torch.matmul(s.softmax(dim=-1), v)
    return o.transpose(1, 2).reshape(B, Tq, C)


class ClipLayer(nn.Module):
    def __init__(self, w, mlp, heads, use_sdpa):
        super().__init__()
        self.heads, self.use_sdpa = heads, use_sdpa
        self.layer_norm1, self.layer_norm2 = nn.LayerNorm(w), nn.LayerNorm(w)
        self.self_attn = nn.Module()
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            setattr(self.self_attn, n, nn.Linear(w, w))
        self.mlp = nn.Module()
        self.mlp.fc1, self.mlp.fc2 = nn.Linear(w, mlp), nn.Linear(mlp, w)

    def forward(self, x):
        a = self.self_attn
        h = self.layer_norm1(x)
        x = x + a.out_proj(attention(a.q_proj(h), a.k_proj(h), a.v_proj(h), self.heads, True, self.use_sdpa))
        h = self.mlp.fc1(self.layer_norm2(x))
        return x + self.mlp.fc2(h * torch.sigmoid(1.702 * h))  # quick_gelu


class ClipText(nn.Module):
    def __init__(self, sd, heads, use_sdpa):
        super().__init__()
        vocab, w = sd["embeddings.token_embedding.weight"].shape
        npos = sd["embeddings.position_embedding.weight"].shape[0]
        layers = 0
        while f"encoder.layers.{layers}.mlp.fc1.weight" in sd:
            layers += 1
        mlp = sd["encoder.layers.0.mlp.fc1.weight"].shape[0]
        self.width, self.layers = w, layers
        self.embeddings = nn.Module()
        self.embeddings.token_embedding = nn.Embedding(vocab, w)
        self.embeddings.position_embedding = nn.Embedding(npos, w)
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList(ClipLayer(w, mlp, heads or w // 64, use_sdpa) for _ in range(layers))
        self.final_layer_norm = nn.LayerNorm(w)

    def forward(self, ids, src, vectors, clip_skip=1):
        """ids, src: [B, 77]; src >= 0 puts vectors[src] at that position (the TI substitution);
        vectors None: the plain prompt (src unused)."""
        e = self.embeddings.token_embedding(ids)
        if vectors is None:
            x = e + self.embeddings.position_embedding.weight[: ids.shape[1]]
        else:
            vec = vectors.to(e.dtype)[src.clamp(min=0)]
            x = torch.where((src >= 0)[..., None], vec, e) + self.embeddings.position_embedding.weight[: ids.shape[1]]
        for l in range(self.layers + 1 - clip_skip):
            x = self.encoder.layers[l](x)
        return self.final_layer_norm(x)


def gn(c, eps):
    return nn.GroupNorm(32, c, eps=eps)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb, skip):
        super().__init__()
        self.in_layers = nn.Sequential(gn(cin, 1e-5), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(temb, cout))
        self.out_layers = nn.Sequential(gn(cout, 1e-5), nn.SiLU(), nn.Dropout(0.0), nn.Conv2d(cout, cout, 3, padding=1))
        self.skip_connection = nn.Conv2d(cin, cout, 1) if skip else nn.Identity()

    def forward(self, x, emb):
        h = self.in_layers(x) + self.emb_layers(emb)[:, :, None, None]
        return self.skip_connection(x) + self.out_layers(h)


class CrossAttention(nn.Module):
    def __init__(self, c, ctx, heads, use_sdpa):
        super().__init__()
        self.heads, self.use_sdpa = heads, use_sdpa
        self.to_q = nn.Linear(c, c, bias=False)
        self.to_k = nn.Linear(ctx, c, bias=False)
        self.to_v = nn.Linear(ctx, c, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(c, c), nn.Dropout(0.0)])
        self.hn = None  # a hypernetwork's (k, v) pair for this input width (attach_hypernetwork)

    def forward(self, x, context=None):
        c = x if context is None else context
        if self.hn is None:
            return self.to_out[0](attention(self.to_q(x), self.to_k(c), self.to_v(c), self.heads, False, self.use_sdpa))
        ck, cv = self.hn[0](c), self.hn[1](c)
        return self.to_out[0](attention(self.to_q(x), self.to_k(ck), self.to_v(cv), self.heads, False, self.use_sdpa))


class GEGLU(nn.Module):
    def __init__(self, c, inner):
        super().__init__()
        self.proj = nn.Linear(c, inner * 2)

    def forward(self, x):
        v, g = self.proj(x).chunk(2, dim=-1)  # value first, gate second
        return v * F.gelu(g)


class TransformerBlock(nn.Module):
    def __init__(self, c, ctx, heads, inner, use_sdpa):
        super().__init__()
        self.attn1 = CrossAttention(c, c, heads, use_sdpa)
        self.attn2 = CrossAttention(c, ctx, heads, use_sdpa)
        self.ff = nn.Module()
        self.ff.net = nn.ModuleList([GEGLU(c, inner), nn.Dropout(0.0), nn.Linear(inner, c)])
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(c), nn.LayerNorm(c), nn.LayerNorm(c)

    def forward(self, h, context):
        h = self.attn1(self.norm1(h)) + h
        h = self.attn2(self.norm2(h), context) + h
        n = self.ff.net
        return n[2](n[0](self.norm3(h))) + h


class SpatialTransformer(nn.Module):
    def __init__(self, c, ctx, heads, depth, inner, use_sdpa):
        super().__init__()
        self.norm = gn(c, 1e-6)
        self.proj_in = nn.Conv2d(c, c, 1)
        self.transformer_blocks = nn.ModuleList(TransformerBlock(c, ctx, heads, inner, use_sdpa) for _ in range(depth))
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x, context):
        B, C, H, W = x.shape
        h = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(B, H * W, C)
        for blk in self.transformer_blocks:
            h = blk(h, context)
        return self.proj_out(h.reshape(B, H, W, C).permute(0, 3, 1, 2)) + x


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.op = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Seq(nn.ModuleList):
    """TimestepEmbedSequential: ResBlocks get the time embedding, transformers the context."""

    def forward(self, h, emb, context):
        for m in self:
            if isinstance(m, ResBlock):
                h = m(h, emb)
            elif isinstance(m, SpatialTransformer):
                h = m(h, context)
            else:
                h = m(h)
        return h


class UNet(nn.Module):
    """LDM openaimodel.UNetModel (SD1); the structure is read from the state dict's keys."""

    def __init__(self, sd, heads, use_sdpa):
        super().__init__()
        mc, cin = sd["input_blocks.0.0.weight"].shape[:2]
        temb = sd["time_embed.0.weight"].shape[0]
        ctx = next(v.shape[1] for k, v in sd.items() if k.endswith("attn2.to_k.weight"))
        self.mc = mc
        self.ctx = ctx

        def st(p, c):
            depth = 0
            while f"{p}transformer_blocks.{depth}.norm1.weight" in sd:
                depth += 1
            inner = sd[f"{p}transformer_blocks.0.ff.net.2.weight"].shape[1]
            return SpatialTransformer(c, ctx, heads, depth, inner, use_sdpa)

        def res(p):
            return ResBlock(sd[p + "in_layers.0.weight"].shape[0], sd[p + "in_layers.2.weight"].shape[0], temb,
                            p + "skip_connection.weight" in sd)

        self.time_embed = nn.Sequential(nn.Linear(mc, temb), nn.SiLU(), nn.Linear(temb, temb))
        blocks = [Seq([nn.Conv2d(cin, mc, 3, padding=1)])]
        i = 1
        while f"input_blocks.{i}.0.op.weight" in sd or f"input_blocks.{i}.0.in_layers.0.weight" in sd:
            p = f"input_blocks.{i}."
            if p + "0.op.weight" in sd:
                blocks.append(Seq([Downsample(sd[p + "0.op.weight"].shape[0])]))
            else:
                r = res(p + "0.")
                mods = [r]
                if p + "1.proj_in.weight" in sd:
                    mods.append(st(p + "1.", sd[p + "1.proj_in.weight"].shape[0]))
                blocks.append(Seq(mods))
            i += 1
        self.input_blocks = nn.ModuleList(blocks)
        c_mid = sd["middle_block.0.in_layers.0.weight"].shape[0]
        self.middle_block = Seq([res("middle_block.0."), st("middle_block.1.", c_mid), res("middle_block.2.")])
        outs = []
        o = 0
        while f"output_blocks.{o}.0.in_layers.0.weight" in sd:
            p = f"output_blocks.{o}."
            mods = [res(p + "0.")]
            for s in (1, 2):
                if f"{p}{s}.proj_in.weight" in sd:
                    mods.append(st(f"{p}{s}.", sd[f"{p}{s}.proj_in.weight"].shape[0]))
                elif f"{p}{s}.conv.weight" in sd:
                    mods.append(Upsample(sd[f"{p}{s}.conv.weight"].shape[0]))
            outs.append(Seq(mods))
            o += 1
        self.output_blocks = nn.ModuleList(outs)
        cout = sd["out.0.weight"].shape[0]
        self.out = nn.Sequential(gn(cout, 1e-5), nn.SiLU(), nn.Conv2d(cout, sd["out.2.weight"].shape[0], 3, padding=1))
        self.n_levels = 1 + sum(1 for b in blocks if isinstance(b[0], Downsample))

    def forward(self, x, t, context):
        half = self.mc // 2
        wdt = self.time_embed[0].weight.dtype
        fdt = torch.float64 if wdt == torch.float64 else torch.float32
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=x.device, dtype=fdt) / half)
        args = t.to(fdt)[:, None] * freqs[None]
        t0 = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # cos first
        emb = self.time_embed(t0.to(wdt))
        hs = []
        h = x
        for b in self.input_blocks:
            h = b(h, emb, context)
            hs.append(h)
        h = self.middle_block(h, emb, context)
        for b in self.output_blocks:
            h = b(torch.cat([h, hs.pop()], dim=1), emb, context)  # current first, skip second
        return self.out(h)


# --------------------------------------------------------------------------------------------
# Hypernetworks (the webui's modules/hypernetworks/hypernetwork.py; ../shared/spec/training.md §9)
# --------------------------------------------------------------------------------------------

def _hn_activations():
    acts = {"linear": nn.Identity, "relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "elu": nn.ELU,
            "swish": nn.Hardswish, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
    for n, c in vars(torch.nn.modules.activation).items():
        if isinstance(c, type) and c.__module__ == "torch.nn.modules.activation":
            acts.setdefault(n.lower(), c)
    return acts


class HypernetworkModule(nn.Module):
    """The webui's HypernetworkModule: x + MLP(x)·multiplier, the multiplier ignored (1) in train
    mode; Linear [+ activation] [+ LayerNorm] [+ Dropout] per layer-structure step."""

    def __init__(self, dim, state_dict, layer_structure, activation_func, add_layer_norm, activate_output,
                 dropout_structure):
        super().__init__()
        self.multiplier = 1.0
        acts = _hn_activations()
        if not layer_structure or layer_structure[0] != 1 or layer_structure[-1] != 1:
            raise ValueError(f"layer structure {layer_structure} must start and end with 1")
        mods = []
        for i in range(len(layer_structure) - 1):
            mods.append(nn.Linear(int(dim * layer_structure[i]), int(dim * layer_structure[i + 1])))
            if activation_func == "linear" or activation_func is None or \
                    (i >= len(layer_structure) - 2 and not activate_output):
                pass
            elif activation_func in acts:
                mods.append(acts[activation_func]())
            else:
                raise ValueError(f"unsupported hypernetwork activation {activation_func}")
            if add_layer_norm:
                mods.append(nn.LayerNorm(int(dim * layer_structure[i + 1])))
            if dropout_structure is not None and dropout_structure[i + 1] > 0:
                mods.append(nn.Dropout(p=dropout_structure[i + 1]))
        self.linear = nn.Sequential(*mods)
        old = {"linear1.bias": "linear.0.bias", "linear1.weight": "linear.0.weight",  # fix_old_state_dict
               "linear2.bias": "linear.1.bias", "linear2.weight": "linear.1.weight"}
        sd = {old.get(k, k): v for k, v in state_dict.items()}
        self.linear.load_state_dict({k[len("linear."):]: v for k, v in sd.items()}, strict=True)

    def forward(self, x):
        return x + self.linear(x) * (self.multiplier if not self.training else 1)


def load_hypernetwork(path, device, dtype=torch.float32):
    """Hypernetwork.load: {size: ModuleList([k, v])} in file order, in train mode, parameters
    requiring grad; and a one-line description."""
    # a file you made (vktrain hypernetwork create); the webui also unpickles it fully, after its
    # allowlist check. Not weights_only: torch 1.13's restricted unpickler lacks BINFLOAT
    try:
        sd = torch.load(path, map_location="cpu", weights_only=False)
    except TypeError:  # torch < 1.13
        sd = torch.load(path, map_location="cpu")
    ls = sd.get("layer_structure", [1, 2, 1])
    act = sd.get("activation_func", None)
    ln = sd.get("is_layer_norm", False)
    ds = sd.get("dropout_structure", None)
    use_dropout = True if ds is not None and any(ds) else sd.get("use_dropout", False)
    ao = sd.get("activate_output", True)
    if ds is None:  # parse_dropout_structure
        ds = [0] * len(ls) if not use_dropout else \
            [0] + [0.3] * (len(ls) - 3) + [0.3 if sd.get("last_layer_dropout", False) else 0] + [0]
    layers = {}
    for size, pair in sd.items():
        if type(size) == int:
            layers[size] = nn.ModuleList(HypernetworkModule(size, pair[j], ls, act, ln, ao, ds) for j in range(2))
    if not layers:
        raise SystemExit(f"bench_torch: {path}: no hypernetwork modules (int size keys)")
    for m in layers.values():
        m.to(device=device, dtype=dtype)
        m.requires_grad_(True)
        m.train()
    about = f"sizes {list(layers)}, layer structure {ls}, activation {act}, layer norm {ln}, dropout {ds}"
    return layers, about


def attach_hypernetwork(unet, layers):
    """Sets each CrossAttention's (k, v) pair by the last dim of its k/v input (to_k's in_features:
    the context width for attn2, the block width for attn1); layers None detaches. Returns the
    sizes used."""
    used = set()
    for m in unet.modules():
        if isinstance(m, CrossAttention):
            pair = layers.get(m.to_k.in_features) if layers else None
            m.hn = pair
            if pair is not None:
                used.add(m.to_k.in_features)
    return sorted(used)


def schedule_sqrt_abar():
    betas = np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=np.float64) ** 2
    abar = np.cumprod(1.0 - betas)
    return np.sqrt(abar), np.sqrt(1.0 - abar)


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------

class Inputs:
    """Host draws of one step (numpy, seeded per step like vktrain's)."""

    def __init__(self, seed, k, B, N, h, w, sa, sb):
        r = np.random.default_rng([seed, k])
        L = min(int(r.integers(3, 21)), T_TOKENS - 2 - N)
        self.ids = np.full((B, T_TOKENS), EOS, dtype=np.int64)
        self.src = np.full((B, T_TOKENS), -1, dtype=np.int64)
        self.ids[:, 0] = BOS
        self.ids[:, 1:1 + L + N] = r.integers(0, 49400, size=(B, L + N))
        t = r.integers(0, 1000, size=B)
        for b in range(B):
            at = 1 + int(r.integers(0, L + 1))
            self.src[b, at:at + N] = np.arange(N)
        self.t = t
        self.a = sa[t].astype(np.float32)
        self.b = sb[t].astype(np.float32)
        self.latent = r.standard_normal((B, 4, h, w), dtype=np.float32)
        self.noise = r.standard_normal((B, 4, h, w), dtype=np.float32)


class Timer:
    """Phase marks: CUDA events on the GPU, the host clock on the CPU."""

    def __init__(self, cuda, phases=PHASES):
        self.cuda = cuda
        self.marks = {}
        self.order = phases

    def mark(self, name):
        if self.cuda:
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            self.marks[name] = e
        else:
            self.marks[name] = time.perf_counter()

    def phases(self):
        order = ["start"] + self.order
        out = {}
        for a, b in zip(order, order[1:]):
            if self.cuda:
                out[b] = self.marks[a].elapsed_time(self.marks[b])
            else:
                out[b] = (self.marks[b] - self.marks[a]) * 1e3
        return out


class TiTrainee:
    """What the textual-inversion step trains: N learned vectors, substituted into the prompt,
    through a differentiated text encoder; AdamW lr 5e-3, no weight decay."""
    phases = PHASES

    def __init__(self, args, model, device, log):
        self.vectors = args.vectors
        gen = np.random.default_rng([args.seed, 0xBEC])
        self.learned = torch.tensor(gen.standard_normal((self.vectors, model["clip"].width)) * 0.015,
                                    dtype=torch.float32, device=device, requires_grad=True)
        self.opt = torch.optim.AdamW([self.learned], lr=5e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    def encode(self, clip_f, ids, src, clip_skip):
        return clip_f(ids, src, self.learned, clip_skip)

    def after_steps(self, log):
        pass

    def finish(self):
        """Returns the JSON fields of this step beyond the common ones."""
        return {}


class HnTrainee:
    """What the hypernetwork step trains: the file's modules on every attention's k/v input (see
    the module docstring; loaded afresh per mode), the text encoder under no_grad (a prompt
    without learned vectors, no text backward); AdamW lr 1e-5, weight decay 0.01."""
    phases = HN_PHASES

    def __init__(self, args, model, device, log):
        self.vectors = 0
        self.file = args.hypernetwork
        self.unet = model["unet"]
        torch.manual_seed(args.seed)  # the dropout masks, where the file has dropout
        self.layers, about = load_hypernetwork(self.file, device)
        used = attach_hypernetwork(self.unet, self.layers)
        params = [p for pair in self.layers.values() for p in pair.parameters()]  # Hypernetwork.weights(): k then v
        self.n_params = sum(p.numel() for p in params)
        log(f"hypernetwork {self.file}: {about}, {self.n_params} parameters; sizes used by the UNet {used}")
        self.opt = torch.optim.AdamW(params, lr=1e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

    def encode(self, clip_f, ids, src, clip_skip):
        with torch.no_grad():
            return clip_f(ids, None, None, clip_skip)

    def after_steps(self, log):
        """Logs the gradients of the last timed step, per size: the sizes no attention uses have none."""
        grads = []
        for size, pair in self.layers.items():
            g = [p.grad for p in pair.parameters()]
            grads.append(f"{size}: " + ("none" if all(x is None for x in g) else
                                        f"max|g| {max(float(x.abs().max()) for x in g if x is not None):.3e}"))
        log("hypernetwork gradients (last step): " + ", ".join(grads))

    def finish(self):
        """Detaches the modules from the UNet (so that `weights_bytes` is the model's only) and
        returns the JSON fields of this step beyond the common ones."""
        attach_hypernetwork(self.unet, None)
        return {"hypernetwork": self.file, "hypernetwork_params": self.n_params}


def run_mode(args, mode, model, device, dtype, log):
    """Times one mode of the step: the textual-inversion step, or with --hypernetwork the
    hypernetwork step; they differ only in what they train (the trainee)."""
    clip, unet = model["clip"], model["unet"]
    cuda = device.type == "cuda"
    B = args.batch
    h, w = args.height // 8, args.width // 8
    sa, sb = schedule_sqrt_abar()
    job = (HnTrainee if args.hypernetwork else TiTrainee)(args, model, device, log)
    N = job.vectors
    autocast = dtype == torch.float16
    clip_f, unet_f = clip, unet
    if mode == "compile":
        clip_f, unet_f = torch.compile(clip), torch.compile(unet)
    ms, losses, phase_runs = [], [], []

    def step(inp, timer):
        if timer:
            timer.mark("start")
        ids = torch.from_numpy(inp.ids).to(device, non_blocking=True)
        src = torch.from_numpy(inp.src).to(device, non_blocking=True) if N else None
        x0 = torch.from_numpy(inp.latent).to(device, non_blocking=True)
        eps = torch.from_numpy(inp.noise).to(device, non_blocking=True)
        t = torch.from_numpy(inp.t).to(device, non_blocking=True)
        ca = torch.from_numpy(inp.a).to(device, non_blocking=True)[:, None, None, None]
        cb = torch.from_numpy(inp.b).to(device, non_blocking=True)[:, None, None, None]
        if timer:
            timer.mark("inputs")
        with torch.autocast(device.type, dtype=torch.float16) if autocast else contextlib.nullcontext():
            context = job.encode(clip_f, ids, src, args.clip_skip)
            text_bwd = context.requires_grad  # whether the backward goes on through the text encoder
            if timer:
                timer.mark("text_fwd")
                if text_bwd:  # d context ends the UNet backward
                    context.register_hook(lambda g: timer.mark("unet_bwd"))
            x_t = ca * x0 + cb * eps
            pred = unet_f(x_t.to(dtype), t, context)
            if timer:
                timer.mark("unet_fwd")
        loss = F.mse_loss(pred.float(), eps.float())
        if timer:
            timer.mark("loss")
        job.opt.zero_grad(set_to_none=True)
        loss.backward()
        if timer:
            timer.mark("text_bwd" if text_bwd else "unet_bwd")
        job.opt.step()
        if timer:
            timer.mark("optimizer")
        return loss.item()  # the host reads the loss every step, as vktrain does

    total = args.warmup + args.steps
    for k in range(total):
        if k == args.warmup and cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        inp = Inputs(args.seed, k, B, N, h, w, sa, sb)  # drawn outside the timing, like vktrain's
        t0 = time.perf_counter()
        loss = step(inp, None)
        t1 = time.perf_counter()
        if k == 0 or k == total - 1:
            losses.append(loss)
        if k >= args.warmup:
            ms.append((t1 - t0) * 1e3)
        if t1 - t0 > 2.0:
            log(f"{mode} step {k}: {(t1 - t0) * 1e3:.1f} ms, loss {loss:.6g}")
    peak = torch.cuda.max_memory_allocated() if cuda else None
    reserved = torch.cuda.max_memory_reserved() if cuda else None
    job.after_steps(log)
    phases = None
    if mode == "eager" and args.profile_steps > 0:
        for p in range(args.profile_steps):
            timer = Timer(cuda, job.phases)
            step(Inputs(args.seed, total + p, B, N, h, w, sa, sb), timer)
            if cuda:
                torch.cuda.synchronize()
            phase_runs.append(timer.phases())
        # phases the step lacks (text_bwd without a text backward) are 0, as vktrain writes them
        phases = {k: statistics.median(r[k] for r in phase_runs) if k in job.phases else 0.0 for k in PHASES}
    extras = job.finish()
    weights = sum(p.numel() * p.element_size() for m in (clip, unet) for p in m.parameters())
    if cuda:
        dev_name = torch.cuda.get_device_name(device)
        driver = f"torch {torch.__version__}, CUDA {torch.version.cuda}"
    else:
        dev_name = "cpu"
        driver = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    return {
        "bench": "step",
        "impl": f"torch-{mode}",
        "device": dev_name,
        "driver": driver,
        "model": args.model,
        "precision": "fp16" if dtype == torch.float16 else "fp32",
        "batch": B, "width": args.width, "height": args.height, "vectors": N,
        "steps": args.steps, "warmup": args.warmup, "plan_only": False,
        "ms_per_step": {"median": statistics.median(ms), "min": min(ms), "max": max(ms),
                        "mean": statistics.fmean(ms) if hasattr(statistics, "fmean") else sum(ms) / len(ms)},
        "gpu_ms_per_step": sum(phases.values()) if phases else None,
        "phases_ms": phases,
        "memory": {"peak_bytes": peak, "reserved_bytes": reserved, "weights_bytes": weights,
                   "plan_activation_bytes": None, "plan_naive_bytes": None, "other_bytes": None,
                   "planned_total_bytes": None},
        "loss": {"first": losses[0], "last": losses[-1]},
        "model_dims": {"unet_channels": unet.mc, "unet_levels": unet.n_levels, "context_dim": unet.ctx,
                       "clip_width": clip.width, "clip_layers": clip.layers},
        "commands": None,
        "sdpa": HAS_SDPA and not args.no_sdpa,
        **extras,
    }


def load_model(path, device, dtype, use_sdpa):
    sd, meta = st_open(path, (CLIP_PREFIX, UNET_PREFIX))
    csd = sub_state(sd, CLIP_PREFIX)
    csd.pop("embeddings.position_ids", None)
    usd = sub_state(sd, UNET_PREFIX)
    clip_heads = int(meta["vktrain.clip_heads"]) if "vktrain.clip_heads" in meta else 0
    unet_heads = int(meta["vktrain.unet_heads"]) if "vktrain.unet_heads" in meta else 8
    clip = ClipText(csd, clip_heads, use_sdpa)
    unet = UNet(usd, unet_heads, use_sdpa)
    for m, s, what in ((clip, csd, "text encoder"), (unet, usd, "UNet")):
        missing, unexpected = m.load_state_dict(s, strict=False)
        if missing or unexpected:
            raise SystemExit(f"bench_torch: {path}: {what}: missing {missing[:5]}, unexpected {unexpected[:5]}")
        m.to(device=device, dtype=dtype)
        m.requires_grad_(False)
        m.eval()
    return {"clip": clip, "unet": unet, "meta": meta}


def selfcheck_loss(unet, inp, ctx):
    """The float64 ε-MSE loss of one selfcheck step from its host draws and the context."""
    x0, eps = torch.from_numpy(inp.latent).double(), torch.from_numpy(inp.noise).double()
    t = torch.from_numpy(inp.t)
    # the float32 tables, as vktrain and sd_ref.add_noise use them
    x_t = (torch.from_numpy(inp.a).double()[:, None, None, None] * x0 +
           torch.from_numpy(inp.b).double()[:, None, None, None] * eps)
    return F.mse_loss(unet(x_t, t, ctx), eps)


def selfcheck(args):
    """One fixed step in float64 against sd_ref.py: loss and d loss / d vectors."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import sd_ref
    device = torch.device("cpu")
    model = load_model(args.model, device, torch.float64, True)
    sd_np, meta = sd_ref.st_load(args.model)
    ref = sd_ref.SDModel(sd_np, meta, torch.float64)
    sa, sb = schedule_sqrt_abar()
    h, w = args.height // 8, args.width // 8
    inp = Inputs(args.seed, 0, args.batch, args.vectors, h, w, sa, sb)
    vec = torch.tensor(np.random.default_rng(1).standard_normal((args.vectors, model["clip"].width)) * 0.1,
                       dtype=torch.float64, requires_grad=True)
    ids, src = torch.from_numpy(inp.ids), torch.from_numpy(inp.src)
    ctx = model["clip"](ids, src, vec, args.clip_skip)
    loss = selfcheck_loss(model["unet"], inp, ctx)
    (g,) = torch.autograd.grad(loss, [vec])
    # sd_ref: learned_at is the first position of the vectors per sample
    at = np.array([[int(np.flatnonzero(inp.src[b] == 0)[0])] for b in range(args.batch)])
    case = {"input_ids": inp.ids.astype(np.int32), "learned": vec.detach().numpy(), "learned_at": at.astype(np.int32),
            "latent": inp.latent.astype(np.float64), "noise": inp.noise.astype(np.float64),
            "timestep": inp.t.astype(np.int32)}
    out = sd_ref.run_case(ref, case, clip_skip=args.clip_skip)
    dl = abs(float(loss) - float(out["loss"][0])) / abs(float(out["loss"][0]))
    dg = float(np.abs(g.numpy() - out["grad_learned"]).max() / np.abs(out["grad_learned"]).max())
    print(f"selfcheck vs sd_ref.py (float64, {args.width}x{args.height}, batch {args.batch}): "
          f"loss {float(loss):.10g} vs {float(out['loss'][0]):.10g} (rel {dl:.2e}), "
          f"d vectors max rel {dg:.2e}")
    return 0 if dl < 1e-9 and dg < 1e-7 else 1


def selfcheck_hn(args):
    """One fixed hypernetwork step in float64 (train mode, dropout off, as `vktrain eval` runs it):
    the loss and every parameter's gradient against sd_ref.py, and with --vktrain against
    `vktrain eval --hypernetwork` on the same case; sizes no attention uses must get no gradient."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import sd_ref
    device = torch.device("cpu")
    model = load_model(args.model, device, torch.float64, True)
    layers, about = load_hypernetwork(args.hypernetwork, device, torch.float64)
    for pair in layers.values():
        for m in pair.modules():
            if isinstance(m, nn.Dropout):
                m.eval()
    used = attach_hypernetwork(model["unet"], layers)
    sa, sb = schedule_sqrt_abar()
    h, w = args.height // 8, args.width // 8
    inp = Inputs(args.seed, 0, args.batch, 0, h, w, sa, sb)
    ids = torch.from_numpy(inp.ids)
    with torch.no_grad():
        ctx = model["clip"](ids, None, None, args.clip_skip)
    loss = selfcheck_loss(model["unet"], inp, ctx)
    names, params, shift_only = [], [], set()
    for size, pair in layers.items():
        for j, m in enumerate(pair):
            for n, p in m.linear.named_parameters():
                names.append(f"{size}.{j}.linear.{n}")
                params.append(p)
                i = int(n.split(".")[0])
                # a k-module bias followed by affine layers only moves every key by one vector, which
                # the softmax ignores: zero gradient in exact arithmetic (eval-case.md names the last
                # bias; with the default linear activation every k bias is one)
                if j == 0 and n.endswith("bias") and \
                        all(isinstance(x, (nn.Linear, nn.Dropout, nn.Identity)) for x in list(m.linear)[i + 1:]):
                    shift_only.add(f"{size}.{j}.linear.{n}")
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    mine = {n: (g if g is not None else torch.zeros_like(p)).numpy() for n, p, g in zip(names, params, grads)}
    ok = True
    print(f"selfcheck --hypernetwork {args.hypernetwork} ({about}; float64, {args.width}x{args.height}, "
          f"batch {args.batch}): loss {float(loss):.10g}")
    for size, pair in layers.items():  # gradient presence per size
        g = [grads[i] for i, n in enumerate(names) if n.startswith(f"{size}.")]
        n_none = sum(x is None for x in g)
        n_zero = sum(x is not None and not bool(x.abs().max() > 0) for x in g)
        gmax = max((float(x.abs().max()) for x in g if x is not None), default=0.0)
        want_used = size in used
        good = (n_none == 0 and n_zero == 0 and gmax > 0) if want_used else n_none == len(g)
        ok &= good
        print(f"  size {size}: {'used' if want_used else 'unused'} by the UNet, {len(g)} tensors, "
              f"{n_none} without gradient, {n_zero} all-zero, max|g| {gmax:.3e}: {'ok' if good else 'FAIL'}")
    gall = max(float(np.abs(v).max()) for v in mine.values())

    def compare(what, ref_loss, ref_grads, tol_loss, tol_grad):
        dl = abs(float(loss) - ref_loss) / abs(ref_loss)
        worst, worst_name = 0.0, None
        for n in names:
            a, b = mine[n], np.asarray(ref_grads["grad_hn." + n], np.float64)
            if n in shift_only:
                den = gall  # zero in exact arithmetic: against the largest gradient
            else:
                den = float(np.abs(b).max())
            if den == 0.0:
                e = 0.0 if not np.abs(a).max() > 0 else math.inf
            else:
                e = float(np.abs(a - b).max()) / den
            if e >= worst:
                worst, worst_name = e, n
        good = dl < tol_loss and worst < tol_grad
        print(f"  vs {what}: loss {ref_loss:.10g} (rel {dl:.2e}, tol {tol_loss:g}), {len(names)} gradients "
              f"max rel {worst:.2e} ({worst_name}, tol {tol_grad:g}): {'ok' if good else 'FAIL'}")
        return good

    sd_np, meta = sd_ref.st_load(args.model)
    ref = sd_ref.SDModel(sd_np, meta, torch.float64)
    hn_ref, _ = sd_ref.hn_from_torch_file(args.hypernetwork, torch.float64)
    case = {"input_ids": inp.ids.astype(np.int32), "latent": inp.latent, "noise": inp.noise,
            "timestep": inp.t.astype(np.int32)}
    out = sd_ref.run_case(ref, case, hn=hn_ref, clip_skip=args.clip_skip)
    ok &= compare("sd_ref.py (float64)", float(out["loss"][0]), out, 1e-9, 1e-7)
    if args.vktrain:
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            cpath, opath = os.path.join(d, "case.safetensors"), os.path.join(d, "out.safetensors")
            sd_ref.st_save(cpath, case)
            cmd = [args.vktrain, "eval", "--model", args.model, "--case", cpath, "--out", opath,
                   "--hypernetwork", args.hypernetwork, "--clip-skip", str(args.clip_skip)]
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
            if r.returncode != 0:
                print(f"  {' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}")
                return 1
            vk, _ = sd_ref.st_load(opath)
        # eval-case.md's fp32 tolerances: vktrain computes in float32 on its device
        ok &= compare(f"{os.path.basename(args.vktrain)} eval (float32)", float(vk["loss"][0]), vk, 1e-4, 1e-3)
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--width", type=int)
    ap.add_argument("--height", type=int)
    ap.add_argument("--vectors", type=int, default=1)
    ap.add_argument("--precision", choices=["fp16", "fp32"], default="fp16")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--profile-steps", type=int, default=5)
    ap.add_argument("--clip-skip", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mode", choices=["eager", "compile", "both"], default=None,
                    help="default: both where torch.compile and CUDA exist, else eager")
    ap.add_argument("--device", default=None, help="cuda or cpu (default cuda when available)")
    ap.add_argument("--no-sdpa", action="store_true", help="plain softmax attention even on torch 2.x")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--selfcheck", action="store_true", help="compare one float64 step with sd_ref.py")
    ap.add_argument("--hypernetwork", metavar="FILE",
                    help="time the webui hypernetwork step with this .pt instead of textual inversion")
    ap.add_argument("--vktrain", metavar="BIN", help="--selfcheck --hypernetwork: also compare with BIN eval")
    args = ap.parse_args()
    args.width = args.width or args.size
    args.height = args.height or args.size
    if args.width % 8 or args.height % 8 or not 1 <= args.vectors <= 75 or args.steps < 1:
        ap.error("size must be a multiple of 8, vectors 1..75, steps >= 1")
    if args.selfcheck:
        return selfcheck_hn(args) if args.hypernetwork else selfcheck(args)

    def log(msg):
        print(f"bench_torch: {msg}", file=sys.stderr, flush=True)

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = torch.float16 if args.precision == "fp16" else torch.float32
    if device.type == "cpu" and dtype == torch.float16:
        log("fp16 convolutions do not run on the CPU: using fp32")
        dtype = torch.float32
    has_compile = hasattr(torch, "compile")
    modes = {"eager": ["eager"], "compile": ["compile"], "both": ["eager", "compile"]}[
        args.mode or ("both" if has_compile and device.type == "cuda" else "eager")]
    if "compile" in modes and not has_compile:
        log(f"torch {torch.__version__} has no torch.compile: eager only")
        modes = ["eager"]
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 mode: what PyTorch trainers enable
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    t0 = time.perf_counter()
    model = load_model(args.model, device, dtype, not args.no_sdpa)
    log(f"loaded {args.model} in {time.perf_counter() - t0:.1f} s on {device}")
    docs = []
    for mode in modes:
        docs.append(run_mode(args, mode, model, device, dtype, log))
    if args.json:
        print(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2))
    else:
        for d in docs:
            m = d["ms_per_step"]
            what = f"{d['vectors']} vector(s)" if not args.hypernetwork else \
                f"hypernetwork {d['hypernetwork']} ({d['hypernetwork_params']} parameters)"
            print(f"{d['impl']} on {d['device']} ({d['driver']}): {d['precision']}, batch {d['batch']}, "
                  f"{d['width']}x{d['height']}, {what}")
            print(f"  ms/step: median {m['median']:.2f} (min {m['min']:.2f}, mean {m['mean']:.2f}, "
                  f"max {m['max']:.2f}) over {d['steps']} steps after {d['warmup']} warm-up")
            mem = d["memory"]
            if mem["peak_bytes"] is not None:
                print(f"  memory: peak {mem['peak_bytes'] / 2**20:.1f} MiB allocated, "
                      f"{mem['reserved_bytes'] / 2**20:.1f} MiB reserved, weights {mem['weights_bytes'] / 2**20:.1f} MiB")
            print(f"  loss: first {d['loss']['first']:.6g}, last {d['loss']['last']:.6g}")
            if d["phases_ms"]:
                print("  ms/step by phase: " + "  ".join(f"{k} {v:.3f}" for k, v in d["phases_ms"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
