#!/usr/bin/env bash
# vktrain embedding create and tokenize --embeddings as a user runs them: exit codes, --help at
# every level, overwrite refusal, name cleaning, embeddings from a folder of every format.
set -u
V=$1 D=$2 SRC=$3
rm -rf "$D" && mkdir -p "$D/emb/sub"
pass=0 fail=0
check() { if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi; }
is() { [ "$1" -eq "$2" ]; echo $?; }
"$V" make-tiny-model "$D/tiny.safetensors" >/dev/null 2>&1; check "tiny model" $?
M=$D/tiny.safetensors

"$V" embedding --help | grep -q "create NAME"; check "embedding --help" $?
"$V" embedding create --help | grep -q -- "--init-text"; check "embedding create --help" $?
"$V" embedding 2>/dev/null; check "no subcommand exits 2" $(is $? 2)
"$V" embedding frobnicate 2>/dev/null; check "unknown subcommand exits 2" $(is $? 2)
"$V" embedding create x 2>/dev/null; check "missing --model exits 2" $(is $? 2)
"$V" embedding create --model "$M" 2>/dev/null; check "missing NAME exits 2" $(is $? 2)
"$V" embedding create x --model "$M" --vectors 76 2>/dev/null; check "76 vectors exits 2" $(is $? 2)
"$V" embedding create "?/" --model "$M" 2>/dev/null; check "name with nothing left exits 2" $(is $? 2)
"$V" embedding create x --model "$D/none.safetensors" --out "$D/o" 2>/dev/null; check "missing model exits 1" $(is $? 1)

out=$("$V" embedding create "my/cat?" --model "$M" --init-text "a photo" --vectors 3 --out "$D/o")
check "create" $?
[ -s "$D/o/mycat.pt" ] && [ ! -e "$D/o/mycat.pt.tmp" ]; check "name cleaned, no temp file" $?
echo "$out" | grep -q "3 vectors of width 128 from 2 init tokens (320 1125)"; check "summary line: $out" $?
"$V" embedding create "caf$(printf '\303\251')$(printf '\342\230\203')x 2.0_-" --model "$M" --out "$D/o" >/dev/null
check "unicode name" $?
[ -s "$D/o/caf$(printf '\303\251')x 2.0_-.pt" ]; check "letters kept, symbols dropped (python isalnum)" $?
cp "$D/o/mycat.pt" "$D/before.pt"
"$V" embedding create mycat --model "$M" --out "$D/o" --init-text "" 2>"$D/err"; check "exists exits 1" $(is $? 1)
grep -q "already exists (use --overwrite" "$D/err"; check "exists message" $?
cmp -s "$D/o/mycat.pt" "$D/before.pt"; check "file untouched" $?
"$V" embedding create mycat --model "$M" --out "$D/o" --init-text "" --overwrite --json >"$D/j"; check "--overwrite" $?
grep -q '"init_ids":\[\],' "$D/j" && ! cmp -s "$D/o/mycat.pt" "$D/before.pt"; check "overwritten with zeros" $?

# a folder of embeddings in every format
for f in webui.pt kohya.safetensors text.png pixels.webp notemb.pt sdxl.safetensors; do
  cp "$SRC/tests/data/embeddings/$f" "$D/emb/"
done
cp "$D/o/mycat.pt" "$D/emb/sub/"
json=$("$V" tokenize --json --embeddings "$D/emb" "a webui photo, text-name and pixels-name mycat sdxl kohya" 2>"$D/err")
check "tokenize --embeddings" $?
echo "$json" | grep -q '"embeddings":\[{"name":"webui","position":2,"vectors":3},{"name":"text-name","position":7,"vectors":2},{"name":"pixels-name","position":10,"vectors":2},{"name":"mycat","position":12,"vectors":1},{"name":"sdxl","position":13,"vectors":2},{"name":"kohya","position":15,"vectors":2}\]'
check "placements of every format: $json" $?
grep -q "warning: .*notemb.pt: not a textual-inversion embedding" "$D/err"; check "unreadable file warned" $?
"$V" tokenize --embeddings "$D/nope" "x" 2>/dev/null; check "missing folder exits 1" $(is $? 1)
echo "embedding: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
