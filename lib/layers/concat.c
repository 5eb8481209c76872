#include "concat.h"

#include <string.h>

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
