#include "batchnorm_blocked.h"

#include <math.h>

#include "activation.h"
#include "blocked.h"

/* BatchNorm.partial holds two [N][C] arrays of per-tile sums (which 0, 1),
 * then per-channel arrays of C values each (chan 0..7). */
static double *part_of(const BatchNorm *b, int which, int N)
{
    return b->partial + (size_t)which * (size_t)N * (size_t)b->C;
}

enum { CH_MEAN, CH_VAR, CH_DEV, CH_SUM_DY, CH_SUM_DY_XC, CH_SCALE, CH_MEAN_DY, CH_K };

static double *chan(const BatchNorm *b, int N, int j)
{
    return b->partial + (2 * (size_t)N + (size_t)j) * (size_t)b->C;
}

/* Lanes l of block cb of a per-channel array of float values kept in
 * doubles; zero in the padding lanes (blocked.h). */
static void lanes(float *dst, const double *src, int C, int cb)
{
    for (int l = 0; l < BLOCK; l++)
        dst[l] = cb * BLOCK + l < C ? (float)src[cb * BLOCK + l] : 0.0f;
}

/* Mean and biased variance of every channel, two passes as in batchnorm.c
 * (the second also sums the deviations to correct the mean's rounding). */
static void blocked_moments(const BatchNorm *b, const float *in, int N, double *mean, double *var)
{
    const int C = b->C, S = b->spatial;
    const double M = (double)N * S;
    double *dev = chan(b, N, CH_DEV);
    blocked_centered_sums(in, N, C, S, NULL, b->partial, mean, var); /* var: scratch here */
    for (int c = 0; c < C; c++)
        mean[c] /= M;
    blocked_centered_sums(in, N, C, S, mean, b->partial, dev, var);
    for (int c = 0; c < C; c++)
        var[c] = fmax((var[c] - dev[c] * dev[c] / M) / M, 0.0);
}

/* y = (x - mean[c])·scale[c] + shift[c] (then the activation if asked),
 * tile by tile; scale holds float values. With center (C doubles), the
 * same pass also sums x − center[c] and its square per tile into the
 * per-tile arrays of BatchNorm.partial, in the order of
 * blocked_centered_sums, so the sums are those it would give. */
static void blocked_affine(const BatchNorm *b, const float *in, float *out, int N, const float *mean,
                           const double *scale, const float *shift, const double *center)
{
    const int C = b->C, S = b->spatial, CB = blocked_count(C), act = b->act_after;
    double *psum = part_of(b, 0, N), *psq = part_of(b, 1, N);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int cb = 0; cb < CB; cb++) {
            const size_t t = blocked_tile(C, S, n, cb);
            float k[BLOCK], m[BLOCK], h[BLOCK];
            lanes(k, scale, C, cb);
            blocked_lanes(m, mean, C, cb);
            blocked_lanes(h, shift, C, cb);
            const float *x = in + t;
            float *y = out + t;
            if (center) {
                const int width = blocked_width(C, cb);
                double K[BLOCK], s1[BLOCK] = {0}, s2[BLOCK] = {0};
                for (int l = 0; l < BLOCK; l++)
                    K[l] = l < width ? center[cb * BLOCK + l] : 0.0;
                for (int s = 0; s < S; s++)
#pragma omp simd
                    for (int l = 0; l < BLOCK; l++) {
                        const float xv = x[s * BLOCK + l], v = (xv - m[l]) * k[l] + h[l];
                        const double d = (double)xv - K[l];
                        s1[l] += d;
                        s2[l] += d * d;
                        y[s * BLOCK + l] = act ? act_apply(v, act) : v;
                    }
                for (int l = 0; l < width; l++) {
                    psum[(size_t)n * C + cb * BLOCK + l] = s1[l];
                    psq[(size_t)n * C + cb * BLOCK + l] = s2[l];
                }
                continue;
            }
            for (int s = 0; s < S; s++)
#pragma omp simd
                for (int l = 0; l < BLOCK; l++) {
                    const float v = (x[s * BLOCK + l] - m[l]) * k[l] + h[l];
                    y[s * BLOCK + l] = act ? act_apply(v, act) : v;
                }
        }
}

void bn_blocked_forward_train(const BatchNorm *b, const float *gamma, const float *beta,
                              float *run_mean, float *run_var, const float *in, float *out,
                              float *save_mean, float *save_invstd, int N)
{
    const int C = b->C;
    const size_t M = (size_t)N * (size_t)b->spatial;
    const double unbias = M > 1 ? (double)M / (double)(M - 1) : 1.0, mom = b->momentum;
    double *mean = chan(b, N, CH_MEAN), *var = chan(b, N, CH_VAR), *scale = chan(b, N, CH_SCALE);
    blocked_moments(b, in, N, mean, var);
    for (int c = 0; c < C; c++) {
        const float invstd = (float)(1.0 / sqrt(var[c] + b->eps));
        save_mean[c] = (float)mean[c];
        save_invstd[c] = invstd;
        run_mean[c] = (float)((1.0 - mom) * run_mean[c] + mom * mean[c]);
        run_var[c] = (float)((1.0 - mom) * run_var[c] + mom * var[c] * unbias);
        scale[c] = (float)(gamma[c] * invstd);
    }
    blocked_affine(b, in, out, N, save_mean, scale, beta, NULL);
}

