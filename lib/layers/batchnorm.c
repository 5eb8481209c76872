#include "batchnorm.h"

#include <math.h>

#include "activation.h"
#include "batchnorm_blocked.h"
#include "batchnorm_sync.h"

/* Every reduction of one channel runs on one thread in a fixed order, so
 * results are bit-identical for any thread count. Sums are in double so
 * that large N*spatial stays accurate; `omp simd reduction` lets the
 * compiler keep several partial sums (a fixed order chosen at compile time)
 * instead of one serial chain of dependent additions. */

void batchnorm_init(BatchNorm *b, int C, int spatial, float eps, float momentum)
{
    *b = (BatchNorm){0}; /* every option off, every pointer NULL */
    b->C = C;
    b->spatial = spatial;
    b->eps = eps;
    b->momentum = momentum;
}

/* Start of channel c of sample n. */
static size_t plane_offset(const BatchNorm *b, int n, int c)
{
    return ((size_t)n * (size_t)b->C + (size_t)c) * (size_t)b->spatial;
}

static size_t batch_count(const BatchNorm *b, int N)
{
    return (size_t)N * (size_t)b->spatial;
}

/* Two-pass mean and biased variance of channel c. The second pass also
 * sums the deviations: subtracting their square (zero in exact arithmetic)
 * corrects the rounding of the mean. */
static void channel_moments(const BatchNorm *b, const float *in, int c, int N,
                            double *mean, double *var)
{
    const int S = b->spatial;
    double sum = 0;
    for (int n = 0; n < N; n++) {
        const float *x = in + plane_offset(b, n, c);
#pragma omp simd reduction(+ : sum)
        for (int s = 0; s < S; s++)
            sum += x[s];
    }
    const double M = (double)batch_count(b, N);
    const double m = sum / M;
    double dev = 0, sq = 0;
    for (int n = 0; n < N; n++) {
        const float *x = in + plane_offset(b, n, c);
#pragma omp simd reduction(+ : dev, sq)
        for (int s = 0; s < S; s++) {
            const double d = x[s] - m;
            dev += d;
            sq += d * d;
        }
    }
    *mean = m;
    *var = fmax((sq - dev * dev / M) / M, 0.0);
}

/* y = (x - mean)·scale + shift over channel c (then the activation, or the
 * residual and its activation); reads each x before writing its y, so out
 * may equal in. */
static void channel_affine(const BatchNorm *b, const float *in, float *out, int c, int N,
                           float mean, float scale, float shift)
{
    const int S = b->spatial;
    for (int n = 0; n < N; n++) {
        const size_t o = plane_offset(b, n, c);
        if (b->residual)
            for (int s = 0; s < S; s++)
                out[o + s] = act_apply(norm_affine(in[o + s], mean, scale, shift) + b->residual[o + s],
                                       b->residual_act);
        else if (b->act_after)
            for (int s = 0; s < S; s++)
                out[o + s] = act_apply(norm_affine(in[o + s], mean, scale, shift), b->act_after);
        else
            for (int s = 0; s < S; s++)
                out[o + s] = norm_affine(in[o + s], mean, scale, shift);
    }
}

void batchnorm_forward_train(const BatchNorm *b, const float *gamma, const float *beta,
                             float *run_mean, float *run_var, const float *in, float *out,
                             float *save_mean, float *save_invstd, int N)
{
    if (b->comm) {
        bn_sync_forward_train(b, gamma, beta, run_mean, run_var, in, out, save_mean, save_invstd, N);
        return;
    }
    if (b->blocked) {
        bn_blocked_forward_train(b, gamma, beta, run_mean, run_var, in, out, save_mean, save_invstd, N);
        return;
    }
    const size_t M = batch_count(b, N);
    /* Bessel's correction for running_var; M < 2 is a caller error, but
     * never divide by zero. */
    const double unbias = M > 1 ? (double)M / (double)(M - 1) : 1.0;
    const double mom = b->momentum;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < b->C; c++) {
        double mean, var;
        channel_moments(b, in, c, N, &mean, &var);
        const float invstd = (float)(1.0 / sqrt(var + b->eps));
        save_mean[c] = (float)mean;
        save_invstd[c] = invstd;
        run_mean[c] = (float)((1.0 - mom) * run_mean[c] + mom * mean);
        run_var[c] = (float)((1.0 - mom) * run_var[c] + mom * var * unbias);
        /* Backward recomputes x̂ from the saved float statistics, so the
         * forward uses the same rounded values. */
        channel_affine(b, in, out, c, N, save_mean[c], gamma[c] * invstd, beta[c]);
    }
}

