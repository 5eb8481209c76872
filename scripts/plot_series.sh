#!/usr/bin/env bash
# plot_series.sh DAT XCOL YCOL XLABEL YLABEL TITLE OUT.png [--logy] [--match REGEX]
# Draws one line per block of a `bnshift plot-data` table (blocks are
# separated by two blank lines and start with a "# <label>" comment), titled
# by that label. --match keeps only blocks whose label matches REGEX.
set -euo pipefail
dat=$1 xcol=$2 ycol=$3 xlabel=$4 ylabel=$5 title=$6 out=$7
shift 7
logy="" match="."
while [ $# -gt 0 ]; do
  case $1 in
    --logy) logy="set logscale y" ;;
    --match) match=$2; shift ;;
    *) echo "plot_series.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -s "$dat" ] || { echo "plot_series.sh: $dat is missing or empty" >&2; exit 2; }
# Block labels in order: the first comment line of each block.
mapfile -t labels < <(awk 'BEGIN { RS = "\n\n\n" } { n = split($0, l, "\n"); for (i = 1; i <= n; i++) if (l[i] ~ /^# /) { sub(/^# /, "", l[i]); print l[i]; break } }' "$dat")
plots=""
for i in "${!labels[@]}"; do
  label=${labels[$i]}
  [[ $label =~ $match ]] || continue
  esc=${label//\"/\\\"}
  plots+="${plots:+, }\"$dat\" index $i using $xcol:$ycol with linespoints pt 7 ps 0.6 title \"${esc//_/\\\\_}\""
done
[ -n "$plots" ] || { echo "plot_series.sh: no block of $dat matches '$match'" >&2; exit 2; }
gnuplot <<GP
set terminal pngcairo size 900,560 font "sans,10"
set output "$out"
set title "$title"
set xlabel "$xlabel"
set ylabel "$ylabel"
set key outside right top
set grid
$logy
plot $plots
GP
echo "wrote $out"
