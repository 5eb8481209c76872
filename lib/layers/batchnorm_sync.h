/* SyncBatchNorm's training mode (torch.nn.SyncBatchNorm): the batch
 * statistics and the backward's gradient sums are taken over the whole
 * global batch, this rank's samples plus every other rank's, through
 * BatchNorm.comm, so K ranks with N samples each compute what one process
 * with K·N samples would (to float rounding). Any layout (NCHW or
 * blocked); called by batchnorm.c when BatchNorm.comm is set. Each call is
 * a collective: every rank runs it for the same layer in the same order. */
#ifndef BS_BATCHNORM_SYNC_H
#define BS_BATCHNORM_SYNC_H

#include "batchnorm.h"

void bn_sync_forward_train(const BatchNorm *b, const float *gamma, const float *beta, float *run_mean,
                           float *run_var, const float *in, float *out, float *save_mean, float *save_invstd,
                           int N);
/* dgamma/dbeta get this rank's share only (the trainer sums parameter
 * gradients over ranks); din uses the global sums. */
void bn_sync_backward_train(const BatchNorm *b, const float *gamma, const float *beta, const float *in,
                            const float *save_mean, const float *save_invstd, const float *dout, float *din,
                            float *dgamma, float *dbeta, int N);

#endif
