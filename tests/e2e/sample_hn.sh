#!/usr/bin/env bash
# `vktrain sample --hypernetwork FILE[:STRENGTH]` on the tiny model: strength 0 draws exactly the
# image without a hypernetwork, strength 1 (the default) another one, reproducibly; chains run;
# the infotext prompt carries <hypernet:NAME:STRENGTH> as the webui writes it; bad files fail.
set -u
V=$1 T=$2 G=$3 D=$4
rm -rf "$D" && mkdir -p "$D"
pass=0 fail=0
check() { if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi; }
is() { [ "$1" -eq "$2" ]; echo $?; }
M=$D/tiny.safetensors
"$V" make-tiny-model "$M" >/dev/null 2>&1; check "tiny model" $?
S=(sample --model "$M" --width 64 --height 64 --steps 2 --prompt "a photo of a cat" --seed 3)

"$V" "${S[@]}" --out "$D/plain.png" >/dev/null 2>&1; check "no hypernetwork" $?
"$V" "${S[@]}" --hypernetwork "$G/hn_relu.pt:0" --out "$D/zero.png" >/dev/null 2>&1; check "strength 0" $?
"$T" same-pixels "$D/plain.png" "$D/zero.png" >/dev/null; check "strength 0 = no hypernetwork" $?
"$T" png "$D/zero.png" "prompt=a photo of a cat<hypernet:hn_relu:0.0>" >/dev/null; check "infotext <hypernet:hn_relu:0.0>" $?
"$V" "${S[@]}" --hypernetwork "$G/hn_relu.pt" --out "$D/one.png" >/dev/null 2>&1; check "strength 1" $?
"$T" same-pixels "$D/plain.png" "$D/one.png" >/dev/null 2>&1; check "the hypernetwork changes the image" $(is $? 1)
"$T" png "$D/one.png" "prompt=a photo of a cat<hypernet:hn_relu:1.0>" >/dev/null; check "infotext <hypernet:hn_relu:1.0>" $?
"$V" "${S[@]}" --hypernetwork "$G/hn_relu.pt:1" --out "$D/one_again.png" >/dev/null 2>&1
cmp -s "$D/one.png" "$D/one_again.png"; check "reproducible bytes" $?
"$V" "${S[@]}" --hypernetwork "$G/hn_ln.pt:0.5" --hypernetwork "$G/hn_small.pt:0.75" --precision fp16 \
    --out "$D/chain.png" >/dev/null 2>&1; check "a chain of two, fp16" $?
"$T" png "$D/chain.png" "prompt=a photo of a cat<hypernet:hn_ln:0.5><hypernet:hn_small:0.75>" >/dev/null
check "infotext of a chain" $?
"$V" "${S[@]}" --hypernetwork "$D/none.pt" --out "$D/x.png" >/dev/null 2>&1; check "missing file exits 1" $(is $? 1)
"$V" "${S[@]}" --hypernetwork "$M" --out "$D/x.png" >/dev/null 2>&1; check "not a hypernetwork exits 1" $(is $? 1)

echo "sample --hypernetwork e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
