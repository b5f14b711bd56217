#!/usr/bin/env bash
# bench step: 2 timed steps of the tiny model at 64 px print one valid JSON document with every
# field (values checked for shape and sanity, never for speed); --plan-only runs nothing and
# reports the plan; the text output has its lines; bad options exit 2, a missing model 1.
set -u
V=$1 D=$2
rm -rf "$D" && mkdir -p "$D"
pass=0 fail=0
check() { if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi; }
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
# field FILE EXPR: prints EXPR evaluated with j = the JSON document
field() { $PY -c "import json,math,sys; j=json.load(open(sys.argv[1])); print($2)" "$1" 2>&1; }
M="$D/tiny.safetensors"
"$V" make-tiny-model "$M" 2>/dev/null; check "tiny model" $?

"$V" bench step --model "$M" --size 64 --steps 2 --warmup 0 --profile-steps 1 --precision fp32 --profile --json \
    > "$D/step.json" 2> "$D/step.err"
check "bench step fp32 runs" $?
[ "$(field "$D/step.json" "j['bench'], j['impl'], j['precision'], j['batch'], j['width'], j['steps'], j['plan_only']")" \
  = "step vktrain fp32 1 64 2 False" ]; check "run fields" $?
[ "$(field "$D/step.json" "all(j['ms_per_step'][k] > 0 for k in ('median', 'min', 'max', 'mean'))")" = "True" ]
check "ms_per_step present" $?
[ "$(field "$D/step.json" "sorted(j['phases_ms']) == sorted(['inputs', 'text_fwd', 'unet_fwd', 'loss', 'unet_bwd', 'text_bwd', 'optimizer']) and j['gpu_ms_per_step'] > 0")" = "True" ]
check "phases present" $?
[ "$(field "$D/step.json" "(m := j['memory'])['peak_bytes'] >= m['weights_bytes'] > 0 and 0 < m['plan_activation_bytes'] < m['plan_naive_bytes'] and m['planned_total_bytes'] > m['weights_bytes'] and m['reserved_bytes'] >= m['peak_bytes']")" = "True" ]
check "memory fields" $?
[ "$(field "$D/step.json" "math.isfinite(j['loss']['first']) and math.isfinite(j['loss']['last']) and j['commands'] > 0")" = "True" ]
check "loss finite, commands counted" $?
[ "$(field "$D/step.json" "len(j['profile']) > 0 and all(set(p) == {'op', 'ms', 'count', 'percent'} for p in j['profile'])")" = "True" ]
check "profile entries" $?
[ "$(field "$D/step.json" "j['model_dims']['unet_channels'], j['model_dims']['unet_levels'], j['model_dims']['clip_width']")" = "32 2 128" ]
check "model dims" $?

"$V" bench step --model "$M" --size 64 --batch 2 --vectors 3 --precision fp32 --plan-only --json > "$D/plan.json" 2>/dev/null
check "plan-only runs" $?
[ "$(field "$D/plan.json" "j['plan_only'], j['steps'], j['ms_per_step'], j['phases_ms'], j['memory']['peak_bytes'], j['batch'], j['vectors']")" = "True 0 None None None 2 3" ]
check "plan-only fields" $?
[ "$(field "$D/plan.json" "(m := j['memory'])['planned_total_bytes'] == m['weights_bytes'] + m['plan_activation_bytes'] + m['other_bytes'] and m['plan_activation_bytes'] > 0")" = "True" ]
check "plan-only totals add up" $?

"$V" bench step --model "$M" --size 64 --precision fp32 --plan-only --json > "$D/plan1.json" 2>/dev/null
[ "$(field "$D/plan1.json" "j['memory']['plan_activation_bytes'], j['memory']['weights_bytes'], j['commands']")" = \
  "$(field "$D/step.json" "j['memory']['plan_activation_bytes'], j['memory']['weights_bytes'], j['commands']")" ]
check "shapes-only plan equals the run's plan" $?
"$V" bench step --model "$M" --size 64 --precision fp32 --plan-only > "$D/plan.txt" 2>/dev/null
check "text output runs" $?
grep -q "^planned memory: weights" "$D/plan.txt" && ! grep -q "^ms/step" "$D/plan.txt"; check "text lines" $?

"$V" bench step --size 64 2>/dev/null; check "no model exits 2" $(( $? == 2 ? 0 : 1 ))
"$V" bench step --model "$M" --size 60 2>/dev/null; check "size not multiple of 8 exits 2" $(( $? == 2 ? 0 : 1 ))
"$V" bench step --model "$M" --precision fp8 2>/dev/null; check "bad precision exits 2" $(( $? == 2 ? 0 : 1 ))
"$V" bench step --model "$M" --vectors 0 2>/dev/null; check "bad vectors exits 2" $(( $? == 2 ? 0 : 1 ))
"$V" bench step --model "$M" --frobnicate 2>/dev/null; check "unknown option exits 2" $(( $? == 2 ? 0 : 1 ))
"$V" bench step --model "$D/missing.safetensors" --size 64 2>/dev/null; check "missing model exits 1" $(( $? == 1 ? 0 : 1 ))
"$V" bench step --help | grep -q "^usage: vktrain bench step"; check "help" $?
"$V" bench ops --op embed --reps 1 --json | $PY -c 'import json,sys; j=json.load(sys.stdin); assert {r["op"] for r in j["results"]} == {"embed"}'
check "bench ops embed --json" $?
# the hypernetwork step: its parameters counted, no learned vectors, the UNet backward runs, no
# text backward (the text encoder is not differentiated)
"$V" hypernetwork create hb --sizes 128,64,32 --out "$D" >/dev/null 2>&1; check "hypernetwork for the step" $?
"$V" bench step --model "$M" --size 64 --steps 1 --warmup 0 --profile-steps 1 --precision fp32 --hypernetwork "$D/hb.pt" \
    --json > "$D/hn.json" 2>/dev/null; check "bench step --hypernetwork runs" $?
[ "$(field "$D/hn.json" "j['hypernetwork_params'] == 173376 and j['vectors'] == 0 and math.isfinite(j['loss']['last'])")" = "True" ]
check "hypernetwork step fields" $?
[ "$(field "$D/hn.json" "j['phases_ms']['unet_bwd'] > 0 and j['phases_ms']['text_bwd'] == 0 and j['phases_ms']['optimizer'] > 0")" = "True" ]
check "hypernetwork step phases" $?
"$V" bench step --model "$M" --size 64 --hypernetwork "$D/none.pt" --plan-only 2>/dev/null; check "missing hypernetwork exits 1" $(( $? == 1 ? 0 : 1 ))
echo "bench_step: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
