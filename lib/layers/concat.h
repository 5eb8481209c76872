/* Channel concatenation: out[n] = (a[n], b[n]) along channels (torch.cat
 * dim 1). Per sample the output is a's sample followed by b's, so the same
 * code serves NCHW and nChw16c tensors when both channel counts are
 * multiples of 16 (whole channel blocks). */
#ifndef BS_CONCAT_H
#define BS_CONCAT_H

#include <stddef.h>

/* a: N x na floats per sample, b: N x nb; out: N x (na + nb). */
void concat_forward(const float *a, size_t na, const float *b, size_t nb, float *out, int N);
/* Splits dout back; da or db may be NULL (not needed). */
void concat_backward(const float *dout, float *da, size_t na, float *db, size_t nb, int N);

#endif
