/* Channel concatenation: out[n] = (a[n], b[n]) along channels (torch.cat
 * dim 1). Per sample the output is a's sample followed by b's, so the same
 * code serves NCHW tensors and nChw16c tensors whose first input has whole
 * blocks (then a's blocks come first, then b's, padding included); the
 * _blocked versions handle any channel counts in nChw16c. */
#ifndef BS_CONCAT_H
#define BS_CONCAT_H

#include <stddef.h>

/* a: N x na floats per sample, b: N x nb; out: N x (na + nb). */
void concat_forward(const float *a, size_t na, const float *b, size_t nb, float *out, int N);
/* Splits dout back; da or db may be NULL (not needed). */
void concat_backward(const float *dout, float *da, size_t na, float *db, size_t nb, int N);

/* The same in nChw16c (blocked.h) for a with Ca and b with Cb channels of
 * S positions; the padding lanes of out (and da, db) are written as zeros. */
void concat_forward_blocked(const float *a, int Ca, const float *b, int Cb, float *out, int N, int S);
void concat_backward_blocked(const float *dout, float *da, int Ca, float *db, int Cb, int N, int S);

#endif
