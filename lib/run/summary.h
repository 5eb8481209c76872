/* What plot-data's summary tables say about a run and a group of runs:
 * final and best test error, the mean esm_mean over BN layers at the first
 * and last evaluated epoch, the least-squares slope of esm_mean against
 * depth at the last one, and runs grouped when their configs differ only in
 * seed, name and log.* (mean and sample std over the group). */
#ifndef BS_SUMMARY_H
#define BS_SUMMARY_H

#include "run/runlog.h"

enum { RS_FINAL_ERR, RS_BEST_ERR, RS_ESM_FIRST, RS_ESM_LAST, RS_SLOPE, RS_N };

/* NAN = not available (no test error, no BN layer). */
typedef struct {
    double v[RS_N];
} RunSummary;

/* Mean over BN layers of esm_mean at (epoch, set); NAN without rows. */
double summary_mean_esm(const RunLog *r, int set, int epoch);
/* Least-squares slope of esm_mean against depth at (epoch, set); NAN for
 * fewer than two layers. */
double summary_depth_slope(const RunLog *r, int set, int epoch);
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
