#include "channel_split.h"

#include <string.h>

void channel_split_forward(const float *in, float *out, int N, int C, int S, int parity)
{
    const int half = C / 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int j = 0; j < half; j++)
            memcpy(out + ((size_t)n * half + j) * S, in + ((size_t)n * C + 2 * j + parity) * S,
                   sizeof(float) * (size_t)S);
}

void channel_split_backward(const float *dout, float *din, int N, int C, int S, int parity)
{
    const int half = C / 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int j = 0; j < half; j++) {
            float *picked = din + ((size_t)n * C + 2 * j + parity) * S;
            float *other = din + ((size_t)n * C + 2 * j + 1 - parity) * S;
            memcpy(picked, dout + ((size_t)n * half + j) * S, sizeof(float) * (size_t)S);
            memset(other, 0, sizeof(float) * (size_t)S);
        }
}
