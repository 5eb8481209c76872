#!/usr/bin/env bash
# Experiment 6 (issue 13): XBNBlock in every block family the paper uses:
# bottleneck ResNet, ResNeXt, MobileNetV2, ShuffleNetV2 on Fashion-MNIST,
# BN vs XBNBlock (and GN for the two residual bottleneck families), seeds
# 1-3, in the standard setting (2,000 training images, 3 epochs, tested on
# 1,000 test images) and the distribution-shift setting (train_from test,
# |S| = 1000, 6 epochs, tested on 2,000 test images). Writes per family and
# setting a summary table and the ESM against depth, and
# summary_families.txt (error mean +- std, mean ESM and nesm over BN layers).
# Usage: scripts/fig_xbnblock_families.sh [--smoke]   (smoke: seed 1, bn and xbnblock)
source "$(dirname "$0")/common.sh"
cfg=experiments/xbnblock_families exp=$EXPS/xbnblock_families runs=$RUNS/xbnblock_families
seeds="1 2 3" std_last=$(last_epoch 3) shift_last=$(last_epoch 6)
[ $SMOKE = 1 ] && seeds="1"
families="bottleneck resnext mobilenetv2 shufflenetv2"
norms_of() { case $1 in bottleneck|resnext) [ $SMOKE = 1 ] && echo "bn xbnblock" || echo "bn xbnblock gn" ;; *) echo "bn xbnblock" ;; esac; }
shift_set=(--set data.train_from=test --set data.train_subset=1000 --set data.test_from=test
           --set data.eval_subset=2000 --set data.augment=false --set train.epochs=6)
timer_start
for seed in $seeds; do
  for fam in $families; do
    for norm in $(norms_of $fam); do
      run_cfg $runs/std/$fam-$norm-s$seed $cfg/$fam.json \
        --set model.norm=$norm --set seed=$seed --set name=fam-$fam-$norm-std-s$seed
      run_cfg $runs/shift/$fam-$norm-s$seed $cfg/$fam.json "${shift_set[@]}" \
        --set model.norm=$norm --set seed=$seed --set name=fam-$fam-$norm-shift-s$seed
    done
  done
done
mkdir -p $exp/figures
summary=$exp/summary_families.txt
: > $summary
for setting in std shift; do
  last=$std_last; [ $setting = shift ] && last=$shift_last
  for fam in $families; do
    data=$exp/data/$setting/$fam
    "$BNSHIFT" plot-data $runs/$setting/$fam-* --out $data
    scripts/plot_series.sh $data/shift_vs_depth_test.dat 1 8 "depth (position among all norms)" \
      "RMS (running mean - true mean)/sigma on the test set" \
      "$fam ($setting setting), last epoch: scale-free shift of the mean, BN vs XBNBlock" \
      $exp/figures/$fam-$setting-nesm_mean_vs_depth.png --match "s1 epoch $last\$"
    # Error from summary_grouped.csv; ESM and nesm averaged over BN layers and
    # seeds at the last epoch (test set) from shift_vs_depth_test.dat.
    for norm in $(norms_of $fam); do
      err=$(awk -F, -v n=$norm 'NR > 1 && $2 == n { printf "%.3f +- %.3f", $6, $7 }' $data/summary_grouped.csv)
      shift_means=$(awk -v n="-$fam-$norm-" -v last="epoch $last" '
        /^# / { if ($0 ~ / epoch [0-9]+$/) keep = index($0, n) && $0 ~ (last "$"); next }
        keep && NF >= 9 { e += $4; z += $8; s += $9; k++ }
        END { if (k) printf "%.4f %.4f %.4f %d", e / k, z / k, s / k, k; else print "- - - 0" }' \
        $data/shift_vs_depth_test.dat)
      echo "$setting $fam $norm err $err esm_nesm_nesmstd_rows $shift_means" | tee -a $summary
    done
  done
done
"$BNSHIFT" report $runs/std/* $runs/shift/* --out $exp/report.html  # beside RESULTS.md: every run, one page
timer_report "xbnblock families"
