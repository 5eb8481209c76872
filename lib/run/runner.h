/* The epoch loop of `bnshift run` (REFERENCE.md §4): train an epoch, then on the
 * evaluation epochs one inference pass per evaluation set feeding both the
 * errors and every BN layer's estimation shift, then the CSV rows (flushed
 * and fsynced) and, on checkpoint epochs, checkpoint.bin. */
#ifndef BS_RUNNER_H
#define BS_RUNNER_H

#include <stdint.h>

#include "io/csv.h"
#include "io/logformat.h"
#include "shift/esm.h"
#include "train/evaluate.h"
#include "train/trainer.h"

#define RUNNER_MAX_SETS 2

typedef struct {
    const char *name; /* "train" or "test": the `set` column of shift.csv */
    SampleSet set;
} EvalSet;

/* What the caller hears after each finished epoch (for the console). */
typedef struct {
    int epoch; /* 1-based */
    double lr, train_batch_loss, train_batch_err;
    int evaluated;
    double set_loss[RUNNER_MAX_SETS], set_err[RUNNER_MAX_SETS];
    /* The same weights with batch statistics (training-mode BN, batches of
     * train.batch_size, running statistics untouched): the bstat columns. */
    double set_bstat_loss[RUNNER_MAX_SETS], set_bstat_err[RUNNER_MAX_SETS];
    int bstat_done; /* the bstat pass ran (not with log.bstat false) */
    double mean_esm_mean[RUNNER_MAX_SETS]; /* mean over BN layers */
    double seconds, images_per_s;
    int nesm_skipped; /* channels with sigma ~ 0 left out of nesm_* */
} EpochReport;

typedef struct {
    Trainer trainer;         /* model, optimizer, schedule, training data */
    EvalSet eval[RUNNER_MAX_SETS];
    int n_eval;
    int epochs, eval_every, checkpoint_every;
    int skip_bstat; /* log.bstat false: no batch-statistics pass, empty bstat columns */
    const char *out_dir;
    uint64_t config_hash;
    int threads;
    /* A resumed run whose metrics.csv has METRICS_HEADER_V1 keeps writing
     * that format (no bstat columns). */
    int metrics_v1;
    /* Data-parallel (NULL: one process; the trainer's comm is the same):
     * every rank trains and evaluates its share; rank 0 alone writes the
     * directory, with its running estimates the ones evaluated (local BN),
     * the spread across ranks in ranks.csv and every rank's estimates in
     * the checkpoint. Rank 0's I/O result is shared, so all ranks stop
     * together. */
    const Comm *comm;
    /* Resuming a data-parallel run: ranks.csv's length at the checkpoint. */
    long ranks_len;
    /* Called after each finished epoch; may be NULL. */
    void (*on_epoch)(void *ctx, const EpochReport *r);
    void *ctx;
} Runner;

/* Runs epochs start_epoch+1 .. epochs. With start_epoch > 0 (resume) the CSVs
 * are truncated to metrics_len/shift_len, else created. Returns BS_OK,
 * BS_STOPPED (signal; CSVs intact, resume from the last checkpoint), or an
 * error (BS_ERR_RUNTIME for I/O and NaN/Inf, naming epoch and layer). */
int runner_run(Runner *r, int start_epoch, long metrics_len, long shift_len, BsError *err);

#endif
