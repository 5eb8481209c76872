/* Inference-mode passes over a set: errors and, in the same forward pass,
 * the exact statistics of every BN input (REFERENCE.md §1); and the exact
 * re-estimation of BN running statistics on a set (recalibration). */
#ifndef BS_EVALUATE_H
#define BS_EVALUATE_H

#include "data/dataset.h"
#include "models/model.h"
#include "shift/stats.h"

/* The samples idx[0..n) of d, normalized with mean/std (NULL: raw /255),
 * fed batch samples at a time (0: the model's max_batch). */
typedef struct {
    const Dataset *d;
    const int *idx;
    int n;
    const float *mean, *std;
    int batch;
    /* Data-parallel (NULL: one process): each batch of `batch` samples is
     * split among the ranks (comm_share), every rank runs its part, and the
     * sums (loss, hits, BN-input statistics) are added over the ranks, so
     * the results are those of the whole set, on every rank. */
    const Comm *comm;
} SampleSet;

typedef struct {
    double loss, err;
    long n;
} EvalResult;

/* One inference pass in batches of set->batch. x/y are scratch for one
 * batch. stats (may be NULL) is reset and filled with the BN inputs' stats. */
void evaluate(Model *m, const SampleSet *set, float *x, int *y, ShiftStats *stats,
              EvalResult *res);

/* The error with BN in training mode (batch statistics of batches of
 * set->batch, as during training when that is train.batch_size) on the same samples, the running
 * statistics left untouched: the reference that isolates what the running
 * estimates cost. A last batch of one sample is skipped (no batch variance). */
int evaluate_batch_stats(Model *m, const SampleSet *set, float *x, int *y, EvalResult *res,
                         BsError *err);

/* Sets every BN's running mean/var to the exact mean and population variance
 * of its input on `set`, layer by layer in forward order (inference mode, so
 * each layer sees the inputs produced by the already recalibrated layers
 * before it). One partial pass per BN layer. */
void recalibrate_bn(Model *m, const SampleSet *set, float *x, int *y, ShiftStats *stats);

#endif
