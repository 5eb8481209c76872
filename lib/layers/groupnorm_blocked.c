#include "groupnorm_blocked.h"

#include <math.h>

#include "activation.h"
#include "blocked.h"

/* GroupNorm.partial (groupnorm_partial_size): two [N][C] arrays of
 * per-(sample, channel) sums (which 0, 1), then two [N][G] arrays of
 * per-(sample, group) values (which 2, 3). */
static double *part(const GroupNorm *g, int which, int N)
{
    const size_t NC = (size_t)N * (size_t)g->C, NG = (size_t)N * (size_t)g->G;
    return g->partial + (which < 2 ? (size_t)which * NC : 2 * NC + (size_t)(which - 2) * NG);
}

/* Per-lane values of block cb for sample n that depend on the lane's
 * group: v[n·G + group of channel c]; zero in the padding lanes. */
static inline void group_lanes(float *dst, const float *v, const GroupNorm *g, int n, int cb)
{
    const int Cg = g->C / g->G;
    for (int l = 0; l < BLOCK; l++) {
        const int c = cb * BLOCK + l;
        dst[l] = c < g->C ? v[(size_t)n * g->G + c / Cg] : 0.0f;
    }
}

/* A sample is one thread's work, its passes one after the other; the
 * hardware prefetcher restarts at each sample's few pages, so a small
 * sample (stages 2 and 3) is read from memory at a fraction of the stream
 * rate. The passes over sample n that run from cache (the forward's
 * affine pass, the backward's second) ask for sample n+1's data, a line
 * per 16-float row, in whatever layout (the lines of a sample are
 * contiguous). Large samples stream well on their own (and lost 20% with
 * it). */
enum { GN_PREFETCH_MAX_BYTES = 32 << 10 };

static inline const float *next_sample(const GroupNorm *g, const float *base, int n, int N, int cb)
{
    const size_t sample = blocked_sample(g->C, g->spatial);
    if (n + 1 >= N || sample * sizeof(float) > GN_PREFETCH_MAX_BYTES)
        return NULL;
    return base + (size_t)(n + 1) * sample + (size_t)cb * (size_t)g->spatial * BLOCK;
}

/* s1[c] = Σ(x − center_g), s2[c] = Σ(x − center_g)² over the positions
 * of sample x (s2 may be NULL), with center_g the value of channel c's
 * group in `center` (G doubles; NULL: 0). */
static void sample_channel_sums(const GroupNorm *g, const float *x, const double *center, double *s1, double *s2)
{
    const int C = g->C, S = g->spatial, CB = blocked_count(C), Cg = C / g->G, st = blocked_step(C, g->blocked);
    for (int cb = 0; cb < CB; cb++) {
        const float *t = x + blocked_tile(C, S, g->blocked, 0, cb);
        double m[BLOCK];
        for (int l = 0; l < BLOCK; l++)
            m[l] = center && cb * BLOCK + l < C ? center[(cb * BLOCK + l) / Cg] : 0.0;
        double a[BLOCK], b[BLOCK];
        blocked_tile_sums(t, S, st, m, a, b);
        for (int l = 0; l < blocked_width(C, cb); l++) {
            s1[cb * BLOCK + l] = a[l];
            if (s2)
                s2[cb * BLOCK + l] = b[l];
        }
    }
}

/* Σ over the channels of group gi of v (C values), in channel order. */
static double group_total(const GroupNorm *g, const double *v, int gi)
{
    const int Cg = g->C / g->G;
    double t = 0;
    for (int j = 0; j < Cg; j++)
        t += v[gi * Cg + j];
    return t;
}

/* The lanes of block cb for sample n: mean m, scale k = γ·invstd (a float
 * product) and shift h = β, for the forward and for the backward that
 * recomputes the forward's pre-activation from them. */
static inline void affine_lanes(const GroupNorm *g, const float *gamma, const float *beta, const float *save_mean,
                         const float *save_invstd, int n, int cb, float *m, float *k, float *h)
{
    float is[BLOCK];
    group_lanes(m, save_mean, g, n, cb);
    group_lanes(is, save_invstd, g, n, cb);
    blocked_lanes(k, gamma, g->C, cb);
    blocked_lanes(h, beta, g->C, cb);
    for (int l = 0; l < BLOCK; l++)
        k[l] *= is[l];
}

