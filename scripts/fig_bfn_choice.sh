#!/usr/bin/env bash
# Experiment 7 (issue 14): does *any* batch-free norm block the accumulation
# of the estimation shift as GroupNorm does? ResNet-20 on Fashion-MNIST in
# the distribution-shift setting (S = 1,000 images drawn from the test
# split, 6 epochs, tested on 2,000 test images): bn; xbnblock and gnbn with
# model.bfn = gn, ln, in, lrn; ibn (IBN-Net-a); seeds 1-3. Writes
# summary_bfn.txt (test error mean +- std, mean ESM and nesm over BN layers
# at the last epoch) and the scale-free shift against depth per variant.
# Usage: scripts/fig_bfn_choice.sh [--smoke]   (smoke: seed 1, bn, xbnblock/lrn, ibn)
source "$(dirname "$0")/common.sh"
cfg=experiments/bfn_choice/resnet20.json exp=$EXPS/bfn_choice runs=$RUNS/bfn_choice
last=$(last_epoch 6)
seeds="1 2 3"
variants="bn xbnblock/gn xbnblock/ln xbnblock/in xbnblock/lrn gnbn/gn gnbn/ln gnbn/in gnbn/lrn ibn"
if [ $SMOKE = 1 ]; then seeds="1"; variants="bn xbnblock/lrn ibn"; fi
tag() { echo "${1/\//-}"; } # xbnblock/lrn -> xbnblock-lrn
timer_start
for seed in $seeds; do
  for v in $variants; do
    norm=${v%%/*} bfn=gn
    [ "$v" != "$norm" ] && bfn=${v#*/}
    run_cfg $runs/$(tag $v)-s$seed $cfg --set model.norm=$norm --set model.bfn=$bfn \
      --set seed=$seed --set name=bfn-$(tag $v)-s$seed
  done
done
"$BNSHIFT" plot-data $runs/* --out $exp/data
"$BNSHIFT" report $runs/* --out $exp/report.html  # beside RESULTS.md: every run, one page
mkdir -p $exp/figures
summary=$exp/summary_bfn.txt
: > $summary
for v in $variants; do
  # Error from summary_grouped.csv (its norm column reads "xbnblock/lrn";
  # plain "xbnblock" there is bfn gn); ESM and nesm averaged over BN layers
  # and seeds at the last epoch (test set) from shift_vs_depth_test.dat.
  col=${v%/gn}
  err=$(awk -F, -v n="$col" 'NR > 1 && $2 == n { printf "%.3f +- %.3f", $6, $7 }' $exp/data/summary_grouped.csv)
  shift_means=$(awk -v n="bfn-$(tag $v)-s" -v last="epoch $last" '
    /^# / { if ($0 ~ / epoch [0-9]+$/) keep = index($0, n) && $0 ~ (last "$"); next }
    keep && NF >= 9 { e += $4; z += $8; s += $9; k++ }
    END { if (k) printf "%.4f %.4f %.4f %d", e / k, z / k, s / k, k; else print "- - - 0" }' \
    $exp/data/shift_vs_depth_test.dat)
  echo "$v err $err esm_nesm_nesmstd_rows $shift_means" | tee -a $summary
done
for group in xbnblock gnbn; do
  scripts/plot_series.sh $exp/data/shift_vs_depth_test.dat 1 8 "depth (position among all norms)" \
    "RMS (running mean - true mean)/sigma on the test set" \
    "ResNet-20, S from the test split, last epoch: BN vs $group with each batch-free norm" \
    $exp/figures/$group-nesm_mean_vs_depth.png --match "bfn-(bn|$group-[a-z]+)-s1 epoch $last\$"
done
scripts/plot_series.sh $exp/data/shift_vs_depth_test.dat 1 8 "depth (position among all norms)" \
  "RMS (running mean - true mean)/sigma on the test set" \
  "ResNet-20, S from the test split, last epoch: BN vs IBN-Net-a vs XBNBlock (GN)" \
  $exp/figures/ibn-nesm_mean_vs_depth.png --match "bfn-(bn|ibn|xbnblock-gn)-s1 epoch $last\$"
timer_report "bfn choice"
