#!/usr/bin/python3
"""Writes tests/golden/sd15-diffusers-keys.tsv: every SD1.5 tensor under its diffusers folder
name (unet/, text_encoder/, vae/) with the diffusers shape, derived from sd15-keys.tsv with the
mapping tables of diffusers' scripts/convert_diffusers_to_original_stable_diffusion.py (applied
in the original -> diffusers direction; the VAE mid-block attention uses the current Linear names
to_q/to_k/to_v/to_out.0 and 2-D weights). vktrain must map these names back to exactly the
original key set (tests/unit/test_model_file.c). Stdlib only: run with any python3.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "golden", "sd15-keys.tsv")
OUT = os.path.join(HERE, "..", "golden", "sd15-diffusers-keys.tsv")

# ---- the script's tables: (stable-diffusion, HF Diffusers) ----
unet_conversion_map = [
    ("time_embed.0.weight", "time_embedding.linear_1.weight"),
    ("time_embed.0.bias", "time_embedding.linear_1.bias"),
    ("time_embed.2.weight", "time_embedding.linear_2.weight"),
    ("time_embed.2.bias", "time_embedding.linear_2.bias"),
    ("input_blocks.0.0.weight", "conv_in.weight"),
    ("input_blocks.0.0.bias", "conv_in.bias"),
    ("out.0.weight", "conv_norm_out.weight"),
    ("out.0.bias", "conv_norm_out.bias"),
    ("out.2.weight", "conv_out.weight"),
    ("out.2.bias", "conv_out.bias"),
]
unet_conversion_map_resnet = [
    ("in_layers.0", "norm1"),
    ("in_layers.2", "conv1"),
    ("out_layers.0", "norm2"),
    ("out_layers.3", "conv2"),
    ("emb_layers.1", "time_emb_proj"),
    ("skip_connection", "conv_shortcut"),
]
unet_conversion_map_layer = []
for i in range(4):
    for j in range(2):
        unet_conversion_map_layer.append((f"input_blocks.{3*i + j + 1}.0.", f"down_blocks.{i}.resnets.{j}."))
        if i < 3:
            unet_conversion_map_layer.append((f"input_blocks.{3*i + j + 1}.1.", f"down_blocks.{i}.attentions.{j}."))
    for j in range(3):
        unet_conversion_map_layer.append((f"output_blocks.{3*i + j}.0.", f"up_blocks.{i}.resnets.{j}."))
        if i > 0:
            unet_conversion_map_layer.append((f"output_blocks.{3*i + j}.1.", f"up_blocks.{i}.attentions.{j}."))
    if i < 3:
        unet_conversion_map_layer.append((f"input_blocks.{3*(i+1)}.0.op.", f"down_blocks.{i}.downsamplers.0.conv."))
        unet_conversion_map_layer.append((f"output_blocks.{3*i + 2}.{1 if i == 0 else 2}.", f"up_blocks.{i}.upsamplers.0."))
unet_conversion_map_layer.append(("middle_block.1.", "mid_block.attentions.0."))
for j in range(2):
    unet_conversion_map_layer.append((f"middle_block.{2*j}.", f"mid_block.resnets.{j}."))

vae_conversion_map = [
    ("nin_shortcut", "conv_shortcut"),
    ("norm_out", "conv_norm_out"),
    ("mid.attn_1.", "mid_block.attentions.0."),
]
for i in range(4):
    for j in range(2):
        vae_conversion_map.append((f"encoder.down.{i}.block.{j}.", f"encoder.down_blocks.{i}.resnets.{j}."))
    if i < 3:
        vae_conversion_map.append((f"down.{i}.downsample.", f"down_blocks.{i}.downsamplers.0."))
        vae_conversion_map.append((f"up.{3-i}.upsample.", f"up_blocks.{i}.upsamplers.0."))
    for j in range(3):
        vae_conversion_map.append((f"decoder.up.{3-i}.block.{j}.", f"decoder.up_blocks.{i}.resnets.{j}."))
for i in range(2):
    vae_conversion_map.append((f"mid.block_{i+1}.", f"mid_block.resnets.{i}."))
vae_conversion_map_attn = [  # current diffusers names
    ("norm.", "group_norm."),
    ("q.", "to_q."),
    ("k.", "to_k."),
    ("v.", "to_v."),
    ("proj_out.", "to_out.0."),
]


def unet_name(k):
    for sd, hf in unet_conversion_map:
        if k == sd:
            return hf
    for sd, hf in unet_conversion_map_layer:
        k = k.replace(sd, hf)
    if "resnets" in k:
        for sd, hf in unet_conversion_map_resnet:
            k = k.replace(sd, hf)
    return k


def vae_name(k, shape):
    for sd, hf in vae_conversion_map:
        k = k.replace(sd, hf)
    if "attentions" in k:
        head, tail = k.split("mid_block.attentions.0.")
        for sd, hf in vae_conversion_map_attn:
            if tail.startswith(sd):
                tail = hf + tail[len(sd):]
                if sd != "norm." and len(shape) == 4:
                    shape = shape[:2]  # 1x1 conv -> Linear
                break
        k = head + "mid_block.attentions.0." + tail
    return k, shape


def main():
    rows = []
    with open(SRC) as f:
        next(f)
        for line in f:
            key, shape, _ = line.rstrip("\n").split("\t")
            dims = shape.split(",")
            if key.startswith("model.diffusion_model."):
                rows.append(("unet", unet_name(key[len("model.diffusion_model."):]), dims))
            elif key.startswith("cond_stage_model.transformer."):
                rows.append(("text_encoder", key[len("cond_stage_model.transformer."):], dims))
            elif key.startswith("first_stage_model."):
                k, d = vae_name(key[len("first_stage_model."):], dims)
                rows.append(("vae", k, d))
            # schedule buffers have no diffusers counterpart
    with open(OUT, "w") as f:
        f.write("part\tkey\tshape\n")
        for part, k, d in rows:
            f.write(f"{part}\t{k}\t{','.join(d)}\n")
    print(f"{len(rows)} rows -> {OUT}")


if __name__ == "__main__":
    main()
