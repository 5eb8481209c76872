#include "shortcut.h"

#include <string.h>

void shortcut_init(PadShortcut *s, int in_c, int out_c, int in_h, int in_w, int stride)
{
    s->in_c = in_c;
    s->out_c = out_c;
    s->in_h = in_h;
    s->in_w = in_w;
    s->stride = stride;
    s->out_h = (in_h + stride - 1) / stride;
    s->out_w = (in_w + stride - 1) / stride;
    s->pad_front = (out_c - in_c) / 2;
}

void shortcut_forward(const PadShortcut *s, const float *in, float *out, int N)
{
    const int in_sz = s->in_h * s->in_w, out_sz = s->out_h * s->out_w;
    const long planes = (long)N * s->out_c;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        int n = (int)(pl / s->out_c), c = (int)(pl % s->out_c) - s->pad_front;
        float *dst = out + pl * out_sz;
        if (c < 0 || c >= s->in_c) {
            memset(dst, 0, sizeof(float) * (size_t)out_sz);
            continue;
        }
        const float *src = in + ((long)n * s->in_c + c) * in_sz;
        for (int y = 0; y < s->out_h; y++)
            for (int x = 0; x < s->out_w; x++)
                dst[y * s->out_w + x] = src[y * s->stride * s->in_w + x * s->stride];
    }
}

void shortcut_backward(const PadShortcut *s, const float *dout, float *din, int N)
{
    const int in_sz = s->in_h * s->in_w, out_sz = s->out_h * s->out_w;
    const long planes = (long)N * s->in_c;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        int n = (int)(pl / s->in_c), c = (int)(pl % s->in_c) + s->pad_front;
        float *dst = din + pl * in_sz;
        const float *src = dout + ((long)n * s->out_c + c) * out_sz;
        memset(dst, 0, sizeof(float) * (size_t)in_sz);
        for (int y = 0; y < s->out_h; y++)
            for (int x = 0; x < s->out_w; x++)
                dst[y * s->stride * s->in_w + x * s->stride] = src[y * s->out_w + x];
    }
}
