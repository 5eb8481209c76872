/* Reading a finished (or running) run directory back: metrics.csv,
 * shift.csv, config.resolved.json and the optional eval.csv (evallog.h;
 * REFERENCE.md §4), for `bnshift plot-data`
 * and for the checks of `run --resume`. The CSV reader is strict: the
 * header line must match exactly (metrics.csv: today's or V1), every row must have the header's field
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

#include <stdio.h>

#include "core/error.h"
#include "run/config.h"
#include "run/evallog.h"

/* One metrics.csv row; NAN marks a pass not run that epoch (and the bstat
 * columns of a METRICS_HEADER_V1 file, which has none). */
typedef struct {
    int epoch;
    double lr, train_batch_loss, train_batch_err, train_loss, train_err, test_loss, test_err;
    double train_bstat_loss, train_bstat_err, test_bstat_loss, test_bstat_err;
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
    int metrics_v1; /* metrics.csv has METRICS_HEADER_V1 (an older bnshift's) */
    ShiftRow *shift;
    int n_shift;
    int n_layers;                   /* L: rows per group */
    ShiftGroup *groups[RUNLOG_NSETS]; /* per set, epochs ascending */
    int n_groups[RUNLOG_NSETS];
    EvalCond *eval; /* eval.csv's conditions (none without the file) */
    int n_eval;
    /* Read from a run still being written (live): what was left out. */
    int dropped_partial_lines, dropped_shift_rows;
} RunLog;

/* The two logs, for runlog_check_prefix. */
typedef enum { RUNLOG_METRICS, RUNLOG_SHIFT } RunLogFile;

/* "train" / "test". */
const char *runlog_set_name(int set);

/* Loads the files of dir (eval.csv when present). With live (a writer
 * holds the directory), a last line without its newline (being written)
 * and shift rows of an epoch metrics.csv does not hold yet are left out and
 * counted, not errors. On failure r holds nothing to free. */
int runlog_load(RunLog *r, const char *dir, int live, BsError *err);

/* Checks the first len bytes of a log before a resume appends to it: a
 * regular file at least len bytes long whose first len bytes are the
 * header and whole rows that parse, with LF line ends (a CRLF line or a row
 * cut at len is reported, never glued to the next row). BS_ERR_USER naming
 * the file (and line). For metrics.csv, *metrics_v1 (may be NULL) says
 * whether it has the older METRICS_HEADER_V1. */
int runlog_check_prefix(const char *path, RunLogFile which, long len, int *metrics_v1, BsError *err);
void runlog_free(RunLog *r);

/* Distinct epochs with shift rows on set, ascending, into out[max];
 * returns how many there are (possibly more than max). */
int runlog_epochs(const RunLog *r, int set, int *out, int max);
/* The number of BN layers with rows on set (0 when none). */
int runlog_n_layers(const RunLog *r, int set);
/* The row of (epoch, set, layer), or NULL. */
const ShiftRow *runlog_find(const RunLog *r, int epoch, int set, int layer);

/* The strict CSV reader behind these loaders (shared with evallog.c). */
#define RUNLOG_CSV_MAX_FIELDS 32

typedef struct {
    FILE *f;
    const char *path;
    char *line;
    size_t cap;
    int lineno;
    int strict_lf; /* a CR before the LF is an error (the resume checks) */
    int live;      /* a cut last line is being written: end, not error */
    int cut_tail;  /* set when live dropped such a line */
    char *field[RUNLOG_CSV_MAX_FIELDS];
} CsvReader;

/* Reads path (through f when given, else opened here) and checks its header
 * line is exactly `header`, or `older` when not NULL (*is_older then set). */
int runlog_csv_open(CsvReader *r, FILE *f, const char *path, const char *header, const char *older, int *is_older,
                    int strict_lf, int live, BsError *err);
/* Splits the next row into exactly n (<= RUNLOG_CSV_MAX_FIELDS) fields.
 * 1 = a row, 0 = end, -1 = error. */
int runlog_csv_row(CsvReader *r, int n, BsError *err);
/* Field i as a number; an empty field is NAN when optional. */
int runlog_csv_num(const CsvReader *r, int i, int optional, double *out, BsError *err);
/* Field i as an integer in [lo, 1e9]. */
int runlog_csv_int(const CsvReader *r, int i, int lo, int *out, BsError *err);
void runlog_csv_close(CsvReader *r);
/* Grows *p (elements of size sz, *cap of them) so index n fits. */
int runlog_grow(void **p, int *cap, int n, size_t sz, BsError *err);

#endif
