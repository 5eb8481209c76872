#!/usr/bin/env bash
# Runs every experiment driver with --smoke in one temporary folder (so the
# drivers that reuse experiments 1 and 2 find their runs) and fails if any
# driver fails or draws no figure. Part of `make test`.
set -uo pipefail
cd "$(dirname "$0")/.."
export SMOKE_DIR
SMOKE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bnshift-smoke.XXXXXX")
trap 'rm -rf "$SMOKE_DIR"' EXIT
failed=0
for name in accumulation distribution_shift gnbn xbnblock recalibration xbnblock_families bfn_choice inception \
    estimators corruption; do
  log=$SMOKE_DIR/$name.log
  if scripts/fig_$name.sh --smoke >"$log" 2>&1 &&
     { [ $name = recalibration ] || ls "$SMOKE_DIR/experiments/$name/figures/"*.png >/dev/null 2>&1; }; then
    echo "smoke fig_$name.sh: ok"
  else
    echo "smoke fig_$name.sh: FAILED; its output:"
    sed 's/^/    /' "$log"
    failed=$((failed + 1))
  fi
done
[ -s "$SMOKE_DIR/experiments/recalibration/recalibration.txt" ] || { echo "smoke: recalibration.txt missing"; failed=$((failed + 1)); }
exit $failed
