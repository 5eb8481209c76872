/* GroupNorm (PyTorch semantics): statistics per (sample, group) over
 * C/G channels x spatial, biased variance, affine per channel. Identical in
 * training and inference. LayerNorm = 1 group, InstanceNorm = C groups. */
#ifndef BS_GROUPNORM_H
#define BS_GROUPNORM_H

#include <stddef.h>

typedef struct {
    int C, G, spatial;
    float eps;
    /* The forward also applies an activation, as BatchNorm.act_after (set by the
     * model when a ReLU follows in place); the backward then takes dout as
     * the gradient of the activation's output and applies its derivative
     * (activation.h act_grad), as BatchNorm's does. */
    int act_after;
    /* The residual add after the layer, fused, as BatchNorm.residual (set
     * for each call; never together with act_after), and its backward as
     * BatchNorm.residual_grad (where groupnorm_takes_residual_grad). */
    const float *residual;
    int residual_act;
    float *residual_grad;
    const float *output;
    /* The activations' layout: 0 (NCHW) or a blocked one (blocked.h);
     * blocked, `partial` must hold groupnorm_partial_size(C, G, N) doubles
     * of scratch. */
    int blocked;
    double *partial;
} GroupNorm;

/* Whether the backward takes GroupNorm.residual_grad: the blocked one. */
static inline int groupnorm_takes_residual_grad(const GroupNorm *g) { return g->blocked != 0; }

/* Doubles of GroupNorm.partial a blocked layer needs at batch N. */
static inline size_t groupnorm_partial_size(int C, int G, int N) { return 2 * (size_t)N * ((size_t)C + (size_t)G); }

/* G must divide C (callers validate; config errors are reported there). */
void groupnorm_init(GroupNorm *g, int C, int G, int spatial, float eps);

/* save_mean/save_invstd are [N][G]. out may equal in. */
void groupnorm_forward(const GroupNorm *g, const float *gamma, const float *beta,
                       const float *in, float *out, float *save_mean, float *save_invstd, int N);
/* din overwritten (may equal dout); dgamma/dbeta accumulate. beta is
 * needed only with act_after (the pre-activation). */
void groupnorm_backward(const GroupNorm *g, const float *gamma, const float *beta, const float *in,
                        const float *save_mean, const float *save_invstd,
                        const float *dout, float *din, float *dgamma, float *dbeta, int N);

#endif
