#!/usr/bin/python3
"""PyTorch reference implementation of Stable Diffusion 1.x for vktrain's golden tests.

Self-contained (torch 1.13 + numpy, no safetensors package). Everything is written from the
project's spec (../shared/spec/sd1-architecture.md, eval-case.md, training.md §9,
file-formats.md §6, tokenizer-and-prompts.md §7) and docs/tiny-model.md:

  * a pure-numpy safetensors reader/writer            st_load / st_save
  * model configs TINY and FULL (SD1.5) and their keys  TINY, FULL, key_list()
  * the deterministic random model of docs/tiny-model.md (bit-exact float32)  make_model()
  * the DDPM schedule buffers                          schedule_f64(), schedule_buffers()
  * CLIP text encoder, UNet, VAE, hypernetworks built from an original-layout state dict with
    dimensions inferred from the tensor shapes          ClipTextEncoder, UNet, VAE, Hypernetwork
  * the eval-case semantics (x_noisy, ε-MSE loss, gradients)   run_case()

Run only by hand with /usr/bin/python3; CI never runs torch. `python3 sd_ref.py --selftest`
runs the self-checks (key sets, generator, building blocks vs torch built-ins, FULL shape sanity).
"""
import json
import math
import os
import struct
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

SPEC_DIR = os.environ.get("VKT_SPEC_DIR", "/work/shared/spec")
SCALE_FACTOR = 0.18215

# --------------------------------------------------------------------------------------------
# safetensors (file-formats.md §1)
# --------------------------------------------------------------------------------------------

_ST_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_,
}
_NP_TO_ST = {np.dtype(v).newbyteorder("<"): k for k, v in _ST_DTYPES.items()}


