#!/usr/bin/env bash
# No folder of lib/ includes a folder that includes it back (directly or
# through others): the layers are core <- data, layers <- models <- shift <-
# train <- run, with io (leaf utilities) below run. tsort reports a loop.
# Part of `make lint`. Also: nothing in lib/ prints, exits or calls getenv.
set -euo pipefail
cd "$(dirname "$0")/.."
edges=$(grep -rHE '^#include "[a-z]+/' lib | sed -E 's|^lib/([a-z]+)/[^:]*:#include "([a-z]+)/.*|\2 \1|' |
        awk '$1 != $2' | sort -u)
if ! out=$(printf '%s\n' "$edges" | tsort 2>&1 >/dev/null) || [ -n "$out" ]; then
  echo "check_includes: folder-level include cycle in lib/:"; echo "$out"; exit 1
fi
# io/ holds leaf utilities: nothing of train/, models/ or run/.
if grep -rlE '#include "(train|models|run)/' lib/io; then
  echo "check_includes: lib/io must not include train/, models/ or run/"; exit 1
fi
# The library reports through BsError: it never prints, exits or reads the
# environment (cmd/ does, and passes values in).
if grep -rnE '(^|[^a-z_])(printf|fprintf|vfprintf|exit|_exit|getenv)\(' lib; then
  echo "check_includes: lib/ must not print, exit or call getenv"; exit 1
fi
echo "check_includes: no folder-level include cycle; io/ is a leaf; lib/ neither prints, exits nor reads the environment"
