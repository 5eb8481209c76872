#include "conv2d.h"

#include <cblas.h>
#include <string.h>

void conv2d_init_rect(Conv2d *c, int in_c, int out_c, int kh, int kw, int stride, int pad_h, int pad_w,
                      int in_h, int in_w, int has_bias)
{
    c->in_c = in_c;
    c->out_c = out_c;
    c->k = kh;
    c->kh = kh;
    c->kw = kw;
    c->stride = stride;
    c->pad = pad_h;
    c->pad_h = pad_h;
    c->pad_w = pad_w;
    c->in_h = in_h;
    c->in_w = in_w;
    c->out_h = (in_h + 2 * pad_h - kh) / stride + 1;
    c->out_w = (in_w + 2 * pad_w - kw) / stride + 1;
    c->has_bias = has_bias;
    c->groups = 1;
}

void conv2d_init(Conv2d *c, int in_c, int out_c, int k, int stride, int pad,
                 int in_h, int in_w, int has_bias)
{
    conv2d_init_rect(c, in_c, out_c, k, k, stride, pad, pad, in_h, in_w, has_bias);
}

int conv2d_set_groups(Conv2d *c, int groups)
{
    if (groups < 1 || c->in_c % groups != 0 || c->out_c % groups != 0)
        return -1;
    c->groups = groups;
    return 0;
}

size_t conv2d_num_weights(const Conv2d *c)
{
    return (size_t)c->out_c * (size_t)(c->in_c / c->groups) * (size_t)c->kh * (size_t)c->kw;
}

size_t conv2d_num_params(const Conv2d *c)
{
    return conv2d_num_weights(c) + (c->has_bias ? (size_t)c->out_c : 0);
}

/* Rows of the column matrix: one per (in channel, ky, kx); the rows of
 * group g are the block [g*group_rows, (g+1)*group_rows). */
static int col_rows(const Conv2d *c) { return c->in_c * c->kh * c->kw; }
static int group_rows(const Conv2d *c) { return col_rows(c) / c->groups; }
static int group_out(const Conv2d *c) { return c->out_c / c->groups; }

static int out_positions(const Conv2d *c) { return c->out_h * c->out_w; }

size_t conv2d_workspace(const Conv2d *c)
{
    return (size_t)col_rows(c) * (size_t)out_positions(c);
}

long conv2d_macs(const Conv2d *c)
{
    return (long)c->out_c * out_positions(c) * group_rows(c);
}

/* A 1×1, stride-1, unpadded input already is its own column matrix. */
static int is_pointwise(const Conv2d *c)
{
    return c->kh == 1 && c->kw == 1 && c->stride == 1 && c->pad_h == 0 && c->pad_w == 0;
}

/* Copies the (ky, kx) tap of one input plane into one column row;
 * positions that fall in the padding read as zero. */
static void im2col_row(const Conv2d *c, const float *plane, int ky, int kx, float *row)
{
    for (int oy = 0; oy < c->out_h; oy++) {
        const int iy = oy * c->stride - c->pad_h + ky;
        float *dst = row + (size_t)oy * c->out_w;
        if (iy < 0 || iy >= c->in_h) {
            memset(dst, 0, sizeof(float) * (size_t)c->out_w);
            continue;
        }
        const float *src = plane + (size_t)iy * c->in_w;
        for (int ox = 0; ox < c->out_w; ox++) {
            const int ix = ox * c->stride - c->pad_w + kx;
            dst[ox] = (ix >= 0 && ix < c->in_w) ? src[ix] : 0.0f;
        }
    }
}

/* Inverse scatter of im2col_row: adds one column row back into a plane. */
static void col2im_row(const Conv2d *c, const float *row, int ky, int kx, float *plane)
{
    for (int oy = 0; oy < c->out_h; oy++) {
        const int iy = oy * c->stride - c->pad_h + ky;
        if (iy < 0 || iy >= c->in_h)
            continue;
        const float *src = row + (size_t)oy * c->out_w;
        float *dst = plane + (size_t)iy * c->in_w;
        for (int ox = 0; ox < c->out_w; ox++) {
            const int ix = ox * c->stride - c->pad_w + kx;
            if (ix >= 0 && ix < c->in_w)
                dst[ix] += src[ox];
        }
    }
}

/* col[in_c*kh*kw][out_h*out_w] from one sample in[in_c][in_h][in_w]. */
static void im2col(const Conv2d *c, const float *in, float *col)
{
    const size_t plane = (size_t)c->in_h * c->in_w, P = (size_t)out_positions(c);
    const int kk = c->kh * c->kw;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c->in_c; ch++)
        for (int t = 0; t < kk; t++)
            im2col_row(c, in + ch * plane, t / c->kw, t % c->kw,
                       col + ((size_t)ch * kk + t) * P);
}

