#include "linear.h"

#include <cblas.h>

void linear_init(Linear *l, int in_f, int out_f, int has_bias)
{
    l->in_f = in_f;
    l->out_f = out_f;
    l->has_bias = has_bias;
}

size_t linear_num_params(const Linear *l)
{
    size_t weights = (size_t)l->out_f * (size_t)l->in_f;
    return weights + (l->has_bias ? (size_t)l->out_f : 0);
}

void linear_forward(const Linear *l, const float *w, const float *b,
                    const float *in, float *out, int N)
{
    const size_t O = (size_t)l->out_f;
    /* Start from the bias so that one sgemm with beta=1 finishes the job. */
    if (b)
        for (int n = 0; n < N; n++)
            for (size_t j = 0; j < O; j++)
                out[n * O + j] = b[j];
    /* out[N][out_f] (+)= in[N][in_f] · w[out_f][in_f]ᵀ */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, l->out_f, l->in_f,
                1.0f, in, l->in_f, w, l->in_f, b ? 1.0f : 0.0f, out, l->out_f);
}

/* db[j] += sum over the batch of dout[n][j], in double and in batch order. */
static void bias_grad(const Linear *l, const float *dout, float *db, int N)
{
    const size_t O = (size_t)l->out_f;
    for (size_t j = 0; j < O; j++) {
        double s = 0.0;
        for (int n = 0; n < N; n++)
            s += dout[n * O + j];
        db[j] += (float)s;
    }
}

void linear_backward(const Linear *l, const float *w, const float *in,
                     const float *dout, float *din, float *dw, float *db, int N)
{
    /* dw[out_f][in_f] += dout[N][out_f]ᵀ · in[N][in_f] */
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->out_f, l->in_f, N,
                    1.0f, dout, l->out_f, in, l->in_f, 1.0f, dw, l->in_f);
    if (db)
        bias_grad(l, dout, db, N);
    /* din[N][in_f] = dout[N][out_f] · w[out_f][in_f] */
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, l->in_f, l->out_f,
                    1.0f, dout, l->out_f, w, l->in_f, 0.0f, din, l->in_f);
}
