#include "batchnorm_sync.h"

#include <math.h>

#include "activation.h"
#include "blocked.h"
#include "core/comm.h"

/* Where element (n, c, s) lies in the layer's layout. */
static size_t at(const BatchNorm *b, int n, int c, int s)
{
    if (b->blocked)
        return blocked_index(b->C, b->spatial, b->blocked, n, c, s);
    return ((size_t)n * (size_t)b->C + (size_t)c) * (size_t)b->spatial + (size_t)s;
}

/* The padding lanes of a blocked tensor hold zeros (blocked.h). */
static void zero_padding(const BatchNorm *b, float *t, int N)
{
    if (!b->blocked)
        return;
    for (int n = 0; n < N; n++)
        for (int c = b->C; c < blocked_channels(b->C); c++)
            for (int s = 0; s < b->spatial; s++)
                t[at(b, n, c, s)] = 0.0f;
}

/* Each channel's sums run on one thread in a fixed order (thread-count
 * independent, as batchnorm.c); the collectives run outside the loops. */
void bn_sync_forward_train(const BatchNorm *b, const float *gamma, const float *beta, float *run_mean,
                           float *run_var, const float *in, float *out, float *save_mean, float *save_invstd,
                           int N)
{
    const int C = b->C, S = b->spatial;
    double sums[2 * C + 1]; /* Σx per channel and the count, then Σ(x-mean), Σ(x-mean)² */
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double s1 = 0;
        for (int n = 0; n < N; n++)
            for (int s = 0; s < S; s++)
                s1 += in[at(b, n, c, s)];
        sums[c] = s1;
    }
    sums[C] = (double)N * S;
    b->comm->sum(b->comm, sums, (size_t)C + 1);
    const double M = sums[C];
    double mean[C];
    for (int c = 0; c < C; c++)
        mean[c] = sums[c] / M;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double dev = 0, sq = 0;
        for (int n = 0; n < N; n++)
            for (int s = 0; s < S; s++) {
                const double d = in[at(b, n, c, s)] - mean[c];
                dev += d;
                sq += d * d;
            }
        sums[c] = dev;
        sums[C + c] = sq;
    }
    b->comm->sum(b->comm, sums, 2 * (size_t)C);
    const double unbias = M > 1 ? M / (M - 1) : 1.0, mom = b->momentum;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const double var = fmax((sums[C + c] - sums[c] * sums[c] / M) / M, 0.0);
        const float invstd = (float)(1.0 / sqrt(var + b->eps));
        save_mean[c] = (float)mean[c];
        save_invstd[c] = invstd;
        run_mean[c] = (float)((1.0 - mom) * run_mean[c] + mom * mean[c]);
        run_var[c] = (float)((1.0 - mom) * run_var[c] + mom * var * unbias);
        const float scale = gamma[c] * invstd, shift = beta[c], mu = save_mean[c];
        for (int n = 0; n < N; n++)
            for (int s = 0; s < S; s++) {
                const size_t i = at(b, n, c, s);
                const float y = norm_affine(in[i], mu, scale, shift);
                out[i] = b->residual ? act_apply(y + b->residual[i], b->residual_act)
                         : b->act_after ? act_apply(y, b->act_after)
                                        : y;
            }
    }
    zero_padding(b, out, N);
}

void bn_sync_backward_train(const BatchNorm *b, const float *gamma, const float *beta, const float *in,
                            const float *save_mean, const float *save_invstd, const float *dout, float *din,
                            float *dgamma, float *dbeta, int N)
{
    const int C = b->C, S = b->spatial;
    double sums[2 * C + 1]; /* Σg, Σg·(x-mean) per channel, and the count */
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float scale = gamma[c] * save_invstd[c];
        double sd = 0, sdx = 0;
        for (int n = 0; n < N; n++)
            for (int s = 0; s < S; s++) {
                const size_t i = at(b, n, c, s);
                const float g = norm_act_grad(dout[i], in[i], save_mean[c], scale, beta[c], b->act_after);
                sd += g;
                sdx += (double)g * (double)(in[i] - save_mean[c]);
            }
        dgamma[c] += (float)(sdx * save_invstd[c]);
        dbeta[c] += (float)sd;
        sums[c] = sd;
        sums[C + c] = sdx;
    }
    sums[2 * C] = (double)N * S;
    b->comm->sum(b->comm, sums, 2 * (size_t)C + 1);
    const double M = sums[2 * C];
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const double invstd = save_invstd[c];
        const float scale = (float)(gamma[c] * invstd), mean_dy = (float)(sums[c] / M);
        const float k = (float)(sums[C + c] * invstd * invstd / M), mu = save_mean[c];
        for (int n = 0; n < N; n++)
            for (int s = 0; s < S; s++) {
                const size_t i = at(b, n, c, s);
                const float g = norm_act_grad(dout[i], in[i], mu, scale, beta[c], b->act_after);
                din[i] = scale * (g - mean_dy - (in[i] - mu) * k);
            }
    }
    zero_padding(b, din, N);
}
