#!/usr/bin/env bash
# vktrain compare: the eval-case.md error (max|out-ref|/max|ref|) against the forward/gradient
# tolerances, missing tensors, shape mismatches, fp16 tolerance set, absolute rule for the
# hypernetwork k module's last bias.
set -u
V=$1 M=$2 D=$3
rm -rf "$D" && mkdir -p "$D"
pass=0 fail=0
check() { if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi; }
rc() { "$@" >/dev/null 2>&1; echo $?; }
"$M" "$D/ref.st" unet_out=1,-2,4 grad_context=10,0,-10
"$M" "$D/ok.st" unet_out=1.0002,-2,4 grad_context=10.005,0,-10      # 5e-5 and 5e-4: pass fp32
"$M" "$D/fwd_bad.st" unet_out=1.001,-2,4 grad_context=10,0,-10      # 2.5e-4 > 1e-4
"$M" "$D/grad_bad.st" unet_out=1,-2,4 grad_context=10.02,0,-10      # 2e-3 > 1e-3
"$M" "$D/missing.st" unet_out=1,-2,4
"$M" "$D/shape.st" unet_out=1,-2,4,5 grad_context=10,0,-10
"$M" "$D/nan.st" unet_out=nan,-2,4 grad_context=10,0,-10
check "within tolerance passes" "$(rc "$V" compare "$D/ref.st" "$D/ok.st")"
check "forward error fails" "$(( $(rc "$V" compare "$D/ref.st" "$D/fwd_bad.st") == 1 ? 0 : 1 ))"
check "gradient error fails" "$(( $(rc "$V" compare "$D/ref.st" "$D/grad_bad.st") == 1 ? 0 : 1 ))"
check "missing tensor fails" "$(( $(rc "$V" compare "$D/ref.st" "$D/missing.st") == 1 ? 0 : 1 ))"
check "shape mismatch fails" "$(( $(rc "$V" compare "$D/ref.st" "$D/shape.st") == 1 ? 0 : 1 ))"
check "NaN fails" "$(( $(rc "$V" compare "$D/ref.st" "$D/nan.st") == 1 ? 0 : 1 ))"
check "fp16 tolerances pass" "$(rc "$V" compare "$D/ref.st" "$D/grad_bad.st" --precision fp16)"
check "--rtol overrides" "$(( $(rc "$V" compare "$D/ref.st" "$D/ok.st" --rtol 1e-6) == 1 ? 0 : 1 ))"
"$V" compare "$D/ref.st" "$D/ok.st" | grep -q "^unet_out .* pass"; check "one line per tensor" $?
"$V" compare "$D/ref.st" "$D/ok.st" --json | grep -q '"failures":	0'; check "json" $?
# hypernetwork: k module's last bias (index 2) is rounding noise: absolute vs the largest gradient
"$M" "$D/hn_ref.st" grad_hn.64.0.linear.0.bias=5,1 grad_hn.64.0.linear.2.bias=1e-9,-1e-9
"$M" "$D/hn_out.st" grad_hn.64.0.linear.0.bias=5,1 grad_hn.64.0.linear.2.bias=-2e-9,3e-9
check "zero-in-exact bias compared absolutely" "$(rc "$V" compare "$D/hn_ref.st" "$D/hn_out.st")"
"$M" "$D/hn_out2.st" grad_hn.64.0.linear.0.bias=5,1 grad_hn.64.0.linear.2.bias=0.1,0
check "but a real error there still fails" "$(( $(rc "$V" compare "$D/hn_ref.st" "$D/hn_out2.st") == 1 ? 0 : 1 ))"
# a linear-activation module: the first k bias is zero in exact arithmetic too (reference 3e-20)
"$M" "$D/lin_ref.st" grad_hn.64.0.linear.0.bias=3e-20,-1e-20 grad_hn.64.0.linear.2.bias=1e-19,0 grad_hn.64.1.linear.0.bias=5,1
"$M" "$D/lin_out.st" grad_hn.64.0.linear.0.bias=2e-9,-4e-9 grad_hn.64.0.linear.2.bias=-1e-9,0 grad_hn.64.1.linear.0.bias=5,1
check "numerically zero earlier k bias compared absolutely" "$(rc "$V" compare "$D/lin_ref.st" "$D/lin_out.st")"
"$M" "$D/lin_out2.st" grad_hn.64.0.linear.0.bias=0.2,0 grad_hn.64.0.linear.2.bias=-1e-9,0 grad_hn.64.1.linear.0.bias=5,1
check "...but a real error there still fails" "$(( $(rc "$V" compare "$D/lin_ref.st" "$D/lin_out2.st") == 1 ? 0 : 1 ))"
# a small but real gradient (1e-4 of the largest) keeps the relative rule
"$M" "$D/sm_ref.st" grad_hn.64.0.linear.0.bias=5e-4,1e-4 grad_hn.64.0.linear.2.bias=1e-19,0 grad_hn.64.1.linear.0.bias=5,1
"$M" "$D/sm_out.st" grad_hn.64.0.linear.0.bias=5.1e-4,1e-4 grad_hn.64.0.linear.2.bias=1e-19,0 grad_hn.64.1.linear.0.bias=5,1
check "a small real k-bias gradient is still compared relatively" "$(( $(rc "$V" compare "$D/sm_ref.st" "$D/sm_out.st") == 1 ? 0 : 1 ))"
check "bad file exits 1" "$(( $(rc "$V" compare "$D/ref.st" /nonexistent) == 1 ? 0 : 1 ))"
check "usage exits 2" "$(( $(rc "$V" compare "$D/ref.st") == 2 ? 0 : 1 ))"
echo "compare: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
