#include "blocked.h"

void blocked_from_plain(const float *plain, float *blocked, int N, int C, int S)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int s = 0; s < S; s++)
                blocked[blocked_index(C, S, n, c, s)] = plain[((size_t)n * C + c) * S + s];
}

void blocked_to_plain(const float *blocked, float *plain, int N, int C, int S)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int s = 0; s < S; s++)
                plain[((size_t)n * C + c) * S + s] = blocked[blocked_index(C, S, n, c, s)];
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

void blocked_centered_sums(const float *x, int N, int C, int S, const double *center, double *part,
                           double *sum, double *sq)
{
    const int CB = C / BLOCK;
    double *psum = part, *psq = part + (size_t)N * C;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int cb = 0; cb < CB; cb++) {
            const float *t = x + blocked_tile(C, S, n, cb);
            double m[BLOCK], s1[BLOCK] = {0}, s2[BLOCK] = {0};
            for (int l = 0; l < BLOCK; l++)
                m[l] = center ? center[cb * BLOCK + l] : 0.0;
            for (int i = 0; i < S; i++)
#pragma omp simd
                for (int l = 0; l < BLOCK; l++) {
                    const double d = (double)t[i * BLOCK + l] - m[l];
                    s1[l] += d;
                    s2[l] += d * d;
                }
            for (int l = 0; l < BLOCK; l++) {
                psum[(size_t)n * C + cb * BLOCK + l] = s1[l];
                psq[(size_t)n * C + cb * BLOCK + l] = s2[l];
            }
        }
    blocked_sum_over_samples(psum, sum, N, C);
    blocked_sum_over_samples(psq, sq, N, C);
}

void blocked_add_bias(const float *b, float *out, int N, int C, int S)
{
    const int CB = C / BLOCK;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int cb = 0; cb < CB; cb++) {
            float *t = out + blocked_tile(C, S, n, cb);
            const float *bb = b + cb * BLOCK;
            for (int s = 0; s < S; s++)
#pragma omp simd
                for (int l = 0; l < BLOCK; l++)
                    t[s * BLOCK + l] += bb[l];
        }
}

void blocked_bias_grad(const float *dout, float *db, int N, int C, int S)
{
    const int CB = C / BLOCK;
#pragma omp parallel for schedule(static)
    for (int cb = 0; cb < CB; cb++) {
        double acc[BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const float *t = dout + blocked_tile(C, S, n, cb);
            for (int s = 0; s < S; s++)
#pragma omp simd
                for (int l = 0; l < BLOCK; l++)
                    acc[l] += t[s * BLOCK + l];
        }
        for (int l = 0; l < BLOCK; l++)
            db[cb * BLOCK + l] += (float)acc[l];
    }
}
