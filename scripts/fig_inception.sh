#!/usr/bin/env bash
# Experiment 8 (issue 14): BN-Inception v2 and v3 (the CIFAR-sized
# `model.arch: inception`, width 16) in bn, gnbn and xbnblock, seeds 1-3,
# on Fashion-MNIST in the distribution-shift setting of experiment 7 (S =
# 1,000 test-split images, 6 epochs, tested on 2,000 test images). Does the
# shift accumulate along the branches and across modules, and does a
# module's concat of batch-free branches block it? Writes summary_inception.txt:
# per variant the test error (mean +- std), the mean ESM and nesm over BN
# layers, the nesm by module (stem, 3a ... 5a) and by place in a branch
# (after the branch's first conv, after a later one); figures of nesm
# against depth. Usage: scripts/fig_inception.sh [--smoke]   (smoke: seed 1, v2 and v3 bn, v3 xbnblock)
source "$(dirname "$0")/common.sh"
cfg=experiments/inception/inception.json exp=$EXPS/inception runs=$RUNS/inception
last=$(last_epoch 6)
seeds="1 2 3"
variants="v2/bn v2/gnbn v2/xbnblock v3/bn v3/gnbn v3/xbnblock"
if [ $SMOKE = 1 ]; then seeds="1"; variants="v2/bn v3/bn v3/xbnblock"; fi
tag() { echo "${1/\//-}"; } # v2/bn -> v2-bn
timer_start
for seed in $seeds; do
  for v in $variants; do
    run_cfg $runs/$(tag $v)-s$seed $cfg --set model.inception=${v%%/*} --set model.norm=${v#*/} \
      --set seed=$seed --set name=inc-$(tag $v)-s$seed
  done
done
"$BNSHIFT" plot-data $runs/* --out $exp/data
"$BNSHIFT" report $runs/* --out $exp/report.html  # beside RESULTS.md: every run, one page
mkdir -p $exp/figures
summary=$exp/summary_inception.txt bymodule=$exp/data/nesm_by_module.dat
: > $summary
: > $bymodule
first=${seeds%% *}
for v in $variants; do
  err=$(awk -F, -v l="inc-$(tag $v)-s$first" '$1 == l { printf "%.3f +- %.3f", $6, $7 }' $exp/data/summary_grouped.csv)
  # Last epoch, test set, BN layers of every seed (shift_vs_depth_test.dat:
  # depth layer name esm ... nesm_mean in column 8). Module: the name's
  # first part (stem, inception3a ...); place: "first" for a branch's
  # first conv (suffix 1), "later" otherwise (2, 2a, 2b, 3 ...).
  awk -v n="inc-$(tag $v)-s" -v last="epoch $last" -v label="$v" -v e="$err" -v dat=$bymodule '
    /^# / { if ($0 ~ / epoch [0-9]+$/) keep = index($0, n) && $0 ~ (last "$"); next }
    keep && NF >= 9 {
      split($3, part, "."); mod = part[1]; sub(/^inception/, "", mod)
      place = part[3] ~ /^[a-z]+1$/ ? "first" : "later"
      esm += $4; nesm += $8; k++
      ms[mod] += $8; mk[mod]++; if (!(mod in seen)) { seen[mod] = 1; order[++nm] = mod }
      if (mod != "stem") { ps[place] += $8; pk[place]++ }
    }
    END {
      printf "%s err %s bn_rows %d esm %.4f nesm %.4f |", label, e, k, esm / k, nesm / k
      for (i = 1; i <= nm; i++) printf " %s %.4f", order[i], ms[order[i]] / mk[order[i]]
      printf " | first %.4f later %.4f\n", pk["first"] ? ps["first"] / pk["first"] : 0, pk["later"] ? ps["later"] / pk["later"] : 0
      # A gnuplot block per variant: module number (1 stem ... 8 5a), name, mean nesm.
      printf "# %s\n# module name nesm_mean\n", label >> dat
      for (i = 1; i <= nm; i++) printf "%d %s %.6f\n", (order[i] == "stem" ? 1 : index("3a3b3c4a4b4c5a", order[i]) / 2 + 1.5), order[i], ms[order[i]] / mk[order[i]] >> dat
      printf "\n\n" >> dat
    }' $exp/data/shift_vs_depth_test.dat | tee -a $summary
done
for ver in v2 v3; do
  scripts/plot_series.sh $exp/data/shift_vs_depth_test.dat 1 8 "depth (position among all norms)" \
    "RMS (running mean - true mean)/sigma on the test set" \
    "Inception $ver, S from the test split, last epoch: bn vs gnbn vs xbnblock" \
    $exp/figures/$ver-nesm_mean_vs_depth.png --match "inc-$ver-(bn|gnbn|xbnblock)-s$first epoch $last\$"
done
scripts/plot_series.sh $bymodule 1 3 "module (1 stem, 2 3a, 3 3b, 4 3c reduction, 5 4a, 6 4b, 7 4c reduction, 8 5a)" \
  "mean RMS (running mean - true mean)/sigma of its BN layers" \
  "Inception, S from the test split, last epoch, seeds pooled: the shift by module" \
  $exp/figures/nesm_by_module.png
timer_report "inception"
