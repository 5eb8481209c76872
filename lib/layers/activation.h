/* ReLU, and the activations a norm can apply to its own output. */
#ifndef BS_ACTIVATION_H
#define BS_ACTIVATION_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/* A norm's output before its activation: (x − m)·k + h, k = γ·invstd and
 * h = β. One definition for the forwards and for the backwards that
 * recompute it (act_grad), so both round it the same way. */
static inline float norm_affine(float x, float m, float k, float h) { return (x - m) * k + h; }

/* The gradient g at act_apply(v, act) taken back through act: what
 * relu_backward / relu6_backward give from that output, computed from the
 * pre-activation v (or from the output: ReLU's and ReLU6's masks are the
 * same on either). A norm with a fused activation recomputes v from its
 * input in its backward, exactly as its forward did, so the activation's
 * own pass over memory is saved in both directions. The mask is
 * 0 < v <= top with top = act_grad_top(act) (hoisted out of loops):
 * ReLU passes every v > 0 (+inf too, as relu_backward does), ReLU6 those
 * below 6; NaN none; a stopped gradient is +0, as relu_backward writes. */
static inline float act_grad_top(int act) { return act == ACT_RELU6 ? 0x1.7ffffep+2f /* below 6 */ : INFINITY; }
static inline float act_grad_at(float g, float v, float top)
{
    /* g's bits and-ed with the mask, not `pass ? g : 0`: GCC will not
     * if-convert that select before a double sum (comparisons may trap),
     * and the norms' gradient sums stayed scalar (GN's backward 3x slower). */
    uint32_t bits;
    memcpy(&bits, &g, sizeof bits);
    bits &= -(uint32_t)((v > 0.0f) & (v <= top));
    memcpy(&g, &bits, sizeof g);
    return g;
}
static inline float act_grad(float g, float v, int act)
{
    return act == ACT_NONE ? g : act_grad_at(g, v, act_grad_top(act));
}

/* The gradient g at a norm's output (x − m)·k + h with act fused after it,
 * taken back through act at the pre-activation recomputed as the forward
 * computed it (norm_affine). For the norms' plain paths; the blocked
 * kernels hoist act_grad_top out of their loops. */
static inline float norm_act_grad(float g, float x, float m, float k, float h, int act)
{
    return act == ACT_NONE ? g : act_grad(g, norm_affine(x, m, k, h), act);
}

/* out may equal in. */
void relu_forward(const float *in, float *out, size_t n);
/* Uses the forward output: grad passes where out > 0. din may equal dout. */
void relu_backward(const float *out, const float *dout, float *din, size_t n);

#endif
