#!/usr/bin/env bash
# A tiny sweep on a real single-node Slurm cluster on this machine, and on
# GNU parallel, each checked against the same sweep run by bnshift itself
# (issue 17): munged, slurmctld and slurmd are started here with a config
# this script writes (no systemd needed), the array of `bnshift sweep
# --emit slurm` is submitted and waited for (bounded), every run must be
# finished and equal the local one (metrics.csv but its timing columns,
# shift.csv); then the daemons are stopped, whatever happened.
# Needs root and Debian's slurm-wlm, munge and parallel (.ci/run installs
# them). Where Slurm cannot start (not root, packages missing, a daemon
# that does not come up: its log is shown) it says so
# and exits 0 without testing, unless CI_SLURM_REQUIRED=1 (.ci/run sets
# it): then that is a failure.
# Usage: scripts/ci_slurm.sh [BNSHIFT]     (default ./bnshift, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
BNSHIFT=$(realpath "${1:-./bnshift}")
[ -x "$BNSHIFT" ] || make --no-print-directory bnshift
required=${CI_SLURM_REQUIRED:-0}
skip() {
  echo "ci_slurm: SKIPPED: $*"
  [ "$required" = 1 ] && { echo "ci_slurm: CI_SLURM_REQUIRED=1, so this is a failure"; exit 1; }
  exit 0
}
[ "$(id -u)" = 0 ] || skip "needs root to start munged, slurmctld and slurmd"
for c in munged slurmctld slurmd sbatch sinfo scontrol parallel; do
  command -v "$c" >/dev/null || skip "$c is not installed (apt-get install slurm-wlm munge parallel)"
done

work=$(mktemp -d /tmp/bnshift-ci-slurm.XXXXXX)
conf=$work/etc
mkdir -p "$conf" "$work/spool/ctld" "$work/spool/d" "$work/log" "$work/munge"
chown munge:munge "$work/munge"
host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ { printf "%d", $2 / 1024 / 2 }' /proc/meminfo)
export SLURM_CONF=$conf/slurm.conf
cat >"$SLURM_CONF" <<EOF
ClusterName=bnshift-ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$work/spool/ctld
SlurmdSpoolDir=$work/spool/d
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

stop_all() {
  scontrol shutdown >/dev/null 2>&1 || true
  for f in "$work/slurmctld.pid" "$work/slurmd.pid" "$work/munge/munged.pid"; do
    [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  sleep 1
  pkill -f "slurmd -f $SLURM_CONF" 2>/dev/null || true
  pkill -f "slurmctld -f $SLURM_CONF" 2>/dev/null || true
}
fail() {
  echo "ci_slurm: FAILED: $*"
  for l in "$work"/log/*.log; do echo "--- $l (last 20 lines)"; tail -20 "$l"; done
  stop_all
  exit 1
}
# Slurm would not come up here: its logs, then a skip (a failure when required).
cannot_start() {
  for l in "$work"/log/*.log; do echo "--- $l (last 20 lines)"; tail -20 "$l"; done
  stop_all
  skip "$*"
}
trap stop_all EXIT
trap 'exit 1' INT TERM

# munge: its own socket and pid file here, so a system munged (if any) is
# left alone; slurm finds the socket through its AuthInfo.
echo "AuthInfo=socket=$work/munge/munge.socket" >>"$SLURM_CONF"
if ! munged --socket="$work/munge/munge.socket" --pid-file="$work/munge/munged.pid" \
  --log-file="$work/log/munged.log" --seed-file="$work/munge/seed" --force 2>"$work/log/munged.err"; then
  cat "$work/log/munged.err"
  cannot_start "munged does not start here"
fi
slurmctld -f "$SLURM_CONF" || cannot_start "slurmctld does not start here"
slurmd -f "$SLURM_CONF" || cannot_start "slurmd does not start here"
for _ in $(seq 60); do
  sinfo -h -o %t 2>/dev/null | grep -qE '^idle' && break
  sleep 1
done
sinfo -h -o %t | grep -qE '^idle' || cannot_start "the node never became idle: $(sinfo 2>&1)"
echo "ci_slurm: single-node Slurm up ($(sinfo -h -o '%P %D %c %t'))"

# The grid: 2 norms x 2 seeds of a tiny synthetic ResNet-8, 2 epochs.
cat >"$work/base.json" <<'EOF'
{"name": "ci", "data": {"dataset": "synthetic", "synthetic": {"train": 96, "test": 48, "size": 12}},
 "model": {"arch": "resnet", "depth": 8, "width": 8, "groups": 4},
 "train": {"epochs": 2, "batch_size": 32, "lr": 0.05}}
EOF
grid() {  # grid OUT: a grid file for out dir OUT
  printf '{"base": "%s", "axes": {"model.norm": ["bn", "gn"], "seed": [1, 2]}, "out": "%s"}\n' \
    "$work/base.json" "$1" >"$work/grid-$(basename "$1").json"
  echo "$work/grid-$(basename "$1").json"
}
. scripts/same_run.sh
same_runs() {  # same_runs A B: every run of sweep dir A equals B's
  local n=0 d
  for d in "$1"/*/; do
    d=${d%/}
    local b=$2/$(basename "$d")
    same_run "$d" "$b" || return 1
    n=$((n + 1))
  done
  [ "$n" = 4 ]
}
local_grid=$(grid "$work/local")
BNSHIFT_SHARE_CORES=1 "$BNSHIFT" sweep "$local_grid" --jobs 2 --threads-per-job 1 >/dev/null ||
  fail "the local sweep failed"

# Slurm: submit the emitted array, wait (bounded), check.
slurm_grid=$(grid "$work/slurm")
"$BNSHIFT" sweep "$slurm_grid" --emit slurm --jobs 2 --threads-per-job 1
timeout 300 sbatch --wait "$work/slurm/sweep.sbatch" || fail "the Slurm array did not finish within 300 s"
"$BNSHIFT" sweep --status "$slurm_grid"
[ "$("$BNSHIFT" sweep --status "$slurm_grid" | tail -1)" = "4 runs in $work/slurm: 4 finished, 0 running, 0 interrupted, 0 failed, 0 not started" ] ||
  fail "not every run finished under Slurm"
same_runs "$work/local" "$work/slurm" || fail "the Slurm runs differ from the local ones"
echo "ci_slurm: Slurm job array: 4 runs finished, equal to the local sweep"

# GNU parallel: the emitted command file, run twice (the second run skips).
par_grid=$(grid "$work/parallel")
"$BNSHIFT" sweep "$par_grid" --emit parallel --threads-per-job 1
for _ in 1 2; do
  BNSHIFT_SHARE_CORES=1 timeout 300 parallel --jobs 2 <"$work/parallel/sweep.parallel" >/dev/null ||
    fail "GNU parallel failed on the emitted file"
done
same_runs "$work/local" "$work/parallel" || fail "the GNU parallel runs differ from the local ones"
echo "ci_slurm: GNU parallel command file: 4 runs finished, equal to the local sweep"
stop_all
trap - EXIT
rm -rf "$work"
echo "ci_slurm: passed"