def st_save(path: str, tensors: "Dict[str, np.ndarray]", metadata: Optional[Dict[str, str]] = None):
    """Write tensors (in the given order, contiguous) with a compact JSON header padded with
    spaces so that the data starts at a multiple of 8 bytes."""
    header = OrderedDict()
    if metadata:
        header["__metadata__"] = OrderedDict((str(k), str(v)) for k, v in metadata.items())
    blobs = []
    off = 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        dt = arr.dtype.newbyteorder("<")
        if dt not in _NP_TO_ST:
            raise ValueError(f"{name}: unsupported dtype {arr.dtype}")
        b = arr.astype(dt, copy=False).tobytes()
        header[name] = {"dtype": _NP_TO_ST[dt], "shape": list(arr.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - (8 + len(hj)) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def st_load(path: str) -> Tuple["OrderedDict[str, np.ndarray]", Dict[str, str]]:
    """Read a safetensors file; returns (ordered tensors, metadata). Makes the reader checks of
    file-formats.md §1 (sizes, tiling of the data buffer)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: shorter than 8 bytes")
    (n,) = struct.unpack("<Q", data[:8])
    if n > 100_000_000 or 8 + n > len(data):
        raise ValueError(f"{path}: bad header length {n}")
    header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    meta = dict(header.pop("__metadata__", {}) or {})
    buf = memoryview(data)[8 + n:]
    out = OrderedDict()
    spans = []
    for name, h in header.items():
        dt = np.dtype(_ST_DTYPES[h["dtype"]]).newbyteorder("<")
        b, e = h["data_offsets"]
        count = int(np.prod(h["shape"], dtype=np.int64)) if h["shape"] else 1
        if e - b != count * dt.itemsize or b > e:
            raise ValueError(f"{path}: tensor {name}: size mismatch")
        out[name] = np.frombuffer(buf[b:e], dtype=dt).reshape(h["shape"]).copy()
        spans.append((b, e))
    spans.sort()
    pos = 0
    for b, e in spans:
        if b != pos:
            raise ValueError(f"{path}: data buffer not tiled at {b}")
        pos = e
    if pos != len(buf):
        raise ValueError(f"{path}: {len(buf) - pos} trailing bytes")
    return out, meta


# --------------------------------------------------------------------------------------------
# Configs and key sets (sd1-architecture.md §1, §3.3, §4, §8; docs/tiny-model.md)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClipConfig:
    vocab: int = 49408
    width: int = 768
    layers: int = 12
    heads: int = 12
    mlp: int = 3072
    positions: int = 77


@dataclass(frozen=True)
class UNetConfig:
    model_channels: int = 320
    mult: Tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    attn_rates: Tuple[int, ...] = (1, 2, 4)
    heads: int = 8
    depth: int = 1
    context_dim: int = 768
    time_embed_dim: int = 1280
    in_channels: int = 4
    out_channels: int = 4


@dataclass(frozen=True)
class VAEConfig:
    ch: int = 128
    mult: Tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    z_channels: int = 4
    embed_dim: int = 4
    in_channels: int = 3
    out_channels: int = 3


@dataclass(frozen=True)
class SDConfig:
    name: str
    clip: ClipConfig
    unet: UNetConfig
    vae: VAEConfig


FULL = SDConfig("FULL", ClipConfig(), UNetConfig(), VAEConfig())
TINY = SDConfig(
    "TINY",
    ClipConfig(vocab=49408, width=128, layers=2, heads=4, mlp=512, positions=77),
    UNetConfig(model_channels=32, mult=(1, 2), num_res_blocks=1, attn_rates=(2,), heads=4,
               depth=1, context_dim=128, time_embed_dim=128, in_channels=4, out_channels=4),
    VAEConfig(ch=32, mult=(1, 2, 2, 2), num_res_blocks=1, z_channels=4, embed_dim=4),
)

CLIP_PREFIX = "cond_stage_model.transformer.text_model."
UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
SCHEDULE_KEYS = [
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
    "posterior_mean_coef1", "posterior_mean_coef2",
]
N_TIMESTEPS = 1000


def _wb(keys, name, wshape, bias=True):
    keys.append((name + ".weight", tuple(wshape)))
    if bias:
        keys.append((name + ".bias", (wshape[0],)))


def clip_keys(c: ClipConfig) -> List[Tuple[str, Tuple[int, ...]]]:
    """CLIP keys in checkpoint order, without `position_ids` (it sits after the VAE)."""
    p = CLIP_PREFIX
    W, M = c.width, c.mlp
    k = [(p + "embeddings.token_embedding.weight", (c.vocab, W)),
         (p + "embeddings.position_embedding.weight", (c.positions, W))]
    for l in range(c.layers):
        q = f"{p}encoder.layers.{l}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            _wb(k, q + "self_attn." + proj, (W, W))
        _wb(k, q + "layer_norm1", (W,))
        _wb(k, q + "mlp.fc1", (M, W))
        _wb(k, q + "mlp.fc2", (W, M))
        _wb(k, q + "layer_norm2", (W,))
    _wb(k, p + "final_layer_norm", (W,))
    return k


def _res_keys(k, p, cin, cout, temb):
    _wb(k, p + "in_layers.0", (cin,))
    _wb(k, p + "in_layers.2", (cout, cin, 3, 3))
    _wb(k, p + "emb_layers.1", (cout, temb))
    _wb(k, p + "out_layers.0", (cout,))
    _wb(k, p + "out_layers.3", (cout, cout, 3, 3))
    if cin != cout:
        _wb(k, p + "skip_connection", (cout, cin, 1, 1))


def _st_keys(k, p, c, ctx, depth):
    _wb(k, p + "norm", (c,))
    _wb(k, p + "proj_in", (c, c, 1, 1))
    for d in range(depth):
        q = f"{p}transformer_blocks.{d}."
        for a, cdim in (("attn1", c), ("attn2", None)):
            if a == "attn2":
                # LDM module order: attn1, ff, attn2, norm1..3
                _wb(k, q + "ff.net.0.proj", (8 * c, c))
                _wb(k, q + "ff.net.2", (c, 4 * c))
                cdim = ctx
            _wb(k, q + a + ".to_q", (c, c), bias=False)
            _wb(k, q + a + ".to_k", (c, cdim), bias=False)
            _wb(k, q + a + ".to_v", (c, cdim), bias=False)
            _wb(k, q + a + ".to_out.0", (c, c))
        for n in ("norm1", "norm2", "norm3"):
            _wb(k, q + n, (c,))
    _wb(k, p + "proj_out", (c, c, 1, 1))


def unet_keys(u: UNetConfig) -> List[Tuple[str, Tuple[int, ...]]]:
    """UNet keys in checkpoint order, following the generic rule of sd1-architecture.md §3.3."""
    p = UNET_PREFIX
    mc, te = u.model_channels, u.time_embed_dim
    k = []
    _wb(k, p + "time_embed.0", (te, mc))
    _wb(k, p + "time_embed.2", (te, te))
    _wb(k, p + "input_blocks.0.0", (mc, u.in_channels, 3, 3))
    chans = [mc]
    ch, rate, i = mc, 1, 1
    for lvl, m in enumerate(u.mult):
        for _ in range(u.num_res_blocks):
            _res_keys(k, f"{p}input_blocks.{i}.0.", ch, mc * m, te)
            ch = mc * m
            if rate in u.attn_rates:
                _st_keys(k, f"{p}input_blocks.{i}.1.", ch, u.context_dim, u.depth)
            chans.append(ch)
            i += 1
        if lvl != len(u.mult) - 1:
            _wb(k, f"{p}input_blocks.{i}.0.op", (ch, ch, 3, 3))
            chans.append(ch)
            rate *= 2
            i += 1
    _res_keys(k, p + "middle_block.0.", ch, ch, te)
    _st_keys(k, p + "middle_block.1.", ch, u.context_dim, u.depth)
    _res_keys(k, p + "middle_block.2.", ch, ch, te)
    o = 0
    for lvl in reversed(range(len(u.mult))):
        m = u.mult[lvl]
        for j in range(u.num_res_blocks + 1):
            skip = chans.pop()
            _res_keys(k, f"{p}output_blocks.{o}.0.", ch + skip, mc * m, te)
            ch = mc * m
            sub = 1
            if rate in u.attn_rates:
                _st_keys(k, f"{p}output_blocks.{o}.1.", ch, u.context_dim, u.depth)
                sub = 2
            if lvl and j == u.num_res_blocks:
                _wb(k, f"{p}output_blocks.{o}.{sub}.conv", (ch, ch, 3, 3))
                rate //= 2
            o += 1
    _wb(k, p + "out.0", (ch,))
    _wb(k, p + "out.2", (u.out_channels, ch, 3, 3))
    return k


def _vres_keys(k, p, cin, cout):
    _wb(k, p + "norm1", (cin,))
    _wb(k, p + "conv1", (cout, cin, 3, 3))
    _wb(k, p + "norm2", (cout,))
    _wb(k, p + "conv2", (cout, cout, 3, 3))
    if cin != cout:
        _wb(k, p + "nin_shortcut", (cout, cin, 1, 1))


def _vmid_keys(k, p, c):
    _vres_keys(k, p + "block_1.", c, c)
    _wb(k, p + "attn_1.norm", (c,))
    for n in ("q", "k", "v", "proj_out"):
        _wb(k, p + "attn_1." + n, (c, c, 1, 1))
    _vres_keys(k, p + "block_2.", c, c)


def vae_keys(v: VAEConfig) -> List[Tuple[str, Tuple[int, ...]]]:
    p = VAE_PREFIX
    k = []
    e = p + "encoder."
    _wb(k, e + "conv_in", (v.ch, v.in_channels, 3, 3))
    nl = len(v.mult)
    cin = v.ch
    for i, m in enumerate(v.mult):
        cout = v.ch * m
        for j in range(v.num_res_blocks):
            _vres_keys(k, f"{e}down.{i}.block.{j}.", cin, cout)
            cin = cout
        if i != nl - 1:
            _wb(k, f"{e}down.{i}.downsample.conv", (cin, cin, 3, 3))
    _vmid_keys(k, e + "mid.", cin)
    _wb(k, e + "norm_out", (cin,))
    _wb(k, e + "conv_out", (2 * v.z_channels, cin, 3, 3))
    d = p + "decoder."
    top = v.ch * v.mult[-1]
    _wb(k, d + "conv_in", (top, v.z_channels, 3, 3))
    _vmid_keys(k, d + "mid.", top)
    # channel plan walks levels top-down, keys are listed by level index ascending
    lvl_keys = {}
    cin = top
    for i in reversed(range(nl)):
        kk = []
        cout = v.ch * v.mult[i]
        for j in range(v.num_res_blocks + 1):
            _vres_keys(kk, f"{d}up.{i}.block.{j}.", cin, cout)
            cin = cout
        if i != 0:
            _wb(kk, f"{d}up.{i}.upsample.conv", (cin, cin, 3, 3))
        lvl_keys[i] = kk
    for i in range(nl):
        k += lvl_keys[i]
    _wb(k, d + "norm_out", (cin,))
    _wb(k, d + "conv_out", (v.out_channels, cin, 3, 3))
    _wb(k, p + "quant_conv", (2 * v.embed_dim, 2 * v.z_channels, 1, 1))
    _wb(k, p + "post_quant_conv", (v.z_channels, v.embed_dim, 1, 1))
    return k


def key_list(cfg: SDConfig) -> List[Tuple[str, Tuple[int, ...]]]:
    """All keys with shapes in the order of sd15-keys.tsv: CLIP, UNet, VAE, position_ids,
    schedule buffers."""
    k = clip_keys(cfg.clip) + unet_keys(cfg.unet) + vae_keys(cfg.vae)
    k.append((CLIP_PREFIX + "embeddings.position_ids", (1, cfg.clip.positions)))
    k += [(n, (N_TIMESTEPS,)) for n in SCHEDULE_KEYS]
    return k


def key_counts(keys) -> Tuple[int, int, int, int]:
    c = sum(1 for n, _ in keys if n.startswith("cond_stage_model."))
    u = sum(1 for n, _ in keys if n.startswith(UNET_PREFIX))
    v = sum(1 for n, _ in keys if n.startswith(VAE_PREFIX))
    return c, u, v, len(keys) - c - u - v


def read_sd15_tsv(path: Optional[str] = None) -> List[Tuple[str, Tuple[int, ...]]]:
    path = path or os.path.join(SPEC_DIR, "sd15-keys.tsv")
    out = []
    with open(path, encoding="utf-8") as f:
        for ln, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if ln == 0 and parts[0] == "key":
                continue
            out.append((parts[0], tuple(int(x) for x in parts[1].split(","))))
    return out


# --------------------------------------------------------------------------------------------
# Deterministic random model (docs/tiny-model.md) — bit-exact float32
# --------------------------------------------------------------------------------------------

_M64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def fnv1a64(s: str) -> int:
    h = 0xCBF29CE484222325
    for b in s.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & _M64
    return h


def splitmix64_stream(state: int, n: int) -> np.ndarray:
    """The first n outputs of splitmix64 started from `state` (uint64 array, wraparound math)."""
    s0 = np.uint64(state & _M64)
    out = np.empty(n, dtype=np.uint64)
    step = 1 << 22
    with np.errstate(over="ignore"):
        for a in range(0, n, step):
            b = min(n, a + step)
            z = s0 + np.arange(a + 1, b + 1, dtype=np.uint64) * _GOLDEN
            z = (z ^ (z >> np.uint64(30))) * _MIX1
            z = (z ^ (z >> np.uint64(27))) * _MIX2
            z ^= z >> np.uint64(31)
            out[a:b] = z
    return out


def uniform_f32(key: str, n: int, seed: int = 0) -> np.ndarray:
    """u = float32(z >> 40) * 2^-23 - 1, exactly, for the key's stream."""
    z = splitmix64_stream((seed & _M64) ^ fnv1a64(key), n)
    u = (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -23)
    return u - np.float32(1.0)


def schedule_f64(n: int = N_TIMESTEPS, linear_start: float = 0.00085, linear_end: float = 0.012):
    """DDPM 'linear' (scaled_linear) schedule in float64 (sd1-architecture.md §5, LDM
    register_schedule with v_posterior = 0)."""
    a, b = math.sqrt(linear_start), math.sqrt(linear_end)
    betas = np.array([(a + t * (b - a) / (n - 1)) ** 2 for t in range(n)], dtype=np.float64)
    alphas = 1.0 - betas
    ac = np.cumprod(alphas)
    acp = np.append(1.0, ac[:-1])
    pv = betas * (1.0 - acp) / (1.0 - ac)
    return OrderedDict([
        ("betas", betas),
        ("alphas_cumprod", ac),
        ("alphas_cumprod_prev", acp),
        ("sqrt_alphas_cumprod", np.sqrt(ac)),
        ("sqrt_one_minus_alphas_cumprod", np.sqrt(1.0 - ac)),
        ("log_one_minus_alphas_cumprod", np.log(1.0 - ac)),
        ("sqrt_recip_alphas_cumprod", np.sqrt(1.0 / ac)),
        ("sqrt_recipm1_alphas_cumprod", np.sqrt(1.0 / ac - 1.0)),
        ("posterior_variance", pv),
        ("posterior_log_variance_clipped", np.log(np.maximum(pv, 1e-20))),
        ("posterior_mean_coef1", betas * np.sqrt(acp) / (1.0 - ac)),
        ("posterior_mean_coef2", (1.0 - acp) * np.sqrt(alphas) / (1.0 - ac)),
    ])


def schedule_buffers() -> "OrderedDict[str, np.ndarray]":
    return OrderedDict((k, v.astype(np.float32)) for k, v in schedule_f64().items())


def gen_tensor(key: str, shape: Sequence[int], seed: int = 0, sched=None) -> np.ndarray:
    """One tensor of the deterministic random model (docs/tiny-model.md, 'Values')."""
    shape = tuple(shape)
    if key.endswith("position_ids"):
        return np.arange(shape[-1], dtype=np.int64).reshape(shape)
    if key in SCHEDULE_KEYS:
        sched = sched if sched is not None else schedule_buffers()
        return sched[key].copy()
    n = int(np.prod(shape))
    u = uniform_f32(key, n, seed).reshape(shape)
    if len(shape) >= 2:
        if "embedding" in key:
            return u * np.float32(0.05)
        fan_in = int(np.prod(shape[1:]))
        return u * np.float32(1.0 / math.sqrt(fan_in))
    if key.endswith(".weight"):
        return np.float32(1.0) + np.float32(0.1) * u
    if key.endswith(".bias"):
        return np.float32(0.1) * u
    raise ValueError(f"{key}: no generator rule")


def model_metadata(cfg: SDConfig, seed: int) -> Dict[str, str]:
    return {"vktrain.unet_heads": str(cfg.unet.heads), "vktrain.clip_heads": str(cfg.clip.heads),
            "vktrain.generator": f"vktrain-tiny-v1 seed={seed}"}


def make_model(cfg: SDConfig, seed: int = 0, keys=None) -> "OrderedDict[str, np.ndarray]":
    sched = schedule_buffers()
    return OrderedDict((k, gen_tensor(k, s, seed, sched)) for k, s in (keys or key_list(cfg)))


def checksums(sd) -> "OrderedDict[str, Tuple[float, float, float]]":
    """Per tensor: float64 sum (correctly rounded, math.fsum), first value, last value."""
    out = OrderedDict()
    for k, v in sd.items():
        flat = v.reshape(-1).astype(np.float64)
        out[k] = (math.fsum(flat.tolist()), float(flat[0]), float(flat[-1]))
    return out


# --------------------------------------------------------------------------------------------
# Building blocks (plain formulas; cross-checked against torch built-ins in selftest())
# --------------------------------------------------------------------------------------------

def group_norm(x, weight, bias, groups: int, eps: float):
    """GroupNorm over [B, C, ...]: per sample and group, biased variance."""
    B, C = x.shape[:2]
    xg = x.reshape(B, groups, -1)
    mean = xg.mean(dim=2, keepdim=True)
    var = ((xg - mean) ** 2).mean(dim=2, keepdim=True)
    y = ((xg - mean) / torch.sqrt(var + eps)).reshape(x.shape)
    shp = (1, C) + (1,) * (x.dim() - 2)
    return y * weight.reshape(shp) + bias.reshape(shp)


def layer_norm(x, weight, bias, eps: float = 1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def silu(x):
    return x * torch.sigmoid(x)


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def linear(x, w, b=None):
    y = torch.matmul(x, w.t())
    return y + b if b is not None else y


def attention(q, k, v, heads: int, causal: bool = False):
    """Multi-head scaled dot-product attention on [B, Tq, C] / [B, Tk, C]; logits scaled by
    head_dim^-1/2, softmax over keys (max-subtracted)."""
    B, Tq, C = q.shape
    Tk = k.shape[1]
    dh = C // heads
    qh = q.reshape(B, Tq, heads, dh).permute(0, 2, 1, 3)
    kh = k.reshape(B, Tk, heads, dh).permute(0, 2, 1, 3)
    vh = v.reshape(B, Tk, heads, dh).permute(0, 2, 1, 3)
    logits = torch.matmul(qh, kh.transpose(-1, -2)) * (dh ** -0.5)
    if causal:
        mask = torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).triu(1)
        logits = logits.masked_fill(mask, float("-inf"))
    logits = logits - logits.max(dim=-1, keepdim=True).values.detach()
    p = torch.exp(logits)
    p = p / p.sum(dim=-1, keepdim=True)
    o = torch.matmul(p, vh)
    return o.permute(0, 2, 1, 3).reshape(B, Tq, C)


def conv(x, w, b, stride=1, padding=None):
    if padding is None:
        padding = w.shape[-1] // 2
    return F.conv2d(x, w, b, stride=stride, padding=padding)


def upsample_nearest2(x):
    return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


class Weights:
    """A view of a state dict (key -> torch tensor) under a prefix."""

    def __init__(self, sd: Dict[str, torch.Tensor], prefix: str = ""):
        self.sd, self.prefix = sd, prefix

    def __call__(self, name: str) -> torch.Tensor:
        return self.sd[self.prefix + name]

    def has(self, name: str) -> bool:
        return (self.prefix + name) in self.sd

    def sub(self, name: str) -> "Weights":
        return Weights(self.sd, self.prefix + name)

    def count(self, name: str) -> int:
        """Number of consecutive indices N with keys starting `<prefix><name>.N.`."""
        n = 0
        while any(k.startswith(f"{self.prefix}{name}.{n}.") for k in self.sd):
            n += 1
        return n


def to_torch_sd(sd_np, dtype=torch.float64) -> Dict[str, torch.Tensor]:
    out = {}
    for k, v in sd_np.items():
        t = torch.from_numpy(np.ascontiguousarray(v))
        out[k] = t.to(dtype) if t.is_floating_point() else t
    return out


def _trace(trace, name, value):
    if trace is not None:
        trace[name] = value


# --------------------------------------------------------------------------------------------
# Hypernetworks (training.md §9, file-formats.md §6, sd1-architecture.md §6)
# --------------------------------------------------------------------------------------------

HN_ACTIVATIONS = {
    "linear": None, None: None,
    "relu": F.relu,
    "leakyrelu": lambda x: F.leaky_relu(x, 0.01),
    "elu": F.elu,
    "swish": F.hardswish,            # webui quirk: 'swish' is Hardswish
    "hardswish": F.hardswish,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "silu": silu,
    "gelu": gelu_erf,
    "mish": lambda x: x * torch.tanh(F.softplus(x)),
    "softplus": F.softplus,
    "celu": F.celu,
    "selu": F.selu,
    "relu6": F.relu6,
    "hardtanh": F.hardtanh,
    "hardsigmoid": F.hardsigmoid,
    "softsign": F.softsign,
    "tanhshrink": F.tanhshrink,
    "logsigmoid": F.logsigmoid,
    "hardshrink": F.hardshrink,
    "softshrink": F.softshrink,
}

# torch.nn class for each activation name (used only to write a webui-like .pt)
HN_ACT_CLASSES = {
    "relu": "ReLU", "leakyrelu": "LeakyReLU", "elu": "ELU", "swish": "Hardswish",
    "hardswish": "Hardswish", "tanh": "Tanh", "sigmoid": "Sigmoid", "silu": "SiLU", "gelu": "GELU",
    "mish": "Mish", "softplus": "Softplus", "celu": "CELU", "selu": "SELU", "relu6": "ReLU6",
    "hardtanh": "Hardtanh", "hardsigmoid": "Hardsigmoid", "softsign": "Softsign",
    "tanhshrink": "Tanhshrink", "logsigmoid": "LogSigmoid", "hardshrink": "Hardshrink",
    "softshrink": "Softshrink",
}


@dataclass
class HNOptions:
    layer_structure: Tuple[float, ...] = (1.0, 2.0, 1.0)
    activation: Optional[str] = None
    layer_norm: bool = False
    activate_output: bool = False
    dropout_structure: Optional[Tuple[float, ...]] = None


def hn_layout(d: int, o: HNOptions) -> List[Tuple[str, int, int]]:
    """The webui Sequential for a module of size d: list of (kind, in, out) with kind in
    linear / act / ln / dropout; the list position is the `linear.<idx>` index."""
    ls = list(o.layer_structure)
    if ls[0] != 1 or ls[-1] != 1:
        raise ValueError("layer structure must start and end with 1")
    ds = list(o.dropout_structure) if o.dropout_structure else [0.0] * len(ls)
    act = o.activation
    if act not in (None, "linear") and act not in HN_ACTIVATIONS:
        raise ValueError(f"hypernetwork activation {act!r} not supported")
    out = []
    for i in range(len(ls) - 1):
        a, b = int(d * ls[i]), int(d * ls[i + 1])
        out.append(("linear", a, b))
        if act not in (None, "linear") and (i < len(ls) - 2 or o.activate_output):
            out.append(("act", b, b))
        if o.layer_norm:
            out.append(("ln", b, b))
        if ds[i + 1] > 0:
            out.append(("dropout", b, b))
    return out


def hn_param_shapes(d: int, o: HNOptions) -> List[Tuple[str, Tuple[int, ...]]]:
    out = []
    for idx, (kind, a, b) in enumerate(hn_layout(d, o)):
        if kind == "linear":
            out += [(f"linear.{idx}.weight", (b, a)), (f"linear.{idx}.bias", (b,))]
        elif kind == "ln":
            out += [(f"linear.{idx}.weight", (b,)), (f"linear.{idx}.bias", (b,))]
    return out


class HNModule:
    """m(x) = x + MLP(x) * multiplier (training mode: multiplier 1, dropout off here)."""

    def __init__(self, d: int, params: Dict[str, torch.Tensor], o: HNOptions):
        self.d, self.p, self.o = d, params, o
        self.layout = hn_layout(d, o)
        want = dict(hn_param_shapes(d, o))
        if set(want) != set(params):
            raise ValueError(f"hypernetwork module {d}: keys {sorted(params)} != {sorted(want)}")
        for k, s in want.items():
            if tuple(params[k].shape) != s:
                raise ValueError(f"hypernetwork module {d}: {k} shape {tuple(params[k].shape)} != {s}")

    def __call__(self, x, multiplier: float = 1.0, preacts: Optional[list] = None):
        """preacts: if a list, every activation input is appended (to check kink margins)."""
        h = x
        for idx, (kind, a, b) in enumerate(self.layout):
            if kind == "linear":
                h = linear(h, self.p[f"linear.{idx}.weight"], self.p[f"linear.{idx}.bias"])
            elif kind == "act":
                if preacts is not None:
                    preacts.append(h.detach())
                h = HN_ACTIVATIONS[self.o.activation](h)
            elif kind == "ln":
                h = layer_norm(h, self.p[f"linear.{idx}.weight"], self.p[f"linear.{idx}.bias"], 1e-5)
            # dropout: off (eval-case.md: train mode with dropout off)
        return x + h * multiplier


class Hypernetwork:
    """size -> (module_k, module_v); applied to the k/v inputs of every UNet CrossAttention."""

    def __init__(self, modules: Dict[int, Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]],
                 o: HNOptions, multiplier: float = 1.0):
        self.o = o
        self.multiplier = multiplier
        self.modules = {int(d): (HNModule(int(d), pk, o), HNModule(int(d), pv, o))
                        for d, (pk, pv) in modules.items()}
        self.preacts = None          # set to [] to collect activation inputs

    def parameters(self) -> "OrderedDict[str, torch.Tensor]":
        """grad_hn names of eval-case.md: <size>.<0|1>.linear.<i>.<weight|bias>."""
        out = OrderedDict()
        for d, pair in self.modules.items():
            for j, m in enumerate(pair):
                for k, v in m.p.items():
                    out[f"{d}.{j}.{k}"] = v
        return out

    def apply(self, c):
        pair = self.modules.get(c.shape[-1])
        if pair is None:
            return c, c
        return (pair[0](c, self.multiplier, self.preacts), pair[1](c, self.multiplier, self.preacts))


def hn_from_torch_file(path: str, dtype=torch.float64, requires_grad=True) -> Tuple[Hypernetwork, dict]:
    """Load a webui hypernetwork .pt (file-formats.md §6) into a Hypernetwork."""
    raw = torch.load(path, map_location="cpu")
    ls = raw.get("layer_structure", [1, 2, 1])
    ds = raw.get("dropout_structure")
    use_dropout = True if ds is not None and any(ds) else raw.get("use_dropout", False)
    if ds is None:               # webui parse_dropout_structure (training.md §9.2)
        ds = [0] * len(ls) if not use_dropout else \
            [0] + [0.3] * (len(ls) - 3) + [0.3 if raw.get("last_layer_dropout", False) else 0] + [0]
    o = HNOptions(layer_structure=tuple(float(x) for x in ls),
                  activation=raw.get("activation_func"),
                  layer_norm=bool(raw.get("is_layer_norm", False)),
                  activate_output=bool(raw.get("activate_output", True)),
                  dropout_structure=tuple(float(x) for x in ds))
    mods = {}
    for k, v in raw.items():
        if isinstance(k, int) and not isinstance(k, bool):
            pair = []
            for sd in v:
                pd = {}
                for n, t in sd.items():
                    n = {"linear1.weight": "linear.0.weight", "linear1.bias": "linear.0.bias",
                         "linear2.weight": "linear.1.weight", "linear2.bias": "linear.1.bias"}.get(n, n)
                    pd[n] = t.detach().to(dtype).clone().requires_grad_(requires_grad)
                pair.append(pd)
            mods[k] = tuple(pair)
    return Hypernetwork(mods, o), raw


# --------------------------------------------------------------------------------------------
# CLIP text encoder (sd1-architecture.md §2, tokenizer-and-prompts.md §7)
# --------------------------------------------------------------------------------------------

class ClipTextEncoder:
    def __init__(self, sd: Dict[str, torch.Tensor], heads: Optional[int] = None,
                 prefix: str = CLIP_PREFIX):
        self.w = Weights(sd, prefix)
        self.tok = self.w("embeddings.token_embedding.weight")
        self.pos = self.w("embeddings.position_embedding.weight")
        self.vocab, self.width = self.tok.shape
        self.positions = self.pos.shape[0]
        self.layers = self.w.count("encoder.layers")
        self.mlp = self.w("encoder.layers.0.mlp.fc1.weight").shape[0]
        self.heads = heads if heads else self.width // 64

    def layer(self, l: int, x, trace=None):
        w = self.w.sub(f"encoder.layers.{l}.")
        h = layer_norm(x, w("layer_norm1.weight"), w("layer_norm1.bias"), 1e-5)
        _trace(trace, "ln1", h)
        q = linear(h, w("self_attn.q_proj.weight"), w("self_attn.q_proj.bias"))
        k = linear(h, w("self_attn.k_proj.weight"), w("self_attn.k_proj.bias"))
        v = linear(h, w("self_attn.v_proj.weight"), w("self_attn.v_proj.bias"))
        a = attention(q, k, v, self.heads, causal=True)
        _trace(trace, "attn", a)
        x = x + linear(a, w("self_attn.out_proj.weight"), w("self_attn.out_proj.bias"))
        _trace(trace, "attn_res", x)
        h = layer_norm(x, w("layer_norm2.weight"), w("layer_norm2.bias"), 1e-5)
        h = quick_gelu(linear(h, w("mlp.fc1.weight"), w("mlp.fc1.bias")))
        return x + linear(h, w("mlp.fc2.weight"), w("mlp.fc2.bias"))

    def embed(self, ids, learned=None, learned_at=None):
        """Token embeddings [B, T, W] with textual-inversion vectors substituted: vector i of
        `learned` goes to row position start+i for every start in learned_at[b] (-1 = unused),
        truncated at the end of the 77-token chunk (the webui truncates to the chunk)."""
        e = self.tok[ids.long()]
        if learned is not None and learned_at is not None:
            e = e.clone()
            N = learned.shape[0]
            L = self.positions
            for b in range(ids.shape[0]):
                for s in learned_at[b].tolist():
                    if s < 0:
                        continue
                    n = min(N, L - s % L)
                    e[b, s:s + n] = learned[:n].to(e.dtype)
        return e

    def encode_chunk(self, e, clip_skip: int = 1, trace=None):
        """e: token embeddings [B, 77, W] -> final-LN'd hidden state chosen by clip skip."""
        T = e.shape[1]
        x = e + self.pos[:T]
        hidden = [x]
        for l in range(self.layers):
            x = self.layer(l, x, trace=None)
            hidden.append(x)
        if not 1 <= clip_skip <= self.layers:
            raise ValueError(f"clip skip {clip_skip} outside 1..{self.layers}")
        return layer_norm(hidden[self.layers + 1 - clip_skip],
                          self.w("final_layer_norm.weight"), self.w("final_layer_norm.bias"), 1e-5)

    def __call__(self, ids, learned=None, learned_at=None, multipliers=None, clip_skip: int = 1):
        """ids [B, 77K] -> [B, 77K, W]: chunks encoded independently, emphasis applied per chunk
        (mean over all of the chunk's elements restored), concatenated along T."""
        B, T = ids.shape
        L = self.positions
        if T % L:
            raise ValueError(f"input_ids: T = {T} is not a multiple of {L}")
        e = self.embed(ids, learned, learned_at)
        outs = []
        for c in range(T // L):
            z = self.encode_chunk(e[:, c * L:(c + 1) * L], clip_skip)
            if multipliers is not None:
                m = multipliers[:, c * L:(c + 1) * L].to(z.dtype)
                mean0 = z.mean()
                z = z * m[:, :, None]
                z = z * (mean0 / z.mean())
            outs.append(z)
        return torch.cat(outs, dim=1)


# --------------------------------------------------------------------------------------------
# UNet (sd1-architecture.md §3)
# --------------------------------------------------------------------------------------------

def timestep_embedding(t, dim: int, max_period: float = 10000.0, dtype=torch.float64):
    """cos first, then sin; freq_i = exp(-ln(max_period) * i / half). t is taken as the exact
    integer (float32-exact for 0..999); computed in `dtype`."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=dtype) / half)
    args = t.to(dtype)[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class ResBlock:
    def __init__(self, w: Weights):
        self.w = w
        self.cin = w("in_layers.0.weight").shape[0]
        self.cout = w("in_layers.2.weight").shape[0]
        self.skip = w.has("skip_connection.weight")

    def __call__(self, x, emb, trace=None):
        w = self.w
        h = silu(group_norm(x, w("in_layers.0.weight"), w("in_layers.0.bias"), 32, 1e-5))
        h = conv(h, w("in_layers.2.weight"), w("in_layers.2.bias"))
        _trace(trace, "in_layers", h)
        e = linear(silu(emb), w("emb_layers.1.weight"), w("emb_layers.1.bias"))
        h = h + e[:, :, None, None]
        h = silu(group_norm(h, w("out_layers.0.weight"), w("out_layers.0.bias"), 32, 1e-5))
        h = conv(h, w("out_layers.3.weight"), w("out_layers.3.bias"))
        _trace(trace, "out_layers", h)
        s = conv(x, w("skip_connection.weight"), w("skip_connection.bias")) if self.skip else x
        return s + h


class CrossAttention:
    def __init__(self, w: Weights, heads: int):
        self.w, self.heads = w, heads

    def __call__(self, x, context=None, hn: Optional[Hypernetwork] = None, trace=None):
        w = self.w
        c = x if context is None else context
        ck, cv = hn.apply(c) if hn is not None else (c, c)
        q = linear(x, w("to_q.weight"))
        k = linear(ck, w("to_k.weight"))
        v = linear(cv, w("to_v.weight"))
        a = attention(q, k, v, self.heads)
        _trace(trace, "attn", a)
        return linear(a, w("to_out.0.weight"), w("to_out.0.bias"))


class BasicTransformerBlock:
    def __init__(self, w: Weights, heads: int):
        self.w = w
        self.attn1 = CrossAttention(w.sub("attn1."), heads)
        self.attn2 = CrossAttention(w.sub("attn2."), heads)

    def __call__(self, h, context, hn=None, trace=None):
        w = self.w
        t1 = {} if trace is not None else None
        t2 = {} if trace is not None else None
        h = self.attn1(layer_norm(h, w("norm1.weight"), w("norm1.bias")), None, hn, t1) + h
        _trace(trace, "attn1_res", h)
        h = self.attn2(layer_norm(h, w("norm2.weight"), w("norm2.bias")), context, hn, t2) + h
        _trace(trace, "attn2_res", h)
        p = linear(layer_norm(h, w("norm3.weight"), w("norm3.bias")),
                   w("ff.net.0.proj.weight"), w("ff.net.0.proj.bias"))
        inner = p.shape[-1] // 2
        g = p[..., :inner] * gelu_erf(p[..., inner:])    # value first, gate second
        _trace(trace, "geglu", g)
        h = linear(g, w("ff.net.2.weight"), w("ff.net.2.bias")) + h
        if trace is not None:
            trace.update({"attn1." + k: v for k, v in t1.items()})
            trace.update({"attn2." + k: v for k, v in t2.items()})
        return h


class SpatialTransformer:
    def __init__(self, w: Weights, heads: int):
        self.w = w
        self.c = w("norm.weight").shape[0]
        if w("proj_in.weight").dim() != 4:
            raise ValueError(f"{w.prefix}proj_in: linear proj_in (SD2 style) not supported here")
        self.blocks = [BasicTransformerBlock(w.sub(f"transformer_blocks.{d}."), heads)
                       for d in range(w.count("transformer_blocks"))]

    def __call__(self, x, context, hn=None, trace=None):
        w = self.w
        B, C, H, W_ = x.shape
        h = group_norm(x, w("norm.weight"), w("norm.bias"), 32, 1e-6)
        _trace(trace, "norm", h)
        h = conv(h, w("proj_in.weight"), w("proj_in.bias"))
        _trace(trace, "proj_in", h)
        h = h.permute(0, 2, 3, 1).reshape(B, H * W_, C)     # tokens row-major over H then W
        for d, blk in enumerate(self.blocks):
            bt = {} if trace is not None else None
            h = blk(h, context, hn, bt)
            _trace(trace, f"block{d}", h)
            if trace is not None:
                trace.update({f"block{d}.{k}": v for k, v in bt.items()})
        h = h.reshape(B, H, W_, C).permute(0, 3, 1, 2)
        h = conv(h, w("proj_out.weight"), w("proj_out.bias"))
        return h + x


class Downsample:
    def __init__(self, w: Weights):
        self.w = w

    def __call__(self, x):
        return conv(x, self.w("op.weight"), self.w("op.bias"), stride=2, padding=1)


class Upsample:
    def __init__(self, w: Weights):
        self.w = w

    def __call__(self, x):
        return conv(upsample_nearest2(x), self.w("conv.weight"), self.w("conv.bias"))


class UNet:
    """LDM openaimodel.UNetModel (SD1), structure inferred from the keys (§7)."""

    def __init__(self, sd: Dict[str, torch.Tensor], heads: int = 8, prefix: str = UNET_PREFIX):
        w = self.w = Weights(sd, prefix)
        self.heads = heads
        self.model_channels, self.in_channels = w("input_blocks.0.0.weight").shape[:2]
        self.out_channels = w("out.2.weight").shape[0]
        self.time_embed_dim = w("time_embed.0.weight").shape[0]
        self.input_blocks = []
        i = 1
        while w.has(f"input_blocks.{i}.0.op.weight") or w.has(f"input_blocks.{i}.0.in_layers.0.weight"):
            b = w.sub(f"input_blocks.{i}.")
            if b.has("0.op.weight"):
                self.input_blocks.append([("down", Downsample(b.sub("0.")))])
            else:
                mods = [("res", ResBlock(b.sub("0.")))]
                if b.has("1.proj_in.weight"):
                    mods.append(("st", SpatialTransformer(b.sub("1."), heads)))
                self.input_blocks.append(mods)
            i += 1
        self.middle = [("res", ResBlock(w.sub("middle_block.0."))),
                       ("st", SpatialTransformer(w.sub("middle_block.1."), heads)),
                       ("res", ResBlock(w.sub("middle_block.2.")))]
        self.output_blocks = []
        o = 0
        while w.has(f"output_blocks.{o}.0.in_layers.0.weight"):
            b = w.sub(f"output_blocks.{o}.")
            mods = [("res", ResBlock(b.sub("0.")))]
            for s in (1, 2):
                if b.has(f"{s}.proj_in.weight"):
                    mods.append(("st", SpatialTransformer(b.sub(f"{s}."), heads)))
                elif b.has(f"{s}.conv.weight"):
                    mods.append(("up", Upsample(b.sub(f"{s}."))))
            self.output_blocks.append(mods)
            o += 1
        self.context_dim = None
        for k in sd:
            if k.startswith(prefix) and k.endswith("attn2.to_k.weight"):
                self.context_dim = sd[k].shape[1]
                break

    def time_embed(self, t):
        w = self.w
        t0 = timestep_embedding(t, self.model_channels, dtype=w("time_embed.0.weight").dtype)
        return linear(silu(linear(t0, w("time_embed.0.weight"), w("time_embed.0.bias"))),
                      w("time_embed.2.weight"), w("time_embed.2.bias"))

    @staticmethod
    def _run(mods, h, emb, context, hn):
        for kind, m in mods:
            if kind == "res":
                h = m(h, emb)
            elif kind == "st":
                h = m(h, context, hn)
            else:
                h = m(h)
        return h

    def __call__(self, x, t, context, hn: Optional[Hypernetwork] = None):
        w = self.w
        emb = self.time_embed(t)
        h = conv(x, w("input_blocks.0.0.weight"), w("input_blocks.0.0.bias"))
        hs = [h]
        for mods in self.input_blocks:
            h = self._run(mods, h, emb, context, hn)
            hs.append(h)
        h = self._run(self.middle, h, emb, context, hn)
        for mods in self.output_blocks:
            s = hs.pop()
            if h.shape[-2:] != s.shape[-2:]:
                # webui patch for sizes not divisible by the total downsampling (§3.3)
                h = F.interpolate(h, size=s.shape[-2:], mode="nearest")
            h = torch.cat([h, s], dim=1)                  # current features first, skip second
            h = self._run(mods, h, emb, context, hn)
        h = silu(group_norm(h, w("out.0.weight"), w("out.0.bias"), 32, 1e-5))
        return conv(h, w("out.2.weight"), w("out.2.bias"))


# --------------------------------------------------------------------------------------------
# VAE (sd1-architecture.md §4)
# --------------------------------------------------------------------------------------------

class VAEResnetBlock:
    def __init__(self, w: Weights):
        self.w = w
        self.skip = w.has("nin_shortcut.weight")

    def __call__(self, x, trace=None):
        w = self.w
        h = silu(group_norm(x, w("norm1.weight"), w("norm1.bias"), 32, 1e-6))
        h = conv(h, w("conv1.weight"), w("conv1.bias"))
        _trace(trace, "conv1", h)
        h = silu(group_norm(h, w("norm2.weight"), w("norm2.bias"), 32, 1e-6))
        h = conv(h, w("conv2.weight"), w("conv2.bias"))
        s = conv(x, w("nin_shortcut.weight"), w("nin_shortcut.bias")) if self.skip else x
        return s + h


class VAEAttnBlock:
    def __init__(self, w: Weights):
        self.w = w

    def __call__(self, x, trace=None):
        w = self.w
        B, C, H, W_ = x.shape
        h = group_norm(x, w("norm.weight"), w("norm.bias"), 32, 1e-6)
        q = conv(h, w("q.weight"), w("q.bias")).reshape(B, C, H * W_).permute(0, 2, 1)
        k = conv(h, w("k.weight"), w("k.bias")).reshape(B, C, H * W_).permute(0, 2, 1)
        v = conv(h, w("v.weight"), w("v.bias")).reshape(B, C, H * W_).permute(0, 2, 1)
        a = attention(q, k, v, heads=1)                   # single head, scale C^-1/2
        _trace(trace, "attn", a)
        a = a.permute(0, 2, 1).reshape(B, C, H, W_)
        return x + conv(a, w("proj_out.weight"), w("proj_out.bias"))


class VAE:
    def __init__(self, sd: Dict[str, torch.Tensor], prefix: str = VAE_PREFIX):
        w = self.w = Weights(sd, prefix)
        self.ch = w("encoder.conv_in.weight").shape[0]
        self.levels = w.count("encoder.down")
        self.num_res_blocks = w.count("encoder.down.0.block")
        self.z_channels = w("decoder.conv_in.weight").shape[1]
        self.embed_dim = w("post_quant_conv.weight").shape[1]

    def _mid(self, w: Weights, h):
        h = VAEResnetBlock(w.sub("block_1."))(h)
        h = VAEAttnBlock(w.sub("attn_1."))(h)
        return VAEResnetBlock(w.sub("block_2."))(h)

    def encoder(self, x):
        w = self.w.sub("encoder.")
        h = conv(x, w("conv_in.weight"), w("conv_in.bias"))
        for i in range(self.levels):
            for j in range(w.count(f"down.{i}.block")):
                h = VAEResnetBlock(w.sub(f"down.{i}.block.{j}."))(h)
            if w.has(f"down.{i}.downsample.conv.weight"):
                h = F.pad(h, (0, 1, 0, 1))                # asymmetric: right and bottom
                h = conv(h, w(f"down.{i}.downsample.conv.weight"),
                         w(f"down.{i}.downsample.conv.bias"), stride=2, padding=0)
        h = self._mid(w.sub("mid."), h)
        h = silu(group_norm(h, w("norm_out.weight"), w("norm_out.bias"), 32, 1e-6))
        return conv(h, w("conv_out.weight"), w("conv_out.bias"))

    def decoder(self, z):
        w = self.w.sub("decoder.")
        h = conv(z, w("conv_in.weight"), w("conv_in.bias"))
        h = self._mid(w.sub("mid."), h)
        for i in reversed(range(w.count("up"))):
            for j in range(w.count(f"up.{i}.block")):
                h = VAEResnetBlock(w.sub(f"up.{i}.block.{j}."))(h)
            if w.has(f"up.{i}.upsample.conv.weight"):
                h = conv(upsample_nearest2(h), w(f"up.{i}.upsample.conv.weight"),
                         w(f"up.{i}.upsample.conv.bias"))
        h = silu(group_norm(h, w("norm_out.weight"), w("norm_out.bias"), 32, 1e-6))
        return conv(h, w("conv_out.weight"), w("conv_out.bias"))

    def encode(self, x):
        """image in [-1, 1] -> (mean, logvar clamped to [-30, 20]), unscaled."""
        m = conv(self.encoder(x), self.w("quant_conv.weight"), self.w("quant_conv.bias"))
        mean, logvar = torch.chunk(m, 2, dim=1)
        return mean, torch.clamp(logvar, -30.0, 20.0)

    @staticmethod
    def sample(mean, logvar, eps):
        """posterior sample mean + exp(logvar/2)·eps (multiply by SCALE_FACTOR for training)."""
        return mean + torch.exp(0.5 * logvar) * eps

    def decode(self, latent):
        """scaled latent -> image in model range (not clamped)."""
        z = latent / SCALE_FACTOR
        z = conv(z, self.w("post_quant_conv.weight"), self.w("post_quant_conv.bias"))
        return self.decoder(z)


# --------------------------------------------------------------------------------------------
# Schedule, noising, loss (§5) and the eval-case semantics (eval-case.md)
# --------------------------------------------------------------------------------------------

def add_noise(latent, noise, t, sched_f32=None):
    """x_t = sqrt(abar_t)·x0 + sqrt(1-abar_t)·ε with the float32 tables indexed by t."""
    s = sched_f32 if sched_f32 is not None else schedule_buffers()
    a = torch.from_numpy(s["sqrt_alphas_cumprod"]).to(latent.dtype)[t.long()]
    b = torch.from_numpy(s["sqrt_one_minus_alphas_cumprod"]).to(latent.dtype)[t.long()]
    return a[:, None, None, None] * latent + b[:, None, None, None] * noise


def eps_loss(pred, noise, weight=None):
    """mean over batch of per-sample mean over (c, h, w) of w·(ε − ε̂)²; weight [B, 1, h, w]."""
    d = (noise - pred) ** 2
    if weight is not None:
        d = d * weight
    return d.reshape(d.shape[0], -1).mean(dim=1).mean()


class SDModel:
    def __init__(self, sd_np, meta: Optional[Dict[str, str]] = None, dtype=torch.float64):
        meta = meta or {}
        self.dtype = dtype
        sd = self.sd = to_torch_sd(sd_np, dtype)
        clip_heads = int(meta["vktrain.clip_heads"]) if "vktrain.clip_heads" in meta else None
        unet_heads = int(meta["vktrain.unet_heads"]) if "vktrain.unet_heads" in meta else 8
        self.clip = ClipTextEncoder(sd, clip_heads)
        self.unet = UNet(sd, unet_heads)
        self.vae = VAE(sd)
        self.sched = schedule_buffers()


def run_case(model: SDModel, case: Dict[str, np.ndarray], hn: Optional[Hypernetwork] = None,
             clip_skip: int = 1) -> "OrderedDict[str, np.ndarray]":
    """The reference for `vktrain eval`: every output whose inputs are present (eval-case.md).
    Returns float64 numpy arrays (the caller stores them as F32)."""
    dt = model.dtype
    known = {"input_ids", "learned", "learned_at", "multipliers", "latent", "noise", "timestep",
             "loss_weight", "context", "image", "decode_latent"}
    unknown = set(case) - known
    if unknown:
        raise ValueError(f"unknown input tensors {sorted(unknown)}")

    def T(name):
        return torch.from_numpy(np.ascontiguousarray(case[name]))

    out = OrderedDict()
    have_text = "input_ids" in case
    have_unet = "latent" in case
    learned = None
    context = None
    if have_text:
        if "learned" in case:
            learned = T("learned").to(dt).requires_grad_(have_unet)
        la = T("learned_at") if "learned_at" in case else None
        mult = T("multipliers").to(dt) if "multipliers" in case else None
        context = model.clip(T("input_ids"), learned, la, mult, clip_skip)
        out["clip_out"] = context
    elif "context" in case:
        context = T("context").to(dt)
    if have_unet:
        if context is None:
            raise ValueError("unet group needs the text group or `context`")
        if not context.requires_grad:
            context.requires_grad_(True)
        else:
            context.retain_grad()
        latent, noise, t = T("latent").to(dt), T("noise").to(dt), T("timestep")
        x_noisy = add_noise(latent, noise, t, model.sched)
        pred = model.unet(x_noisy, t, context, hn)
        lw = T("loss_weight").to(dt) if "loss_weight" in case else None
        loss = eps_loss(pred, noise, lw)
        wrt = [context]
        if learned is not None:
            wrt.append(learned)
        hn_params = hn.parameters() if hn is not None else OrderedDict()
        wrt += list(hn_params.values())
        grads = torch.autograd.grad(loss, wrt, allow_unused=True)
        out["x_noisy"] = x_noisy
        out["unet_out"] = pred
        out["loss"] = loss.reshape(1)
        if learned is not None:
            out["grad_learned"] = grads[1]
        out["grad_context"] = grads[0]
        for (name, p), g in zip(hn_params.items(), grads[len(wrt) - len(hn_params):]):
            out["grad_hn." + name] = g if g is not None else torch.zeros_like(p)
    if "image" in case:
        mean, logvar = model.vae.encode(T("image").to(dt))
        out["vae_mean"], out["vae_logvar"] = mean, logvar
    if "decode_latent" in case:
        out["decoded"] = model.vae.decode(T("decode_latent").to(dt))
    return OrderedDict((k, v.detach().cpu().numpy()) for k, v in out.items())


# --------------------------------------------------------------------------------------------
# Self-checks
# --------------------------------------------------------------------------------------------

def _maxrel(a, b):
    """max |a - b| / max |b| (the error measure of eval-case.md)."""
    a = a.detach().cpu().numpy() if torch.is_tensor(a) else a
    b = b.detach().cpu().numpy() if torch.is_tensor(b) else b
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def selftest(full_forward: bool = True) -> List[str]:
    log = []
    rep = lambda s: (log.append(s), print(s, flush=True))
    torch.manual_seed(1234)

    # key sets
    fk = key_list(FULL)
    tsv = read_sd15_tsv()
    assert fk == tsv, "FULL key list differs from sd15-keys.tsv"
    assert key_counts(fk) == (197, 686, 248, 12), key_counts(fk)
    tk = key_list(TINY)
    assert key_counts(tk) == (37, 208, 180, 12), key_counts(tk)
    rep(f"keys: FULL == sd15-keys.tsv ({len(fk)} keys, order included); TINY counts {key_counts(tk)}")
    nparam = lambda keys, pre: sum(int(np.prod(s)) for k, s in keys if k.startswith(pre) and not k.endswith("position_ids"))
    pc = (nparam(fk, "cond_stage_model."), nparam(fk, UNET_PREFIX), nparam(fk, VAE_PREFIX))
    assert pc == (123060480, 859520964, 83653863), pc
    rep(f"FULL parameter counts CLIP/UNet/VAE = {pc} (spec §1)")

    # generator: fnv1a64 known answers, splitmix64 reference values, exactness
    assert fnv1a64("") == 0xCBF29CE484222325
    assert fnv1a64("a") == 0xAF63DC4C8601EC8C
    assert fnv1a64("foobar") == 0x85944171F73967E8
    z = splitmix64_stream(0, 3)
    # splitmix64 seeded with 0 (Vigna's reference): e220a8397b1dcdaf, 6e789e6aa1b965f4, 06c45d188009454f
    assert [int(v) for v in z] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F], [hex(int(v)) for v in z]

    def slow_value(key, shape, i, seed=0):
        st = (seed ^ fnv1a64(key)) & _M64
        for _ in range(i + 1):
            st = (st + 0x9E3779B97F4A7C15) & _M64
        zz = st
        zz = ((zz ^ (zz >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        zz = ((zz ^ (zz >> 27)) * 0x94D049BB133111EB) & _M64
        zz ^= zz >> 31
        u = np.float32(zz >> 40) * np.float32(2.0 ** -23) - np.float32(1.0)
        if len(shape) >= 2:
            s = np.float32(0.05) if "embedding" in key else np.float32(1.0 / math.sqrt(int(np.prod(shape[1:]))))
            return np.float32(u * s)
        if key.endswith(".weight"):
            return np.float32(np.float32(1.0) + np.float32(np.float32(0.1) * u))
        return np.float32(np.float32(0.1) * u)

    for key, shape in [(tk[0][0], tk[0][1]), (tk[5][0], tk[5][1]), (tk[300][0], tk[300][1]),
                       ("model.diffusion_model.out.0.weight", (32,))]:
        v = gen_tensor(key, shape)
        n = v.size
        for i in (0, 1, n // 2, n - 1):
            assert v.reshape(-1)[i] == slow_value(key, shape, i), (key, i)
    u = uniform_f32("x", 100000)
    assert u.dtype == np.float32 and u.min() >= -1 and u.max() < 1
    assert np.all((u.astype(np.float64) + 1) * 2 ** 23 == np.floor((u.astype(np.float64) + 1) * 2 ** 23))
    rep("generator: fnv1a64 / splitmix64 known answers, vectorised == scalar reference at sampled indices")

    # schedule check values (§5)
    s = schedule_f64()
    ac = s["alphas_cumprod"]
    assert abs(ac[0] - 0.99915) < 1e-12
    assert abs(math.sqrt(1 - ac[0]) - 0.0291547595) < 1e-10
    assert abs(ac[499] - 0.2776696505) < 1e-10 and abs(ac[500] - 0.2763326838) < 1e-10
    assert abs(ac[999] - 0.0046600985) < 1e-10 and abs(math.sqrt(ac[999]) - 0.0682649142) < 1e-10
    rep("schedule: check values of §5 match (abar_0, 499, 500, 999)")

    # timestep embedding check values (§3.1)
    half = 160
    fr = np.exp(-math.log(10000.0) * np.arange(half) / half)
    assert fr[0] == 1 and abs(fr[1] - 0.944060876) < 1e-9 and abs(fr[159] - 1.0592537e-4) < 1e-10
    te = timestep_embedding(torch.tensor([0, 7]), 320)
    assert torch.all(te[0, :160] == 1) and torch.all(te[0, 160:] == 0)
    assert abs(te[1, 1].item() - math.cos(7 * fr[1])) < 1e-15 and abs(te[1, 161].item() - math.sin(7 * fr[1])) < 1e-15
    rep("timestep embedding: freq check values, cos first then sin")

    # building blocks vs torch built-ins (float64)
    dt = torch.float64
    x = torch.randn(3, 64, 5, 7, dtype=dt)
    g, b = torch.randn(64, dtype=dt), torch.randn(64, dtype=dt)
    for eps in (1e-5, 1e-6):
        e1 = _maxrel(group_norm(x, g, b, 32, eps), F.group_norm(x, 32, g, b, eps))
        assert e1 < 1e-12, e1
    xl = torch.randn(2, 9, 48, dtype=dt)
    e2 = _maxrel(layer_norm(xl, g[:48], b[:48]), F.layer_norm(xl, (48,), g[:48], b[:48], 1e-5))
    assert e2 < 1e-12
    assert _maxrel(gelu_erf(xl), F.gelu(xl)) < 1e-14
    assert _maxrel(silu(xl), F.silu(xl)) < 1e-14
    assert _maxrel(upsample_nearest2(x), F.interpolate(x, scale_factor=2, mode="nearest")) == 0
    # attention vs a per-head manual softmax loop and vs nn.MultiheadAttention (causal)
    q, k, v = (torch.randn(2, 11, 48, dtype=dt) for _ in range(3))
    ref = torch.empty_like(q)
    for bb in range(2):
        for hh in range(4):
            sl = slice(hh * 12, hh * 12 + 12)
            lg = q[bb, :, sl] @ k[bb, :, sl].T / math.sqrt(12)
            lg = lg + torch.triu(torch.full((11, 11), float("-inf"), dtype=dt), 1)
            ref[bb, :, sl] = torch.softmax(lg, -1) @ v[bb, :, sl]
    assert _maxrel(attention(q, k, v, 4, causal=True), ref) < 1e-13
    mha = torch.nn.MultiheadAttention(48, 4, bias=False, batch_first=True).to(dt)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.eye(48, dtype=dt).repeat(3, 1))
        mha.out_proj.weight.copy_(torch.eye(48, dtype=dt))
    mask = torch.triu(torch.ones(11, 11, dtype=torch.bool), 1)
    with torch.no_grad():
        mo, _ = mha(q, q, q, attn_mask=mask, need_weights=False)
    assert _maxrel(attention(q, q, q, 4, causal=True), mo) < 1e-12
    # conv / downsample vs nn.Conv2d
    cw, cb = torch.randn(8, 64, 3, 3, dtype=dt), torch.randn(8, dtype=dt)
    cv = torch.nn.Conv2d(64, 8, 3, stride=2, padding=1).to(dt)
    with torch.no_grad():
        cv.weight.copy_(cw), cv.bias.copy_(cb)
    assert _maxrel(Downsample(Weights({"op.weight": cw, "op.bias": cb}))(x), cv(x)) < 1e-13
    # VAE asymmetric downsample: odd size n -> floor(n/2)
    vd = conv(F.pad(x, (0, 1, 0, 1)), cw, cb, stride=2, padding=0)
    assert vd.shape[-2:] == (2, 3)
    rep("blocks vs torch: GroupNorm, LayerNorm, GELU, SiLU, nearest upsample, attention (manual "
        "loop + nn.MultiheadAttention causal), strided conv — all < 1e-12 rel")

    # gradient sanity of the composite pieces (float64 gradcheck on tiny shapes)
    torch.manual_seed(5)
    sdr = {k: torch.randn(*sh, dtype=dt) * 0.3 for k, sh in [
        ("norm.weight", (32,)), ("norm.bias", (32,)), ("proj_in.weight", (32, 32, 1, 1)),
        ("proj_in.bias", (32,)), ("proj_out.weight", (32, 32, 1, 1)), ("proj_out.bias", (32,))]}
    kk = []
    _st_keys(kk, "", 32, 24, 1)
    for n, sh in kk:
        if n not in sdr:
            sdr[n] = torch.randn(*sh, dtype=dt) * (0.3 if len(sh) == 1 else 1 / math.sqrt(np.prod(sh[1:])))
    st = SpatialTransformer(Weights(sdr), heads=2)
    xs = torch.randn(1, 32, 2, 3, dtype=dt, requires_grad=True)
    cs = torch.randn(1, 5, 24, dtype=dt, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, c: st(a, c), (xs, cs))
    rep("gradcheck: SpatialTransformer (x, context) in float64")

    # FULL shape sanity with small random weights
    if full_forward:
        import time
        t0 = time.time()
        keys = key_list(FULL)
        sdf = {}
        for n, sh in keys:
            if n.endswith("position_ids"):
                sdf[n] = torch.arange(77).reshape(1, 77)
            elif n in SCHEDULE_KEYS:
                continue
            elif len(sh) >= 2:
                sdf[n] = (torch.rand(*sh) * 2 - 1) * (0.05 if "embedding" in n else 1 / math.sqrt(np.prod(sh[1:])))
            elif n.endswith(".weight"):
                sdf[n] = 1 + 0.1 * (torch.rand(*sh) * 2 - 1)
            else:
                sdf[n] = 0.1 * (torch.rand(*sh) * 2 - 1)
        with torch.no_grad():
            clip = ClipTextEncoder(sdf)
            assert (clip.width, clip.layers, clip.heads, clip.mlp) == (768, 12, 12, 3072)
            ids = torch.full((1, 77), 49407)
            ids[0, 0] = 49406
            co = clip(ids, clip_skip=2)
            assert co.shape == (1, 77, 768) and torch.isfinite(co).all()
            un = UNet(sdf, 8)
            assert (un.model_channels, un.time_embed_dim, un.context_dim) == (320, 1280, 768)
            assert len(un.input_blocks) == 11 and len(un.output_blocks) == 12
            uo = un(torch.randn(1, 4, 8, 8), torch.tensor([999]), co)
            assert uo.shape == (1, 4, 8, 8) and torch.isfinite(uo).all()
            vae = VAE(sdf)
            m, lv = vae.encode(torch.rand(1, 3, 64, 64) * 2 - 1)
            assert m.shape == (1, 4, 8, 8) and lv.shape == (1, 4, 8, 8)
            dec = vae.decode(m * SCALE_FACTOR)
            assert dec.shape == (1, 3, 64, 64) and torch.isfinite(dec).all()
        del sdf
        rep(f"FULL shapes: CLIP [1,77,768] (clip skip 2), UNet 8x8 latent -> [1,4,8,8], VAE 64px "
            f"-> [1,4,8,8] -> [1,3,64,64], finite ({time.time() - t0:.0f} s, float32)")
    return log


if __name__ == "__main__":
    if "--selftest" in sys.argv:
        selftest(full_forward="--no-full" not in sys.argv)
        print("selftest OK")
    else:
        print(__doc__)
