/* ReLU6: min(max(x, 0), 6) (torch.nn.ReLU6, MobileNetV2's activation).
 * Element by element, so it runs in place and on any layout. */
#ifndef BS_RELU6_H
#define BS_RELU6_H

#include <stddef.h>

/* out may equal in. NaN passes through, as in PyTorch's hardtanh. */
void relu6_forward(const float *in, float *out, size_t n);
/* From the forward output: the gradient passes where 0 < out < 6 (the same
 * points as 0 < in < 6, PyTorch's rule at the kinks). din may equal dout. */
void relu6_backward(const float *out, const float *dout, float *din, size_t n);

#endif
