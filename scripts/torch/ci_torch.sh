#!/bin/sh
# The PyTorch round trip of `bnshift export` / `eval --weights` for CI and
# make test: scripts/torch/check_export.py --all-families in a temporary
# directory (removed on exit), under a time limit. Skips (exit 0) when
# Debian's /usr/bin/python3 has no torch; CI_TORCH_REQUIRED=1 makes that a
# failure. Usage: scripts/torch/ci_torch.sh [BNSHIFT]   (default ./bnshift)
# CI_TORCH_PYTHON: another interpreter (default /usr/bin/python3).
# CI_TORCH_TIMEOUT: the limit in seconds (default 240; the check takes ~35 s
# on a 2-core machine, so only a hang or a badly overloaded machine reaches it).
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-${BNSHIFT:-./bnshift}}
py=${CI_TORCH_PYTHON:-/usr/bin/python3}  # Debian's interpreter, where python3-torch lives
limit=${CI_TORCH_TIMEOUT:-240}

if ! "$py" -c 'import torch' >/dev/null 2>&1; then
    if [ "${CI_TORCH_REQUIRED:-0}" = 1 ]; then
        echo "ci_torch.sh: FAIL: $py cannot import torch (install python3-torch), and CI_TORCH_REQUIRED=1" >&2
        exit 1
    fi
    echo "ci_torch.sh: skipped: $py cannot import torch (Debian's python3-torch); CI_TORCH_REQUIRED=1 makes this a failure"
    exit 0
fi
if [ ! -x "$bin" ]; then
    echo "ci_torch.sh: FAIL: $bin is not an executable bnshift" >&2
    exit 1
fi
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bnshift-torch.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The runs here must not wait for cores other bnshift runs hold (README:
# runs queue for cores): the numbers do not depend on it.
export BNSHIFT_SHARE_CORES=1
start=$(date +%s)
# One thread for torch and bnshift (--threads 1 sets OMP_NUM_THREADS for the
# bnshift commands): the models are tiny, so more threads only wait for each
# other (34 s instead of 65 s on a busy 2-core machine).
# --kill-after: a stuck child cannot outlive the limit.
timeout --kill-after=5 "$limit" "$py" "$here/check_export.py" --all-families "$tmp/runs" --bnshift "$bin" \
    --threads 1
rc=$?
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    echo "ci_torch.sh: FAIL: check_export.py --all-families ran past ${limit} s" >&2
    exit 1
fi
echo "ci_torch.sh: check_export.py --all-families exited $rc after $(( $(date +%s) - start )) s"
exit $rc
