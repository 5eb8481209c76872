#!/usr/bin/env bash
# Rewrites the config-key table of docs/REFERENCE.md (between its
# config-keys markers) from `bnshift help config`, the schema in the code.
# The reference test fails until this has been run after a key changed.
set -euo pipefail
cd "$(dirname "$0")/.."
BNSHIFT=${BNSHIFT:-./bnshift}
table=$(mktemp)
trap 'rm -f "$table" docs/REFERENCE.md.tmp' EXIT
"$BNSHIFT" help config > "$table"
awk -v table="$table" '
  /<!-- config-keys:begin -->/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
  /<!-- config-keys:end -->/ { skip = 0 }
  !skip { print }' docs/REFERENCE.md > docs/REFERENCE.md.tmp
mv docs/REFERENCE.md.tmp docs/REFERENCE.md
echo "docs/REFERENCE.md: config-key table updated"
