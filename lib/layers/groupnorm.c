#include "groupnorm.h"

#include <math.h>
#include <stddef.h>

#include "activation.h"
#include "groupnorm_blocked.h"

/* One (sample, group) is C/G consecutive channel planes, i.e. one
 * contiguous run of (C/G)·spatial floats. Each reduction runs on one thread
 * in a fixed order (bit-identical for any thread count), summing in double. */

void groupnorm_init(GroupNorm *g, int C, int G, int spatial, float eps)
{
    *g = (GroupNorm){0}; /* every option off, every pointer NULL */
    g->C = C;
    g->G = G;
    g->spatial = spatial;
    g->eps = eps;
}

static int group_channels(const GroupNorm *g) { return g->C / g->G; }

static size_t group_size(const GroupNorm *g)
{
    return (size_t)group_channels(g) * (size_t)g->spatial;
}

/* Start of group ng = n·G + gi, which is also where its first channel starts. */
static size_t group_offset(const GroupNorm *g, int ng)
{
    return (size_t)ng * group_size(g);
}

/* Two-pass mean and biased variance of x[0..M); the sum of deviations
 * (zero in exact arithmetic) corrects the rounding of the mean. */
static void moments(const float *x, size_t M, double *mean, double *var)
{
    double sum = 0;
    for (size_t i = 0; i < M; i++)
        sum += x[i];
    const double m = sum / (double)M;
    double dev = 0, sq = 0;
    for (size_t i = 0; i < M; i++) {
        const double d = x[i] - m;
        dev += d;
        sq += d * d;
    }
    *mean = m;
    *var = fmax((sq - dev * dev / (double)M) / (double)M, 0.0);
}

void groupnorm_forward(const GroupNorm *g, const float *gamma, const float *beta,
                       const float *in, float *out, float *save_mean, float *save_invstd, int N)
{
    if (g->blocked) {
        gn_blocked_forward(g, gamma, beta, in, out, save_mean, save_invstd, N);
        return;
    }
    const int Cg = group_channels(g), S = g->spatial, NG = N * g->G;
    const size_t M = group_size(g);
#pragma omp parallel for schedule(static)
    for (int ng = 0; ng < NG; ng++) {
        const size_t o = group_offset(g, ng);
        double mean, var;
        moments(in + o, M, &mean, &var);
        /* Backward recomputes x̂ from the saved float statistics, so the
         * forward uses the same rounded values. */
        const float m = (float)mean, invstd = (float)(1.0 / sqrt(var + g->eps));
        save_mean[ng] = m;
        save_invstd[ng] = invstd;
        const int c0 = (ng % g->G) * Cg;
        /* Statistics are done, so writing over in (out == in) is safe. */
        for (int j = 0; j < Cg; j++) {
            const float scale = gamma[c0 + j] * invstd, shift = beta[c0 + j];
            const size_t p = o + (size_t)j * (size_t)S;
            if (g->residual) /* the residual add after the layer, fused */
                for (int s = 0; s < S; s++)
                    out[p + s] = act_apply(norm_affine(in[p + s], m, scale, shift) + g->residual[p + s],
                                           g->residual_act);
            else
                for (int s = 0; s < S; s++) {
                    const float y = norm_affine(in[p + s], m, scale, shift);
                    out[p + s] = g->act_after ? act_apply(y, g->act_after) : y;
                }
        }
    }
}

/* Σdx̂ and Σdx̂·(x − mean) over one group, where dx̂ = g·γ_c, g = norm_act_grad. */
static void group_grad_sums(const GroupNorm *g, const float *gamma, const float *beta, const float *x,
                            const float *dy, int c0, float mean, float invstd, double *sum_dxh,
                            double *sum_dxh_xc)
{
    const int Cg = group_channels(g), S = g->spatial;
    double a = 0, b = 0;
    for (int j = 0; j < Cg; j++) {
        const size_t p = (size_t)j * (size_t)S;
        const float scale = gamma[c0 + j] * invstd;
        double sd = 0, sdx = 0;
        for (int s = 0; s < S; s++) {
            const float gr = norm_act_grad(dy[p + s], x[p + s], mean, scale, beta[c0 + j], g->act_after);
            sd += gr;
            sdx += (double)gr * (double)(x[p + s] - mean);
        }
        a += gamma[c0 + j] * sd;
        b += gamma[c0 + j] * sdx;
    }
    *sum_dxh = a;
    *sum_dxh_xc = b;
}

