/* Channel concatenation: out[n] = (a[n], b[n]) along channels (torch.cat
 * dim 1). Per sample the output is a's sample followed by b's in NCHW; the
 * _blocked versions handle blocked tensors (blocked.h) of any channel
 * counts and layouts. */
#ifndef BS_CONCAT_H
#define BS_CONCAT_H

#include <stddef.h>

/* a: N x na floats per sample, b: N x nb; out: N x (na + nb). */
void concat_forward(const float *a, size_t na, const float *b, size_t nb, float *out, int N);
/* Splits dout back; da or db may be NULL (not needed). */
void concat_backward(const float *dout, float *da, size_t na, float *db, size_t nb, int N);

/* The same on blocked tensors for a with Ca and b with Cb channels of S
 * positions, in layouts la, lb and lo (out); the padding lanes of out (and
 * da, db) are written as zeros. */
void concat_forward_blocked(const float *a, int Ca, int la, const float *b, int Cb, int lb, float *out, int lo,
                            int N, int S);
void concat_backward_blocked(const float *dout, int lo, float *da, int Ca, int la, float *db, int Cb, int lb, int N,
                             int S);

#endif
