#!/usr/bin/env bash
# Experiment 11 (issue 17): what per-rank batch statistics cost in
# data-parallel training. ResNet-20 BN on Fashion-MNIST (4,096 images,
# 6 epochs, seeds 1-3) on K = 2 MPI ranks with 4, 8, 16 and 32 samples per rank
# (global batches of 8-64), train.bn_sync local (each rank normalizes with
# its own samples and keeps its own running estimates, PyTorch DDP's
# default) against sync (SyncBatchNorm: statistics of the global batch).
# Writes data/cells.csv (per run: test error, prediction-time-BN error,
# mean ESM over the BN layers of rank 0's estimates, the ranks' spread),
# summary_distributed.txt (means and stds over seeds), report.html, and figures of the ESM against depth and of
# ESM / spread / error against the per-rank batch. Needs OpenMPI (the
# `make MPI=1` build, made here if missing); the two ranks run one thread
# each, so they share the 2 cores and time is not the point.
# Usage: scripts/fig_distributed_bn.sh [--smoke]   (smoke: seed 1, 4 and 16 per rank)
source "$(dirname "$0")/common.sh"
RANKS=2
MPI_BNSHIFT=${MPI_BNSHIFT:-build/mpi/bnshift}
[ -x "$MPI_BNSHIFT" ] || make --no-print-directory MPI=1 BUILD=build/mpi build/mpi/bnshift >/dev/null
# run_cfg (common.sh) trains on $RANKS ranks, one thread each.
LAUNCH=(mpirun -np $RANKS --oversubscribe) RUN_BIN=$MPI_BNSHIFT RUN_THREADS=1
[ "$(id -u)" = 0 ] && LAUNCH+=(--allow-run-as-root)
cfg=experiments/distributed_bn/resnet20.json exp=$EXPS/distributed_bn runs=$RUNS/distributed_bn
per_rank="4 8 16 32" modes="local sync" seeds="1 2 3"
[ $SMOKE = 1 ] && per_rank="4 16" seeds="1"
epoch=$(last_epoch 6)

timer_start
all_runs() { for b in $per_rank; do for m in $modes; do for s in $seeds; do echo $runs/$m-b$b-s$s; done; done; done; }
for s in $seeds; do
  for b in $per_rank; do
    for m in $modes; do
      run_cfg $runs/$m-b$b-s$s $cfg --set train.batch_size=$((b * RANKS)) --set train.bn_sync=$m --set seed=$s \
        --set name=dist-$m-b$b
    done
  done
done
"$BNSHIFT" plot-data $(all_runs) --out $exp/data
mkdir -p $exp/figures

# Per run, at the last epoch: errors from metrics.csv (test_err 8,
# test_bstat_err 14), the mean over BN layers of esm_mean / nesm_mean on the
# test set (shift.csv 7, 12) and of spread_mean / spread_std (ranks.csv 7, 8).
cells=$exp/data/cells.csv
echo "per_rank,bn_sync,seed,test_err,test_bstat_err,mean_esm,mean_nesm,mean_spread_mean,mean_spread_std" > $cells
for b in $per_rank; do
  for m in $modes; do
    for s in $seeds; do
      d=$runs/$m-b$b-s$s
      err=$(awk -F, -v e=$epoch '$1 == e { print $8 "," $14 }' $d/metrics.csv)
      esm=$(awk -F, -v e=$epoch '$1 == e && $2 == "test" { s += $7; t += $12; n++ } END { printf "%.6g,%.6g", s / n, t / n }' $d/shift.csv)
      spread=$(awk -F, -v e=$epoch '$1 == e { s += $7; t += $8; n++ } END { printf "%.6g,%.6g", s / n, t / n }' $d/ranks.csv)
      echo "$b,$m,$s,$err,$esm,$spread" >> $cells
    done
  done
