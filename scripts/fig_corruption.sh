#!/usr/bin/env bash
# Experiment 10 (issue 15): robustness to covariate shift. ResNet-20 in bn,
# gnbn, xbnblock and gn, seeds 1-3, trained on clean Fashion-MNIST (5,000
# images, 6 epochs), then evaluated on every corruption x severity of the
# test split (`bnshift corruptions`; saturate needs colour and is left out):
# inference-mode error, the ESM on the corrupted set, AdaBN (`eval
# --recalibrate test`, exact statistics of the corrupted set) and
# prediction-time BN (batch statistics of test batches of 32, the
# batch_stats_err column). Writes data/cells.csv (one row per run, type and
# severity), summary_corruption.txt (mCE-style means per variant, and the
# correlation of the ESM on the shifted set with the error increase),
# figures of error against severity and of error increase against ESM.
# The evaluations of two runs go side by side at one thread each.
# Usage: scripts/fig_corruption.sh [--smoke]   (smoke: seed 1, bn and gn, 2 types x 2 severities)
source "$(dirname "$0")/common.sh"
cfg=experiments/corruption/resnet20.json exp=$EXPS/corruption runs=$RUNS/corruption
seeds="1 2 3" variants="bn gnbn xbnblock gn"
types="gaussian_noise shot_noise impulse_noise speckle_noise gaussian_blur defocus_blur contrast brightness pixelate"
severities="1 2 3 4 5"
if [ $SMOKE = 1 ]; then seeds="1" variants="bn gn" types="gaussian_noise contrast" severities="1 5"; fi
timer_start
for seed in $seeds; do
  for v in $variants; do
    run_cfg $runs/$v-s$seed $cfg --set model.norm=$v --set seed=$seed --set name=corruption-$v-s$seed
  done
done

# One run's evaluations: clean, then every corruption x severity, each with
# AdaBN. eval.done records the grid, so a rerun skips finished runs.
eval_run() {
  local run=$1 grid="$types / $severities"
  [ -f "$run/eval.done" ] && [ "$(cat "$run/eval.done")" = "$grid" ] && return 0
  rm -f "$run/eval.csv" "$run/eval.done"
  "$BNSHIFT" eval "$run" --only test --recalibrate test --threads 1 > /dev/null
  for t in $types; do
    for s in $severities; do
      "$BNSHIFT" eval "$run" --only test --recalibrate test --threads 1 \
        --set data.corruption.type=$t --set data.corruption.severity=$s > /dev/null
    done
  done
  echo "$grid" > "$run/eval.done"
  echo "== evaluated $run"
}
export -f eval_run
export BNSHIFT types severities
for seed in $seeds; do for v in $variants; do echo $runs/$v-s$seed; done; done |
  xargs -P 2 -I{} bash -c 'eval_run {}'

