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

void concat_forward_blocked(const float *a, int Ca, const float *b, int Cb, float *out, int N, int S)
{
    if (Ca % BLOCK == 0) { /* a's whole blocks, then b's: two copies per sample */
        concat_forward(a, blocked_sample(Ca, S), b, blocked_sample(Cb, S), out, N);
        return;
    }
    const int C = Ca + Cb;
    blocked_copy_channels(a, Ca, 0, 1, out, C, 0, 1, Ca, 0, N, S);
    blocked_copy_channels(b, Cb, 0, 1, out, C, Ca, 1, Cb, 0, N, S);
}

void concat_backward_blocked(const float *dout, float *da, int Ca, float *db, int Cb, int N, int S)
{
    if (Ca % BLOCK == 0) {
        concat_backward(dout, da, blocked_sample(Ca, S), db, blocked_sample(Cb, S), N);
        return;
    }
    const int C = Ca + Cb;
    if (da)
        blocked_copy_channels(dout, C, 0, 1, da, Ca, 0, 1, Ca, 0, N, S);
    if (db)
        blocked_copy_channels(dout, C, Ca, 1, db, Cb, 0, 1, Cb, 0, N, S);
}