done
# Means over seeds per (per-rank batch, bn_sync): columns 3.. of cells.csv
# from test_err on, each as mean then std.
means=$exp/data/means.csv
echo "per_rank,bn_sync,test_err,test_err_std,test_bstat_err,test_bstat_err_std,mean_esm,mean_esm_std,mean_nesm,mean_nesm_std,mean_spread_mean,mean_spread_mean_std,mean_spread_std,mean_spread_std_std" > $means
awk -F, 'NR > 1 { k = $1 "," $2; if (!(k in n)) order[++K] = k; n[k]++
                  for (j = 4; j <= 9; j++) { s[k, j] += $j; q[k, j] += $j * $j } }
  END { for (i = 1; i <= K; i++) { k = order[i]; printf "%s", k
          for (j = 4; j <= 9; j++) { m = s[k, j] / n[k]; v = n[k] > 1 ? (q[k, j] - n[k] * m * m) / (n[k] - 1) : 0
            printf ",%.6g,%.6g", m, (v > 0 ? sqrt(v) : 0) }
          printf "\n" } }' $cells >> $means
# ESM against depth at the last epoch, test set, mean over seeds, one series per (batch, bn_sync).
for b in $per_rank; do
  for m in $modes; do
    for s in $seeds; do
      awk -F, -v e=$epoch '$1 == e && $2 == "test" { print $5, $7 }' $runs/$m-b$b-s$s/shift.csv
    done | awk '{ s[$1] += $2; n[$1]++ } END { for (d in s) print d, s[d] / n[d] }' | sort -n > $exp/data/depth_$m-b$b.dat
  done
done

summary=$exp/summary_distributed.txt
{
  echo "# K = $RANKS ranks, epoch $epoch, test set, seeds $seeds; ESM of rank 0's running estimates (mean over"
  echo "# BN layers); spread: RMS over ranks of the distance of a rank's running mean (std) to the ranks' average."
  echo "# mean and std over seeds:"
  column -t -s, $means
  echo "# per run:"
  column -t -s, $cells
} | tee $summary

plots="" sep=""
for b in $per_rank; do
  for m in $modes; do
    dash=$([ $m = local ] && echo 1 || echo 2)
    plots="$plots$sep\"$exp/data/depth_$m-b$b.dat\" using 1:2 with linespoints dt $dash title \"$m, $b per rank\""
    sep=", "
  done
done
gnuplot <<GP
set terminal pngcairo size 900,560 font "sans,10"
set output "$exp/figures/esm_vs_depth.png"
set title "Data-parallel ResNet-20 (K = $RANKS): ESM of rank 0's estimates against depth, test set, epoch $epoch, mean over seeds"
set termoption noenhanced
set xlabel "norm depth"
set ylabel "esm_mean"
set key top left
set grid
plot $plots
GP
awk -F, 'NR > 1 { print > "'$exp'/data/by_batch_" $2 ".dat" }' $means
gnuplot <<GP
set terminal pngcairo size 1200,420 font "sans,10"
set output "$exp/figures/by_per_rank_batch.png"
set termoption noenhanced
set datafile separator ","
set logscale x 2
set xlabel "samples per rank (global batch = $RANKS x)"
set grid
set multiplot layout 1,3 title "Data-parallel ResNet-20 (K = $RANKS), epoch $epoch: local BN against SyncBN"
set title "mean esm_mean (rank 0, test set)"
plot "$exp/data/by_batch_local.dat" using 1:7:8 with yerrorlines title "local", \
     "$exp/data/by_batch_sync.dat" using 1:7:8 with yerrorlines title "sync"
set title "cross-rank spread of the running means"
plot "$exp/data/by_batch_local.dat" using 1:11:12 with yerrorlines title "local", \
     "$exp/data/by_batch_sync.dat" using 1:11:12 with yerrorlines title "sync"
set title "test error (inference) and with batch statistics"
plot "$exp/data/by_batch_local.dat" using 1:3:4 with yerrorlines title "local", \
     "$exp/data/by_batch_sync.dat" using 1:3:4 with yerrorlines title "sync", \
     "$exp/data/by_batch_local.dat" using 1:5 with linespoints dt 2 title "local, batch stats", \
     "$exp/data/by_batch_sync.dat" using 1:5 with linespoints dt 2 title "sync, batch stats"
unset multiplot
GP
"$BNSHIFT" report $(all_runs) --out $exp/report.html
timer_report "distributed_bn" | tee -a $summary
