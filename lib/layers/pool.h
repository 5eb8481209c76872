/* Max pooling (k x k window, stride, padding pad on every side: padded
 * positions never win, as PyTorch's -inf padding) and global average
 * pooling. */
#ifndef BS_POOL_H
#define BS_POOL_H

typedef struct {
    int C, in_h, in_w, k, stride, out_h, out_w;
    int pad;
} MaxPool2d;

void maxpool_init(MaxPool2d *p, int C, int in_h, int in_w, int k, int stride);
/* With padding (pad < k, so every window holds a real position): the
 * Inception pool branch's 3x3, stride 1, pad 1. */
void maxpool_init_padded(MaxPool2d *p, int C, int in_h, int in_w, int k, int stride, int pad);
void maxpool_forward(const MaxPool2d *p, const float *in, float *out, int N);
/* Gradient goes to the first maximum of each window (as PyTorch on CPU).
 * din overwritten. */
void maxpool_backward(const MaxPool2d *p, const float *in, const float *dout, float *din, int N);

/* [N][C][spatial] -> [N][C] */
void avgpool_forward(const float *in, float *out, int N, int C, int spatial);
void avgpool_backward(const float *dout, float *din, int N, int C, int spatial);

/* The same for blocked input (blocked.h) in `layout`; out and dout are
 * [N][C] either way. */
void avgpool_forward_blocked(const float *in, float *out, int N, int C, int spatial, int layout);
void avgpool_backward_blocked(const float *dout, float *din, int N, int C, int spatial, int layout);

#endif
