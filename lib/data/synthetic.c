#include "synthetic.h"

#include <math.h>
#include <stdlib.h>

#include "core/mem.h"
#include "core/rng.h"

/* Prototype of one class: per channel, a sum of three random plane waves. */
static void make_prototype(Rng *r, float *proto, int c, int h, int w)
{
    for (int ch = 0; ch < c; ch++) {
        float fx[3], fy[3], ph[3], amp[3];
        for (int j = 0; j < 3; j++) {
            fx[j] = 1.2f * rng_normal(r);
            fy[j] = 1.2f * rng_normal(r);
            ph[j] = 6.2831853f * rng_uniform(r);
            amp[j] = 0.5f + rng_uniform(r);
        }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float v = 0;
                for (int j = 0; j < 3; j++)
                    v += amp[j] * sinf(fx[j] * x + fy[j] * y + ph[j]);
                proto[(ch * h + y) * w + x] = v / 3.0f;
            }
    }
}

static uint8_t to_pixel(float v)
{
    float p = 128.0f + 80.0f * v;
    return (uint8_t)(p < 0 ? 0 : p > 255 ? 255 : lrintf(p));
}

int synthetic_make(Dataset *d, int n, int c, int h, int w, int num_classes, float noise,
                   uint64_t seed, BsError *err)
{
    if (dataset_alloc(d, n, c, h, w, num_classes, err) != BS_OK)
        return err->code;
    const size_t sample = (size_t)c * h * w;
    float *protos = bs_alloc(sizeof(float) * sample * num_classes, err);
    if (!protos) {
        dataset_free(d);
        return err->code;
    }
    Rng r;
    rng_seed(&r, seed);
    for (int k = 0; k < num_classes; k++)
        make_prototype(&r, protos + k * sample, c, h, w);
    for (int i = 0; i < n; i++) {
        int k = i % num_classes; /* balanced classes */
        int dy = (int)rng_below(&r, 5) - 2, dx = (int)rng_below(&r, 5) - 2;
        const float *p = protos + k * sample;
        uint8_t *dst = d->pixels + i * sample;
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    int sy = ((y + dy) % h + h) % h, sx = ((x + dx) % w + w) % w;
                    float v = p[(ch * h + sy) * w + sx] + noise * rng_normal(&r);
                    dst[(ch * h + y) * w + x] = to_pixel(v);
                }
        d->labels[i] = k;
    }
    bs_free(protos);
    return BS_OK;
}
