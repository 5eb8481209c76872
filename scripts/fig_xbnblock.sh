#!/usr/bin/env bash
# Experiment 4: ResNet-20 with BN, XBNBlock and GN on a Fashion-MNIST budget,
# 3 seeds each; mean +- std test error from summary_grouped.csv.
# Usage: scripts/fig_xbnblock.sh [--smoke]   (smoke: 2 seeds)
source "$(dirname "$0")/common.sh"
cfg=experiments/xbnblock exp=$EXPS/xbnblock runs=$RUNS/xbnblock
last=$(last_epoch 6)
seeds="1 2 3"
[ $SMOKE = 1 ] && seeds="1 2"
timer_start
for seed in $seeds; do
  for norm in bn xbnblock gn; do
    run_cfg $runs/resnet20-$norm-s$seed $cfg/resnet20.json \
      --set model.norm=$norm --set seed=$seed --set name=xbn-resnet20-$norm-s$seed
  done
done
"$BNSHIFT" plot-data $runs/* --out $exp/data
"$BNSHIFT" report $runs/* --out $exp/report.html  # beside RESULTS.md: every run, one page
mkdir -p $exp/figures
scripts/plot_series.sh $exp/data/errors.dat 1 4 "epoch" "test error" \
  "ResNet-20 on Fashion-MNIST (5k subset, 6 epochs): BN vs XBNBlock vs GN" $exp/figures/test_err.png
scripts/plot_series.sh $exp/data/shift_vs_depth_test.dat 1 8 "depth (position among all norms)" \
  "RMS (running mean - true mean)/sigma on the test set" \
  "ResNet-20, last epoch: scale-free shift of the mean, BN vs XBNBlock" \
  $exp/figures/nesm_mean_vs_depth.png --match "epoch $last\$"
cat $exp/data/summary_grouped.csv
timer_report "xbnblock"
