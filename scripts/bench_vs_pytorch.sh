#!/usr/bin/env bash
# bnshift against PyTorch 1.13 (Debian's python3-torch, whose CPU convolutions
# run on oneDNN) on the same network, batch, threads and machine, one after
# the other in the same run: training images/s, inference images/s, peak
# memory, and the ratios.
#   --arch times a block family instead of ResNet-20 (bottleneck ResNet-29,
#     ResNeXt-29 w16 8x4, MobileNetV2 x1.0, ShuffleNetV2 x1.0, Inception v2/v3
#     width 16, AlexNet width 64 (bn only); --norm bn or xbnblock), the
#     PyTorch side built by scripts/reference/families.py (checked against
#     bnshift by the fixtures). ResNet-20 takes --norm bn|gnbn|xbnblock|gn.
#   --shape 32x32x3 (default) or 28x28x1 (the demo's Fashion-MNIST size).
#   The PyTorch side runs with glibc malloc's mmap threshold raised
#     (BENCH_TORCH_MALLOC=tuned, the default; =glibc for glibc's defaults;
#     scripts/bench_common.sh says why).
#   Inference is timed over 1024 images in batches of B, each side the best
#     of 3 passes after a warm-up one (bnshift bench; bench_torch.py).
#   --repeat R runs both sides R times, alternating, and keeps each side's
#     best figure (most images/s, least memory): on a shared machine a single
#     pair can land on a busy moment for one side only.
#   --matrix prints the whole performance table of docs/PERFORMANCE.md in one
#     run: ResNet-20 in every norm x batch x thread count x shape, then every
#     family at batch 32 on 32x32x3, 2 threads (steps 5: PyTorch's
#     MobileNetV2 trains at ~20 images/s here). The lists can be narrowed
#     with MATRIX_NORMS, MATRIX_BATCHES, MATRIX_THREADS, MATRIX_SHAPES and
#     MATRIX_FAMILIES (space-separated; MATRIX_FAMILIES= skips the families).
# Usage: scripts/bench_vs_pytorch.sh [--threads N] [--batch B] [--steps K] [--repeat R]
#          [--arch resnet20|bottleneck|resnext|mobilenetv2|shufflenetv2|inception|inception-v3|alexnet]
#          [--norm bn|gnbn|xbnblock|gn] [--shape 32x32x3|28x28x1] [--matrix]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=$(nproc) batch=128 steps=20 norm=bn arch=resnet20 repeat=1 shape=32x32x3 matrix=0
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift ;;
    --batch) batch=$2; shift ;;
    --steps) steps=$2; shift ;;
    --norm) norm=$2; shift ;;
    --arch) arch=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --shape) shape=$2; shift ;;
    --matrix) matrix=1 ;;
    *) echo "bench_vs_pytorch.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
. scripts/bench_common.sh
ours=$(mktemp) theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT

# The --set arguments of a family (array `family`) and its GroupNorm groups
# (both sides use the same: 16 for ResNet-20, the family's own otherwise).
family_args() {
  groups=16
  case $1 in
    resnet20) family=() ;;
    bottleneck) family=(--set model.block=bottleneck --set model.depth=29) ;;
    resnext) family=(--set model.arch=resnext --set model.depth=29 --set model.cardinality=8 --set model.group_width=4) ;;
    mobilenetv2) family=(--set model.arch=mobilenetv2 --set model.width_mult=1.0) ;;
    shufflenetv2) family=(--set model.arch=shufflenetv2 --set model.width_mult=1.0); groups=29 ;;
    inception) family=(--set model.arch=inception --set model.inception=v2 --set model.width=16); groups=8 ;;
    inception-v3) family=(--set model.arch=inception --set model.inception=v3 --set model.width=16); groups=8 ;;
    alexnet) family=(--set model.arch=alexnet --set model.width=64) ;;
    *) echo "bench_vs_pytorch.sh: unknown --arch $1" >&2; exit 2 ;;
  esac
  case $1/$2 in
    resnet20/bn|resnet20/gnbn|resnet20/xbnblock|resnet20/gn|alexnet/bn) ;;
    alexnet/*) echo "bench_vs_pytorch.sh: --arch alexnet takes --norm bn" >&2; exit 2 ;;
    */bn|*/xbnblock) ;;
    *) echo "bench_vs_pytorch.sh: --arch $1 takes --norm bn or xbnblock" >&2; exit 2 ;;
  esac
}
shape_args() {
  case $1 in
    32x32x3) size=32 channels=3 ;;
    28x28x1) size=28 channels=1 ;;
    *) echo "bench_vs_pytorch.sh: --shape takes 32x32x3 or 28x28x1, got $1" >&2; exit 2 ;;
  esac
}
num() { grep "$1" "$2" | head -1 | grep -o "$3" | head -1 | grep -o '^[0-9.]*'; }
# best VALUES...: the largest (images/s); least VALUES...: the smallest (MiB).
best() { printf '%s\n' "$@" | sort -g | tail -1; }
least() { printf '%s\n' "$@" | sort -g | head -1; }

