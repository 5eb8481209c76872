#include "blocked.h"

#include <string.h>

void blocked_from_plain(const float *plain, float *blocked, int N, int C, int S, int layout)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < blocked_channels(C); c++)
            for (int s = 0; s < S; s++)
                blocked[blocked_index(C, S, layout, n, c, s)] = c < C ? plain[((size_t)n * C + c) * S + s] : 0.0f;
}

void blocked_to_plain(const float *blocked, float *plain, int N, int C, int S, int layout)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int s = 0; s < S; s++)
                plain[((size_t)n * C + c) * S + s] = blocked[blocked_index(C, S, layout, n, c, s)];
}

void blocked_sum_over_samples(const double *part, double *total, int N, int C)
{
    for (int c = 0; c < C; c++)
        total[c] = 0;
    for (int n = 0; n < N; n++)
#pragma omp simd
        for (int c = 0; c < C; c++)
            total[c] += part[(size_t)n * C + c];
}

void blocked_centered_sums(const float *x, int N, int C, int S, int layout, const double *center, double *part,
                           double *sum, double *sq)
{
    const int CB = blocked_count(C), st = blocked_step(C, layout);
    double *psum = part, *psq = part + (size_t)N * C;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int cb = 0; cb < CB; cb++) {
            const float *t = x + blocked_tile(C, S, layout, n, cb);
            const int width = blocked_width(C, cb);
            double m[BLOCK], s1[BLOCK], s2[BLOCK];
            for (int l = 0; l < BLOCK; l++)
                m[l] = center && l < width ? center[cb * BLOCK + l] : 0.0;
            blocked_tile_sums(t, S, st, m, s1, s2);
            for (int l = 0; l < width; l++) {
                psum[(size_t)n * C + cb * BLOCK + l] = s1[l];
                psq[(size_t)n * C + cb * BLOCK + l] = s2[l];
            }
        }
    blocked_sum_over_samples(psum, sum, N, C);
    blocked_sum_over_samples(psq, sq, N, C);
}

void blocked_add_bias(const float *b, float *out, int N, int C, int S, int layout)
{
    const int CB = blocked_count(C), st = blocked_step(C, layout);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int cb = 0; cb < CB; cb++) {
            float *t = out + blocked_tile(C, S, layout, n, cb);
            float bb[BLOCK];
            blocked_lanes(bb, b, C, cb);
            for (int s = 0; s < S; s++)
#pragma omp simd
                for (int l = 0; l < BLOCK; l++)
                    t[s * st + l] += bb[l];
        }
}

void blocked_bias_grad(const float *dout, float *db, int N, int C, int S, int layout)
{
    const int CB = blocked_count(C), st = blocked_step(C, layout);
#pragma omp parallel for schedule(static)
    for (int cb = 0; cb < CB; cb++) {
        double acc[BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const float *t = dout + blocked_tile(C, S, layout, n, cb);
            for (int s = 0; s < S; s++)
#pragma omp simd
                for (int l = 0; l < BLOCK; l++)
                    acc[l] += t[s * st + l];
        }
        for (int l = 0; l < blocked_width(C, cb); l++)
            db[cb * BLOCK + l] += (float)acc[l];
    }
}

void blocked_copy_channels(const float *src, int Csrc, int src_layout, int src_first, int src_step, float *dst,
                           int Cdst, int dst_layout, int dst_first, int dst_step, int count, int zero_unmapped,
                           int N, int S)
{
    const int CB = blocked_count(Cdst), sst = blocked_step(Csrc, src_layout), dst_st = blocked_step(Cdst, dst_layout);
    const size_t src_sample = blocked_sample(Csrc, S);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int cb = 0; cb < CB; cb++) {
            /* What each lane of this block gets: where its source channel
             * lies at position 0 of a source sample (an int: a sample is
             * far below 2^31 floats; 0 for the others, a harmless read),
             * and whether it copies, keeps or zeroes. */
            int off[BLOCK], copy[BLOCK], keep[BLOCK];
            int copies = 0, straight = 1;
            for (int l = 0; l < BLOCK; l++) {
                const int c = cb * BLOCK + l, k = c - dst_first;
                const int j = k >= 0 && k % dst_step == 0 ? k / dst_step : -1;
                const int sc = src_first + j * src_step;
                copy[l] = c < Cdst && j >= 0 && j < count;
                keep[l] = c < Cdst && !copy[l] && !zero_unmapped;
                off[l] = copy[l] ? (int)blocked_index(Csrc, S, src_layout, 0, sc, 0) : 0;
                copies += copy[l];
                straight = straight && copy[l] && off[l] == off[0] + l;
            }
            if (!copies && !zero_unmapped) /* nothing to write in this block */
                continue;
            float *d = dst + blocked_tile(Cdst, S, dst_layout, n, cb);
            const float *sn = src + (size_t)n * src_sample;
            if (straight && sst == BLOCK && dst_st == BLOCK) { /* a whole nChw16c block at the same lanes */
                memcpy(d, sn + off[0], sizeof(float) * (size_t)S * BLOCK);
                continue;
            }
            for (int i = 0; i < S; i++) {
                const float *si = sn + (size_t)i * sst;
                float *o = d + (size_t)i * dst_st;
                if (straight) {
                    memcpy(o, si + off[0], sizeof(float) * BLOCK);
                    continue;
                }
#pragma omp simd /* a masked gather and a blend */
                for (int l = 0; l < BLOCK; l++)
                    o[l] = copy[l] ? si[off[l]] : keep[l] ? o[l] : 0.0f;
            }
        }
}