void bn_blocked_forward_eval(const BatchNorm *b, const float *gamma, const float *beta,
                             const float *run_mean, const float *run_var, const float *in,
                             float *out, int N)
{
    const int C = b->C, S = b->spatial;
    double *scale = chan(b, N, CH_SCALE);
    for (int c = 0; c < C; c++)
        scale[c] = (float)(gamma[c] * (float)(1.0 / sqrt((double)run_var[c] + b->eps)));
    double *K = b->stats_out;
    if (K) /* the input statistics too (BatchNorm.stats_out) */
        for (int c = 0; c < C; c++)
            K[c] = in[blocked_index(C, S, 0, c, 0)];
    blocked_affine(b, in, out, N, run_mean, scale, beta, K);
    if (K) {
        blocked_sum_over_samples(part_of(b, 0, N), K + C, N, C);
        blocked_sum_over_samples(part_of(b, 1, N), K + 2 * (size_t)C, N, C);
        K[3 * (size_t)C] = (double)N * S;
    }
}

/* Σdy and Σdy·(x - mean) of every channel into sum_dy, sum_dy_xc [C]. */
static void blocked_grad_sums(const BatchNorm *b, const float *in, const float *dout, int N,
                              const float *mean, double *sum_dy, double *sum_dy_xc)
{
    const int C = b->C, S = b->spatial, CB = blocked_count(C);
    double *p0 = part_of(b, 0, N), *p1 = part_of(b, 1, N);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int cb = 0; cb < CB; cb++) {
            const size_t t = blocked_tile(C, S, n, cb);
            const float *x = in + t, *g = dout + t;
            float m[BLOCK];
            blocked_lanes(m, mean, C, cb);
            double sd[BLOCK] = {0}, sdx[BLOCK] = {0};
            for (int s = 0; s < S; s++)
#pragma omp simd
                for (int l = 0; l < BLOCK; l++) {
                    sd[l] += g[s * BLOCK + l];
                    sdx[l] += (double)g[s * BLOCK + l] * (double)(x[s * BLOCK + l] - m[l]);
                }
            for (int l = 0; l < blocked_width(C, cb); l++) {
                p0[(size_t)n * C + cb * BLOCK + l] = sd[l];
                p1[(size_t)n * C + cb * BLOCK + l] = sdx[l];
            }
        }
    blocked_sum_over_samples(p0, sum_dy, N, C);
    blocked_sum_over_samples(p1, sum_dy_xc, N, C);
}

void bn_blocked_backward_train(const BatchNorm *b, const float *gamma, const float *in,
                               const float *save_mean, const float *save_invstd,
                               const float *dout, float *din, float *dgamma, float *dbeta, int N)
{
    const int C = b->C, S = b->spatial, CB = blocked_count(C);
    const double M = (double)N * S;
    double *sum_dy = chan(b, N, CH_SUM_DY), *sum_dy_xc = chan(b, N, CH_SUM_DY_XC);
    double *scale = chan(b, N, CH_SCALE), *mean_dy = chan(b, N, CH_MEAN_DY), *k = chan(b, N, CH_K);
    blocked_grad_sums(b, in, dout, N, save_mean, sum_dy, sum_dy_xc);
    for (int c = 0; c < C; c++) {
        const double invstd = save_invstd[c];
        dgamma[c] += (float)(sum_dy_xc[c] * invstd);
        dbeta[c] += (float)sum_dy[c];
        scale[c] = (float)(gamma[c] * invstd);
        mean_dy[c] = (float)(sum_dy[c] / M);
        k[c] = (float)(sum_dy_xc[c] * invstd * invstd / M);
    }
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int cb = 0; cb < CB; cb++) {
            const size_t t = blocked_tile(C, S, n, cb);
            const float *x = in + t, *g = dout + t;
            float sc[BLOCK], md[BLOCK], kk[BLOCK], m[BLOCK];
            lanes(sc, scale, C, cb);
            lanes(md, mean_dy, C, cb);
            lanes(kk, k, C, cb);
            blocked_lanes(m, save_mean, C, cb);
            float *dx = din + t;
            for (int s = 0; s < S; s++)
#pragma omp simd
                for (int l = 0; l < BLOCK; l++)
                    dx[s * BLOCK + l] =
                        sc[l] * (g[s * BLOCK + l] - md[l] - (x[s * BLOCK + l] - m[l]) * kk[l]);
        }
}

void bn_blocked_backward_eval(const BatchNorm *b, const float *gamma, const float *run_mean,
                              const float *run_var, const float *in, const float *dout,
                              float *din, float *dgamma, float *dbeta, int N)
{
    const int C = b->C, S = b->spatial, CB = blocked_count(C);
    double *sum_dy = chan(b, N, CH_SUM_DY), *sum_dy_xc = chan(b, N, CH_SUM_DY_XC);
    double *scale = chan(b, N, CH_SCALE);
    blocked_grad_sums(b, in, dout, N, run_mean, sum_dy, sum_dy_xc);
    for (int c = 0; c < C; c++) {
        const float invstd = (float)(1.0 / sqrt((double)run_var[c] + b->eps));
        dgamma[c] += (float)(sum_dy_xc[c] * invstd);
        dbeta[c] += (float)sum_dy[c];
        scale[c] = (float)(gamma[c] * invstd);
    }
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int cb = 0; cb < CB; cb++) {
            const size_t t = blocked_tile(C, S, n, cb);
            float sc[BLOCK];
            lanes(sc, scale, C, cb);
            const float *g = dout + t;
            float *dx = din + t;
            for (int s = 0; s < S; s++)
#pragma omp simd
                for (int l = 0; l < BLOCK; l++)
                    dx[s * BLOCK + l] = g[s * BLOCK + l] * sc[l];
        }
}
