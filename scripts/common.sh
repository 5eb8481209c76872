# Shared by the experiment drivers (source it). Runs are resumable: a driver
# interrupted half-way picks up where it stopped, and a finished run is not
# trained again.
#
# Every driver takes --smoke: a tiny version of itself (1 epoch, 256 training
# samples, 200 evaluation samples, fewer seeds) that writes its runs, tables
# and figures under $SMOKE_DIR (a new temporary folder unless set) instead of
# runs/ and experiments/, so `make test` keeps the scripts from rotting.
# BNSHIFT_OUT=DIR moves full-size runs, tables and figures under DIR.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BNSHIFT=${BNSHIFT:-./bnshift}
THREADS=${THREADS:-$(nproc)}
SMOKE=0
for arg in "$@"; do
  case $arg in
    --smoke) SMOKE=1 ;;
    *) echo "$(basename "$0"): unknown option '$arg' (expected --smoke)" >&2; exit 2 ;;
  esac
done
if [ $SMOKE = 1 ]; then
  export SMOKE_DIR=${SMOKE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bnshift-smoke.XXXXXX")}
  RUNS=$SMOKE_DIR/runs EXPS=$SMOKE_DIR/experiments
  SMOKE_ARGS=(--smoke)
else
  # BNSHIFT_OUT=DIR: full-size runs, but written under DIR (e.g. to time a
  # driver again without touching the recorded results).
  RUNS=${BNSHIFT_OUT:+$BNSHIFT_OUT/}runs EXPS=${BNSHIFT_OUT:+$BNSHIFT_OUT/}experiments
  SMOKE_ARGS=()
fi
[ -x "$BNSHIFT" ] || make --no-print-directory bnshift

# last_epoch N: the epoch a driver's figures select (a smoke run has only 1).
last_epoch() { if [ $SMOKE = 1 ]; then echo 1; else echo "$1"; fi; }

# run_cfg OUT_DIR CONFIG [--set k=v]...: train into OUT_DIR (resuming if it
# holds a checkpoint). Smoke settings come last, so they win. A driver may
# set LAUNCH (an array: a launcher such as mpirun -np K), RUN_BIN (the
# binary; default $BNSHIFT) and RUN_THREADS (default $THREADS).
LAUNCH=()
run_cfg() {
  local out=$1; shift
  local mode=--overwrite
  [ -f "$out/checkpoint.bin" ] && mode=--resume
  local smoke=()
  [ $SMOKE = 1 ] && smoke=(--set train.epochs=1 --set data.train_subset=256 --set data.eval_subset=200)
  echo "== $out"
  "${LAUNCH[@]}" "${RUN_BIN:-$BNSHIFT}" run "$@" "${smoke[@]}" --out "$out" --threads "${RUN_THREADS:-$THREADS}" \
    --quiet $mode
}

# Wall-clock bookkeeping for RESULTS.md.
timer_start() { T0=$(date +%s); }
timer_report() { echo "$1: $(( $(date +%s) - T0 )) s wall, $THREADS threads, $(nproc) cores, $(date -u +%F)"; }
