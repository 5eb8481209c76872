#!/usr/bin/env bash
# plot_demo.sh RUN_A RUN_B OUT.png: estimation shift over depth at the last
# epoch (test set) and test error per epoch, for two runs.
set -euo pipefail
a=$1 b=$2 out=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for run in "$a" "$b"; do
  name=$(basename "$run")
  # shift.csv: epoch,set,layer,name,depth,channels,esm_mean,esm_std,esm_var,rms_mean,rms_std,nesm_mean,nesm_std
  last=$(awk -F, 'NR > 1 { e = $1 } END { print e }' "$run/shift.csv")
  awk -F, -v e="$last" 'NR > 1 && $1 == e && $2 == "test" { print $5, $10, $11, $12 }' \
    "$run/shift.csv" > "$tmp/$name.shift"
  # metrics.csv: epoch,lr,train_batch_loss,train_batch_err,train_loss,train_err,test_loss,test_err,...
  awk -F, 'NR > 1 && $8 != "" { print $1, $8, $4, $6 }' "$run/metrics.csv" > "$tmp/$name.err"
done
na=$(basename "$a") nb=$(basename "$b")
gnuplot <<GP
set terminal pngcairo size 1200,480 font "sans,10"
set output "$out"
set multiplot layout 1,2 title "Estimation shift of BN (Fashion-MNIST subset, ResNet-20)"
set title "Per-layer shift of the running mean at the last epoch (test set)"
set xlabel "depth (position among all norm layers)"
set ylabel "RMS over channels of |running mean - true mean|"
set key top right
set grid
plot "$tmp/$na.shift" using 1:2 with linespoints pt 7 title "$na", \
     "$tmp/$nb.shift" using 1:2 with linespoints pt 5 title "$nb"
set title "Test error (inference mode) per epoch"
set xlabel "epoch"
set xtics 1
set ylabel "error"
set key top right
plot "$tmp/$na.err" using 1:2 with linespoints pt 7 title "$na test", \
     "$tmp/$nb.err" using 1:2 with linespoints pt 5 title "$nb test", \
     "$tmp/$na.err" using 1:3 with lines dt 2 title "$na train (batch stats)", \
     "$tmp/$nb.err" using 1:3 with lines dt 2 title "$nb train (batch stats)"
unset multiplot
GP
echo "wrote $out"
