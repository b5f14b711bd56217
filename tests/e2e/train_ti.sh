#!/usr/bin/env bash
# Textual-inversion training end to end on the tiny model: every output is written and loads,
# a resumed run equals an uninterrupted one, SIGINT saves loadable files and exits 130, bad
# inputs fail before training, and the demo's trained embedding lowers the fixed evaluation loss.
set -u
V=$1 D=$2
rm -rf "$D" && mkdir -p "$D"
pass=0 fail=0
check() { if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi; }
# the demo writes the model and data, trains, and reports the evaluation loss
"$V" demo --dir "$D/demo" --steps 40 > "$D/demo.out" 2> "$D/demo.err"; check "demo runs" $?
cat "$D/demo.out"
# the embedding lowers the loss on the draws it trained on: any decrease is far outside noise,
# since the evaluation is deterministic (same inputs, same GPU program)
before=$(awk '/^eval loss:/ {print $3}' "$D/demo.out"); after=$(awk '/^eval loss:/ {print $5}' "$D/demo.out")
awk -v a="$before" -v b="$after" 'BEGIN { exit !(b < a) }'; check "trained embedding lowers the fixed evaluation loss ($before -> $after)" $?
M="$D/demo/tiny.safetensors" DATA="$D/demo/data"
[ -f "$D/demo/embeddings/demo-stripes.pt" ]; check "final embedding written" $?
run="$(ls -d "$D"/demo/logs/*/demo-stripes)"
[ -f "$run/textual_inversion_loss.csv" ] && [ -f "$run/loss.svg" ]; check "csv and plot written" $?
head -1 "$run/textual_inversion_loss.csv" | grep -q "^step,epoch,epoch_step,loss,learn_rate"; check "webui csv header" $?
[ -d "$run/embeddings" ]; check "intermediate dir" $?
# a short run with copies and previews every 2 steps: webui naming (file K holds step K-1)
"$V" embedding train --model "$M" --data "$DATA" --width 64 --height 64 --template subject_filewords --embedding p \
    --steps 4 --save-every 2 --preview-every 2 --preview-steps 3 --csv-every 1 --log-dir "$D/lp" --out "$D/op" --quiet \
    --tensorboard-images >/dev/null 2>"$D/ep"; check "run with previews" $?
rp="$(ls -d "$D"/lp/*/p)"
# TensorBoard: the webui's four scalars per step and the previews, read by a protobuf-level reader
if command -v python3 >/dev/null; then
    python3 "$(dirname "$0")/../reference/read_tfevents.py" "$rp"/tensorboard/events.out.tfevents.* > "$D/tb.json"
    check "tensorboard events read back (CRCs, protobuf)" $?
    python3 - "$D/tb.json" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
tags = [(v["tag"], e["step"]) for e in ev for v in e.get("values", [])]
loss = [s for t, s in tags if t == "Loss/train"]
imgs = [s for t, s in tags if t.startswith("Validation at epoch")]
ok = loss == [1, 2, 3, 4] and [s for t, s in tags if t == "Learn rate/train"] == loss and imgs == [1, 3]
sys.exit(0 if ok else 1)
PY
    check "tensorboard: Loss/train and Learn rate/train at steps 1-4, previews at the files' steps 1, 3" $?
fi
[ -f "$rp/embeddings/p-2.pt" ] && [ -f "$rp/embeddings/p-4.pt" ]; check "copies p-2, p-4" $?
"$V" info "$rp/embeddings/p-2.pt" --json 2>/dev/null | grep -Eq '"step":[[:space:]]*1,'; check "p-2.pt holds step 1 (webui off-by-one)" $?
[ -f "$rp/images/p-2.png" ] && [ -f "$rp/image_embeddings/p-4.png" ]; check "preview and image embedding" $?
grep -aq "Steps: 3, Sampler: Euler a" "$rp/images/p-2.png"; check "preview carries the webui infotext" $?
"$V" tokenize --embeddings "$rp/image_embeddings" --json "a p-4 photo" 2>/dev/null | grep -q '"name":"p-4"'
check "image embedding reads back (embedding folder loader)" $?
[ "$(grep -c . "$rp/textual_inversion_loss.csv")" -eq 5 ]; check "csv: header + 4 rows" $?
"$V" info "$D/demo/embeddings/demo-stripes.pt" > "$D/info.out" 2>&1; check "info reads the embedding" $?
grep -q "40" "$D/info.out"; check "embedding step is 40" $?

