/* What plot-data's summary tables say about a run and a group of runs:
 * final and best test error, the mean esm_mean over BN layers at the first
 * and last evaluated epoch, the least-squares slope of esm_mean against
 * depth at the last one, the final error with batch statistics, the
 * corrupted-test-set cells of eval.csv (mCE-style means), and runs grouped
 * when their configs differ only in seed, name and log.* (mean and sample
 * std over the group). */
#ifndef BS_SUMMARY_H
#define BS_SUMMARY_H

#include "run/runlog.h"

/* In summary.csv's order; RS_CORR_CELLS counts, the CORR ones are means over
 * those cells (summary_corr_mean). */
enum {
    RS_FINAL_ERR,
    RS_BEST_ERR,
    RS_ESM_FIRST,
    RS_ESM_LAST,
    RS_SLOPE,
    RS_FINAL_BSTAT_ERR, /* test_bstat_err of the row final_test_err is from */
    RS_CORR_CELLS,
    RS_CORR_ERR,
    RS_CORR_ADABN_ERR,
    RS_CORR_BSTAT_ERR,
    RS_N
};

/* NAN = not available (no test error, no BN layer, no eval rows). */
typedef struct {
    double v[RS_N];
} RunSummary;

/* Mean over BN layers of esm_mean at (epoch, set); NAN without rows. */
double summary_mean_esm(const RunLog *r, int set, int epoch);
/* Least-squares slope of esm_mean against depth at (epoch, set); NAN for
 * fewer than two layers. */
double summary_depth_slope(const RunLog *r, int set, int epoch);
/* One (corruption type, severity) cell of a run's eval conditions on the
 * test set: err, bstat_err (batch_stats_err) and mean_esm (mean_esm_mean)
 * of stage "before" without recalibration (or, when there is none, of a
 * recalibrating eval's "before": the same weights and statistics),
 * adabn_err = err of stage "after" recalibrated on test with estimator
 * exact; NAN when absent. */
typedef struct {
    CorruptionType type;
    int severity;
    double err, adabn_err, bstat_err, mean_esm;
} CorrCell;

#define SUMMARY_MAX_CELLS ((CORRUPT_N - 1) * CORRUPT_MAX_SEVERITY)

/* The cell (type, severity) of r (CORRUPT_NONE, 0: the clean test set),
 * each number from the last matching condition evaluated. 1 when a
 * "before" or an "after" condition of it exists, else 0. */
int summary_corr_cell(const RunLog *r, CorruptionType type, int severity, CorrCell *out);
/* r's corrupted cells, by type then severity, into out[SUMMARY_MAX_CELLS];
 * returns how many. */
int summary_corr_cells(const RunLog *r, CorrCell *out);
/* The mean of each number over cells[0..n) of the given severity (every
 * cell for 0), each over the cells where it is present; NAN for none. */
CorrCell summary_corr_mean(const CorrCell *cells, int n, int severity);

/* The shift numbers are the test set's (the train set's when the test set
 * was not evaluated). */
RunSummary summary_of_run(const RunLog *r);

/* group[i] = the index of the first run whose config equals run i's but
 * for seed, name and log.*. BS_ERR_RUNTIME when out of memory. */
int summary_assign_groups(const RunLog *runs, int n, int *group, BsError *err);
/* Mean and sample std (n-1; 0 for one value) of summary column c over the
 * runs i with group[i] == g whose value is present; NAN for none. */
void summary_group_stat(const RunSummary *sum, const int *group, int n, int g, int c, double *mean, double *std);

#endif