void gn_blocked_forward(const GroupNorm *g, const float *gamma, const float *beta, const float *in, float *out,
                        float *save_mean, float *save_invstd, int N)
{
    const int C = g->C, G = g->G, S = g->spatial, CB = blocked_count(C), st = blocked_step(C, g->blocked);
    const double M = (double)(C / G) * S;
    const size_t sample = blocked_sample(C, S);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * sample;
        double *s1 = part(g, 0, N) + (size_t)n * C, *s2 = part(g, 1, N) + (size_t)n * C;
        double *mean = part(g, 2, N) + (size_t)n * G;
        /* One pass of double sums about K = the group's first value
         * (shifted data: blocked_first_values; groupnorm.c takes two
         * passes, the results agree to float rounding). */
        for (int gi = 0; gi < G; gi++)
            mean[gi] = x[blocked_index(C, S, g->blocked, 0, gi * (C / G), 0)];
        sample_channel_sums(g, x, mean, s1, s2);
        for (int gi = 0; gi < G; gi++) {
            const double dev = group_total(g, s1, gi), sq = group_total(g, s2, gi);
            const double var = fmax((sq - dev * dev / M) / M, 0.0);
            mean[gi] += dev / M;
            /* Backward recomputes x̂ from these float values, so the
             * affine pass below uses them too. */
            save_mean[(size_t)n * G + gi] = (float)mean[gi];
            save_invstd[(size_t)n * G + gi] = (float)(1.0 / sqrt(var + g->eps));
        }
        float *y = out + (size_t)n * sample;
        for (int cb = 0; cb < CB; cb++) {
            float m[BLOCK], k[BLOCK], h[BLOCK];
            affine_lanes(g, gamma, beta, save_mean, save_invstd, n, cb, m, k, h);
            const float *xt = x + blocked_tile(C, S, g->blocked, 0, cb);
            float *yt = y + blocked_tile(C, S, g->blocked, 0, cb);
            const float *px = next_sample(g, in, n, N, cb);
            if (g->residual) { /* the residual add after the layer, fused: laid out as y */
                const float *rt = g->residual + (size_t)n * sample + blocked_tile(C, S, g->blocked, 0, cb);
                const float *pr = next_sample(g, g->residual, n, N, cb);
                for (int s = 0; s < S; s++) {
                    if (px) {
                        __builtin_prefetch(px + (size_t)s * BLOCK);
                        __builtin_prefetch(pr + (size_t)s * BLOCK);
                    }
#pragma omp simd
                    for (int l = 0; l < BLOCK; l++)
                        yt[s * st + l] =
                            act_apply(norm_affine(xt[s * st + l], m[l], k[l], h[l]) + rt[s * st + l], g->residual_act);
                }
                continue;
            }
            for (int s = 0; s < S; s++) {
                if (px)
                    __builtin_prefetch(px + (size_t)s * BLOCK);
#pragma omp simd
                for (int l = 0; l < BLOCK; l++) {
                    const float v = norm_affine(xt[s * st + l], m[l], k[l], h[l]);
                    yt[s * st + l] = g->act_after ? act_apply(v, g->act_after) : v;
                }
            }
        }
    }
}

