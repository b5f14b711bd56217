#!/usr/bin/env bash
# run_case.sh VKTRAIN MODEL CASE_PREFIX OUT PRECISION [eval args...]: eval + compare.
set -eu
V=$1 M=$2 C=$3 O=$4 P=$5
shift 5
"$V" eval --model "$M" --case "$C.case.safetensors" --out "$O" --precision "$P" "$@"
"$V" compare "$C.ref.safetensors" "$O" --precision "$P"
