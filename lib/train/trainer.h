/* One training epoch: seeded shuffle, augmentation, forward/backward/SGD per
 * batch, a last incomplete batch dropped (a batch of 1 has no unbiased
 * variance), NaN/Inf detection naming the layer. */
#ifndef BS_TRAINER_H
#define BS_TRAINER_H

#include <signal.h>

#include "core/comm.h"
#include "data/dataset.h"
#include "train/optimizer.h"
#include "train/schedule.h"

typedef void (*ProgressFn)(void *ctx, int epoch, int step, int steps, double loss,
                           double images_per_s);

/* How training updates BN's running statistics (train.bn_estimator):
 * PyTorch's exponential moving average with train.bn_momentum, or its
 * cumulative moving average (momentum=None: the t-th batch since the
 * start weighs 1/t), restarted each epoch or never
 * (train.bn_cumulative_reset). */
typedef enum { BN_EST_EMA, BN_EST_CUMULATIVE } BnEstimator;
typedef enum { BN_RESET_EPOCH, BN_RESET_NEVER } BnCumulativeReset;

/* The update weight of batch t (1-based, counted from the last restart):
 * momentum for the moving average, 1/t for the cumulative one. */
double bn_estimator_factor(BnEstimator e, double momentum, long t);

typedef struct {
    Model *m;
    Optimizer *o;
    const Schedule *sched;
    const Dataset *d;
    const int *idx; /* the training samples (a subset of d) */
    int n;
    const float *mean, *std;
    int batch, augment, flip;
    float grad_clip; /* 0 = off */
    BnEstimator bn_estimator;
    BnCumulativeReset bn_reset; /* cumulative: batches count from the epoch's start, or from the run's */
    Rng *rng;
    float *x;    /* [batch][sample] scratch */
    int *y;      /* [batch] */
    int *order;  /* [n] */
    ProgressFn progress;
    void *progress_ctx;
    /* Set (by a signal handler) to stop after the current step. */
    const volatile sig_atomic_t *stop;
    /* Data-parallel training (NULL: one process). Every rank draws the same
     * global batch of `batch` samples (the same shuffle and augmentation)
     * and trains on its share batch/size (comm_share; batch must divide
     * evenly); the gradients are summed over the ranks in rank order and
     * divided by the rank count, so every rank takes the same step. A stop
     * on any rank stops every rank after the same step. */
    const Comm *comm;
    double *grad_sum; /* [n_params + 1] scratch when comm has several ranks */
} Trainer;

typedef struct {
    double loss, err; /* means over the epoch's training-mode batches */
    long images;
    double seconds;
    int interrupted; /* stopped early by *stop: the epoch is incomplete */
} EpochStats;

/* epoch is 0-based. Returns BS_OK (check st->interrupted) or BS_ERR_RUNTIME
 * with a message naming the epoch (1-based), step and layer of a NaN/Inf. */
int trainer_epoch(Trainer *t, int epoch, EpochStats *st, BsError *err);

#endif
