#!/bin/sh
# ctest wrapper: VKTRAIN make-tiny-model, then check_info_torch.py re-saves it with torch and
# compares `vktrain info`. Exit 77 (ctest SKIP) without /usr/bin/python3 + torch.
set -e
vktrain=$1
dir=$2
[ -x /usr/bin/python3 ] || { echo "SKIP: no /usr/bin/python3"; exit 77; }
/usr/bin/python3 -c "import torch, numpy" 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no torch"; exit 77; }
rm -rf "$dir" && mkdir -p "$dir"
"$vktrain" make-tiny-model "$dir/tiny.safetensors" 2>/dev/null
exec /usr/bin/python3 "$(dirname "$0")/check_info_torch.py" "$vktrain" "$dir/tiny.safetensors" "$dir/out"
