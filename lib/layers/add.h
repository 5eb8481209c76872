/* Residual addition. Its backward is the identity into both inputs, so the
 * model routes the gradient and no add_backward is needed. */
#ifndef BS_ADD_H
#define BS_ADD_H

#include <stddef.h>

/* out = a + b; out may equal a or b. */
void add_forward(const float *a, const float *b, float *out, size_t n);
/* out = act(a + b) (activation.h's BsAct, as relu_forward would apply it):
 * the ReLU after a residual add in the same pass. */
void add_forward_act(const float *a, const float *b, float *out, size_t n, int act);
/* dst += src (gradient accumulation at a fork). */
void add_inplace(float *dst, const float *src, size_t n);

#endif
