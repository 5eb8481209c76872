/* ReLU. */
#ifndef BS_ACTIVATION_H
#define BS_ACTIVATION_H

#include <stddef.h>

/* out may equal in. */
void relu_forward(const float *in, float *out, size_t n);
/* Uses the forward output: grad passes where out > 0. din may equal dout. */
void relu_backward(const float *out, const float *dout, float *din, size_t n);

#endif
