#!/usr/bin/env bash
# vktrain hypernetwork create as a user runs it: exit codes, --help, validation, overwrite
# refusal, name cleaning, the file's contents through `vktrain info --json`.
set -u
V=$1 D=$2
rm -rf "$D" && mkdir -p "$D"
pass=0 fail=0
check() { if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi; }
is() { [ "$1" -eq "$2" ]; echo $?; }
H="$V hypernetwork"

$H --help | grep -q "create NAME"; check "hypernetwork --help" $?
$H create --help | grep -q -- "--layer-structure"; check "hypernetwork create --help" $?
$H 2>/dev/null; check "no subcommand exits 2" $(is $? 2)
$H frobnicate 2>/dev/null; check "unknown subcommand exits 2" $(is $? 2)
$H create 2>/dev/null; check "missing NAME exits 2" $(is $? 2)
$H create "?/" --out "$D" 2>/dev/null; check "name with nothing left exits 2" $(is $? 2)
$H create x --out "$D" --layer-structure "1, 2, 2" 2>/dev/null; check "structure not ending in 1 exits 2" $(is $? 2)
$H create x --out "$D" --layer-structure "1, a, 1" 2>/dev/null; check "non-number exits 2" $(is $? 2)
$H create x --out "$D" --activation prelu 2>/dev/null; check "prelu exits 2" $(is $? 2)
$H create x --out "$D" --activation softmax 2>/dev/null; check "softmax exits 2" $(is $? 2)
$H create x --out "$D" --weight-init Uniform 2>/dev/null; check "unknown init exits 2" $(is $? 2)
$H create x --out "$D" --dropout --dropout-structure "0, 1, 0" 2>/dev/null; check "dropout 1 exits 2" $(is $? 2)
$H create x --out "$D" --dropout --dropout-structure "0, 0.3" 2>/dev/null; check "short dropout structure exits 2" $(is $? 2)
$H create x --out "$D" --dropout-structure "0, 0.3, 0" 2>/dev/null; check "--dropout-structure without --dropout exits 2" $(is $? 2)
$H create x --out "$D" --sizes 64,0 2>/dev/null; check "size 0 exits 2" $(is $? 2)
[ -z "$(ls -A "$D")" ]; check "nothing written by the refusals" $?

out=$($H create "my/net?" --out "$D/h" --sizes 64,128 --layer-structure "1, 1.5, 1" --activation relu \
      --layer-norm --dropout --dropout-structure "0, 0.25, 0" --weight-init XavierNormal --seed 7 2>/dev/null)
check "create" $?
[ -s "$D/h/mynet.pt" ] && [ ! -e "$D/h/mynet.pt.tmp" ]; check "name cleaned, no temp file" $?
echo "$out" | grep -q "mynet.pt (125760 parameters)"; check "summary line: $out" $?
j=$("$V" info --json "$D/h/mynet.pt")
check "info" $?
for want in '"kind":"hypernetwork"' '"name":"mynet"' '"sizes":[64,128]' '"layer_structure":[1,1.5,1]' \
            '"activation_func":"relu"' '"is_layer_norm":true' '"use_dropout":true' \
            '"dropout_structure":[0,0.25,0]' '"activate_output":false' '"step":0' '"sd_checkpoint":null'; do
  echo "$j" | tr -d ' \t\n' | grep -qF "$want"; check "info has $want" $?
done
$H create "my/net?" --out "$D/h" --sizes 64 2>/dev/null; check "existing file exits 1" $(is $? 1)
cp "$D/h/mynet.pt" "$D/before.pt"
$H create "mynet" --out "$D/h" --sizes 64,128 --layer-structure "1, 1.5, 1" --activation relu --layer-norm \
   --dropout --dropout-structure "0, 0.25, 0" --weight-init XavierNormal --seed 7 --overwrite >/dev/null 2>&1
check "--overwrite" $?
cmp -s "$D/h/mynet.pt" "$D/before.pt"; check "same options and seed: the same bytes" $?
$H create "mynet" --out "$D/h" --sizes 64 --seed 8 --overwrite >/dev/null 2>&1
cmp -s "$D/h/mynet.pt" "$D/before.pt"; check "overwritten" $(is $? 1)
$H create d --out "$D/h" --sizes 64 --layer-structure "1, 2, 2, 1" --dropout --last-layer-dropout >/dev/null 2>&1
check "derived dropout" $?
"$V" info --json "$D/h/d.pt" | tr -d ' \t\n' | grep -qF '"dropout_structure":[0,0.3,0.3,0]'
check "--dropout --last-layer-dropout gives [0, 0.3, 0.3, 0]" $?
$H create dflt --out "$D/h" >/dev/null 2>&1
"$V" info --json "$D/h/dflt.pt" | tr -d ' \t\n' | grep -qF '"params":21939840'
check "default SD1 module set: 21,939,840 parameters" $?

echo "hypernetwork e2e: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