void gn_blocked_backward(const GroupNorm *g, const float *gamma, const float *beta, const float *in,
                         const float *save_mean, const float *save_invstd, const float *dout, float *din,
                         float *dgamma, float *dbeta, int N)
{
    const int C = g->C, G = g->G, Cg = C / G, S = g->spatial, CB = blocked_count(C), st = blocked_step(C, g->blocked);
    const int act = g->act_after;
    const float top = act_grad_top(act), rtop = act_grad_top(g->residual_act);
    const double M = (double)Cg * S;
    const size_t sample = blocked_sample(C, S);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = in + (size_t)n * sample, *dy = dout + (size_t)n * sample;
        double *sd = part(g, 0, N) + (size_t)n * C, *sdx = part(g, 1, N) + (size_t)n * C;
        /* Σdy and Σdy·(x − mean) per channel: the affine gradients' terms
         * and, weighted by γ, the group sums of dx̂. All of the sample is
         * read before din (which may alias dout) is written. With the
         * residual add's backward fused, dy is taken back through its
         * activation at the output and written to residual_grad here; the
         * second pass reads it from there. */
        float *rg = g->residual_grad ? g->residual_grad + (size_t)n * sample : NULL;
        for (int cb = 0; cb < CB; cb++) {
            float m[BLOCK], k[BLOCK], h[BLOCK];
            affine_lanes(g, gamma, beta, save_mean, save_invstd, n, cb, m, k, h);
            const size_t tile = blocked_tile(C, S, g->blocked, 0, cb);
            const float *xt = x + tile, *gt = dy + tile;
            double a[BLOCK] = {0}, b[BLOCK] = {0};
            if (rg) {
                const float *ot = g->output + (size_t)n * sample + tile;
                float *rt = rg + tile;
                for (int s = 0; s < S; s++) {
                    if (g->residual_act) {
#pragma omp simd
                        for (int l = 0; l < BLOCK; l++) {
                            const float gr = act_grad_at(gt[s * st + l], ot[s * st + l], rtop);
                            rt[s * st + l] = gr;
                            a[l] += gr;
                            b[l] += (double)gr * (double)(xt[s * st + l] - m[l]);
                        }
                        continue;
                    }
#pragma omp simd
                    for (int l = 0; l < BLOCK; l++) {
                        rt[s * st + l] = gt[s * st + l];
                        a[l] += gt[s * st + l];
                        b[l] += (double)gt[s * st + l] * (double)(xt[s * st + l] - m[l]);
                    }
                }
            } else {
                for (int s = 0; s < S; s++) {
                    if (act) { /* dy taken back through the fused activation */
#pragma omp simd
                        for (int l = 0; l < BLOCK; l++) {
                            const float xv = xt[s * st + l];
                            const float gr = act_grad_at(gt[s * st + l], norm_affine(xv, m[l], k[l], h[l]), top);
                            a[l] += gr;
                            b[l] += (double)gr * (double)(xv - m[l]);
                        }
                        continue;
                    }
#pragma omp simd
                    for (int l = 0; l < BLOCK; l++) {
                        a[l] += gt[s * st + l];
                        b[l] += (double)gt[s * st + l] * (double)(xt[s * st + l] - m[l]);
                    }
                }
            }
            for (int l = 0; l < blocked_width(C, cb); l++) {
                sd[cb * BLOCK + l] = a[l];
                sdx[cb * BLOCK + l] = b[l];
            }
        }
        /* Per group, as groupnorm.c: Σdx̂ and Σdx̂·(x − mean) with dx̂ = dy·γ_c,
         * then dx = scale·dy − shift − (x − mean)·k. */
        double *shift = part(g, 2, N) + (size_t)n * G, *kg = part(g, 3, N) + (size_t)n * G;
        for (int gi = 0; gi < G; gi++) {
            const double invstd = save_invstd[(size_t)n * G + gi];
            double a = 0, b = 0;
            for (int j = gi * Cg; j < (gi + 1) * Cg; j++) {
                a += gamma[j] * sd[j];
                b += gamma[j] * sdx[j];
            }
            shift[gi] = (float)(invstd * a / M);
            kg[gi] = (float)(invstd * invstd * invstd * b / M);
        }
        if (rg)
            dy = rg;
        for (int cb = 0; cb < CB; cb++) {
            float m[BLOCK], sc[BLOCK], h[BLOCK], sh[BLOCK], k[BLOCK];
            affine_lanes(g, gamma, beta, save_mean, save_invstd, n, cb, m, sc, h);
            for (int l = 0; l < BLOCK; l++) {
                const int c = cb * BLOCK + l;
                sh[l] = c < C ? (float)shift[c / Cg] : 0.0f;
                k[l] = c < C ? (float)kg[c / Cg] : 0.0f;
            }
            const float *xt = x + blocked_tile(C, S, g->blocked, 0, cb), *gt = dy + blocked_tile(C, S, g->blocked, 0, cb);
            float *dt = din + (size_t)n * sample + blocked_tile(C, S, g->blocked, 0, cb);
            const float *px = next_sample(g, in, n, N, cb), *pd = next_sample(g, dout, n, N, cb);
            /* With the residual's backward, pass 1 also reads the output. */
            const float *po = rg && g->residual_act ? next_sample(g, g->output, n, N, cb) : NULL;
            for (int s = 0; s < S; s++) {
                if (px) {
                    __builtin_prefetch(px + (size_t)s * BLOCK);
                    __builtin_prefetch(pd + (size_t)s * BLOCK);
                    if (po)
                        __builtin_prefetch(po + (size_t)s * BLOCK);
                }
                if (act) {
#pragma omp simd
                    for (int l = 0; l < BLOCK; l++) {
                        const float xv = xt[s * st + l];
                        const float gr = act_grad_at(gt[s * st + l], norm_affine(xv, m[l], sc[l], h[l]), top);
                        dt[s * st + l] = sc[l] * gr - sh[l] - (xv - m[l]) * k[l];
                    }
                    continue;
                }
#pragma omp simd
                for (int l = 0; l < BLOCK; l++)
                    dt[s * st + l] = sc[l] * gt[s * st + l] - sh[l] - (xt[s * st + l] - m[l]) * k[l];
            }
        }
    }
    /* dγ_c += Σ_n Σdy·x̂ and dβ_c += Σ_n Σdy, in sample order. */
    const double *sd = part(g, 0, N), *sdx = part(g, 1, N);
    for (int c = 0; c < C; c++) {
        double sg = 0, sb = 0;
        for (int n = 0; n < N; n++) {
            sg += sdx[(size_t)n * C + c] * save_invstd[(size_t)n * G + c / Cg];
            sb += sd[(size_t)n * C + c];
        }
        dgamma[c] += (float)sg;
        dbeta[c] += (float)sb;
    }
}
