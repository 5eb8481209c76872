/* BatchNorm on blocked activations (blocked.h, BatchNorm.blocked the
 * layout): the same statistics and formulas as batchnorm.c, vectorized
 * over the lanes of a tile (blocked_walk: a 16-channel block in nChw16c,
 * up to 64 channels of a row in NHWC) and parallel over (sample, tile). Each tile's partial sums go to
 * BatchNorm.partial and are added per channel in sample order, so results
 * do not depend on the thread count. batchnorm.c calls these when
 * BatchNorm.blocked is set. */
#ifndef BS_BATCHNORM_BLOCKED_H
#define BS_BATCHNORM_BLOCKED_H

#include "batchnorm.h"

void bn_blocked_forward_train(const BatchNorm *b, const float *gamma, const float *beta,
                              float *run_mean, float *run_var, const float *in, float *out,
                              float *save_mean, float *save_invstd, int N);
void bn_blocked_forward_eval(const BatchNorm *b, const float *gamma, const float *beta,
                             const float *run_mean, const float *run_var, const float *in,
                             float *out, int N);
void bn_blocked_backward_train(const BatchNorm *b, const float *gamma, const float *beta, const float *in,
                               const float *save_mean, const float *save_invstd,
                               const float *dout, float *din, float *dgamma, float *dbeta, int N);
void bn_blocked_backward_eval(const BatchNorm *b, const float *gamma, const float *beta, const float *run_mean,
                              const float *run_var, const float *in, const float *dout,
                              float *din, float *dgamma, float *dbeta, int N);

#endif
