#include "relu6.h"

void relu6_forward(const float *in, float *out, size_t n)
{
    const long len = (long)n;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < len; i++) {
        const float x = in[i];
        out[i] = x <= 0.0f ? 0.0f : x >= 6.0f ? 6.0f : x;
    }
}

void relu6_backward(const float *out, const float *dout, float *din, size_t n)
{
    const long len = (long)n;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < len; i++) {
        const float g = dout[i];
        din[i] = out[i] > 0.0f && out[i] < 6.0f ? g : 0.0f;
    }
}
