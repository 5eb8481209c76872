#include "concat.h"

#include <string.h>

#include "blocked.h"

void concat_forward(const float *a, size_t na, const float *b, size_t nb, float *out, int N)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * (na + nb);
        memcpy(o, a + (size_t)n * na, sizeof(float) * na);
        memcpy(o + na, b + (size_t)n * nb, sizeof(float) * nb);
    }
}

void concat_backward(const float *dout, float *da, size_t na, float *db, size_t nb, int N)
{
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * (na + nb);
        if (da)
            memcpy(da + (size_t)n * na, g, sizeof(float) * na);
        if (db)
            memcpy(db + (size_t)n * nb, g + na, sizeof(float) * nb);
    }
}

/* Whether a's blocks, then b's, are the output's, sample by sample: all
 * nChw16c, a one whole block (16 channels: the NHWC bytes too). With
 * every tensor NHWC, a's and b's rows make the output's, position by
 * position (concat_forward over N·S rows). */
static int sample_wise(int Ca, int la, int lb, int lo)
{
    return Ca == BLOCK && lb == BLOCKED_16C && lo == BLOCKED_16C && (la == BLOCKED_16C || la == BLOCKED_NHWC);
}
static int row_wise(int la, int lb, int lo) { return la == BLOCKED_NHWC && lb == BLOCKED_NHWC && lo == BLOCKED_NHWC; }

void concat_forward_blocked(const float *a, int Ca, int la, const float *b, int Cb, int lb, float *out, int lo,
                            int N, int S)
{
    if (sample_wise(Ca, la, lb, lo)) {
        concat_forward(a, blocked_sample(Ca, S), b, blocked_sample(Cb, S), out, N);
        return;
    }
    if (row_wise(la, lb, lo)) {
        concat_forward(a, (size_t)Ca, b, (size_t)Cb, out, N * S);
        return;
    }
    const int C = Ca + Cb;
    blocked_copy_channels(a, Ca, la, 0, 1, out, C, lo, 0, 1, Ca, 0, N, S);
    blocked_copy_channels(b, Cb, lb, 0, 1, out, C, lo, Ca, 1, Cb, 0, N, S);
}

void concat_backward_blocked(const float *dout, int lo, float *da, int Ca, int la, float *db, int Cb, int lb, int N,
                             int S)
{
    if (sample_wise(Ca, la, lb, lo)) {
        concat_backward(dout, da, blocked_sample(Ca, S), db, blocked_sample(Cb, S), N);
        return;
    }
    if (row_wise(la, lb, lo)) {
        concat_backward(dout, da, (size_t)Ca, db, (size_t)Cb, N * S);
        return;
    }
    const int C = Ca + Cb;
    if (da)
        blocked_copy_channels(dout, C, lo, 0, 1, da, Ca, la, 0, 1, Ca, 0, N, S);
    if (db)
        blocked_copy_channels(dout, C, lo, Ca, 1, db, Cb, lb, 0, 1, Cb, 0, N, S);
}
