#!/usr/bin/env bash
# `vktrain hypernetwork train` end to end on the tiny model: every output is written with the
# webui's names, a size no attention layer uses is left untouched, training lowers a fixed
# evaluation loss, a resumed run (with dropout: masks re-drawn per mini-batch) equals an
# uninterrupted one, the written files load with the webui's rules (torch optional) and apply in
# `sample`, and bad inputs fail before training.
set -u
V=$1 D=$2 REF=$3
rm -rf "$D" && mkdir -p "$D"
pass=0 fail=0
check() { if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi; }
is() { [ "$1" -eq "$2" ]; echo $?; }
# storages A B N K: both .pt files hold N tensor storages; the first K differ (0: none) and the
# rest are byte-identical (K = N: all identical)
storages() {
    python3 - "$@" <<'PY'
import re, sys, zipfile
def storages(p):
    z = zipfile.ZipFile(p)
    d = {int(m.group(1)): z.read(n) for n in z.namelist() for m in [re.search(r"/data/(\d+)$", n)] if m}
    return [d[k] for k in sorted(d)]
a, b, n, k = storages(sys.argv[1]), storages(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if n == k:
    sys.exit(0 if len(a) == len(b) == n and a == b else 1)
sys.exit(0 if len(a) == len(b) == n and a[k:] == b[k:] and all(x != y for x, y in zip(a[:k], b[:k])) else 1)
PY
}
"$V" demo --dir "$D/demo" --no-train >/dev/null 2>&1; check "demo --no-train writes model and data" $?
M=$D/demo/tiny.safetensors DATA=$D/demo/data
# the tiny model's attention widths: context 128 (attn2) and 64 (attn1 at level 1); 32 is unused
"$V" hypernetwork create hy --sizes 128,64,32 --out "$D/hn" >/dev/null 2>&1; check "create" $?
cp "$D/hn/hy.pt" "$D/hn/hy0.pt"
"$V" hypernetwork create hd --sizes 128,64 --layer-structure "1, 2, 2, 1" --activation relu --dropout \
    --dropout-structure "0, 0.3, 0.3, 0" --out "$D/hn" >/dev/null 2>&1; check "create with dropout" $?
common=(--model "$M" --data "$DATA" --width 64 --height 64 --template subject_filewords --seed 5 --quiet)

# 1. a run with every output: copies and previews (webui naming), CSV, settings, .optim, eval loss
"$V" hypernetwork train "${common[@]}" --hypernetwork hy --out "$D/hn" --steps 6 --lr 0.001 --batch 2 \
    --save-every 2 --preview-every 3 --preview-steps 2 --csv-every 1 --save-optimizer --eval-draws 4 \
    --fixed-draws 4 --tensorboard --log-dir "$D/l1" > "$D/o1" 2> "$D/e1"; check "training run" $?
run=$(ls -d "$D"/l1/*/hy 2>/dev/null | head -1)
[ -n "$run" ]; check "run folder LOG/DATE/hy" $?
for k in 2 4 6; do
    [ -f "$run/hypernetworks/hy-$k.pt" ] && [ -f "$run/hypernetworks/hy-$k.pt.optim" ]; check "copy hy-$k.pt + .optim" $?
done
"$V" info "$run/hypernetworks/hy-2.pt" --json > "$D/i2" 2>/dev/null
grep -Eq '"step":[[:space:]]*1,' "$D/i2"; check "hy-2.pt holds step 1 (webui off-by-one)" $?
grep -Eq '"name":[[:space:]]*"hy"' "$D/i2"; check "copies store the base name" $?
[ -f "$run/images/hy-3.png" ] && [ -f "$run/images/hy-6.png" ]; check "previews hy-3, hy-6" $?
grep -aq "Steps: 2, Sampler: Euler a" "$run/images/hy-3.png"; check "preview infotext" $?
head -1 "$run/hypernetwork_loss.csv" | grep -q "^step,epoch,epoch_step,loss,learn_rate"; check "hypernetwork_loss.csv" $?
[ "$(grep -c . "$run/hypernetwork_loss.csv")" -eq 7 ]; check "csv: header + 6 rows" $?
grep -q '"hypernetwork_name": "hy"' "$run"/settings-*.json && grep -q '"layer_structure"' "$run"/settings-*.json
check "settings with the webui's hypernetwork keys" $?
[ -f "$run/loss.svg" ]; check "loss plot" $?
if command -v python3 >/dev/null; then
    python3 "$REF/read_tfevents.py" "$run"/tensorboard/events.out.tfevents.* > "$D/tb.json"; check "tensorboard events read back" $?
    python3 - "$D/tb.json" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
tags = [(v["tag"], e["step"]) for e in ev for v in e.get("values", [])]
# webui train_hypernetwork: epoch = step // n (8 images), epoch step = step - epoch*n + 1
ok = [s for t, s in tags if t == "Loss/train"] == [1, 2, 3, 4, 5, 6] and \
     [s for t, s in tags if t == "Loss/train/epoch-0"] == [2, 3, 4, 5, 6, 7] and \
     not any(t.startswith("Validation") for t, s in tags)
sys.exit(0 if ok else 1)
PY
    check "tensorboard: the webui's hypernetwork scalars, no images without --tensorboard-images" $?
fi
grep -qx "$D/hn/hy.pt" "$D/o1"; check "final file replaces OUT/hy.pt" $?
"$V" info "$D/hn/hy.pt" --json > "$D/i1" 2>/dev/null
grep -Eq '"step":[[:space:]]*6,' "$D/i1"; check "final file has step 6" $?
# the evaluation is deterministic (same inputs, same GPU program): any decrease is real
read -r before after < <(sed -n 's/^eval loss \([0-9.e+-]*\) -> \([0-9.e+-]*\) .*/\1 \2/p' "$D/e1")
awk -v a="${before:-0}" -v b="${after:-0}" 'BEGIN { exit !(a > 0 && b < a) }'
check "training lowers the fixed evaluation loss (${before:-?} -> ${after:-?})" $?
# the module of size 32 got no gradient: its storages are byte-identical to the created file's
if command -v python3 >/dev/null; then
    # 3 sizes x (k, v) x (w1, b1, w2, b2), written in size order: 128, 64, then 32
    storages "$D/hn/hy.pt" "$run/hypernetworks/hy-2.pt" 24 16
    check "sizes 128/64 trained, the unused size 32 untouched" $?
fi
"$V" sample --model "$M" --width 64 --height 64 --steps 2 --prompt "stripes" --hypernetwork "$D/hn/hy.pt:0.8" \
    --out "$D/s.png" >/dev/null 2>&1; check "sample applies the trained file" $?

# 2. resume with dropout: 3 + 3 steps equal 6 uninterrupted (masks keyed by the mini-batch number)
# (same name in two folders: the name is part of the prompt)
mkdir -p "$D/a" "$D/b" && cp "$D/hn/hd.pt" "$D/a/" && cp "$D/hn/hd.pt" "$D/b/"
"$V" hypernetwork train "${common[@]}" --hypernetwork "$D/a/hd.pt" --out "$D/r6" --steps 6 --lr 0.002 \
    --save-every 0 --preview-every 0 --save-optimizer --log-dir "$D/l2" >/dev/null 2>"$D/e2"; check "6-step dropout run" $?
"$V" hypernetwork train "${common[@]}" --hypernetwork "$D/b/hd.pt" --out "$D/r3" --steps 3 --lr 0.002 \
    --save-every 0 --preview-every 0 --save-optimizer --log-dir "$D/l3" >/dev/null 2>"$D/e3"; check "3-step run" $?
"$V" hypernetwork train "${common[@]}" --hypernetwork "$D/r3/hd.pt" --out "$D/r3b" --steps 6 --lr 0.002 \
    --save-every 0 --preview-every 0 --save-optimizer --log-dir "$D/l4" >/dev/null 2>"$D/e4"; check "resume to 6" $?
grep -q "fresh optimizer" "$D/e4"; check "resume used the saved optimizer" $(is $? 1)
# the conditioning is encoded once per image (webui); encoding it every mini-batch gives the same bits
mkdir -p "$D/c" && cp "$D/hn/hd.pt" "$D/c/"
VKTRAIN_NO_COND_CACHE=1 "$V" hypernetwork train "${common[@]}" --hypernetwork "$D/c/hd.pt" --out "$D/r6u" --steps 6 \
    --lr 0.002 --save-every 0 --preview-every 0 --save-optimizer --log-dir "$D/l2u" >/dev/null 2>&1
check "6-step run, conditioning re-encoded every mini-batch" $?
cmp -s "$D/r6/hd.pt" "$D/r6u/hd.pt"; check "...equals the cached-conditioning run byte for byte" $?
if command -v python3 >/dev/null; then
    storages "$D/r6/hd.pt" "$D/r3b/hd.pt" 24 24  # 2 sizes x (k, v) x 3 Linear x (w, b)
    check "resumed run equals the uninterrupted run" $?
fi
"$V" hypernetwork train "${common[@]}" --hypernetwork "$D/hn/hd.pt" --out "$D/r16" --steps 2 --lr 0.002 \
    --save-every 0 --preview-every 0 --precision fp16 --clip-grad norm --clip-grad-value 0.01 --log-dir "$D/l5" \
    >/dev/null 2>"$D/e5"; check "fp16 run with norm clipping" $?

# clipping to 0 (value or norm): the first AdamW step is then weight decay alone, w·(1 − lr·0.01),
# on the used sizes (within f32 rounding of w and of the factor); the unused size stays as it was
for mode in value norm; do
    mkdir -p "$D/c$mode" && cp "$D/hn/hy0.pt" "$D/c$mode/hy.pt"
    "$V" hypernetwork train "${common[@]}" --hypernetwork "$D/c$mode/hy.pt" --out "$D/c$mode/out" --steps 1 --lr 0.01 \
        --save-every 0 --preview-every 0 --clip-grad $mode --clip-grad-value 0 --log-dir "$D/lc$mode" >/dev/null 2>&1
    check "clip $mode 0 run" $?
    if command -v python3 >/dev/null; then
        python3 - "$D/c$mode/hy.pt" "$D/c$mode/out/hy.pt" <<'PY'
import re, struct, sys, zipfile
def storages(p):
    z = zipfile.ZipFile(p)
    d = {int(m.group(1)): z.read(n) for n in z.namelist() for m in [re.search(r"/data/(\d+)$", n)] if m}
    return [struct.unpack(f"<{len(d[k]) // 4}f", d[k]) for k in sorted(d)]
a, b = storages(sys.argv[1]), storages(sys.argv[2])
f = 1 - 0.01 * 0.01
used = all(abs(y - x * f) <= 2.4e-7 * abs(x) for s, t in zip(a[:16], b[:16]) for x, y in zip(s, t))
moved = any(x != y for s, t in zip(a[:16], b[:16]) for x, y in zip(s, t))
sys.exit(0 if used and moved and a[16:] == b[16:] else 1)
PY
        check "clip $mode 0: the update is weight decay 0.01 only" $?
    fi
done

# 3. the webui's loader accepts the files (torch optional: exit 77 means skipped)
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then
    mkdir -p "$D/wl" && cp "$D/hn/hy.pt" "$D/hn/hy.pt.optim" "$D/r3b/hd.pt" "$D/r3b/hd.pt.optim" "$D/wl/"
    /usr/bin/python3 "$REF/check_hn_load.py" "$D/wl" > "$D/wl.out" 2>&1; check "webui loading rules (check_hn_load.py)" $?
    cat "$D/wl.out"
else
    echo "SKIP: webui loading check (no torch for /usr/bin/python3)"
fi

# 4. bad inputs fail before training
"$V" hypernetwork train "${common[@]}" --hypernetwork nosuch --out "$D/hn" --steps 1 --log-dir "$D/l6" 2>"$D/e6"
check "unknown hypernetwork refused" $(is $? 2)
grep -q "hypernetwork create" "$D/e6" && [ ! -e "$D/l6" ]; check "...naming the command that makes one, before training" $?
"$V" hypernetwork train "${common[@]}" --hypernetwork hy --out "$D/hn" --vectors 2 2>"$D/e7"; check "--vectors refused" $(is $? 2)
grep -q "embeddings only" "$D/e7"; check "...as an embedding option" $?
"$V" hypernetwork train "${common[@]}" --hypernetwork "$M" --steps 1 --log-dir "$D/l8" 2>"$D/e8"; check "a model file is not a hypernetwork" $(is $? 1)
[ ! -e "$D/l8" ]; check "...refused before training" $?
"$V" hypernetwork train --hypernetwork hy 2>/dev/null; check "missing options exit 2" $(is $? 2)
# out of device memory (a device with a 12 MiB heap): the message names the allocation, a hint follows
VKTRAIN_HEAP_LIMIT_MIB=12 "$V" hypernetwork train "${common[@]}" --hypernetwork hy --out "$D/hn" --steps 1 \
    --log-dir "$D/l9" 2>"$D/e9"; check "out of device memory exits 1" $(is $? 1)
grep -q "out of device memory" "$D/e9" && grep -q "hint:.*--batch.*--precision fp16" "$D/e9" && [ ! -e "$D/l9" ]
check "...with what to change, before training" $?
echo "train_hn: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
