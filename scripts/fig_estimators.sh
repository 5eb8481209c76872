#!/usr/bin/env bash
# Experiment 9 (issue 15): which estimator of BN's population statistics
# shifts least? ResNet-20 in bn and xbnblock, batch 16 and 128, seeds 1-2,
# trained on 5,000 Fashion-MNIST images (6 epochs, cosine). Each checkpoint
# is then re-estimated on the training samples S (the train evaluation set,
# 2,000 images of S) by every estimator of `bnshift eval --estimator`:
# ema at m = 0.01, 0.1 and 0.5 (from the training's estimates), cumulative,
# ioffe and precise, each over 6,400 samples in batches of the training
# batch size, and exact. Beside them, the estimates training left (ema,
# m = 0.1 over the run). Writes data/estimators.csv (per run and
# estimator: test error and mean ESM over BN layers on the train and test
# sets), summary_estimators.txt (means over seeds) and figures of ESM
# against depth per estimator.
# Usage: scripts/fig_estimators.sh [--smoke]   (smoke: seed 1, bn and xbnblock at batch 16, fewer samples)
source "$(dirname "$0")/common.sh"
cfg=experiments/estimators/resnet20.json exp=$EXPS/estimators runs=$RUNS/estimators
seeds="1 2" variants="bn xbnblock" batches="16 128" budget=6400
if [ $SMOKE = 1 ]; then seeds="1" batches="16" budget=320; fi
timer_start
for seed in $seeds; do
  for v in $variants; do
    for b in $batches; do
      run_cfg $runs/$v-b$b-s$seed $cfg --set model.norm=$v --set train.batch_size=$b --set seed=$seed \
        --set name=estimators-$v-b$b-s$seed
    done
  done
done
estimators=("exact" "ema --momentum 0.01" "ema --momentum 0.1" "ema --momentum 0.5" "cumulative" "ioffe" "precise")
for seed in $seeds; do
  for v in $variants; do
    for b in $batches; do
      run=$runs/$v-b$b-s$seed
      [ -f $run/eval.done ] && [ "$(cat $run/eval.done)" = "$budget" ] && continue
      rm -f $run/eval.csv $run/eval.done
      for est in "${estimators[@]}"; do
        extra=""
        [ "$est" != exact ] && extra="--batches $((budget / b))"
        "$BNSHIFT" eval $run --recalibrate train --estimator $est $extra --threads "$THREADS" > /dev/null
      done
      echo $budget > $run/eval.done
      echo "== evaluated $run"
    done
  done
done
"$BNSHIFT" plot-data $runs/* --out $exp/data
"$BNSHIFT" report $runs/* --out $exp/report.html  # beside RESULTS.md: every run, one page
mkdir -p $exp/figures
table=$exp/data/estimators.csv
# eval.csv: stage(3) set(4) err(6) esm_mean(12) nesm_mean(17) estimator(19)
# est_batches(20) est_momentum(22). "training" = the before rows (the
# estimates the run left); an estimator's label carries ema's momentum.
echo "variant,batch,seed,estimator,test_err,train_esm,test_esm,train_nesm,test_nesm" > $table
for seed in $seeds; do
  for v in $variants; do
    for b in $batches; do
      run=$runs/$v-b$b-s$seed
      awk -F, -v pre="$v,$b,$seed" 'NR > 1 && !($3 == "before" && $19 != "exact") {
          label = $3 == "before" ? "training" : ($22 != "" ? $19 "-" $22 : $19)
          key = label SUBSEP $4
          if (!(label in seen)) { seen[label] = 1; order[++k] = label }
          esm[key] += $12; nesm[key] += $17; n[key]++; err[key] = $6
        }
        END { for (i = 1; i <= k; i++) { l = order[i]; tr = l SUBSEP "train"; te = l SUBSEP "test"
          printf "%s,%s,%s,%.6g,%.6g,%.6g,%.6g\n", pre, l, err[te], esm[tr] / n[tr], esm[te] / n[te],
                 nesm[tr] / n[tr], nesm[te] / n[te] } }' $run/eval.csv >> $table
    done
  done
done
summary=$exp/summary_estimators.txt
{
  echo "# per variant, batch and estimator, mean over seeds: test error, and the mean over BN layers"
  echo "# of esm_mean and nesm_mean on the train samples (the estimators' own set) and the test set."
  echo "# training = the estimates the run left (ema, m = 0.1); ema-M: ema at momentum M from them."
  awk -F, 'NR > 1 { k = $1 " b" $2 SUBSEP $4
      if (!(k in n)) order[++nk] = k
      n[k]++; for (j = 5; j <= 9; j++) s[k, j] += $j }
    END { printf "%-14s %-12s %8s %10s %10s %10s %10s\n", "run", "estimator", "test_err", "esm_train", "esm_test", "nesm_train", "nesm_test"
      for (i = 1; i <= nk; i++) { k = order[i]; split(k, p, SUBSEP)
        printf "%-14s %-12s", p[1], p[2]; for (j = 5; j <= 9; j++) printf " %10.4f", s[k, j] / n[k]; printf "\n" } }' $table
} | tee $summary
# ESM against depth per estimator, on the train samples (the estimators'
# own set, where exact leaves ~0) and on the test set, one block per
# estimator, for the first seed of each variant and batch (eval.csv:
# depth(10) esm_mean(12) nesm_mean(17)).
first=${seeds%% *}
for v in $variants; do
  for b in $batches; do
    for set in train test; do
      dat=$exp/data/esm_vs_depth_$v-b$b-$set.dat
      : > $dat
      awk -F, -v dat=$dat -v set=$set 'NR > 1 && $4 == set && !($3 == "before" && $19 != "exact") {
          label = $3 == "before" ? "training" : ($22 != "" ? $19 "-" $22 : $19)
          if (label != last) { if (last != "") printf "\n\n" > dat; printf "# %s\n# depth esm_mean nesm_mean\n", label > dat; last = label }
          printf "%s %s %s\n", $10, $12, $17 > dat }' $runs/$v-b$b-s$first/eval.csv
      scripts/plot_series.sh $dat 1 2 "depth (position among all norms)" "esm mean on the $set set (log scale)" \
        "ResNet-20 $v, batch $b: the shift each estimator leaves on the $set set" \
        $exp/figures/esm_vs_depth_$v-b$b-$set.png --logy
    done
  done
done
timer_report "estimators" | tee -a $summary
