#!/usr/bin/env bash
# `make install PREFIX=DIR` puts the binary and the man page where they
# belong, and the installed man page renders. Part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(mktemp -d "${TMPDIR:-/tmp}/bnshift-install.XXXXXX")
trap 'rm -rf "$prefix"' EXIT
make --no-print-directory install PREFIX="$prefix" BUILD="${BUILD:-build}" > /dev/null
test -x "$prefix/bin/bnshift" || { echo "install: no $prefix/bin/bnshift"; exit 1; }
test -s "$prefix/share/man/man1/bnshift.1" || { echo "install: no bnshift.1"; exit 1; }
"$prefix/bin/bnshift" --version > /dev/null
if command -v man > /dev/null; then
  MANWIDTH=100 man -l "$prefix/share/man/man1/bnshift.1" | grep -q "CONFIG KEYS" ||
    { echo "install: the man page does not render"; exit 1; }
fi
echo "install: bin/bnshift and share/man/man1/bnshift.1 under PREFIX, man page renders"
