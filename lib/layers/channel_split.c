#include "channel_split.h"

#include <string.h>

#include "blocked.h"

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

void channel_split_forward_blocked(const float *in, float *out, int N, int C, int S, int in_layout,
                                   int out_layout, int parity)
{
    const int half = C / 2;
    blocked_copy_channels(in, C, in_layout, parity, 2, out, half, out_layout, 0, 1, half, 0, N, S);
}

void channel_split_backward_blocked(const float *dout, float *din, int N, int C, int S, int in_layout,
                                    int out_layout, int parity)
{
    const int half = C / 2;
    blocked_copy_channels(dout, half, out_layout, 0, 1, din, C, in_layout, parity, 2, half, 1, N, S);
}

void channel_slice_forward(const float *in, float *out, int N, int C, int S, int first, int count)
{
    const size_t run = (size_t)count * (size_t)S; /* one contiguous run per sample */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        memcpy(out + (size_t)n * run, in + ((size_t)n * C + first) * S, sizeof(float) * run);
}

void channel_slice_backward(const float *dout, float *din, int N, int C, int S, int first, int count)
{
    const size_t run = (size_t)count * (size_t)S, sample = (size_t)C * (size_t)S;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *d = din + (size_t)n * sample;
        memset(d, 0, sizeof(float) * sample);
        memcpy(d + (size_t)first * S, dout + (size_t)n * run, sizeof(float) * run);
    }
}

void channel_slice_forward_blocked(const float *in, float *out, int N, int C, int S, int in_layout,
                                   int out_layout, int first, int count)
{
    blocked_copy_channels(in, C, in_layout, first, 1, out, count, out_layout, 0, 1, count, 0, N, S);
}

void channel_slice_backward_blocked(const float *dout, float *din, int N, int C, int S, int in_layout,
                                    int out_layout, int first, int count)
{
    blocked_copy_channels(dout, count, out_layout, 0, 1, din, C, in_layout, first, 1, count, 1, N, S);
}
