#include "add.h"

#include "activation.h"

void add_forward(const float *a, const float *b, float *out, size_t n)
{
    const long len = (long)n;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < len; i++)
        out[i] = a[i] + b[i];
}

void add_forward_act(const float *a, const float *b, float *out, size_t n, int act)
{
    if (act == ACT_NONE) {
        add_forward(a, b, out, n);
        return;
    }
    const long len = (long)n;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < len; i++)
        out[i] = act_apply(a[i] + b[i], act);
}

void add_inplace(float *dst, const float *src, size_t n)
{
    const long len = (long)n;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < len; i++)
        dst[i] += src[i];
}
