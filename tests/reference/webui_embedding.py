"""The webui's embedding file handling, re-implemented for tests from ../shared/spec/file-formats.md
sections 3.3, 4 and 5 (and the webui seeds in ../shared/seeds/000_*): the safe-unpickler check
(defined once in check_pt_load.py, re-exported here), create_embedding_from_data(), the checksum,
the PNG text chunk and the pixel-encoded blocks (modules/textual_inversion/image_embedding.py), and
a minimal safetensors reader/writer (the system python has no safetensors package). Imported by
make_embedding_fixtures.py, check_embedding_files.py and check_trained_embedding.py; needs torch,
numpy and Pillow.
"""
import base64
import json
import struct
import zlib

import numpy as np
import torch
from PIL import Image, ImageDraw

# ---- modules/safe.py (file-formats.md 3.3) ----------------------------------------------------
# Defined once, in check_pt_load.py (which needs only torch); re-exported here under the names this
# module has always had (webui_check, RestrictedUnpickler, NAMES_RE, DATA_PKL_RE).

from check_pt_load import DATA_PKL_RE, NAMES_RE, webui_check  # noqa: F401
from check_pt_load import WebuiRestrictedUnpickler as RestrictedUnpickler  # noqa: F401


# ---- textual_inversion.py ---------------------------------------------------------------------

class Embedding:
    def __init__(self, vec, name, step=None):
        self.vec, self.name, self.step = vec, name, step
        self.shape = self.vectors = None
        self.sd_checkpoint = self.sd_checkpoint_name = None

    def checksum(self):
        def const_hash(a):
            r = 0
            for v in a:
                r = (r * 281 ^ int(v) * 997) & 0xFFFFFFFF
            return r
        return f'{const_hash(self.vec.reshape(-1) * 100) & 0xffff:04x}'


def create_embedding_from_data(data, name, filename="unknown embedding file"):
    if 'string_to_param' in data:
        param_dict = data['string_to_param']
        param_dict = getattr(param_dict, '_parameters', param_dict)
        assert len(param_dict) == 1, 'embedding file has multiple terms in it'
        emb = next(iter(param_dict.items()))[1]
        vec = emb.detach().to(dtype=torch.float32)
        shape = vec.shape[-1]
        vectors = vec.shape[0]
    elif type(data) == dict and 'clip_g' in data and 'clip_l' in data:
        vec = {k: v.detach().to(dtype=torch.float32) for k, v in data.items()}
        shape = data['clip_g'].shape[-1] + data['clip_l'].shape[-1]
        vectors = data['clip_g'].shape[0]
    elif type(data) == dict and type(next(iter(data.values()))) == torch.Tensor:
        assert len(data.keys()) == 1, 'embedding file has multiple terms in it'
        emb = next(iter(data.values()))
        if len(emb.shape) == 1:
            emb = emb.unsqueeze(0)
        vec = emb.detach().to(dtype=torch.float32)
        shape = vec.shape[-1]
        vectors = vec.shape[0]
    else:
        raise Exception(f"Couldn't identify {filename} as neither textual inversion embedding nor diffuser concept.")
    e = Embedding(vec, name)
    e.step = data.get('step', None)
    e.sd_checkpoint = data.get('sd_checkpoint', None)
    e.sd_checkpoint_name = data.get('sd_checkpoint_name', None)
    e.vectors, e.shape = vectors, shape
    return e


# ---- image_embedding.py (file-formats.md 4.3, 4.4) -------------------------------------------

class EmbeddingEncoder(json.JSONEncoder):
    def default(self, obj):
        if isinstance(obj, torch.Tensor):
            return {'TORCHTENSOR': obj.cpu().detach().numpy().tolist()}
        return json.JSONEncoder.default(self, obj)


class EmbeddingDecoder(json.JSONDecoder):
    def __init__(self, *args, **kwargs):
        json.JSONDecoder.__init__(self, *args, object_hook=self.object_hook, **kwargs)

    def object_hook(self, d):
        if 'TORCHTENSOR' in d:
            return torch.from_numpy(np.array(d['TORCHTENSOR']))
        return d


def embedding_to_b64(data):
    return base64.b64encode(json.dumps(data, cls=EmbeddingEncoder).encode())


def embedding_from_b64(data):
    return json.loads(base64.b64decode(data), cls=EmbeddingDecoder)


def lcg(m=2**32, a=1664525, c=1013904223, seed=0):
    while True:
        seed = (a * seed + c) % m
        yield seed % 255


def xor_block(block):
    g = lcg()
    randblock = np.array([next(g) for _ in range(np.prod(block.shape))]).astype(np.uint8).reshape(block.shape)
    return np.bitwise_xor(block.astype(np.uint8), randblock & 0x0F)


