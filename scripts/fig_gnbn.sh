#!/usr/bin/env bash
# Experiment 3 (paper Figs. 4-5): GroupNorm at the odd norm positions blocks
# the accumulation. Uses the bn/gnbn runs of experiments 1 and 2 (runs them
# if missing) and draws them side by side.
source "$(dirname "$0")/common.sh"
exp=experiments/gnbn
scripts/fig_accumulation.sh
scripts/fig_distribution_shift.sh
"$BNSHIFT" plot-data runs/accumulation/mlp-bn-b16 runs/accumulation/mlp-gnbn-b16 \
  runs/accumulation/resnet20-bn-b16 runs/accumulation/resnet20-gnbn-b16 --out $exp/data-accumulation
"$BNSHIFT" plot-data runs/distribution_shift/mlp-bn-n* runs/distribution_shift/mlp-gnbn-n* --out $exp/data-shift
mkdir -p $exp/figures
scripts/plot_series.sh $exp/data-accumulation/shift_vs_depth_test.dat 1 6 "depth (position among all norms)" \
  "RMS |running mean - true mean|" "BN vs GNBN, same samples (S' = S)" $exp/figures/accumulation_depth.png \
  --match 'epoch 1$'
scripts/plot_series.sh $exp/data-shift/shift_vs_depth_test.dat 1 6 "depth (position among all norms)" \
  "RMS |running mean - true mean| on S'" "BN vs GNBN under distribution shift, last epoch" \
  $exp/figures/shift_depth.png --match 'n(500|5000) epoch 30$'
scripts/plot_series.sh $exp/data-accumulation/shift_vs_depth_test.dat 1 9 "depth (position among all norms)" \
  "RMS (running sigma / true sigma - 1)" "BN vs GNBN, same samples (S' = S): scale-free std shift" \
  $exp/figures/accumulation_nesm_std.png --match 'mlp.*epoch 30$'
