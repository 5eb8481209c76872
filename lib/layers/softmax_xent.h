/* Softmax cross-entropy, mean over the batch (PyTorch's CrossEntropyLoss),
 * with label smoothing ε (CrossEntropyLoss(label_smoothing=ε)): the target
 * is (1 − ε)·onehot + ε/K, so the loss of a sample is
 * (1 − ε)·(−log p_y) + (ε/K)·Σ_k (−log p_k). ε = 0: plain cross-entropy. */
#ifndef BS_SOFTMAX_XENT_H
#define BS_SOFTMAX_XENT_H

/* Returns the mean loss over N samples; *correct gets the count of argmax
 * hits (may be NULL). dlogits (may be NULL) gets d(mean loss)/d logits. */
double softmax_xent(const float *logits, const int *labels, int N, int K, float smoothing,
                    float *dlogits, int *correct);

#endif
