/* oneDNN's blocked activation layout nChw16c ("aBcd16b"): an [N][C][H][W]
 * tensor stored as [N][C/16][H][W][16], so each run of 16 floats holds one
 * position of 16 consecutive channels. oneDNN's fast convolutions work in
 * it; keeping activations in it between convolutions saves converting
 * every conv's input and output (about 30% of the convolution time). Only
 * for C a multiple of 16. A sample stays contiguous and the same size, so
 * batch slicing is unchanged; per-channel code (norms, pooling, statistics)
 * vectorizes over the 16 lanes of a block. */
#ifndef BS_BLOCKED_H
#define BS_BLOCKED_H

#include <stddef.h>

#define BLOCK 16

static inline int blocked_fits(int C) { return C > 0 && C % BLOCK == 0; }

/* Where element (n, c, s) of an [N][C][S] tensor lies in the blocked layout. */
static inline size_t blocked_index(int C, int S, int n, int c, int s)
{
    return ((size_t)n * (size_t)C + (size_t)(c - c % BLOCK)) * (size_t)S + (size_t)s * BLOCK +
           (size_t)(c % BLOCK);
}

/* Start of block cb (channels 16cb .. 16cb+15) of sample n: S x 16 floats. */
static inline size_t blocked_tile(int C, int S, int n, int cb)
{
    return ((size_t)n * (size_t)C + (size_t)cb * BLOCK) * (size_t)S;
}

void blocked_from_plain(const float *plain, float *blocked, int N, int C, int S);
void blocked_to_plain(const float *blocked, float *plain, int N, int C, int S);

/* Per channel c over all samples and positions, in double:
 * sum[c] = Σ(x − center[c]) and sq[c] = Σ(x − center[c])² (center NULL: 0).
 * Each (sample, block) tile's sums go to part (2·N·C doubles) and are added
 * per channel in sample order, so the result does not depend on the
 * thread count. */
void blocked_centered_sums(const float *x, int N, int C, int S, const double *center, double *part,
                           double *sum, double *sq);
/* total[c] = Σ over samples n of part[n·C + c], in sample order. */
void blocked_sum_over_samples(const double *part, double *total, int N, int C);

/* Conv bias in the blocked layout: out += b[c]; db[c] += sum of dout over
 * samples and positions (double, one fixed order per channel). */
void blocked_add_bias(const float *b, float *out, int N, int C, int S);
void blocked_bias_grad(const float *dout, float *db, int N, int C, int S);

#endif