"$BNSHIFT" plot-data $runs/* --out $exp/data
"$BNSHIFT" report $runs/* --out $exp/report.html  # beside RESULTS.md: every run, one page
mkdir -p $exp/figures
cells=$exp/data/cells.csv
# eval.csv: recalibrated_on(2) stage(3) set(4) err(6) batch_stats_err(7)
# esm_mean(12) nesm_mean(17) corruption(24) severity(25). Per run and
# (type, severity): the errors before and after AdaBN, prediction-time BN,
# and the mean over BN layers of esm_mean / nesm_mean before AdaBN.
echo "variant,seed,type,severity,clean_err,err,adabn_err,bstat_err,mean_esm,mean_nesm" > $cells
for seed in $seeds; do
  for v in $variants; do
    awk -F, -v v=$v -v seed=$seed 'NR > 1 && $4 == "test" {
        key = ($24 == "" ? "clean" : $24 "," $25)
        if ($3 == "before") { err[key] = $6; bstat[key] = $7; if ($12 != "") { esm[key] += $12; nesm[key] += $17; n[key]++ } }
        else adabn[key] = $6
        if (!(key in seen)) { seen[key] = 1; order[++k] = key }
      }
      END {
        for (i = 1; i <= k; i++) {
          key = order[i]; if (key == "clean") continue
          printf "%s,%s,%s,%s,%s,%s,%s,", v, seed, key, err["clean"], err[key], adabn[key], bstat[key]
          if (n[key]) printf "%.6g,%.6g\n", esm[key] / n[key], nesm[key] / n[key]; else print ","
        }
      }' $runs/$v-s$seed/eval.csv >> $cells
  done
done

summary=$exp/summary_corruption.txt
{
  echo "# per variant, mean over seeds of the mean over corruption x severity cells (mCE-style);"
  echo "# +- the std over seeds. clean: the clean test error; adabn: after exact re-estimation"
  echo "# on the corrupted set; bstat: prediction-time BN (batches of 32)."
  awk -F, 'NR > 1 {
      k = $1 SUBSEP $2
      if (!(k in cnt)) { nr[$1]++; run[$1, nr[$1]] = k }
      cnt[k]++; clean[k] = $5; e[k] += $6; a[k] += $7; b[k] += $8
      if (!($1 in vseen)) { vseen[$1] = 1; vorder[++nv] = $1 }
    }
    END {
      split("clean mCE mCE_adabn mCE_bstat", name, " ")
      for (i = 1; i <= nv; i++) {
        v = vorder[i]; m = nr[v]
        for (r = 1; r <= m; r++) { k = run[v, r]
          x[1, r] = clean[k]; x[2, r] = e[k] / cnt[k]; x[3, r] = a[k] / cnt[k]; x[4, r] = b[k] / cnt[k] }
        printf "%-9s %d seeds x %d cells:", v, m, cnt[run[v, 1]]
        for (j = 1; j <= 4; j++) {
          s = 0; q = 0; for (r = 1; r <= m; r++) s += x[j, r]; mean = s / m
          for (r = 1; r <= m; r++) q += (x[j, r] - mean) ^ 2
          printf "  %s %.4f +- %.4f", name[j], mean, (m > 1 ? sqrt(q / (m - 1)) : 0)
        }
        printf "\n"
      }
    }' $cells
  echo "# does the ESM on the shifted set predict the error increase? Pearson r over the cells"
  echo "# (type x severity x seed) of mean esm_mean / mean nesm_mean against err - clean_err"
  awk -F, 'NR > 1 && $9 != "" {
      v = $1; d = $6 - $5; n[v]++
      for (j = 0; j < 2; j++) { x = $(9 + j); sx[v, j] += x; sxx[v, j] += x * x; sxy[v, j] += x * d }
      sy[v] += d; syy[v] += d * d
      if (!(v in seen)) { seen[v] = 1; order[++nv] = v }
    }
    END {
      for (i = 1; i <= nv; i++) {
        v = order[i]; printf "%-9s %d cells:", v, n[v]
        for (j = 0; j < 2; j++) {
          cov = sxy[v, j] - sx[v, j] * sy[v] / n[v]
          vx = sxx[v, j] - sx[v, j] ^ 2 / n[v]; vy = syy[v] - sy[v] ^ 2 / n[v]
          printf "  r(%s) %.3f", (j ? "nesm" : "esm"), (vx > 0 && vy > 0 ? cov / sqrt(vx * vy) : 0)
        }
        printf "\n"
      }
    }' $cells
} | tee $summary

# Error against severity, mean over types and seeds: one block per variant and kind.
bysev=$exp/data/error_by_severity.dat
: > $bysev
for v in $variants; do
  for kind in "6 inference" "7 AdaBN" "8 prediction-time BN"; do
    col=${kind%% *}
    [ $v = gn ] && [ $col != 6 ] && continue # no BN: nothing to re-estimate
    awk -F, -v v=$v -v col=$col -v label="$v, ${kind#* }" 'NR > 1 && $1 == v { s[$4] += $col; n[$4]++; c += $5; nc++ }
      END { printf "# %s\n# severity err\n0 %.6f\n", label, c / nc
            for (k = 1; k <= 5; k++) if (n[k]) printf "%d %.6f\n", k, s[k] / n[k]; printf "\n\n" }' $cells >> $bysev
  done
done
for kind in "inference" "AdaBN" "prediction-time BN"; do
  match="(${kind}|gn, inference)\$" # gn (no BN) in every panel, as the batch-free reference
  scripts/plot_series.sh $bysev 1 2 "severity (0: clean)" "test error, mean over corruptions and seeds" \
    "ResNet-20 on corrupted Fashion-MNIST: $kind" $exp/figures/error_vs_severity_${kind// /_}.png --match "$match"
done
# Error increase against the shift on the corrupted set, one block per variant.
scatter=$exp/data/esm_vs_error_increase.dat
: > $scatter
for v in $variants; do
  [ $v = gn ] && continue
  awk -F, -v v=$v 'BEGIN { printf "# %s\n# mean_esm err_increase\n", v }
    NR > 1 && $1 == v && $9 != "" { printf "%s %.6f\n", $9, $6 - $5 } END { printf "\n\n" }' $cells >> $scatter
done
plots="" i=0
for v in $variants; do
  [ $v = gn ] && continue
  plots+="${plots:+, }\"$scatter\" index $i using 1:2 with points pt 7 ps 0.6 title \"$v\""
  i=$((i + 1))
done
gnuplot <<GP
set terminal pngcairo size 900,560 font "sans,10"
set output "$exp/figures/error_increase_vs_esm.png"
set title "Corrupted test sets: error increase against the mean ESM of the BN layers (every type, severity, seed)"
set termoption noenhanced
set xlabel "mean over BN layers of esm_mean on the corrupted test set"
set ylabel "test error - clean test error"
set key top left
set grid
plot $plots
GP
timer_report "corruption" | tee -a $summary
