#!/usr/bin/env bash
# Experiment 1 (paper Fig. 2): train and evaluate on the same samples
# (test_from: train, no augmentation) with a small batch; BN's running
# estimates drift from the statistics of the very samples it trained on, and
# the drift grows with depth. GNBN runs of the same settings feed experiment 3.
# Usage: scripts/fig_accumulation.sh [--smoke]
source "$(dirname "$0")/common.sh"
cfg=experiments/accumulation exp=$EXPS/accumulation runs=$RUNS/accumulation
timer_start
for norm in bn gnbn; do
  run_cfg $runs/mlp-$norm-b16 $cfg/mlp.json --set model.norm=$norm --set name=acc-mlp-$norm-b16
  run_cfg $runs/resnet20-$norm-b16 $cfg/resnet20.json --set model.norm=$norm --set name=acc-resnet20-$norm-b16
done
run_cfg $runs/mlp-bn-b128 $cfg/mlp.json --set train.batch_size=128 --set name=acc-mlp-bn-b128
"$BNSHIFT" plot-data $runs/* --out $exp/data
"$BNSHIFT" report $runs/* --out $exp/report.html  # beside RESULTS.md: every run, one page
mkdir -p $exp/figures
# shift_vs_depth rows: depth layer name esm_mean esm_std rms_mean rms_std nesm_mean nesm_std
scripts/plot_series.sh $exp/data/shift_vs_depth_test.dat 1 6 "depth (position among all norms)" \
  "RMS |running mean - true mean|" "Accumulation: per-layer shift of the mean (S' = S)" \
  $exp/figures/esm_mean_vs_depth.png --match 'bn-b16.* epoch'
scripts/plot_series.sh $exp/data/shift_vs_depth_test.dat 1 8 "depth (position among all norms)" \
  "RMS (running mean - true mean)/sigma" "Accumulation: scale-free shift of the mean (S' = S)" \
  $exp/figures/nesm_mean_vs_depth.png --match 'mlp.* epoch'
scripts/plot_series.sh $exp/data/shift_vs_depth_test.dat 1 9 "depth (position among all norms)" \
  "RMS (running sigma / true sigma - 1)" "Accumulation: scale-free shift of the std (S' = S)" \
  $exp/figures/nesm_std_vs_depth.png --match 'mlp.* epoch'
# errors rows: epoch train_batch_err train_err test_err gap
scripts/plot_series.sh $exp/data/errors.dat 1 5 "epoch" "test_err - train_batch_err" \
  "Accumulation: inference-mode minus training-mode error on the same samples" \
  $exp/figures/gap.png
# errors rows (since issue 15): ... train_bstat_err(6) test_bstat_err(7)
# train_gap(8) test_gap(9); test_gap = test_err - test_bstat_err, the same
# weights in inference and in training mode on the same samples (S' = S).
scripts/plot_series.sh $exp/data/errors.dat 1 9 "epoch" "test_err - test_bstat_err" \
  "Accumulation: the same weights, inference-mode minus batch-statistics error on the same samples" \
  $exp/figures/same_weights_gap.png
timer_report "accumulation"