void batchnorm_forward_eval(const BatchNorm *b, const float *gamma, const float *beta,
                            const float *run_mean, const float *run_var,
                            const float *in, float *out, int N)
{
    if (b->blocked) {
        bn_blocked_forward_eval(b, gamma, beta, run_mean, run_var, in, out, N);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int c = 0; c < b->C; c++)
        channel_affine(b, in, out, c, N, run_mean[c], gamma[c] * batchnorm_eval_invstd(b, run_var, c),
                       beta[c]);
}

/* Σg and Σg·(x - mean) over channel c, g = norm_act_grad. */
static void channel_grad_sums(const BatchNorm *b, const float *in, const float *dout, int c, int N, float mean,
                              float scale, float shift, double *sum_dy, double *sum_dy_xc)
{
    const int S = b->spatial;
    double sd = 0, sdx = 0;
    for (int n = 0; n < N; n++) {
        const size_t o = plane_offset(b, n, c);
#pragma omp simd reduction(+ : sd, sdx)
        for (int s = 0; s < S; s++) {
            const float g = norm_act_grad(dout[o + s], in[o + s], mean, scale, shift, b->act_after);
            sd += g;
            sdx += (double)g * (double)(in[o + s] - mean);
        }
    }
    *sum_dy = sd;
    *sum_dy_xc = sdx;
}

void batchnorm_backward_train(const BatchNorm *b, const float *gamma, const float *beta, const float *in,
                              const float *save_mean, const float *save_invstd,
                              const float *dout, float *din, float *dgamma, float *dbeta, int N)
{
    if (b->comm) {
        bn_sync_backward_train(b, gamma, beta, in, save_mean, save_invstd, dout, din, dgamma, dbeta, N);
        return;
    }
    if (b->blocked) {
        bn_blocked_backward_train(b, gamma, beta, in, save_mean, save_invstd, dout, din, dgamma, dbeta, N);
        return;
    }
    const double M = (double)batch_count(b, N);
    const int S = b->spatial;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < b->C; c++) {
        const float mean = save_mean[c];
        const double invstd = save_invstd[c];
        /* γ·invstd: the forward's float scale (a double product of floats is exact). */
        const float scale = (float)(gamma[c] * invstd);
        double sum_dy, sum_dy_xc;
        channel_grad_sums(b, in, dout, c, N, mean, scale, beta[c], &sum_dy, &sum_dy_xc);
        dgamma[c] += (float)(sum_dy_xc * invstd);
        dbeta[c] += (float)sum_dy;
        /* dx = γ·invstd·(g − Σg/M − x̂·Σ(g·x̂)/M), with
         * x̂·Σ(g·x̂) = (x − mean)·invstd²·Σg·(x − mean). */
        const float mean_dy = (float)(sum_dy / M);
        const float k = (float)(sum_dy_xc * invstd * invstd / M);
        for (int n = 0; n < N; n++) {
            const size_t o = plane_offset(b, n, c);
            for (int s = 0; s < S; s++)
                din[o + s] = scale * (norm_act_grad(dout[o + s], in[o + s], mean, scale, beta[c], b->act_after) -
                                      mean_dy - (in[o + s] - mean) * k);
        }
    }
}

void batchnorm_backward_eval(const BatchNorm *b, const float *gamma, const float *beta, const float *run_mean,
                             const float *run_var, const float *in, const float *dout,
                             float *din, float *dgamma, float *dbeta, int N)
{
    if (b->blocked) {
        bn_blocked_backward_eval(b, gamma, beta, run_mean, run_var, in, dout, din, dgamma, dbeta, N);
        return;
    }
    const int S = b->spatial;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < b->C; c++) {
        const float invstd = batchnorm_eval_invstd(b, run_var, c);
        /* The statistics are constants here: the layer is a per-channel scale. */
        const float scale = gamma[c] * invstd;
        double sum_dy, sum_dy_xc;
        channel_grad_sums(b, in, dout, c, N, run_mean[c], scale, beta[c], &sum_dy, &sum_dy_xc);
        dgamma[c] += (float)(sum_dy_xc * invstd);
        dbeta[c] += (float)sum_dy;
        for (int n = 0; n < N; n++) {
            const size_t o = plane_offset(b, n, c);
            for (int s = 0; s < S; s++)
                din[o + s] =
                    norm_act_grad(dout[o + s], in[o + s], run_mean[c], scale, beta[c], b->act_after) * scale;
        }
    }
}
