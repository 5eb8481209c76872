/* Local response normalization (AlexNet, Krizhevsky et al. 2012), a
 * batch-free and parameter-free norm: b = a / (k + α·Σ a_j²)^β, the sum over
 * a window around each element, clipped at the tensor's edges:
 * - across channels (LRN_ACROSS): channels c − ⌊n/2⌋ .. c + ⌊n/2⌋ at the same
 *   position (AlexNet's form);
 * - within a channel (LRN_WITHIN): positions y ± ⌊n/2⌋, x ± ⌊n/2⌋ of the same
 *   channel, an (n+1)×(n+1) square for even n (n×n for odd n).
 * torch.nn.LocalResponseNorm(size, alpha', beta, k) is LRN_ACROSS with
 * α = alpha' / size for odd sizes (PyTorch divides α by the window size and,
 * for even sizes, takes a window that is not centred). NCHW only. */
#ifndef BS_LRN_H
#define BS_LRN_H

#include <stddef.h>

typedef enum { LRN_ACROSS, LRN_WITHIN } LrnMode;

typedef struct {
    LrnMode mode;
    int size; /* n */
    float alpha, beta, k;
    int C, H, W;
} Lrn;

void lrn_init(Lrn *l, LrnMode mode, int size, float alpha, float beta, float k, int C, int H, int W);

/* out = LRN(in) for N samples; den (N·C·H·W floats) keeps the
 * denominators' bases k + α·Σ a_j² for the backward. out may not equal in. */
void lrn_forward(const Lrn *l, const float *in, float *out, float *den, int N);
/* din (overwritten) from dout, the forward's input and den; t is scratch
 * of N·C·H·W floats. */
void lrn_backward(const Lrn *l, const float *in, const float *den, const float *dout, float *din, float *t,
                  int N);

#endif
