/* Re-estimating every BN's population statistics after training (`bnshift
 * eval --recalibrate SET --estimator E`, REFERENCE.md §5). `exact` is
 * recalibrate_bn (evaluate.h). The others run the network in training mode
 * (every BN normalizing with its batch statistics) over batches of a sample
 * list, without touching the weights:
 *   ioffe       the BN paper's Algorithm 2: E[x] = the mean of the batch
 *               means, Var[x] = m/(m-1) times the mean of the batch
 *               variances, over the full batches of size m only;
 *   precise     fvcore's update_bn_stats (PreciseBN): the equal-weight mean
 *               of every batch's mean and unbiased variance, a shorter last
 *               batch included;
 *   ema         PyTorch's running average r <- (1-m) r + m b (b the batch
 *               mean and unbiased variance), restarted from the current
 *               estimates;
 *   cumulative  PyTorch's momentum=None: the same with m = 1/t at batch t.
 * With batches of equal size, ioffe and precise are the same quantity
 * (m/(m-1)·mean of biased = mean of unbiased variances) and so is
 * cumulative, computed in float by the BN layer's own update. */
#ifndef BS_ESTIMATE_H
#define BS_ESTIMATE_H

#include "train/evaluate.h"

typedef enum { REEST_EXACT, REEST_IOFFE, REEST_PRECISE, REEST_EMA, REEST_CUMULATIVE, REEST_N } Reestimator;

const char *reestimator_name(Reestimator e);
/* 0 and *out set for a known name, -1 otherwise. */
int reestimator_parse(const char *name, Reestimator *out);
/* "exact, ioffe, precise, ema, cumulative" for error messages. */
const char *reestimator_list(void);

/* Runs the training-mode estimator `kind` (not REEST_EXACT) over
 * samples[0..n) (indices into set->d, normalized as set says) in
 * consecutive batches of `batch` samples (<= the model's max_batch); a
 * last batch of one sample is skipped, and ioffe skips any shorter last
 * batch. momentum is ema's m. Every BN's running mean/var is replaced by the
 * estimate; the BN layers' momentum is restored afterwards. *used gets the
 * number of batches used. x/y: scratch for one batch. BS_ERR_USER when no
 * batch could be used. */
int reestimate_bn(Model *m, const SampleSet *set, const int *samples, int n, int batch, Reestimator kind,
                  double momentum, float *x, int *y, int *used, BsError *err);

#endif
