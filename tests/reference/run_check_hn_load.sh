#!/bin/sh
# ctest wrapper: test_hypernetwork --write DIR, then check_hn_load.py DIR with the system PyTorch.
# Exit 77 (ctest SKIP) when /usr/bin/python3 or its torch is missing.
set -e
writer=$1
dir=$2
[ -x /usr/bin/python3 ] || { echo "SKIP: no /usr/bin/python3"; exit 77; }
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "SKIP: /usr/bin/python3 has no torch"; exit 77; }
rm -rf "$dir"
"$writer" --write "$dir"
exec /usr/bin/python3 "$(dirname "$0")/check_hn_load.py" "$dir"
