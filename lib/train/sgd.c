#include "sgd.h"

void sgd_update(const SgdConfig *cfg, float lr, float weight_decay, float *w,
                const float *g, float *v, size_t n, int first_step)
{
    const float mu = cfg->momentum;
    const long len = (long)n;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < len; i++) {
        float d = g[i] + weight_decay * w[i];
        if (mu != 0.0f) {
            v[i] = first_step ? d : mu * v[i] + d;
            d = cfg->nesterov ? d + mu * v[i] : v[i];
        }
        w[i] -= lr * d;
    }
}
