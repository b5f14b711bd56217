#!/usr/bin/env bash
# The CLI contract of STYLE.md §9: --help everywhere (exit 0, usage + example on stdout), usage
# errors exit 2 with one "vktrain: error:" line, --json output parses.
set -u
V=$1
pass=0 fail=0
check() { # check NAME CONDITION-EXIT-CODE
    if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi
}
json_ok() { /usr/bin/python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null || python3 -c 'import json,sys; json.load(sys.stdin)'; }

out=$("$V" --help); check "--help exits 0" $?
echo "$out" | grep -q "^usage: vktrain"; check "--help prints usage" $?
for c in $("$V" --help | awk '/^commands:/{f=1;next} /^$/{f=0} f{print $1}'); do
    out=$("$V" $c --help); rc=$?
    check "$c --help exits 0" $rc
    echo "$out" | grep -q "^usage: vktrain $c"; check "$c --help has a usage line" $?
    echo "$out" | grep -qi "example"; check "$c --help has an example" $?
done
"$V" nosuchcommand 2>/tmp/vkt_err.$$; check "unknown command exits 2" $(( $? == 2 ? 0 : 1 ))
grep -q "^vktrain: error:" /tmp/vkt_err.$$; check "error line format" $?
"$V" selftest --bogus 2>/dev/null; check "unknown option exits 2" $(( $? == 2 ? 0 : 1 ))
"$V" selftest --op nosuchop 2>/dev/null; check "unknown op family exits 2" $(( $? == 2 ? 0 : 1 ))
"$V" devices --json | json_ok; check "devices --json parses" $?
"$V" devices | grep -q "device 0:"; check "devices lists a device" $?
"$V" selftest --op act --json > /tmp/vkt_st.$$; check "selftest --op act passes" $?
json_ok < /tmp/vkt_st.$$; check "selftest --json parses" $?
"$V" bench ops --op act --reps 2 --json | json_ok; check "bench ops --json parses" $?
rm -f /tmp/vkt_err.$$ /tmp/vkt_st.$$
echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
