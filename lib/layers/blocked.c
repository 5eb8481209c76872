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
