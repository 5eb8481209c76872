/* Reading a finished (or running) run directory back: metrics.csv,
 * shift.csv and config.resolved.json (SPEC §4), for `bnshift plot-data`.
 * The CSV reader is strict: the header line must match exactly, every row
 * must have the header's field count and end with a newline, and every
 * number must parse whole; anything else is BN_ERR_USER naming the file and
 * line, since a half-written or hand-edited log would otherwise plot
 * silently wrong numbers. */
#ifndef BN_RUNLOG_H
#define BN_RUNLOG_H

#include "core/error.h"
#include "io/config.h"

/* One metrics.csv row; NAN marks a pass not run that epoch. */
typedef struct {
    int epoch;
    double lr, train_batch_loss, train_batch_err, train_loss, train_err, test_loss, test_err;
} MetricRow;

enum { RUNLOG_TRAIN = 0, RUNLOG_TEST = 1, RUNLOG_NSETS = 2 };

/* The shift.csv value columns, in file order. */
enum { SV_ESM_MEAN, SV_ESM_STD, SV_ESM_VAR, SV_RMS_MEAN, SV_RMS_STD, SV_NESM_MEAN, SV_NESM_STD, SV_N };

#define RUNLOG_NAME_MAX 96

/* One shift.csv row. */
typedef struct {
    int epoch, set, layer, depth, channels;
    char name[RUNLOG_NAME_MAX];
    double v[SV_N];
} ShiftRow;

typedef struct {
    char dir[CONFIG_PATH_MAX];
    Config cfg;
    MetricRow *metrics;
    int n_metrics;
    ShiftRow *shift;
    int n_shift;
} RunLog;

/* "train" / "test". */
const char *runlog_set_name(int set);

/* Loads the three files of dir. On failure r holds nothing to free. */
int runlog_load(RunLog *r, const char *dir, BnError *err);
void runlog_free(RunLog *r);

/* Distinct epochs with shift rows on set, ascending, into out[max];
 * returns how many there are (possibly more than max). */
int runlog_epochs(const RunLog *r, int set, int *out, int max);
/* 1 + the largest BN layer index on set (0 when none). */
int runlog_n_layers(const RunLog *r, int set);
/* The row of (epoch, set, layer), or NULL. */
const ShiftRow *runlog_find(const RunLog *r, int epoch, int set, int layer);

#endif
