#!/bin/sh
# ctest wrapper: check_embedding_files.py with the system PyTorch.
# Exit 77 (ctest SKIP) when /usr/bin/python3 or its torch is missing.
[ -x /usr/bin/python3 ] || { echo "SKIP: no /usr/bin/python3"; exit 77; }
/usr/bin/python3 -c "import torch, numpy, PIL" 2>/dev/null || { echo "SKIP: /usr/bin/python3 lacks torch, numpy or Pillow"; exit 77; }
exec /usr/bin/python3 "$(dirname "$0")/check_embedding_files.py" "$@"