/* Overwrites din[in_c][in_h][in_w] with the sum of the column taps. Each
 * channel belongs to one thread and its taps add in a fixed order, so the
 * result does not depend on scheduling. */
static void col2im(const Conv2d *c, const float *col, float *din)
{
    const size_t plane = (size_t)c->in_h * c->in_w, P = (size_t)out_positions(c);
    const int kk = c->kh * c->kw;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c->in_c; ch++) {
        float *dst = din + ch * plane;
        memset(dst, 0, sizeof(float) * plane);
        for (int t = 0; t < kk; t++)
            col2im_row(c, col + ((size_t)ch * kk + t) * P, t / c->kw, t % c->kw, dst);
    }
}

/* The column matrix of one sample: the input itself or its im2col in ws. */
static const float *columns(const Conv2d *c, const float *in_n, float *ws)
{
    if (is_pointwise(c))
        return in_n;
    im2col(c, in_n, ws);
    return ws;
}

void conv2d_add_bias(const Conv2d *c, const float *b, float *out, int N)
{
    const int P = out_positions(c);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < c->out_c; oc++) {
            float *dst = out + ((size_t)n * c->out_c + oc) * P;
            for (int p = 0; p < P; p++)
                dst[p] += b[oc];
        }
}

void conv2d_forward(const Conv2d *c, const float *w, const float *b,
                    const float *in, float *out, int N, float *ws)
{
    const int P = out_positions(c), K = group_rows(c), O = group_out(c);
    const size_t in_sz = (size_t)c->in_c * c->in_h * c->in_w;
    const size_t out_sz = (size_t)c->out_c * P;
    for (int n = 0; n < N; n++) {
        const float *col = columns(c, in + n * in_sz, ws);
        float *out_n = out + n * out_sz;
        /* Per group: out_n[O][P] = W_g[O][K] · col_g[K][P] */
        for (int g = 0; g < c->groups; g++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, P, K, 1.0f,
                        w + (size_t)g * O * K, K, col + (size_t)g * K * P, P, 0.0f,
                        out_n + (size_t)g * O * P, P);
    }
    if (b)
        conv2d_add_bias(c, b, out, N);
}

/* db[oc] += sum over samples and positions; double keeps large batches
 * accurate, and each channel is summed by one thread in a fixed order. */
void conv2d_bias_grad(const Conv2d *c, const float *dout, float *db, int N)
{
    const int P = out_positions(c);
    const size_t out_sz = (size_t)c->out_c * P;
#pragma omp parallel for schedule(static)
    for (int oc = 0; oc < c->out_c; oc++) {
        double s = 0.0;
        for (int n = 0; n < N; n++) {
            const float *g = dout + n * out_sz + (size_t)oc * P;
            for (int p = 0; p < P; p++)
                s += g[p];
        }
        db[oc] += (float)s;
    }
}

/* din_n for one sample: Wᵀ·dout_n is the column gradient, which col2im
 * scatters back (or which is din_n itself for pointwise convolutions). */
static void input_grad(const Conv2d *c, const float *w, const float *dout_n,
                       float *din_n, float *ws)
{
    const int P = out_positions(c), K = group_rows(c), O = group_out(c);
    float *dcol = is_pointwise(c) ? din_n : ws;
    for (int g = 0; g < c->groups; g++) /* dcol_g[K][P] = W_g[O][K]ᵀ · dout_g[O][P] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, O, 1.0f,
                    w + (size_t)g * O * K, K, dout_n + (size_t)g * O * P, P, 0.0f,
                    dcol + (size_t)g * K * P, P);
    if (!is_pointwise(c))
        col2im(c, dcol, din_n);
}

void conv2d_backward(const Conv2d *c, const float *w, const float *in,
                     const float *dout, float *din, float *dw, float *db,
                     int N, float *ws)
{
    const int P = out_positions(c), K = group_rows(c), O = group_out(c);
    const size_t in_sz = (size_t)c->in_c * c->in_h * c->in_w;
    const size_t out_sz = (size_t)c->out_c * P;
    for (int n = 0; n < N; n++) {
        const float *dout_n = dout + n * out_sz;
        if (dw) {
            /* dW_g[O][K] += dout_g[O][P] · col_g[K][P]ᵀ; samples in order. */
            const float *col = columns(c, in + n * in_sz, ws);
            for (int g = 0; g < c->groups; g++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, K, P, 1.0f,
                            dout_n + (size_t)g * O * P, P, col + (size_t)g * K * P, P, 1.0f,
                            dw + (size_t)g * O * K, K);
        }
        /* Runs after the dW product: it reuses ws for the column gradient. */
        if (din)
            input_grad(c, w, dout_n, din + n * in_sz, ws);
    }
    if (db)
        conv2d_bias_grad(c, dout, db, N);
}
