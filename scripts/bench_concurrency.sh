#!/usr/bin/env bash
# Two bnshift runs side by side against the same two runs one after the
# other, at --threads 1 and at the default thread count (all cores), under
#   bnshift    what bnshift does unless told otherwise: a run waits for free
#              cores (cmd/core_slots.c), idle threads spin briefly
#              (GOMP_SPINCOUNT=10000 set by cmd/wait_policy.c)
#   share      BNSHIFT_SHARE_CORES=1: the runs share the cores at once
#   spin       sharing, with libgomp's own default (GOMP_SPINCOUNT=300000:
#              idle threads spin for milliseconds before they sleep)
#   passive    sharing, with OMP_WAIT_POLICY=passive (idle threads sleep)
#   spinN      sharing, with GOMP_SPINCOUNT=N
# and what each spin policy costs one run alone (`bnshift bench` at batch 16
# and 128, training and inference + ESM images/s). Every run is the demo
# config shortened to EPOCHS epochs; the side-by-side runs' shift.csv and
# metrics.csv (but its timing columns) must equal the one-after-the-other
# runs' (same threads), which the script checks. Writes concurrency.dat,
# single.dat and concurrency.png (gnuplot) into --out.
# The single-run figures are the median of --single-rounds R rounds (default
# 3), the policies alternated within each round: one pass per policy moved
# by +-10% with the host and read as a policy's cost.
# Usage: scripts/bench_concurrency.sh [--out DIR] [--epochs E] [--config C.json]
#          [--policies "bnshift share spin passive"] [--single-rounds R]
set -euo pipefail
cd "$(dirname "$0")/.."
out=/tmp/bnshift-concurrency epochs=1 config=configs/demo.json policies="bnshift share spin passive" single_rounds=3
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift ;;
    --epochs) epochs=$2; shift ;;
    --config) config=$2; shift ;;
    --policies) policies=$2; shift ;;
    --single-rounds) single_rounds=$2; shift ;;
    *) echo "bench_concurrency.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $single_rounds =~ ^[1-9][0-9]*$ ]] ||
  { echo "bench_concurrency.sh: --single-rounds takes a positive integer, got '$single_rounds'" >&2; exit 2; }
[ -x ./bnshift ] || make --no-print-directory bnshift
cores=$(nproc)
mkdir -p "$out"
runs="$out/runs"
rm -rf "$runs"
mkdir -p "$runs"

# with_policy POLICY CMD...: CMD under the policy's environment.
with_policy() {
  local p=$1
  shift
  case $p in
    bnshift) env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT -u BNSHIFT_SHARE_CORES "$@" ;;
    share) env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT BNSHIFT_SHARE_CORES=1 "$@" ;;
    spin) env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=300000 BNSHIFT_SHARE_CORES=1 "$@" ;;
    passive) env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=passive BNSHIFT_SHARE_CORES=1 "$@" ;;
    spin[0-9]*) env -u OMP_WAIT_POLICY GOMP_SPINCOUNT="${p#spin}" BNSHIFT_SHARE_CORES=1 "$@" ;;
    *) echo "bench_concurrency.sh: unknown policy $p" >&2; exit 2 ;;
  esac
}
# one POLICY THREADS NAME SEED: one shortened demo run into $runs/NAME.
one() {
  with_policy "$1" ./bnshift run "$config" --quiet --threads "$2" --out "$runs/$3" \
    --set train.epochs="$epochs" --set seed="$4"
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
. scripts/same_run.sh
# shellcheck source=scripts/median.sh
. scripts/median.sh

echo "# policy threads sequential_s side_by_side_s speedup identical" >"$out/concurrency.dat"
rm -f "$out"/plot-t*.dat
for p in $policies; do
  for t in 1 "$cores"; do
    t0=$(now)
    one "$p" "$t" "$p-t$t-seq-a" 1
    one "$p" "$t" "$p-t$t-seq-b" 2
    t1=$(now)
    one "$p" "$t" "$p-t$t-par-a" 1 &
    pa=$!
    one "$p" "$t" "$p-t$t-par-b" 2 &
    pb=$!
    wait $pa
    wait $pb
    t2=$(now)
    seq_s=$(elapsed "$t0" "$t1") par_s=$(elapsed "$t1" "$t2")
    ident=no
    if same_run "$runs/$p-t$t-seq-a" "$runs/$p-t$t-par-a" && same_run "$runs/$p-t$t-seq-b" "$runs/$p-t$t-par-b"; then
      ident=yes
    fi
    speed=$(awk -v a="$seq_s" -v b="$par_s" 'BEGIN { printf "%.2f", a / b }')
    echo "$p $t $seq_s $par_s $speed $ident" | tee -a "$out/concurrency.dat"
    echo "$p $seq_s $par_s" >>"$out/plot-t$t.dat"
  done
done

# What each policy costs a single run (nothing else running): every round
# runs each policy once per batch, alternated; single.dat gets the medians.
rounds_file="$out/single-rounds.dat"
echo "# round policy batch train_img_s inference_esm_img_s" >"$rounds_file"
alone=${policies//share/}  # share runs bnshift's threads when alone
for r in $(seq 1 "$single_rounds"); do
  for b in 16 128; do
    for p in $alone; do
      log=$(with_policy "$p" ./bnshift bench --batch "$b" --steps 20)
      tr=$(grep '^train step' <<<"$log" | grep -o '[0-9.]* images/s' | grep -o '^[0-9.]*')
      inf=$(grep '^inference + ESM' <<<"$log" | grep -o '[0-9.]* images/s' | grep -o '^[0-9.]*')
      echo "$r $p $b $tr $inf" | tee -a "$rounds_file"
    done
  done
done
echo "# policy batch train_img_s inference_esm_img_s (medians of $single_rounds rounds)" >"$out/single.dat"
for p in $alone; do
  for b in 16 128; do
    tr=$(awk -v p="$p" -v b="$b" '$2 == p && $3 == b { print $4 }' "$rounds_file" | median)
    inf=$(awk -v p="$p" -v b="$b" '$2 == p && $3 == b { print $5 }' "$rounds_file" | median)
    echo "$p $b $tr $inf" | tee -a "$out/single.dat"
  done
done

gnuplot <<GP
set terminal pngcairo size 1100,440 font "sans,10"
set output "$out/concurrency.png"
set multiplot layout 1,2 title "Two runs of the demo config ($epochs epoch(s)) on $cores cores: one after the other vs side by side"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set ylabel "wall seconds for both runs"
set key top left
set grid ytics
set yrange [0:*]
set xlabel "bnshift: runs queue for cores; share, spin, passive: side by side (spin: libgomp default)"
set title "--threads 1"
plot "$out/plot-t1.dat" using 2:xtic(1) title "one after the other", "" using 3 title "side by side"
set title "--threads $cores (default)"
plot "$out/plot-t$cores.dat" using 2:xtic(1) title "one after the other", "" using 3 title "side by side"
unset multiplot
GP
echo "wrote $out/concurrency.dat, $out/single.dat (and single-rounds.dat), $out/concurrency.png"
