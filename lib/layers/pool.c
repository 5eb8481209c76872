#include "pool.h"

#include "blocked.h"

#include <string.h>

void maxpool_init_padded(MaxPool2d *p, int C, int in_h, int in_w, int k, int stride, int pad)
{
    p->C = C;
    p->in_h = in_h;
    p->in_w = in_w;
    p->k = k;
    p->stride = stride;
    p->pad = pad;
    p->out_h = (in_h + 2 * pad - k) / stride + 1;
    p->out_w = (in_w + 2 * pad - k) / stride + 1;
}

void maxpool_init(MaxPool2d *p, int C, int in_h, int in_w, int k, int stride)
{
    maxpool_init_padded(p, C, in_h, in_w, k, stride, 0);
}

/* Offset (within one plane) of the first maximum of window (oy, ox),
 * row by row over the window's positions inside the plane. */
static int window_argmax(const MaxPool2d *p, const float *plane, int oy, int ox)
{
    const int y0 = oy * p->stride - p->pad, x0 = ox * p->stride - p->pad;
    int best = -1;
    for (int y = y0 < 0 ? 0 : y0; y < y0 + p->k && y < p->in_h; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x0 + p->k && x < p->in_w; x++) {
            const int at = y * p->in_w + x;
            if (best < 0 || plane[at] > plane[best])
                best = at;
        }
    return best;
}

void maxpool_forward(const MaxPool2d *p, const float *in, float *out, int N)
{
    const long planes = (long)N * p->C;
    const int in_sz = p->in_h * p->in_w, out_sz = p->out_h * p->out_w;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        const float *src = in + pl * in_sz;
        float *dst = out + pl * out_sz;
        for (int oy = 0; oy < p->out_h; oy++)
            for (int ox = 0; ox < p->out_w; ox++)
                dst[oy * p->out_w + ox] = src[window_argmax(p, src, oy, ox)];
    }
}

void maxpool_backward(const MaxPool2d *p, const float *in, const float *dout, float *din, int N)
{
    const long planes = (long)N * p->C;
    const int in_sz = p->in_h * p->in_w, out_sz = p->out_h * p->out_w;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        const float *src = in + pl * in_sz;
        const float *g = dout + pl * out_sz;
        float *dst = din + pl * in_sz;
        memset(dst, 0, sizeof(float) * (size_t)in_sz);
        for (int oy = 0; oy < p->out_h; oy++)
            for (int ox = 0; ox < p->out_w; ox++)
                dst[window_argmax(p, src, oy, ox)] += g[oy * p->out_w + ox];
    }
}

void avgpool_forward(const float *in, float *out, int N, int C, int spatial)
{
    const long planes = (long)N * C;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        const float *src = in + pl * spatial;
        double s = 0.0;
        for (int i = 0; i < spatial; i++)
            s += src[i];
        out[pl] = (float)(s / spatial);
    }
}

void avgpool_backward(const float *dout, float *din, int N, int C, int spatial)
{
    const long planes = (long)N * C;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        float g = dout[pl] / (float)spatial;
        float *dst = din + pl * spatial;
        for (int i = 0; i < spatial; i++)
            dst[i] = g;
    }
}

/* The same over blocked input (blocked.h); out and dout are [N][C] either
 * way. Each channel is summed in the same order as above. */
void avgpool_forward_blocked(const float *in, float *out, int N, int C, int spatial, int layout)
{
    const int CB = blocked_count(C), st = blocked_step(C, layout);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int cb = 0; cb < CB; cb++) {
            const float *x = in + blocked_tile(C, spatial, layout, n, cb);
            double acc[BLOCK] = {0};
            for (int i = 0; i < spatial; i++)
#pragma omp simd
                for (int l = 0; l < BLOCK; l++)
                    acc[l] += x[i * st + l];
            for (int l = 0; l < blocked_width(C, cb); l++)
                out[(size_t)n * C + cb * BLOCK + l] = (float)(acc[l] / spatial);
        }
}

void avgpool_backward_blocked(const float *dout, float *din, int N, int C, int spatial, int layout)
{
    const int CB = blocked_count(C), st = blocked_step(C, layout);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int cb = 0; cb < CB; cb++) {
            float g[BLOCK];
            blocked_lanes(g, dout + (size_t)n * C, C, cb); /* zero in the padding */
            for (int l = 0; l < BLOCK; l++)
                g[l] /= (float)spatial;
            float *dx = din + blocked_tile(C, spatial, layout, n, cb);
            for (int i = 0; i < spatial; i++)
#pragma omp simd
                for (int l = 0; l < BLOCK; l++)
                    dx[i * st + l] = g[l];
        }
}
