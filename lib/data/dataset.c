#include "dataset.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"

int dataset_alloc(Dataset *d, int n, int c, int h, int w, int num_classes, BsError *err)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->c = c;
    d->h = h;
    d->w = w;
    d->num_classes = num_classes;
    d->pixels = bs_alloc((size_t)n * c * h * w, err);
    d->labels = bs_alloc(sizeof(int) * (size_t)n, err);
    if (!d->pixels || !d->labels) {
        dataset_free(d);
        return err->code;
    }
    return BS_OK;
}

void dataset_free(Dataset *d)
{
    bs_free(d->pixels);
    bs_free(d->labels);
    memset(d, 0, sizeof *d);
}

int dataset_slice(const Dataset *src, int first, int n, Dataset *out, BsError *err)
{
    if (dataset_alloc(out, n, src->c, src->h, src->w, src->num_classes, err) != BS_OK)
        return err->code;
    size_t sample = (size_t)src->c * src->h * src->w;
    memcpy(out->pixels, src->pixels + (size_t)first * sample, sample * n);
    memcpy(out->labels, src->labels + first, sizeof(int) * n);
    return BS_OK;
}

void dataset_channel_stats_of(const Dataset *d, const int *idx, int n, float *mean, float *std)
{
    const size_t plane = (size_t)d->h * d->w;
    for (int c = 0; c < d->c; c++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < n; i++) {
            const uint8_t *p = d->pixels + ((size_t)(idx ? idx[i] : i) * d->c + c) * plane;
            for (size_t j = 0; j < plane; j++) {
                double v = p[j] / 255.0;
                s += v;
                s2 += v * v;
            }
        }
        double cnt = (double)n * plane;
        double mu = cnt > 0 ? s / cnt : 0.0;
        double var = cnt > 0 ? s2 / cnt - mu * mu : 0.0;
        mean[c] = (float)mu;
        std[c] = (float)sqrt(var > 1e-12 ? var : 1e-12);
    }
}

void dataset_channel_stats(const Dataset *d, float *mean, float *std)
{
    dataset_channel_stats_of(d, NULL, d->n, mean, std);
}

void dataset_copy_sample(const Dataset *d, int i, const float *mean, const float *std, int dy,
                         int dx, int flip, float *dst)
{
    const size_t plane = (size_t)d->h * d->w;
    const uint8_t *src = d->pixels + (size_t)i * plane * d->c;
    for (int c = 0; c < d->c; c++) {
        float mu = mean ? mean[c] : 0.0f, inv = std ? 1.0f / std[c] : 1.0f;
        const uint8_t *sp = src + c * plane;
        float *dp = dst + c * plane;
        for (int y = 0; y < d->h; y++) {
            int sy = y + dy;
            for (int x = 0; x < d->w; x++) {
                int sx = (flip ? d->w - 1 - x : x) + dx;
                int inside = sy >= 0 && sy < d->h && sx >= 0 && sx < d->w;
                float v = inside ? sp[(size_t)sy * d->w + sx] / 255.0f : 0.0f;
                dp[(size_t)y * d->w + x] = (v - mu) * inv;
            }
        }
    }
}

void dataset_gather(const Dataset *d, const int *idx, int N, const float *mean,
                    const float *std, float *x, int *y)
{
    const size_t sample = (size_t)d->h * d->w * d->c;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        dataset_copy_sample(d, idx[i], mean, std, 0, 0, 0, x + (size_t)i * sample);
        y[i] = d->labels[idx[i]];
    }
}

#define AUG_PAD 4
#define AUG_MAX_BATCH 4096

void dataset_gather_augmented(const Dataset *d, const int *idx, int N, const float *mean,
                              const float *std, int flip, Rng *rng, float *x, int *y)
{
    const size_t sample = (size_t)d->h * d->w * d->c;
    for (int start = 0; start < N; start += AUG_MAX_BATCH) {
        int nb = N - start < AUG_MAX_BATCH ? N - start : AUG_MAX_BATCH;
        signed char dy[AUG_MAX_BATCH], dx[AUG_MAX_BATCH], fl[AUG_MAX_BATCH];
        for (int i = 0; i < nb; i++) {
            dy[i] = (signed char)((int)rng_below(rng, 2 * AUG_PAD + 1) - AUG_PAD);
            dx[i] = (signed char)((int)rng_below(rng, 2 * AUG_PAD + 1) - AUG_PAD);
            fl[i] = (signed char)(flip ? (int)rng_below(rng, 2) : 0);
        }
#pragma omp parallel for schedule(static)
        for (int i = 0; i < nb; i++) {
            int j = start + i;
            dataset_copy_sample(d, idx[j], mean, std, dy[i], dx[i], fl[i], x + (size_t)j * sample);
            y[j] = d->labels[idx[j]];
        }
    }
}
