/* Residual addition. Its backward is the identity into both inputs, so the
 * model routes the gradient and no add_backward is needed. */
#ifndef BS_ADD_H
#define BS_ADD_H

#include <stddef.h>

/* out = a + b; out may equal a or b. */
void add_forward(const float *a, const float *b, float *out, size_t n);
/* dst += src (gradient accumulation at a fork). */
void add_inplace(float *dst, const float *src, size_t n);

#endif