def style_block(block, sequence):
    im = Image.new('RGB', (block.shape[1], block.shape[0]))
    draw = ImageDraw.Draw(im)
    i = 0
    for x in range(-6, im.size[0], 8):
        for yi, y in enumerate(range(-6, im.size[1], 8)):
            offset = 0
            if yi % 2 == 0:
                offset = 4
            shade = sequence[i % len(sequence)]
            i += 1
            draw.ellipse((x + offset, y, x + 6 + offset, y + 6), fill=(shade, shade, shade))
    fg = np.array(im).astype(np.uint8) & 0xF0
    return block ^ fg


def insert_image_data_embed(image, data):
    d = 3
    data_compressed = zlib.compress(json.dumps(data, cls=EmbeddingEncoder).encode(), level=9)
    data_np_ = np.frombuffer(data_compressed, np.uint8).copy()
    data_np_high = data_np_ >> 4
    data_np_low = data_np_ & 0x0F
    h = image.size[1]
    next_size = data_np_low.shape[0] + (h - (data_np_low.shape[0] % h))
    next_size = next_size + ((h * d) - (next_size % (h * d)))
    data_np_low = np.resize(data_np_low, next_size).reshape((h, -1, d))
    data_np_high = np.resize(data_np_high, next_size).reshape((h, -1, d))
    edge_style = list(data['string_to_param'].values())[0].cpu().detach().numpy().tolist()[0][:1024]
    edge_style = (np.abs(edge_style) / np.max(np.abs(edge_style)) * 255).astype(np.uint8)
    data_np_low = xor_block(style_block(data_np_low, sequence=edge_style))
    data_np_high = xor_block(style_block(data_np_high, sequence=edge_style[::-1]))
    im_low = Image.fromarray(data_np_low, mode='RGB')
    im_high = Image.fromarray(data_np_high, mode='RGB')
    background = Image.new('RGB', (image.size[0] + im_low.size[0] + im_high.size[0] + 2, image.size[1]), (0, 0, 0))
    background.paste(im_low, (0, 0))
    background.paste(image, (im_low.size[0] + 1, 0))
    background.paste(im_high, (im_low.size[0] + 1 + image.size[0] + 1, 0))
    return background


def crop_black(img, tol=0):
    mask = (img > tol).all(2)
    mask0, mask1 = mask.any(0), mask.any(1)
    col_start, col_end = mask0.argmax(), mask.shape[1] - mask0[::-1].argmax()
    row_start, row_end = mask1.argmax(), mask.shape[0] - mask1[::-1].argmax()
    return img[row_start:row_end, col_start:col_end]


def extract_image_data_embed(image):
    d = 3
    outarr = crop_black(np.array(image.convert('RGB').getdata()).reshape(image.size[1], image.size[0], d).astype(np.uint8)) & 0x0F
    black_cols = np.where(np.sum(outarr, axis=(0, 2)) == 0)
    if black_cols[0].shape[0] < 2:
        return None
    lower = xor_block(outarr[:, :black_cols[0].min(), :].astype(np.uint8))
    upper = xor_block(outarr[:, black_cols[0].max() + 1:, :].astype(np.uint8))
    data_block = ((upper << 4) | lower).flatten().tobytes()
    return json.loads(zlib.decompress(data_block), cls=EmbeddingDecoder)


def load_embedding_file(path, filename):
    """EmbeddingDatabase.load_from_file() minus registration: (data, name) or None."""
    import os
    name, ext = os.path.splitext(filename)
    ext = ext.upper()
    if ext in ['.PNG', '.WEBP', '.JXL', '.AVIF']:
        _, second_ext = os.path.splitext(name)
        if second_ext.upper() == '.PREVIEW':
            return None
        embed_image = Image.open(path)
        if hasattr(embed_image, 'text') and 'sd-ti-embedding' in embed_image.text:
            data = embedding_from_b64(embed_image.text['sd-ti-embedding'])
            name = data.get('name', name)
        else:
            data = extract_image_data_embed(embed_image)
            if not data:
                return None
            name = data.get('name', name)
    elif ext in ['.BIN', '.PT']:
        webui_check(path)
        data = torch.load(path, map_location="cpu")
    elif ext in ['.SAFETENSORS']:
        data = safetensors_load(path)
    else:
        return None
    return create_embedding_from_data(data, name, filename=filename)


# ---- safetensors by hand (file-formats.md 1) ---------------------------------------------------

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def safetensors_load(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        arr = np.frombuffer(data[b:e], dtype=_ST_DTYPES[v["dtype"]]).reshape(v["shape"])
        out[k] = torch.from_numpy(arr.copy())
    return out


def safetensors_save(tensors, path, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    inv = {np.dtype(v): k for k, v in _ST_DTYPES.items()}
    for k, t in tensors.items():
        a = t.detach().numpy()
        b = a.tobytes()
        header[k] = {"dtype": inv[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
