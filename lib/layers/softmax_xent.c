#include "softmax_xent.h"

#include <math.h>

/* Sequential on purpose: N*K is tiny next to the network, and a fixed
 * summation order keeps the loss independent of the thread count. Softmax
 * is taken in double around the max logit, so large logits cannot overflow. */
double softmax_xent(const float *logits, const int *labels, int N, int K, float smoothing,
                    float *dlogits, int *correct)
{
    const double eps = smoothing, off = eps / K;
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
        if (eps > 0) { /* −log p_k = log_sum − z_k, averaged over the K classes */
            double all = 0;
            for (int k = 0; k < K; k++)
                all += log_sum - z[k];
            loss += eps * (all / K - (log_sum - z[labels[n]]));
        }
        hits += arg == labels[n];
        if (dlogits) {
            float *d = dlogits + (long)n * K;
            for (int k = 0; k < K; k++)
                d[k] = (float)((exp((double)z[k] - log_sum) - (k == labels[n]) * (1.0 - eps) - off) / N);
        }
    }
    if (correct)
        *correct = hits;
    return loss / N;
}