/* din for every (sample, group): dx = invstd·(dx̂ − Σdx̂/M − x̂·Σ(dx̂·x̂)/M). */
static void groupnorm_backward_input(const GroupNorm *g, const float *gamma, const float *beta, const float *in,
                                     const float *save_mean, const float *save_invstd,
                                     const float *dout, float *din, int N)
{
    const int Cg = group_channels(g), S = g->spatial, NG = N * g->G;
    const double M = (double)group_size(g);
#pragma omp parallel for schedule(static)
    for (int ng = 0; ng < NG; ng++) {
        const size_t o = group_offset(g, ng);
        const int c0 = (ng % g->G) * Cg;
        const float mean = save_mean[ng];
        const double invstd = save_invstd[ng];
        double sum_dxh, sum_dxh_xc;
        group_grad_sums(g, gamma, beta, in + o, dout + o, c0, mean, save_invstd[ng], &sum_dxh, &sum_dxh_xc);
        /* x̂·Σ(dx̂·x̂) = (x − mean)·invstd²·Σdx̂·(x − mean). */
        const float shift = (float)(invstd * sum_dxh / M);
        const float k = (float)(invstd * invstd * invstd * sum_dxh_xc / M);
        for (int j = 0; j < Cg; j++) {
            const float scale = (float)(gamma[c0 + j] * invstd);
            const size_t p = o + (size_t)j * (size_t)S;
            for (int s = 0; s < S; s++)
                din[p + s] = scale * norm_act_grad(dout[p + s], in[p + s], mean, scale, beta[c0 + j], g->act_after) -
                             shift - (in[p + s] - mean) * k;
        }
    }
}

/* dγ_c += Σ g·x̂ and dβ_c += Σ g over all samples (g = norm_act_grad): a
 * per-channel reduction across groups, so it gets its own loop over
 * channels (no races). */
static void groupnorm_backward_affine(const GroupNorm *g, const float *gamma, const float *beta, const float *in,
                                      const float *save_mean, const float *save_invstd,
                                      const float *dout, float *dgamma, float *dbeta, int N)
{
    const int C = g->C, Cg = group_channels(g), S = g->spatial;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double sg = 0, sb = 0;
        for (int n = 0; n < N; n++) {
            const int ng = n * g->G + c / Cg;
            const float mean = save_mean[ng], scale = gamma[c] * save_invstd[ng];
            const size_t p = ((size_t)n * (size_t)C + (size_t)c) * (size_t)S;
            double sdx = 0, sd = 0;
            for (int s = 0; s < S; s++) {
                const float gr = norm_act_grad(dout[p + s], in[p + s], mean, scale, beta[c], g->act_after);
                sd += gr;
                sdx += (double)gr * (double)(in[p + s] - mean);
            }
            sg += sdx * save_invstd[ng];
            sb += sd;
        }
        dgamma[c] += (float)sg;
        dbeta[c] += (float)sb;
    }
}

void groupnorm_backward(const GroupNorm *g, const float *gamma, const float *beta, const float *in,
                        const float *save_mean, const float *save_invstd,
                        const float *dout, float *din, float *dgamma, float *dbeta, int N)
{
    if (g->blocked) {
        gn_blocked_backward(g, gamma, beta, in, save_mean, save_invstd, dout, din, dgamma, dbeta, N);
        return;
    }
    /* Affine grads first: they read dout, which din may alias. */
    groupnorm_backward_affine(g, gamma, beta, in, save_mean, save_invstd, dout, dgamma, dbeta, N);
    groupnorm_backward_input(g, gamma, beta, in, save_mean, save_invstd, dout, din, N);
}
