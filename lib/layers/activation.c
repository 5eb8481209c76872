#include "activation.h"

void relu_forward(const float *in, float *out, size_t n)
{
    const long len = (long)n;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < len; i++)
        out[i] = in[i] <= 0.0f ? 0.0f : in[i]; /* NaN passes through, as in PyTorch */
}

void relu_backward(const float *out, const float *dout, float *din, size_t n)
{
    const long len = (long)n;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < len; i++) {
        const float g = dout[i]; /* loaded unconditionally, so the loop vectorizes */
        din[i] = out[i] > 0.0f ? g : 0.0f;
    }
}
