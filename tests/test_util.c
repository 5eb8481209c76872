#include "test_util.h"

#include <math.h>

void fill_uniform(Rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * rng_uniform(r);
}

void fill_normal(Rng *r, float *x, size_t n, float stddev)
{
    for (size_t i = 0; i < n; i++)
        x[i] = stddev * rng_normal(r);
}

double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || isnan(d))
            m = isnan(d) ? INFINITY : d;
    }
    return m;
}

double max_abs(const float *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)x[i]) > m)
            m = fabs((double)x[i]);
    return m;
}

double dot_double(const float *out, const float *weights, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)out[i] * (double)weights[i];
    return s;
}

/* |analytic - numeric| / max(1, |analytic|, |numeric|) for entry i. */
static double entry_error(LossFn f, void *ctx, float *x, float g, size_t i, float h)
{
    float saved = x[i];
    x[i] = saved + h;
    double fp = f(ctx);
    x[i] = saved - h;
    double fm = f(ctx);
    x[i] = saved;
    /* Divide by the perturbation actually applied in float. */
    double num = (fp - fm) / ((double)(saved + h) - (double)(saved - h));
    double err = fabs(num - (double)g) / fmax(1.0, fmax(fabs(num), fabs((double)g)));
    return isnan(err) ? INFINITY : err;
}

double gradcheck(LossFn f, void *ctx, float *x, const float *g, size_t n, float h,
                 size_t max_checks)
{
    size_t step = n > max_checks ? n / max_checks : 1;
    double worst = 0;
    for (size_t i = 0; i < n; i += step)
        worst = fmax(worst, entry_error(f, ctx, x, g[i], i, h));
    return worst;
}

size_t gradcheck_count_bad(LossFn f, void *ctx, float *x, const float *g, size_t n, float h,
                           double tol)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += entry_error(f, ctx, x, g[i], i, h) > tol;
    return bad;
}
