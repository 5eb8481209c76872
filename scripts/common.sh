# Shared by the experiment drivers (source it). Runs are resumable: a driver
# interrupted half-way picks up where it stopped, and a finished run is not
# trained again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BNSHIFT=${BNSHIFT:-./bnshift}
THREADS=${THREADS:-$(nproc)}
[ -x "$BNSHIFT" ] || make --no-print-directory bnshift

# run_cfg OUT_DIR CONFIG [--set k=v]...: train into OUT_DIR (resuming if it
# holds a checkpoint).
run_cfg() {
  local out=$1; shift
  local mode=--overwrite
  [ -f "$out/checkpoint.bin" ] && mode=--resume
  echo "== $out"
  "$BNSHIFT" run "$@" --out "$out" --threads "$THREADS" --quiet $mode
}

# Wall-clock bookkeeping for RESULTS.md.
timer_start() { T0=$(date +%s); }
timer_report() { echo "$1: $(( $(date +%s) - T0 )) s wall, $THREADS threads, $(nproc) cores, $(date -u +%F)"; }
