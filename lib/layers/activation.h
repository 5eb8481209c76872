/* ReLU, and the activations a norm can apply to its own output. */
#ifndef BS_ACTIVATION_H
#define BS_ACTIVATION_H

#include <stddef.h>

/* An activation fused into the op before it (BatchNorm.act_after,
 * GroupNorm.act_after): none, ReLU or ReLU6 (relu6.h). */
typedef enum { ACT_NONE, ACT_RELU, ACT_RELU6 } BsAct;

/* act applied to v exactly as relu_forward / relu6_forward would (NaN
 * passes through). */
static inline float act_apply(float v, int act)
{
    if (act == ACT_RELU6)
        return v <= 0.0f ? 0.0f : v >= 6.0f ? 6.0f : v;
    return act == ACT_RELU && v <= 0.0f ? 0.0f : v;
}

/* out may equal in. */
void relu_forward(const float *in, float *out, size_t n);
/* Uses the forward output: grad passes where out > 0. din may equal dout. */
void relu_backward(const float *out, const float *dout, float *din, size_t n);

#endif
