#include "add.h"

void add_forward(const float *a, const float *b, float *out, size_t n)
{
    const long len = (long)n;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < len; i++)
        out[i] = a[i] + b[i];
}

void add_inplace(float *dst, const float *src, size_t n)
{
    const long len = (long)n;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < len; i++)
        dst[i] += src[i];
}
