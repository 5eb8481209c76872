/* 2-D convolution, NCHW, im2col + cblas_sgemm (the reference path).
 * Weights [out_c][in_c/groups][kh][kw] (PyTorch layout), optional bias
 * [out_c]. With groups > 1 input channel block g (in_c/groups channels)
 * feeds output block g only: groups == in_c == out_c is a depthwise conv. */
#ifndef BN_CONV2D_H
#define BN_CONV2D_H

#include <stddef.h>

typedef struct {
    int in_c, out_c, k, stride, pad; /* k, pad: the square kernel's (kh, pad_h) */
    int kh, kw, pad_h, pad_w;        /* kernel height and width, padding per axis */
    int in_h, in_w, out_h, out_w;
    int has_bias;
    int groups; /* 1 unless conv2d_set_groups */
} Conv2d;

void conv2d_init(Conv2d *c, int in_c, int out_c, int k, int stride, int pad,
                 int in_h, int in_w, int has_bias);
/* A kh x kw kernel with padding pad_h (top and bottom) and pad_w (left and
 * right): Inception-v3's 1xn and nx1 convolutions. */
void conv2d_init_rect(Conv2d *c, int in_c, int out_c, int kh, int kw, int stride, int pad_h, int pad_w,
                      int in_h, int in_w, int has_bias);
/* Makes c a grouped convolution; returns 0, or -1 (c unchanged) when
 * groups does not divide both in_c and out_c. */
int conv2d_set_groups(Conv2d *c, int groups);
size_t conv2d_num_weights(const Conv2d *c); /* out_c*(in_c/groups)*kh*kw */
size_t conv2d_num_params(const Conv2d *c);  /* weights + bias */
/* Floats of scratch the forward/backward need (im2col of one sample). */
size_t conv2d_workspace(const Conv2d *c);
long conv2d_macs(const Conv2d *c); /* per image */

/* out[N][out_c][out_h][out_w] = conv(in) (+ b). b may be NULL. */
void conv2d_forward(const Conv2d *c, const float *w, const float *b,
                    const float *in, float *out, int N, float *ws);
/* din is overwritten (skipped if NULL); dw and db (if non-NULL) accumulate. */
void conv2d_backward(const Conv2d *c, const float *w, const float *in,
                     const float *dout, float *din, float *dw, float *db,
                     int N, float *ws);
/* Bias helpers shared with the oneDNN backend: out += b per channel;
 * db += sum of dout over samples and positions. */
void conv2d_add_bias(const Conv2d *c, const float *b, float *out, int N);
void conv2d_bias_grad(const Conv2d *c, const float *dout, float *db, int N);

#endif
