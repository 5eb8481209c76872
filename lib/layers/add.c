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

/* One output (da NULL) or two, at dout taken back through act (at the
 * output: ReLU's and ReLU6's masks are the same there). */
static void masked_copies(const float *out, const float *dout, float *da, float *db, long len, int act)
{
    const float top = act_grad_top(act);
    if (da) {
#pragma omp parallel for schedule(static)
        for (long i = 0; i < len; i++) {
            const float g = act ? act_grad_at(dout[i], out[i], top) : dout[i];
            da[i] = g;
            db[i] = g;
        }
        return;
    }
#pragma omp parallel for schedule(static)
    for (long i = 0; i < len; i++)
        db[i] = act ? act_grad_at(dout[i], out[i], top) : dout[i];
}

void add_backward_act(const float *out, const float *dout, float *da, float *db, size_t n, int act)
{
    if (!db) { /* da only (or nothing) */
        db = da;
        da = NULL;
    }
    if (!db || (db == dout && !act)) /* nothing to write */
        return;
    if (da == dout && !act)
        da = NULL;
    masked_copies(out, dout, da, db, (long)n, act);
}

void add_inplace(float *dst, const float *src, size_t n)
{
    const long len = (long)n;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < len; i++)
        dst[i] += src[i];
}
