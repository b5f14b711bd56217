#!/usr/bin/env bash
# make-tiny-model: same seed -> same bytes, other seed -> other bytes, metadata present, no temp
# file left behind, bad arguments exit 2.
set -u
V=$1 D=$2
rm -rf "$D" && mkdir -p "$D"
pass=0 fail=0
check() { if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi; }
"$V" make-tiny-model "$D/a.safetensors" 2>/dev/null; check "writes" $?
"$V" make-tiny-model "$D/b.safetensors" --seed 0 2>/dev/null; check "writes again" $?
cmp -s "$D/a.safetensors" "$D/b.safetensors"; check "deterministic" $?
"$V" make-tiny-model "$D/c.safetensors" --seed 7 2>/dev/null; check "other seed" $?
cmp -s "$D/a.safetensors" "$D/c.safetensors"; check "seed changes bytes" $(( $? == 0 ? 1 : 0 ))
head -c 4096 "$D/a.safetensors" | grep -q '"vktrain.unet_heads":"4"'; check "unet heads metadata" $?
head -c 4096 "$D/a.safetensors" | grep -q '"vktrain.clip_heads":"4"'; check "clip heads metadata" $?
[ ! -e "$D/a.safetensors.tmp" ]; check "no temp file" $?
"$V" make-tiny-model 2>/dev/null; check "missing output exits 2" $(( $? == 2 ? 0 : 1 ))
"$V" make-tiny-model "$D/x" --seed abc 2>/dev/null; check "bad seed exits 2" $(( $? == 2 ? 0 : 1 ))
"$V" make-tiny-model /nonexistent-dir/x.safetensors 2>/dev/null; check "unwritable path exits 1" $(( $? == 1 ? 0 : 1 ))
echo "make_tiny_model: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
