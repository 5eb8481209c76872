#include "softmax_xent.h"

#include <math.h>

/* Sequential on purpose: N*K is tiny next to the network, and a fixed
 * summation order keeps the loss independent of the thread count. Softmax
 * is taken in double around the max logit, so large logits cannot overflow. */
double softmax_xent(const float *logits, const int *labels, int N, int K,
                    float *dlogits, int *correct)
{
    double loss = 0.0;
    int hits = 0;
    for (int n = 0; n < N; n++) {
        const float *z = logits + (long)n * K;
        int arg = 0;
        for (int k = 1; k < K; k++)
            if (z[k] > z[arg])
                arg = k;
        double sum = 1.0; /* exp(z[arg] - z[arg]) */
        for (int k = 0; k < K; k++)
            if (k != arg)
                sum += exp((double)z[k] - z[arg]);
        double log_sum = log(sum) + z[arg];
        loss += log_sum - z[labels[n]];
        hits += arg == labels[n];
        if (dlogits) {
            float *d = dlogits + (long)n * K;
            for (int k = 0; k < K; k++)
                d[k] = (float)((exp((double)z[k] - log_sum) - (k == labels[n])) / N);
        }
    }
    if (correct)
        *correct = hits;
    return loss / N;
}
