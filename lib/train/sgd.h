/* SGD exactly as torch.optim.SGD (dampening 0):
 *   g' = g + wd·w;  v = g' on the first step, else v = μ·v + g';
 *   step = g' + μ·v if nesterov else v;  w -= lr·step.
 * The caller applies it per contiguous parameter range, so norm parameters
 * and biases can be exempted from weight decay by passing wd = 0. */
#ifndef BS_SGD_H
#define BS_SGD_H

#include <stddef.h>

typedef struct {
    float momentum;
    int nesterov;
} SgdConfig;

/* first_step: the momentum buffer v is uninitialised and gets g'. */
void sgd_update(const SgdConfig *cfg, float lr, float weight_decay, float *w,
                const float *g, float *v, size_t n, int first_step);

#endif
