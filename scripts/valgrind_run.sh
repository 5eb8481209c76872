#!/usr/bin/env bash
# One short `bnshift run` (and a resume, an eval, an export and its import) under valgrind
# memcheck: any invalid access or any definitely/indirectly lost block fails
# (exit 1). Part of CI. valgrind 3.19 cannot run AVX-512 code, so OpenBLAS
# and oneDNN are held to AVX2 kernels. "Possibly lost" blocks are allowed:
# glibc keeps ~370 bytes of thread-local storage per libgomp worker thread.
set -euo pipefail
cd "$(dirname "$0")/.."
BNSHIFT=${BNSHIFT:-./bnshift}
[ -x "$BNSHIFT" ] || make --no-print-directory bnshift
# Set, so that bnshift does not re-execute itself to set it
# (cmd/wait_policy.c): valgrind would not follow it into the new image.
export GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-10000}
dir=$(mktemp -d "${TMPDIR:-/tmp}/bnshift-valgrind.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cat > "$dir/tiny.json" <<'JSON'
{"name": "valgrind", "seed": 1,
 "data": {"dataset": "synthetic", "synthetic": {"train": 64, "test": 32, "size": 8}},
 "model": {"arch": "resnet", "depth": 8, "width": 8, "norm": "xbnblock", "groups": 4},
 "train": {"epochs": 2, "batch_size": 16}}
JSON
export OPENBLAS_CORETYPE=Haswell ONEDNN_MAX_CPU_ISA=AVX2
vg() {
  valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=99 "$BNSHIFT" "$@" --threads 2 > "$dir/out.txt" 2> "$dir/valgrind.txt" || {
    echo "valgrind: bnshift $* failed (exit $?):"; cat "$dir/valgrind.txt"; exit 1; }
  echo "valgrind: bnshift $*: no errors, no leaks"
}
# Refusals must be valgrind-clean too (an empty path once read past its end).
vg_refused() {
  local rc=0
  valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=99 "$BNSHIFT" "$@" > "$dir/out.txt" 2> "$dir/valgrind.txt" || rc=$?
  [ "$rc" = 2 ] || { echo "valgrind: bnshift $* exited $rc, expected 2:"; cat "$dir/valgrind.txt"; exit 1; }
  echo "valgrind: bnshift $* (refused, exit 2): no errors, no leaks"
}
vg_refused run "$dir/tiny.json" --out ''
vg_refused run ''
vg_refused eval ''
vg_refused plot-data '' --out "$dir/plots"
vg run "$dir/tiny.json" --out "$dir/run" --quiet
vg run "$dir/tiny.json" --out "$dir/run" --quiet --resume --set train.epochs=3
vg eval "$dir/run" --recalibrate test
# The PyTorch interop path: export, import (eval --weights, run --init-from), a refused import.
vg export "$dir/run" --out "$dir/w.safetensors"
vg eval "$dir/tiny.json" --weights "$dir/w.safetensors" --out "$dir/ev" --logits "$dir/l.safetensors"
vg run "$dir/tiny.json" --out "$dir/init" --init-from "$dir/w.safetensors" --quiet
vg_refused eval "$dir/run" --weights "$dir/tiny.json" --out "$dir/ev2"
