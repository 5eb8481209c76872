#!/usr/bin/env bash
# Experiment 3 (paper Figs. 4-5): GroupNorm at the odd norm positions blocks
# the accumulation. Uses the bn/gnbn runs of experiments 1 and 2 (runs them
# if missing) and draws them side by side.
# Usage: scripts/fig_gnbn.sh [--smoke]
source "$(dirname "$0")/common.sh"
exp=$EXPS/gnbn
last=$(last_epoch 30)
scripts/fig_accumulation.sh "${SMOKE_ARGS[@]}"
scripts/fig_distribution_shift.sh "${SMOKE_ARGS[@]}"
acc=$RUNS/accumulation shift=$RUNS/distribution_shift
"$BNSHIFT" plot-data $acc/mlp-bn-b16 $acc/mlp-gnbn-b16 \
  $acc/resnet20-bn-b16 $acc/resnet20-gnbn-b16 --out $exp/data-accumulation
"$BNSHIFT" plot-data $shift/mlp-bn-n* $shift/mlp-gnbn-n* --out $exp/data-shift
"$BNSHIFT" report $acc/mlp-bn-b16 $acc/mlp-gnbn-b16 $acc/resnet20-bn-b16 $acc/resnet20-gnbn-b16 \
  $shift/mlp-bn-n* $shift/mlp-gnbn-n* --out $exp/report.html  # beside RESULTS.md: the runs drawn here
mkdir -p $exp/figures
scripts/plot_series.sh $exp/data-accumulation/shift_vs_depth_test.dat 1 6 "depth (position among all norms)" \
  "RMS |running mean - true mean|" "BN vs GNBN, same samples (S' = S)" $exp/figures/accumulation_depth.png \
  --match 'epoch 1$'
scripts/plot_series.sh $exp/data-shift/shift_vs_depth_test.dat 1 6 "depth (position among all norms)" \
  "RMS |running mean - true mean| on S'" "BN vs GNBN under distribution shift, last epoch" \
  $exp/figures/shift_depth.png --match "n(500|5000) epoch $last\$"
scripts/plot_series.sh $exp/data-accumulation/shift_vs_depth_test.dat 1 9 "depth (position among all norms)" \
  "RMS (running sigma / true sigma - 1)" "BN vs GNBN, same samples (S' = S): scale-free std shift" \
  $exp/figures/accumulation_nesm_std.png --match "mlp.*epoch $last\$"
