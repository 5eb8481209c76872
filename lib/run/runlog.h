/* Reading a finished (or running) run directory back: metrics.csv,
 * shift.csv and config.resolved.json (REFERENCE.md §4), for `bnshift plot-data`
 * and for the checks of `run --resume`. The CSV reader is strict: the
 * header line must match exactly, every row must have the header's field
 * count and end with a newline, and every number must parse whole; shift.csv
 * must have the shape the runner writes (per evaluated epoch and set, the
 * layers 0..L-1 in order, each with the same name, depth and channels every
 * time, depths increasing; epochs ascending and present in metrics.csv), so
 * an edited row cannot make a reader loop over layers that do not exist.
 * Anything else is BS_ERR_USER naming the file and line, since a
 * half-written or hand-edited log would otherwise plot silently wrong
 * numbers. */
#ifndef BS_RUNLOG_H
#define BS_RUNLOG_H

#include "core/error.h"
#include "run/config.h"

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

/* Where the rows of one evaluated (epoch, set) start in RunLog.shift. */
typedef struct {
    int epoch, first;
} ShiftGroup;

typedef struct {
    char dir[CONFIG_PATH_MAX];
    Config cfg;
    MetricRow *metrics;
    int n_metrics;
    ShiftRow *shift;
    int n_shift;
    int n_layers;                   /* L: rows per group */
    ShiftGroup *groups[RUNLOG_NSETS]; /* per set, epochs ascending */
    int n_groups[RUNLOG_NSETS];
    /* Read from a run still being written (live): what was left out. */
    int dropped_partial_lines, dropped_shift_rows;
} RunLog;

/* The two logs, for runlog_check_prefix. */
typedef enum { RUNLOG_METRICS, RUNLOG_SHIFT } RunLogFile;

/* "train" / "test". */
const char *runlog_set_name(int set);

/* Loads the three files of dir. With live (a writer holds the directory),
 * a last line without its newline (being written) and shift rows of an
 * epoch metrics.csv does not hold yet are left out and counted, not
 * errors. On failure r holds nothing to free. */
int runlog_load(RunLog *r, const char *dir, int live, BsError *err);

/* Checks the first len bytes of a log before a resume appends to it: a
 * regular file at least len bytes long whose first len bytes are the
 * header and whole rows that parse, with LF line ends (a CRLF line or a row
 * cut at len is reported, never glued to the next row). BS_ERR_USER naming
 * the file (and line). */
int runlog_check_prefix(const char *path, RunLogFile which, long len, BsError *err);
void runlog_free(RunLog *r);

/* Distinct epochs with shift rows on set, ascending, into out[max];
 * returns how many there are (possibly more than max). */
int runlog_epochs(const RunLog *r, int set, int *out, int max);
/* The number of BN layers with rows on set (0 when none). */
int runlog_n_layers(const RunLog *r, int set);
/* The row of (epoch, set, layer), or NULL. */
const ShiftRow *runlog_find(const RunLog *r, int epoch, int set, int layer);

#endif