common=(--model "$M" --data "$DATA" --width 64 --height 64 --lr 0.02 --template subject_filewords --init-text pattern
        --vectors 2 --save-every 0 --csv-every 1 --save-optimizer --quiet --seed 3)
# uninterrupted 8 steps vs 4 + resumed 4
"$V" embedding train "${common[@]}" --embedding full --steps 8 --log-dir "$D/l1" --out "$D/o1" >/dev/null 2>"$D/e1"; check "8-step run" $?
"$V" embedding train "${common[@]}" --embedding half --steps 4 --log-dir "$D/l2" --out "$D/o2" >/dev/null 2>"$D/e2"; check "4-step run" $?
[ -f "$D/o2/half.pt.optim" ]; check ".optim written" $?
"$V" embedding train "${common[@]}" --embedding "$D/o2/half.pt" --steps 8 --log-dir "$D/l3" --out "$D/o3" >/dev/null 2>"$D/e3"; check "resume to 8" $?
grep -q "fresh optimizer" "$D/e3"; check "resume used the saved optimizer" $(( $? == 0 ? 1 : 0 ))
# same vectors: compare the tensor bytes (skip the zip headers, which carry the name)
tail -c 2048 "$D/o1/full.pt" > "$D/t1"; tail -c 2048 "$D/o3/half.pt" > "$D/t3"
"$V" info "$D/o1/full.pt" --json > "$D/i1" 2>/dev/null; "$V" info "$D/o3/half.pt" --json > "$D/i3" 2>/dev/null
grep -Eq '"step":[[:space:]]*8,' "$D/i3"; check "resumed file has step 8" $?
python3 - "$D/o1/full.pt" "$D/o3/half.pt" <<'PY' 2>/dev/null || cmp -s <(unzip -p "$D/o1/full.pt" '*/data/0') <(unzip -p "$D/o3/half.pt" '*/data/0')
import sys, zipfile
def data(p):
    z = zipfile.ZipFile(p)
    return [z.read(n) for n in sorted(z.namelist()) if '/data/' in n]
sys.exit(0 if data(sys.argv[1]) == data(sys.argv[2]) else 1)
PY
check "resumed run equals the uninterrupted run" $?
# the webui's loader accepts every file of a run (torch optional)
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import torch, PIL" 2>/dev/null; then
    /usr/bin/python3 "$(dirname "$0")/../reference/check_trained_embedding.py" "$D/op/p.pt" "$rp" 4 > "$D/wc1" 2>&1
    check "webui loads the final file, copies and image embeddings ($(tail -1 "$D/wc1"))" $?
    /usr/bin/python3 "$(dirname "$0")/../reference/check_trained_embedding.py" "$D/o3/half.pt" "$(ls -d "$D"/l3/*/half)" 8 \
        > "$D/wc2" 2>&1; check "webui loads a resumed file and its .optim (hash rule)" $?
else
    echo "SKIP: webui loading checks (no torch for /usr/bin/python3)"
