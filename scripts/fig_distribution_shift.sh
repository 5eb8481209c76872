#!/usr/bin/env bash
# Experiment 2 (paper Fig. 3): train on |S| samples drawn from the test set,
# evaluate on the whole test set S' (S in S'): smaller |S| means noisier
# running estimates, larger estimation shift, more of it in deeper layers.
# BN against no normalization; GNBN runs feed experiment 3.
# Usage: scripts/fig_distribution_shift.sh [--smoke]
source "$(dirname "$0")/common.sh"
cfg=experiments/distribution_shift exp=$EXPS/distribution_shift runs=$RUNS/distribution_shift
last=$(last_epoch 30)
timer_start
for n in 500 1000 2000 5000; do
  for norm in bn none gnbn; do
    run_cfg $runs/mlp-$norm-n$n $cfg/mlp.json \
      --set data.train_subset=$n --set model.norm=$norm --set name=shift-mlp-$norm-n$n
  done
done
"$BNSHIFT" plot-data $runs/* --out $exp/data
"$BNSHIFT" report $runs/* --out $exp/report.html  # beside RESULTS.md: every run, one page
mkdir -p $exp/figures
scripts/plot_series.sh $exp/data/shift_vs_depth_test.dat 1 6 "depth (position among all norms)" \
  "RMS |running mean - true mean| on S'" "Distribution shift: per-layer shift of the mean, last epoch" \
  $exp/figures/esm_mean_vs_depth.png --match "bn-n[0-9]+ epoch $last\$"
scripts/plot_series.sh $exp/data/shift_vs_depth_test.dat 1 9 "depth (position among all norms)" \
  "RMS (running sigma / true sigma - 1) on S'" "Distribution shift: scale-free shift of the std, last epoch" \
  $exp/figures/nesm_std_vs_depth.png --match "(bn|gnbn)-n[0-9]+ epoch $last\$"
scripts/plot_series.sh $exp/data/errors.dat 1 4 "epoch" "test error on S'" \
  "Distribution shift: test error, BN vs none vs GNBN" $exp/figures/test_err.png
timer_report "distribution shift"
