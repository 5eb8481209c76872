#!/usr/bin/env bash
# Data-parallel training under a real mpirun: builds `make MPI=1` beside the
# tested build ($BUILD/mpi) and runs the check suite `mpi` (tests/test_mpi.c:
# sync BN with 2 ranks = one process, local BN = a replay of two
# half-batches, resume under 2 ranks = uninterrupted, the refusals).
# Usage: scripts/ci_mpi.sh [BNSHIFT_BIN]   (BUILD, BACKEND from the environment)
# Skipped with a message where OpenMPI is not installed; CI_MPI_REQUIRED=1
# (set by .ci/run, which installs it) makes that a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BACKEND=${BACKEND:-onednn}
BIN=${1:-$BUILD/bnshift}
# Shared-memory transfers without ptrace rights (containers): a copy through a buffer.
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
if ! command -v mpirun >/dev/null || ! pkg-config --exists ompi-c 2>/dev/null; then
  msg="ci_mpi: OpenMPI is not installed (apt-get install openmpi-bin libopenmpi-dev): data-parallel tests skipped"
  if [ "${CI_MPI_REQUIRED:-0}" = 1 ]; then
    echo "$msg, but CI_MPI_REQUIRED=1" >&2
    exit 1
  fi
  echo "$msg"
  exit 0
fi
make --no-print-directory -s MPI=1 BACKEND="$BACKEND" BUILD="$BUILD/mpi" "$BUILD/mpi/bnshift" >/dev/null
make --no-print-directory -s BACKEND="$BACKEND" BUILD="$BUILD" "$BUILD/run_tests" >/dev/null
# One thread per rank: two ranks share the two cores of the test machine.
timeout 600 env CK_RUN_SUITE=mpi CK_DEFAULT_TIMEOUT=300 OMP_NUM_THREADS=1 BNSHIFT_SHARE_CORES=1 \
  BNSHIFT_BIN="$BIN" BNSHIFT_MPI_BIN="$BUILD/mpi/bnshift" "$BUILD/run_tests"
# The experiment driver in its smoke size (4 small runs, its tables and figures).
smoke=$(mktemp -d "${TMPDIR:-/tmp}/bnshift-ci-mpi.XXXXXX")
trap 'rm -rf "$smoke"' EXIT
out=$(SMOKE_DIR=$smoke BNSHIFT="$BIN" MPI_BNSHIFT="$BUILD/mpi/bnshift" timeout 300 scripts/fig_distributed_bn.sh --smoke 2>&1) ||
  { echo "$out"; echo "ci_mpi: scripts/fig_distributed_bn.sh --smoke failed" >&2; exit 1; }
echo "ci_mpi: fig_distributed_bn.sh --smoke: ok"
