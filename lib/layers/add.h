/* Residual addition, and the activation after it in the same passes. */
#ifndef BS_ADD_H
#define BS_ADD_H

#include <stddef.h>

/* out = a + b; out may equal a or b. */
void add_forward(const float *a, const float *b, float *out, size_t n);
/* out = act(a + b) (activation.h's BsAct, as relu_forward would apply it):
 * the ReLU after a residual add in the same pass. */
void add_forward_act(const float *a, const float *b, float *out, size_t n, int act);
/* Backward of add_forward_act: da and db (either may be NULL, da may
 * equal dout) get dout taken back through act at the output out
 * (activation.h act_grad), i.e. what the activation's backward followed
 * by the add's identity would give, in one pass. */
void add_backward_act(const float *out, const float *dout, float *da, float *db, size_t n, int act);
/* dst += src (gradient accumulation at a fork). */
void add_inplace(float *dst, const float *src, size_t n);

#endif
