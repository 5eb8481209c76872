/* GroupNorm on blocked activations (blocked.h, padded blocks included):
 * the same statistics and formulas as groupnorm.c. Per sample, each block
 * is summed per lane (16 channels at once), the channel sums go to
 * GroupNorm.partial, and a group's sums are the sums of its channels in
 * channel order; the affine pass then runs block by block with per-lane
 * scale and shift. A sample is one thread's work from start to end, so
 * results do not depend on the thread count. groupnorm.c calls these when
 * GroupNorm.blocked is set. */
#ifndef BS_GROUPNORM_BLOCKED_H
#define BS_GROUPNORM_BLOCKED_H

#include "groupnorm.h"

void gn_blocked_forward(const GroupNorm *g, const float *gamma, const float *beta, const float *in, float *out,
                        float *save_mean, float *save_invstd, int N);
void gn_blocked_backward(const GroupNorm *g, const float *gamma, const float *beta, const float *in,
                         const float *save_mean, const float *save_invstd, const float *dout, float *din,
                         float *dgamma, float *dbeta, int N);

#endif
