# same_run A B (source this file): whether run directories A and B hold the
# same shift.csv and the same metrics.csv but for its timing columns
# (seconds, images_per_s), as tests/test_util.c's ck_assert_runs_equal.
untimed_metrics() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) skip[i] = $i == "seconds" || $i == "images_per_s" }
           { s = ""; for (i = 1; i <= NF; i++) if (!skip[i]) s = s $i ","; print s }' "$1/metrics.csv"
}
same_run() { cmp -s "$1/shift.csv" "$2/shift.csv" && cmp -s <(untimed_metrics "$1") <(untimed_metrics "$2"); }
