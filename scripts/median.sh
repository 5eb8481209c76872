# shellcheck shell=bash
# median (source this file): the median of the numbers on stdin, one per
# line (the mean of the middle two for an even count). Used by the
# benchmarks that alternate rounds (ab_bench.sh, bench_concurrency.sh).
median() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
