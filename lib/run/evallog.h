/* A run directory's optional eval.csv (what `bnshift eval` appends;
 * REFERENCE.md §4) read back as a list of conditions: one per distinct
 * (recalibrated_on, estimator, est_batches, est_batch_size, est_momentum,
 * batch_stats_size, corruption, severity, stage, set), holding the errors
 * and the mean ESM over its BN layers. eval appends, so a condition can
 * occur more than once: the last occurrence wins. Both headers are read
 * (EVAL_HEADER_V1's rows: estimator "exact" when recalibrated, the new
 * columns otherwise empty). The reader is runlog's strict one; besides,
 * every name must be one bnshift writes and a condition's BN layers come
 * as 0, 1, ... in order, else BS_ERR_USER naming the file and line. */
#ifndef BS_EVALLOG_H
#define BS_EVALLOG_H

#include "core/error.h"
#include "data/corrupt.h"

enum { EVAL_BEFORE = 0, EVAL_AFTER = 1 };

typedef struct {
    char recal[8];     /* recalibrated_on: "", "train", "test" */
    char estimator[12]; /* "" (not recalibrated) or exact|ioffe|precise|ema|cumulative */
    int est_batches, est_batch_size, batch_stats_size; /* 0 = empty */
    double est_momentum;                               /* NAN = empty */
    CorruptionType corruption;                         /* CORRUPT_NONE: a clean set */
    int severity;                                      /* 1..5; 0 when clean */
    int stage;                                         /* EVAL_BEFORE / EVAL_AFTER */
    int set;                                           /* RUNLOG_TRAIN / RUNLOG_TEST */
} EvalKey;

typedef struct {
    EvalKey key;
    double loss, err, batch_stats_err;
    double mean_esm_mean, mean_nesm_mean; /* over the BN layers; NAN without */
    int n_layers;
} EvalCond;

/* "before" / "after". */
const char *evallog_stage_name(int stage);
/* Whether two keys name the same condition. */
int evallog_key_eq(const EvalKey *a, const EvalKey *b);

/* Reads dir/eval.csv into *conds (caller frees; NULL when none), ordered by
 * each condition's last occurrence. A missing or empty file: no
 * conditions. */
int evallog_load(const char *dir, EvalCond **conds, int *n, BsError *err);

#endif