# measure ARCH NORM BATCH THREADS SHAPE STEPS REPEAT: both sides REPEAT times;
# sets B_TRAIN B_INF B_ESM B_MEM B_SGEMM B_USEFUL T_TRAIN T_INF T_MEM (bests)
# and B_CONV T_CONV (the least ms of a training step in convolutions; the
# least percent of PyTorch's profiled step in them).
measure() {
  local a=$1 n=$2 b=$3 t=$4 sh=$5 k=$6 rep=$7 r
  family_args "$a" "$n"
  shape_args "$sh"
  local tr=() inf=() esm=() mem=() gemm=() useful=() ttr=() tinf=() tmem=() conv=() tconv=() floor=()
  for r in $(seq "$rep"); do
    [ "$rep" = 1 ] || echo "== round $r of $rep"
    ./bnshift bench --threads "$t" --batch "$b" --steps "$k" "${family[@]}" \
      --set model.norm="$n" --set model.groups=$groups \
      --set data.synthetic.channels=$channels --set data.synthetic.size=$size | tee "$ours"
    echo
    torch_py scripts/reference/bench_torch.py --threads "$t" --batch "$b" \
      --steps "$k" --arch "$a" --norm "$n" --groups $groups --size $size --channels $channels | tee "$theirs"
    tr+=("$(num '^train step' "$ours" '[0-9.]* images/s')")
    inf+=("$(num '^inference:' "$ours" '[0-9.]* images/s')")
    esm+=("$(num '^inference + ESM' "$ours" '[0-9.]* images/s')")
    mem+=("$(num '^peak' "$ours" '[0-9.]* MiB')")
    gemm+=("$(num '^sgemm' "$ours" '[0-9.]* GFLOP/s')")
    useful+=("$(num 'GFLOP/s useful' "$ours" '[0-9.]* GFLOP/s')")
    ttr+=("$(num 'torch train' "$theirs" '[0-9.]* images/s')")
    tinf+=("$(num 'torch inference' "$theirs" '[0-9.]* images/s')")
    tmem+=("$(num 'torch peak' "$theirs" '[0-9.]* MiB')")
    conv+=("$(num '^  conv ' "$ours" '[0-9.]* ms')")
    tconv+=("$(num 'torch train step convolutions' "$theirs" '[0-9.]* %')")
    floor+=("$(num 'the step with norms at the floor' "$ours" '[0-9.]* ms$')")
  done
  B_TRAIN=$(best "${tr[@]}") B_INF=$(best "${inf[@]}") B_ESM=$(best "${esm[@]}")
  B_MEM=$(least "${mem[@]}") B_SGEMM=$(best "${gemm[@]}") B_USEFUL=$(best "${useful[@]}")
  T_TRAIN=$(best "${ttr[@]}") T_INF=$(best "${tinf[@]}") T_MEM=$(least "${tmem[@]}")
  B_CONV=$(least "${conv[@]}") T_CONV=$(least "${tconv[@]}") BATCH=$b  # T_CONV: percent of its step
  B_FLOOR=$(least "${floor[@]}")  # ms: the step with the norms at their memory floor
}
# Where a training step's time goes (ms per step from the best images/s,
# split into convolutions and the rest; PyTorch's split by the share its
# profiler saw), and the ratio bnshift would reach
# if everything but its convolutions took no time: PyTorch's step over
# bnshift's convolutions. Where that bound is under a target, no work
# outside the convolutions can meet it. The last column is the nearer
# bound: the norms taking only the time of the bytes they must move at the
# machine's stream rate (bnshift bench's "norm floor"), the rest as measured.
split_row() {  # ARCH NORM SHAPE BATCH THREADS: a markdown row of the last measure
  awk -v l="| $1 | $2 | $3 | $4 | $5 |" -v b="$BATCH" -v bt="$B_TRAIN" -v tt="$T_TRAIN" -v bc="$B_CONV" -v tc="$T_CONV" -v bf="$B_FLOOR" 'BEGIN {
    bs = 1000 * b / bt; ts = 1000 * b / tt; tc = ts * tc / 100
    printf "%s %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | **%.2f** | %s |\n", l, bs, bc, bs - bc, ts, tc, ts - tc, tc / bc, ts / bc,
      (bf > 0 ? sprintf("**%.2f**", ts / bf) : "-") }'
}
split_header() {
  echo "| arch | norm | input | batch | threads | bnshift step ms | conv | other | PyTorch step ms | conv (profiled) | other | conv speed ratio | training ratio if bnshift's non-conv work took 0 ms | training ratio with bnshift's norms at their memory floor |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

if [ "$matrix" = 1 ]; then
  table=$(mktemp) split=$(mktemp)
  trap 'rm -f "$ours" "$theirs" "$table" "$split"' EXIT
  norms=${MATRIX_NORMS-bn gnbn xbnblock gn} batches=${MATRIX_BATCHES-16 32 128}
  thread_list=${MATRIX_THREADS-1 2} shapes=${MATRIX_SHAPES-32x32x3 28x28x1}
  families=${MATRIX_FAMILIES-bottleneck resnext mobilenetv2 shufflenetv2 inception inception-v3 alexnet}
  started=$(date -u '+%F %H:%M')
  row() {  # ARCH NORM SHAPE BATCH THREADS: a markdown row of the last measure
    echo "| $1 | $2 | $3 | $4 | $5 | $B_TRAIN | $T_TRAIN | **$(ratio "$B_TRAIN" "$T_TRAIN")** | $B_ESM | $T_INF |" \
      "**$(ratio "$B_ESM" "$T_INF")** | $(ratio "$B_INF" "$T_INF") | $(ratio "$B_MEM" "$T_MEM") |" >>"$table"
    split_row "$@" >>"$split"
  }
  for sh in $shapes; do
    for n in $norms; do
      for b in $batches; do
        for t in $thread_list; do
          echo "=== resnet20 $n $sh batch $b threads $t"
          measure resnet20 "$n" "$b" "$t" "$sh" "$steps" "$repeat" >/dev/null
          row resnet20 "$n" "$sh" "$b" "$t"
          [ "$n/$b/$t/$sh" != bn/128/2/32x32x3 ] || sgemm_line="BN ResNet-20 batch 128, 2 threads: $B_USEFUL GFLOP/s useful = $(awk -v a="$B_USEFUL" -v b="$B_SGEMM" 'BEGIN { printf "%.0f", 100 * a / b }')% of the same run's sgemm ($B_SGEMM GFLOP/s)"
        done
      done
    done
  done
  for a in $families; do
    for n in bn xbnblock; do
      [ "$a/$n" != alexnet/xbnblock ] || continue
      echo "=== $a $n 32x32x3 batch 32 threads 2"
      measure "$a" "$n" 32 2 32x32x3 5 "$repeat" >/dev/null
      row "$a" "$n" 32x32x3 32 2
    done
  done
  echo
  echo "bnshift vs PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), $started to $(date -u '+%H:%M') UTC, $(nproc) cores, PyTorch malloc: $BENCH_TORCH_MALLOC$([ "$repeat" = 1 ] || echo ", best of $repeat alternating rounds")"
  echo "${sgemm_line:-sgemm 1024^3 (last cell): $B_SGEMM GFLOP/s}"
  echo
  echo "| arch | norm | input | batch | threads | train img/s bnshift | PyTorch | ratio | inference + ESM img/s bnshift | PyTorch inference | ratio | inference-only ratio | peak memory ratio |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  cat "$table"
  echo
  echo "Where a training step goes (ms per step at the best images/s above; PyTorch's split by the convolutions' share of a profiled step):"
  echo
  split_header
  cat "$split"
  exit 0
fi

measure "$arch" "$norm" "$batch" "$threads" "$shape" "$steps" "$repeat"
echo
echo "$arch ($norm), $shape, batch $batch, $threads threads, PyTorch malloc $BENCH_TORCH_MALLOC, $(date -u +%F)$([ "$repeat" = 1 ] || echo ", best of $repeat alternating rounds")"
line() { awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%-28s %10.1f %10.1f %8.2f\n", l, a, b, a / b }'; }
printf '%-28s %10s %10s %8s\n' "" bnshift pytorch ratio
line "train images/s" "$B_TRAIN" "$T_TRAIN"
line "inference images/s" "$B_INF" "$T_INF"
line "inference + ESM images/s (*)" "$B_ESM" "$T_INF"
line "peak resident MiB" "$B_MEM" "$T_MEM"
echo "(*) the pass of bnshift run: inference that also accumulates every BN input's exact statistics."
echo
split_header
split_row "$arch" "$norm" "$shape" "$batch" "$threads"
