/* Softmax cross-entropy, mean over the batch (PyTorch's CrossEntropyLoss). */
#ifndef BS_SOFTMAX_XENT_H
#define BS_SOFTMAX_XENT_H

/* Returns the mean loss over N samples; *correct gets the count of argmax
 * hits (may be NULL). dlogits (may be NULL) gets d(mean loss)/d logits. */
double softmax_xent(const float *logits, const int *labels, int N, int K,
                    float *dlogits, int *correct);

#endif
