#!/usr/bin/env bash
# bnshift against PyTorch 1.13 (Debian's python3-torch, whose CPU convolutions
# run on oneDNN) on the same ResNet-20, batch, threads and machine, one after
# the other in the same run: training images/s, inference images/s, peak
# memory, and the ratios.
# Usage: scripts/bench_vs_pytorch.sh [--threads N] [--batch B] [--steps K] [--norm bn|gn]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=$(nproc) batch=128 steps=20 norm=bn
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift ;;
    --batch) batch=$2; shift ;;
    --steps) steps=$2; shift ;;
    --norm) norm=$2; shift ;;
    *) echo "bench_vs_pytorch.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get install -y --no-install-recommends python3-torch
fi
[ -x ./bnshift ] || make --no-print-directory bnshift
ours=$(mktemp) theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT
# GroupNorm with 16 groups on both sides when --norm gn.
./bnshift bench --threads "$threads" --batch "$batch" --steps "$steps" \
  --set model.norm="$norm" --set model.groups=16 | tee "$ours"
echo
/usr/bin/python3 scripts/reference/bench_torch.py --threads "$threads" --batch "$batch" \
  --steps "$steps" --norm "$norm" --groups 16 | tee "$theirs"
num() { grep "$1" "$2" | head -1 | grep -o "$3" | head -1 | grep -o '^[0-9.]*'; }
b_train=$(num '^train step' "$ours" '[0-9.]* images/s')
b_inf=$(num '^inference' "$ours" '[0-9.]* images/s')
b_mem=$(num '^peak' "$ours" '[0-9.]* MiB')
t_train=$(num 'torch train' "$theirs" '[0-9.]* images/s')
t_inf=$(num 'torch inference' "$theirs" '[0-9.]* images/s')
t_mem=$(num 'torch peak' "$theirs" '[0-9.]* MiB')
echo
echo "ResNet-20 ($norm), batch $batch, $threads threads, $(date -u +%F)"
row() { awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%-28s %10.1f %10.1f %8.2f\n", l, a, b, a / b }'; }
printf '%-28s %10s %10s %8s\n' "" bnshift pytorch ratio
row "train images/s" "$b_train" "$t_train"
row "inference images/s (*)" "$b_inf" "$t_inf"
row "peak resident MiB" "$b_mem" "$t_mem"
echo "(*) bnshift's inference pass also accumulates every BN input's exact statistics (the ESM pass)."