fi
# a NAME whose final file exists is refused (no trained file lost); --resume continues it
"$V" embedding train "${common[@]}" --embedding half --steps 8 --log-dir "$D/l3n" --out "$D/o2" >/dev/null 2>"$D/e3n"
check "existing NAME without --resume refused" $(( $? == 2 ? 0 : 1 ))
grep -q -- "--resume continues it" "$D/e3n" && [ ! -e "$D/l3n" ]; check "...saying how to continue, before training" $?
"$V" embedding train "${common[@]}" --embedding half --resume --steps 8 --log-dir "$D/l3r" --out "$D/o2" >/dev/null 2>"$D/e3r"
check "--resume NAME continues OUT/NAME.pt" $?
cmp -s <(tail -c 2048 "$D/o2/half.pt") <(tail -c 2048 "$D/o3/half.pt"); check "...to the same vectors as resuming the file" $?
# kohya format and the EMA copy
"$V" embedding train "${common[@]}" --embedding kf --steps 2 --save-format safetensors --ema 0.9 --log-dir "$D/lk" \
    --out "$D/ok" >/dev/null 2>"$D/ek"; check "safetensors + ema run" $?
"$V" info "$D/ok/kf.safetensors" 2>/dev/null | grep -q "kohya"; check "kohya emb_params written" $?
[ -f "$D/ok/kf-ema.safetensors" ]; check "EMA copy written" $?
cmp -s "$D/ok/kf.safetensors" "$D/ok/kf-ema.safetensors"; check "EMA differs from the raw vectors" $(( $? == 0 ? 1 : 0 ))
# --config takes a run's settings file (webui names); later options override it
cfg="$(ls "$D"/l1/*/full/settings-*.json)"
"$V" embedding train --config "$cfg" --model "$M" --embedding cfgrun --steps 2 --log-dir "$D/l7" --out "$D/o7" --quiet >/dev/null 2>"$D/e9"
check "--config run" $?
grep -q '"learn_rate": "0.02"' "$D"/l7/*/cfgrun/settings-*.json && grep -q '"steps": 2,' "$D"/l7/*/cfgrun/settings-*.json
check "--config values used, options override" $?
# SIGINT: saves and exits 130
"$V" embedding train "${common[@]}" --embedding sig --steps 100000 --log-dir "$D/l4" --out "$D/o4" >/dev/null 2>"$D/e4" &
pid=$!
for _ in $(seq 1 120); do sleep 1; grep -q . "$D/l4"/*/sig/textual_inversion_loss.csv 2>/dev/null && [ "$(wc -l < "$D/l4"/*/sig/textual_inversion_loss.csv)" -ge 3 ] && break; done
kill -INT $pid; wait $pid; rc=$?
check "SIGINT exits 130 (got $rc)" $(( rc == 130 ? 0 : 1 ))
"$V" info "$D/o4/sig.pt" >/dev/null 2>&1; check "interrupted run left a loadable file" $?
ls "$D/o4"/*.tmp >/dev/null 2>&1; check "no temp files left" $(( $? == 0 ? 1 : 0 ))
# bad inputs fail before training, with the file named
mkdir -p "$D/empty"
"$V" embedding train --model "$M" --embedding x --data "$D/empty" --steps 1 --log-dir "$D/l5" 2>"$D/e5"
check "empty data dir refused" $(( $? != 0 ? 0 : 1 ))
grep -q "empty" "$D/e5" && [ ! -e "$D/l5" ]; check "...with the folder named, before training" $?
"$V" embedding train "${common[@]}" --embedding x --steps 1 --template hypernetwork --log-dir "$D/l6" 2>"$D/e6"
check "template without [name] refused" $(( $? != 0 ? 0 : 1 ))
grep -q "\[name\]" "$D/e6" && [ ! -e "$D/l6" ]; check "...before training" $?
"$V" embedding train "${common[@]}" --embedding x --steps 1 --lr "abc" 2>"$D/e7"; check "bad lr refused" $(( $? != 0 ? 0 : 1 ))
grep -q "learning rate" "$D/e7"; check "bad lr message names the setting" $?
"$V" embedding train --model /nonexistent --embedding x --data "$DATA" 2>"$D/e8"; check "missing model exits 1" $(( $? == 1 ? 0 : 1 ))
"$V" embedding train --embedding x 2>/dev/null; check "missing options exit 2" $(( $? == 2 ? 0 : 1 ))
echo "train_ti: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
