#!/usr/bin/env bash
# `vktrain sample` on the tiny model: a fixed seed gives identical PNG bytes in two runs (image 1
# of a batch of seed S-1 equals the single image of seed S), the `parameters` chunk parses with
# the webui's syntax and holds the run's fields, every sampler and both conditioning layouts (one
# batched UNet call; two calls for prompts of different lengths; padded), fp16, embeddings from a
# folder (an embedding of "cat" draws what "cat" draws; TI hashes), and argument errors.
set -u
V=$1 T=$2 D=$3
rm -rf "$D" && mkdir -p "$D"
pass=0 fail=0
check() { if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi; }
M=$D/tiny.safetensors
"$V" make-tiny-model "$M" >/dev/null 2>&1; check "tiny model" $?
HASH=$(sha256sum "$M" | cut -c1-10)
S=(--model "$M" --width 64 --height 64 --steps 2)
LONG="a photo of a cat sitting on a wooden table next to a window, soft morning light, detailed fur, \
bokeh, 35mm film, warm colours, cosy room, plants in the background, a cup of coffee, a book, \
sunlight through the curtains, dust in the air, calm mood, highly detailed, sharp focus, \
award winning photograph, trending on artstation, masterpiece, best quality"

"$V" sample "${S[@]}" --prompt "a (photo:1.2) of a cat" --negative-prompt "blurry, ugly" --seed 5 \
    --clip-skip 2 --cfg-scale 7.5 --out "$D/a.png" >"$D/a.out" 2>/dev/null; check "euler_a runs" $?
grep -qx "$D/a.png" "$D/a.out"; check "prints the file" $?
"$T" png "$D/a.png" "prompt=a (photo:1.2) of a cat" "negative=blurry, ugly" Steps=2 "Sampler=Euler a" \
    "CFG scale=7.5" Seed=5 Size=64x64 "Model hash=$HASH" Model=tiny "Clip skip=2" >/dev/null
check "parameters parse with the webui's syntax" $?

"$V" sample "${S[@]}" --prompt "a (photo:1.2) of a cat" --negative-prompt "blurry, ugly" --seed 4 \
    --clip-skip 2 --cfg-scale 7.5 --batch 2 --out "$D/c.png" >"$D/c.out" 2>/dev/null; check "batch runs" $?
[ -f "$D/c-0.png" ] && [ -f "$D/c-1.png" ] && [ ! -e "$D/c.png" ]; check "batch files FILE-i.png" $?
# a second run with seed 5 (image 1 of this batch) gives the first run's bytes exactly
cmp -s "$D/c-1.png" "$D/a.png"; check "same seed, same bytes (batch image 1 = seed 4+1 alone)" $?
"$T" png "$D/c-0.png" Seed=4 >/dev/null; check "batch image 0 has seed 4" $?

"$V" sample "${S[@]}" --prompt "$LONG" --sampler ddim --seed 7 --pad-cond-uncond --precision fp16 \
    --out "$D/d.png" >/dev/null 2>&1; check "ddim fp16, long prompt, padded" $?
"$T" png "$D/d.png" "prompt=$LONG" Sampler=DDIM Seed=7 "Pad conds=True" >/dev/null; check "ddim parameters" $?
"$V" sample "${S[@]}" --prompt "$LONG" --negative-prompt "bad" --sampler euler --seed 7 --json \
    --out "$D/e.png" >"$D/e.json" 2>/dev/null; check "euler, two UNet calls per step" $?
grep -q '"unet_calls":[[:space:]]*2' "$D/e.json" && grep -q "\"path\":[[:space:]]*\"$D/e.png\"" "$D/e.json"
check "--json output" $?
"$T" png "$D/e.png" Sampler=Euler "negative=bad" >/dev/null; check "euler parameters" $?
! cmp -s "$D/d.png" "$D/e.png"; check "samplers differ" $?

"$V" sample --prompt x 2>/dev/null; check "no model exits 2" $(( $? == 2 ? 0 : 1 ))
"$V" sample "${S[@]}" --prompt x --sampler lms 2>/dev/null; check "unknown sampler exits 2" $(( $? == 2 ? 0 : 1 ))
"$V" sample "${S[@]}" --prompt x --steps 0 2>/dev/null; check "--steps 0 exits 2" $(( $? == 2 ? 0 : 1 ))
"$V" sample "${S[@]}" --prompt x --width 72 --out "$D/x.png" 2>"$D/x.err"; check "--width 72 exits 2" $(( $? == 2 ? 0 : 1 ))
grep -q "multiples of 16" "$D/x.err"; check "size message names the multiple" $?
# an embedding made from the word "cat" (1 vector: cat's token row) draws exactly what "cat" draws
mkdir -p "$D/emb"
"$V" embedding create mycat --model "$M" --init-text cat --vectors 1 --out "$D/emb" >/dev/null 2>&1
check "embedding create" $?
EHASH=$(sha256sum "$D/emb/mycat.pt" | cut -c1-12)
"$V" sample "${S[@]}" --prompt "a (photo:1.2) of a mycat" --negative-prompt "blurry, ugly" --seed 5 \
    --clip-skip 2 --cfg-scale 7.5 --embeddings "$D/emb" --out "$D/f.png" >/dev/null 2>&1
check "sample with --embeddings" $?
"$T" same-pixels "$D/f.png" "$D/a.png" >/dev/null; check "embedding vectors replace the token rows" $?
"$T" png "$D/f.png" "prompt=a (photo:1.2) of a mycat" "TI hashes=\"mycat: $EHASH\"" >/dev/null
check "TI hashes" $?
"$V" sample "${S[@]}" --prompt x --embeddings "$D/nonexistent" 2>/dev/null; check "bad --embeddings exits 1" $(( $? == 1 ? 0 : 1 ))
[ ! -e "$D/x.png" ] && ! ls "$D"/*.tmp >/dev/null 2>&1; check "no partial files" $?
echo "sample: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
