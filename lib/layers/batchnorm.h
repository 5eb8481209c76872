/* BatchNorm over NCHW (spatial = H*W) or NC (spatial = 1), with PyTorch's
 * semantics: training mode normalizes with the biased batch variance and
 * updates running_var with the unbiased one; r = (1-m)·r + m·batch_stat. */
#ifndef BS_BATCHNORM_H
#define BS_BATCHNORM_H

#include <math.h>
#include <stddef.h>

typedef struct {
    int C, spatial;
    float eps, momentum;
    /* The forward passes also apply this activation (BsAct, activation.h:
     * ReLU or ReLU6, as their own forwards do): set by the model when one
     * follows in place, saving it a pass over memory. The backwards then
     * take dout as the gradient of the activation's output and apply its
     * derivative themselves (activation.h act_grad, the pre-activation
     * recomputed from `in`): the activation's own backward does not run. */
    int act_after;
    /* The residual add after the layer, fused (set by the model for each
     * call; NULL: none): the forwards write act_apply(y + residual,
     * residual_act) where they would write y, residual laid out as the
     * output, so the add and its activation need no pass of their own.
     * Never together with act_after (the add, not an activation, follows). */
    const float *residual;
    int residual_act;
    /* The add's backward, fused too (set by the model for each call where
     * batchnorm_takes_residual_grad; NULL: none): the backward takes dout
     * back through residual_act at `output` (this layer's output, the
     * add's), writes that gradient to residual_grad in the pass that reads
     * dout anyway, as the add's backward would, and uses it as its own dy.
     * Elsewhere the model makes that gradient first (models/ops.c norm_dy). */
    float *residual_grad;
    const float *output;
    /* The activations' layout: 0 (NCHW) or a blocked one (blocked.h:
     * BLOCKED_16C, BLOCKED_NHWC); blocked, `partial` must hold
     * batchnorm_partial_size(C, N) doubles of scratch. */
    int blocked;
    double *partial;
    /* When set on a blocked layer, the inference-mode forward also sums its
     * input for the exact BN-input statistics (lib/shift/stats.c) while it
     * reads it anyway: per channel K[c] (the first value of the channel),
     * Σ(x − K) and Σ(x − K)², as blocked_centered_sums would, into
     * stats_out[0..3C), and the number of values per channel (N·spatial)
     * into stats_out[3C]. Not an op's state: stats.c sets and clears it. */
    double *stats_out;
    /* SyncBatchNorm (train.bn_sync sync under MPI): when set, the
     * training-mode forward and backward use the statistics and gradient
     * sums of the whole global batch across the ranks (batchnorm_sync.c);
     * inference is unchanged. */
    const struct Comm *comm;
} BatchNorm;

/* Whether a backward call takes BatchNorm.residual_grad: the blocked
 * training-mode one on a single process. */
static inline int batchnorm_takes_residual_grad(const BatchNorm *b, int train)
{
    return b->blocked && !b->comm && train;
}

/* Doubles of BatchNorm.partial a blocked layer needs at batch N. */
static inline size_t batchnorm_partial_size(int C, int N) { return (2 * (size_t)N + 8) * (size_t)C; }

/* 1/sqrt(running var + eps) of channel c, rounded to float as every
 * inference-mode path (forward and backward, either layout) rounds it. */
static inline float batchnorm_eval_invstd(const BatchNorm *b, const float *run_var, int c)
{
    return (float)(1.0 / sqrt((double)run_var[c] + b->eps));
}

void batchnorm_init(BatchNorm *b, int C, int spatial, float eps, float momentum);

/* Training mode: normalizes with batch statistics, stores the batch mean and
 * 1/sqrt(var+eps) in save_mean/save_invstd [C] for backward, and updates
 * run_mean/run_var [C] in place. N*spatial must be >= 2. out may equal in. */
void batchnorm_forward_train(const BatchNorm *b, const float *gamma, const float *beta,
                             float *run_mean, float *run_var, const float *in, float *out,
                             float *save_mean, float *save_invstd, int N);
/* Inference mode: normalizes with the running statistics. out may equal in. */
void batchnorm_forward_eval(const BatchNorm *b, const float *gamma, const float *beta,
                            const float *run_mean, const float *run_var,
                            const float *in, float *out, int N);
/* Backward of the training-mode forward. din overwritten; dgamma/dbeta
 * accumulate. beta is needed only with act_after (the pre-activation). */
void batchnorm_backward_train(const BatchNorm *b, const float *gamma, const float *beta, const float *in,
                              const float *save_mean, const float *save_invstd,
                              const float *dout, float *din, float *dgamma, float *dbeta, int N);
/* Backward of the inference-mode forward (statistics are constants). */
void batchnorm_backward_eval(const BatchNorm *b, const float *gamma, const float *beta, const float *run_mean,
                             const float *run_var, const float *in, const float *dout,
                             float *din, float *dgamma, float *dbeta, int N);

#endif
