#include "lrn.h"

#include <math.h>

/* With D_i = k + α·Σ_{j∈W(i)} a_j² and b_i = a_i·D_i^−β, and windows that are
 * symmetric (j ∈ W(i) exactly when i ∈ W(j), clipping included):
 *   ∂L/∂a_j = g_j·D_j^−β − 2αβ·a_j·Σ_{i∈W(j)} g_i·a_i·D_i^(−β−1).
 * So the backward is the same window sum as the forward, over
 * t_i = g_i·a_i·D_i^(−β−1) instead of a_i². Window sums are taken in double,
 * one element at a time in a fixed order (thread-count independent). */

void lrn_init(Lrn *l, LrnMode mode, int size, float alpha, float beta, float k, int C, int H, int W)
{
    l->mode = mode;
    l->size = size;
    l->alpha = alpha;
    l->beta = beta;
    l->k = k;
    l->C = C;
    l->H = H;
    l->W = W;
}

/* sum[i] = Σ_{j∈W(i)} v_j for one sample (v and sum: C·H·W floats, not
 * the same buffer), with square = 1: Σ v_j². */
static void window_sums(const Lrn *l, const float *v, int square, float *sum)
{
    const int C = l->C, H = l->H, W = l->W, h = l->size / 2, S = H * W;
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double acc = 0;
                if (l->mode == LRN_ACROSS) {
                    const int lo = c - h < 0 ? 0 : c - h, hi = c + h >= C ? C - 1 : c + h;
                    for (int j = lo; j <= hi; j++) {
                        const double a = v[(size_t)j * S + y * W + x];
                        acc += square ? a * a : a;
                    }
                } else {
                    const int y0 = y - h < 0 ? 0 : y - h, y1 = y + h >= H ? H - 1 : y + h;
                    const int x0 = x - h < 0 ? 0 : x - h, x1 = x + h >= W ? W - 1 : x + h;
                    for (int yy = y0; yy <= y1; yy++)
                        for (int xx = x0; xx <= x1; xx++) {
                            const double a = v[(size_t)c * S + yy * W + xx];
                            acc += square ? a * a : a;
                        }
                }
                sum[(size_t)c * S + y * W + x] = (float)acc;
            }
}

void lrn_forward(const Lrn *l, const float *in, float *out, float *den, int N)
{
    const size_t n = (size_t)l->C * l->H * l->W;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < N; s++) {
        const float *a = in + s * n;
        float *d = den + s * n, *b = out + s * n;
        window_sums(l, a, 1, d);
        for (size_t i = 0; i < n; i++) {
            d[i] = (float)((double)l->k + (double)l->alpha * d[i]);
            b[i] = (float)((double)a[i] * pow((double)d[i], -(double)l->beta));
        }
    }
}

void lrn_backward(const Lrn *l, const float *in, const float *den, const float *dout, float *din, float *t,
                  int N)
{
    const size_t n = (size_t)l->C * l->H * l->W;
    const double beta = l->beta, two_ab = 2.0 * (double)l->alpha * beta;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < N; s++) {
        const float *a = in + s * n, *d = den + s * n, *g = dout + s * n;
        float *ts = t + s * n, *da = din + s * n;
        for (size_t i = 0; i < n; i++)
            ts[i] = (float)((double)g[i] * a[i] * pow((double)d[i], -beta - 1.0));
        window_sums(l, ts, 0, da); /* da: Σ_{i∈W(j)} t_i for now */
        for (size_t j = 0; j < n; j++)
            da[j] = (float)((double)g[j] * pow((double)d[j], -beta) - two_ab * a[j] * da[j]);
    }
}
