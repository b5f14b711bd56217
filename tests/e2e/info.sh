#!/usr/bin/env bash
# vktrain info: models (tiny, SD1.5-shaped sparse files, a diffusers folder, an inpainting model),
# embeddings, hypernetworks, optimizer states, and hostile or broken files (exit 1, one error line).
set -u
V=$1 W=$2 D=$3 SRC=$4
rm -rf "$D" && mkdir -p "$D"
pass=0 fail=0
check() { if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi; }
PY=/usr/bin/python3; [ -x $PY ] || PY=python3
# jq-like: field FILE EXPR -> prints the Python expression over the parsed JSON `j`
field() { $PY -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

"$V" info --help | grep -q "^usage: vktrain info"; check "--help" $?
"$V" info 2>/dev/null; check "no file exits 2" $(( $? == 2 ? 0 : 1 ))
"$V" info a b 2>/dev/null; check "two files exit 2" $(( $? == 2 ? 0 : 1 ))

"$V" make-tiny-model "$D/tiny.safetensors" 2>/dev/null; check "tiny model" $?
"$V" info "$D/tiny.safetensors" > "$D/tiny.txt"; check "info tiny exits 0" $?
grep -q "^family        SD 1.x$" "$D/tiny.txt"; check "text: family" $?
grep -q "4 heads (metadata)" "$D/tiny.txt"; check "text: heads from metadata" $?
"$V" info "$D/tiny.safetensors" --json > "$D/tiny.json"; check "info --json" $?
[ "$(field "$D/tiny.json" "j['params']['unet'], j['params']['vae'], j['params']['text_encoder'], j['unet']['heads'], j['text_encoder']['heads']")" = "1034596 1250759 6730880 4 4" ]
check "tiny params and heads" $?
[ "$(field "$D/tiny.json" "len(j['sha256']), len(j['short_hash']), len(j['model_hash'])")" = "64 10 8" ]; check "hashes" $?

"$W" --write "$D/big" || check "write sparse SD1.5 files" 1
for m in "$D/big/sd15.safetensors" "$D/big/sd15-diffusers"; do
    "$V" info "$m" --json --no-hash > "$D/m.json"; check "info $(basename "$m")" $?
    [ "$(field "$D/m.json" "j['family'], j['params']['unet'], j['params']['text_encoder'], j['params']['text_encoder_buffers'], j['params']['vae']")" = "SD 1.x 859520964 123060480 77 83653863" ]
    check "$(basename "$m"): SD1.5 parameter counts" $?
    [ "$(field "$D/m.json" "j['unet']['channel_mult'], j['unet']['attention_levels'], j['unet']['heads'], j['text_encoder']['heads'], j['vae']['ch_mult']")" = "[1, 2, 4, 4] [0, 1, 2] 8 12 [1, 2, 4, 4]" ]
    check "$(basename "$m"): SD1.5 dims" $?
done
"$V" info "$D/big/inpaint.safetensors" --json --no-hash > "$D/m.json"; check "inpainting is described (exit 0)" $?
[ "$(field "$D/m.json" "j['family'], j['supported'], j['unet']['in_channels']")" = "SD 1.x inpainting False 9" ]; check "inpainting detected" $?

T=$SRC/tests/data/torch
"$V" info "$T/emb_webui.pt" --json > "$D/e.json"; check "embedding" $?
[ "$(field "$D/e.json" "j['kind'], j['layout'], j['vectors'], j['width'], j['step'], j['name'], j['trigger'], len(j['short_hash'])")" = "embedding webui 2 8 100 cat emb_webui 12" ]
check "embedding fields" $?
"$V" info "$T/hypernetwork.pt" --json > "$D/h.json"; check "hypernetwork" $?
[ "$(field "$D/h.json" "j['kind'], j['sizes'], j['params'], j['layer_structure'], j['modules'][0]['k'][0]['shape']")" = "hypernetwork [8] 560 [1, 2, 1] [16, 8]" ]
check "hypernetwork fields" $?
"$V" info "$T/emb.pt.optim" --json > "$D/o.json"; check "optim" $?
[ "$(field "$D/o.json" "j['kind'], j['for'], j['hash']")" = "optimizer_state embedding 9f20" ]; check "optim fields" $?
"$V" info "$T/hypernetwork.pt" | grep -q "Linear(8->16) Linear(16->8)"; check "hypernetwork text" $?

for f in evil_os_system evil_eval evil_popen evil_nested_pickle evil_torch_load; do
    "$V" info "$T/$f.pt" > /dev/null 2> "$D/err"; check "$f exits 1" $(( $? == 1 ? 0 : 1 ))
    grep -q "^vktrain: error: .*is not allowed (refused; nothing was run)$" "$D/err"; check "$f message" $?
done
"$V" info "$T/legacy.pt" 2> "$D/err"; check "legacy exits 1" $(( $? == 1 ? 0 : 1 ))
grep -q "legacy (pre-1.6) PyTorch format, not supported: re-save it" "$D/err"; check "legacy message" $?
head -c 60000 "$D/tiny.safetensors" > "$D/cut.safetensors"
"$V" info "$D/cut.safetensors" 2> "$D/err"; check "truncated exits 1" $(( $? == 1 ? 0 : 1 ))
grep -q "^vktrain: error: .*past the end of the data" "$D/err"; check "truncated message" $?
printf 'hello' > "$D/junk.bin"
"$V" info "$D/junk.bin" 2>/dev/null; check "junk exits 1" $(( $? == 1 ? 0 : 1 ))
"$V" info "$D/missing.pt" 2>/dev/null; check "missing exits 1" $(( $? == 1 ? 0 : 1 ))
echo "info: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
