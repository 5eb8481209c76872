#!/usr/bin/env bash
# Experiment 4: ResNet-20 with BN, XBNBlock and GN on a Fashion-MNIST budget,
# 3 seeds each; mean +- std test error from summary_grouped.csv.
source "$(dirname "$0")/common.sh"
exp=experiments/xbnblock
timer_start
for seed in 1 2 3; do
  for norm in bn xbnblock gn; do
    run_cfg runs/xbnblock/resnet20-$norm-s$seed $exp/resnet20.json \
      --set model.norm=$norm --set seed=$seed --set name=xbn-resnet20-$norm-s$seed
  done
done
"$BNSHIFT" plot-data runs/xbnblock/* --out $exp/data
mkdir -p $exp/figures
scripts/plot_series.sh $exp/data/errors.dat 1 4 "epoch" "test error" \
  "ResNet-20 on Fashion-MNIST (10k subset): BN vs XBNBlock vs GN" $exp/figures/test_err.png
cat $exp/data/summary_grouped.csv
timer_report "xbnblock"
