#!/usr/bin/env bash
# Experiment 5: for the BN runs of experiments 1 and 2, re-estimate every BN's
# running statistics exactly on the evaluation set and compare the shift and
# the error gap before and after (bnshift eval --recalibrate test).
source "$(dirname "$0")/common.sh"
exp=experiments/recalibration
mkdir -p $exp
out=$exp/recalibration.txt
: > "$out"
for run in runs/accumulation/mlp-bn-b16 runs/accumulation/resnet20-bn-b16 \
           runs/distribution_shift/mlp-bn-n500 runs/distribution_shift/mlp-bn-n5000; do
  [ -f "$run/checkpoint.bin" ] || { echo "missing $run: run scripts/fig_accumulation.sh and scripts/fig_distribution_shift.sh first" >&2; exit 2; }
  rm -f "$run/eval.csv"
  "$BNSHIFT" eval "$run" --recalibrate test --threads "$THREADS" | grep -v '^        ' | tee -a "$out"
done
