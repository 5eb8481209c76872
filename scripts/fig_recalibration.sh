#!/usr/bin/env bash
# Experiment 5: for the BN runs of experiments 1 and 2, re-estimate every BN's
# running statistics exactly on the evaluation set and compare the shift and
# the errors before and after (bnshift eval --recalibrate test). Runs
# experiments 1 and 2 first if their runs are missing.
# Usage: scripts/fig_recalibration.sh [--smoke]
source "$(dirname "$0")/common.sh"
exp=$EXPS/recalibration
scripts/fig_accumulation.sh "${SMOKE_ARGS[@]}"
scripts/fig_distribution_shift.sh "${SMOKE_ARGS[@]}"
mkdir -p $exp
out=$exp/recalibration.txt
timer_start
{
  echo "# per run: errors (inference mode, and with batch statistics), then the mean over BN"
  echo "# layers of esm_mean and nesm_std on the test set, before and after recalibration"
} > "$out"
recal_runs="$RUNS/accumulation/mlp-bn-b16 $RUNS/accumulation/resnet20-bn-b16
            $RUNS/distribution_shift/mlp-bn-n500 $RUNS/distribution_shift/mlp-bn-n5000"
for run in $recal_runs; do
  rm -f "$run/eval.csv"
  "$BNSHIFT" eval "$run" --recalibrate test --threads "$THREADS" | grep -v '^        ' | tee -a "$out"
  # eval.csv: ...,stage(3),set(4),...,esm_mean(12),...,nesm_std(18)
  awk -F, -v run="$run" 'NR > 1 && $4 == "test" { n[$3]++; m[$3] += $12; s[$3] += $18 }
    END { printf "%s: mean esm_mean %.4g -> %.4g, mean nesm_std %.4g -> %.4g\n", run,
          m["before"] / n["before"], m["after"] / n["after"], s["before"] / n["before"], s["after"] / n["after"] }' \
    "$run/eval.csv" | tee -a "$out"
done
# beside RESULTS.md: the runs with their before/after-recalibration tables
"$BNSHIFT" report $recal_runs --out $exp/report.html
timer_report "recalibration" | tee -a "$out"
