#!/usr/bin/env bash
# bnshift against PyTorch 1.13 (Debian's python3-torch, whose CPU convolutions
# run on oneDNN) on the same ResNet-20, batch, threads and machine, one after
# the other in the same run: training images/s, inference images/s, peak
# memory, and the ratios. --arch times a block family instead of ResNet-20
# (bottleneck ResNet-29, ResNeXt-29 w16 8x4, MobileNetV2 x1.0, ShuffleNetV2
# x1.0, Inception v2/v3 width 16, AlexNet width 64 (bn only); --norm bn
# or xbnblock), the PyTorch side built by
# scripts/reference/families.py (checked against bnshift by the fixtures).
# --repeat R runs both sides R times, alternating, and keeps each side's
# best figure (most images/s, least memory): on a shared machine a single
# pair can land on a busy moment for one side only.
# Usage: scripts/bench_vs_pytorch.sh [--threads N] [--batch B] [--steps K] [--repeat R]
#          [--arch resnet20|bottleneck|resnext|mobilenetv2|shufflenetv2|inception|inception-v3|alexnet] [--norm bn|gn|xbnblock]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=$(nproc) batch=128 steps=20 norm=bn arch=resnet20 repeat=1
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift ;;
    --batch) batch=$2; shift ;;
    --steps) steps=$2; shift ;;
    --norm) norm=$2; shift ;;
    --arch) arch=$2; shift ;;
    --repeat) repeat=$2; shift ;;
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
# GroupNorm with 16 groups on both sides when --norm gn (resnet20); the
# families' own default groups otherwise.
groups=16
case $arch in
  resnet20) family=() ;;
  bottleneck) family=(--set model.block=bottleneck --set model.depth=29) ;;
  resnext) family=(--set model.arch=resnext --set model.depth=29 --set model.cardinality=8 --set model.group_width=4) ;;
  mobilenetv2) family=(--set model.arch=mobilenetv2 --set model.width_mult=1.0); groups=16 ;;
  shufflenetv2) family=(--set model.arch=shufflenetv2 --set model.width_mult=1.0); groups=29 ;;
  inception) family=(--set model.arch=inception --set model.inception=v2 --set model.width=16); groups=8 ;;
  inception-v3) family=(--set model.arch=inception --set model.inception=v3 --set model.width=16); groups=8 ;;
  alexnet) family=(--set model.arch=alexnet --set model.width=64); groups=16 ;;
  *) echo "bench_vs_pytorch.sh: unknown --arch $arch" >&2; exit 2 ;;
esac
[ "$arch" = resnet20 ] || [ "$norm" != gn ] || { echo "bench_vs_pytorch.sh: --arch $arch takes --norm bn or xbnblock" >&2; exit 2; }
num() { grep "$1" "$2" | head -1 | grep -o "$3" | head -1 | grep -o '^[0-9.]*'; }
# best VALUES...: the largest (images/s); least VALUES...: the smallest (MiB).
best() { printf '%s\n' "$@" | sort -g | tail -1; }
least() { printf '%s\n' "$@" | sort -g | head -1; }
b_train=() b_inf=() b_esm=() b_mem=() t_train=() t_inf=() t_mem=()
for r in $(seq "$repeat"); do
  [ "$repeat" = 1 ] || echo "== round $r of $repeat"
  ./bnshift bench --threads "$threads" --batch "$batch" --steps "$steps" "${family[@]}" \
    --set model.norm="$norm" --set model.groups=$groups | tee "$ours"
  echo
  /usr/bin/python3 scripts/reference/bench_torch.py --threads "$threads" --batch "$batch" \
    --steps "$steps" --arch "$arch" --norm "$norm" --groups $groups | tee "$theirs"
  b_train+=("$(num '^train step' "$ours" '[0-9.]* images/s')")
  b_inf+=("$(num '^inference:' "$ours" '[0-9.]* images/s')")
  b_esm+=("$(num '^inference + ESM' "$ours" '[0-9.]* images/s')")
  b_mem+=("$(num '^peak' "$ours" '[0-9.]* MiB')")
  t_train+=("$(num 'torch train' "$theirs" '[0-9.]* images/s')")
  t_inf+=("$(num 'torch inference' "$theirs" '[0-9.]* images/s')")
  t_mem+=("$(num 'torch peak' "$theirs" '[0-9.]* MiB')")
done
echo
echo "$arch ($norm), batch $batch, $threads threads, $(date -u +%F)$([ "$repeat" = 1 ] || echo ", best of $repeat alternating rounds")"
row() { awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%-28s %10.1f %10.1f %8.2f\n", l, a, b, a / b }'; }
printf '%-28s %10s %10s %8s\n' "" bnshift pytorch ratio
row "train images/s" "$(best "${b_train[@]}")" "$(best "${t_train[@]}")"
row "inference images/s" "$(best "${b_inf[@]}")" "$(best "${t_inf[@]}")"
row "inference + ESM images/s (*)" "$(best "${b_esm[@]}")" "$(best "${t_inf[@]}")"
row "peak resident MiB" "$(least "${b_mem[@]}")" "$(least "${t_mem[@]}")"
echo "(*) the pass of bnshift run: inference that also accumulates every BN input's exact statistics."
