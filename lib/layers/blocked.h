/* oneDNN's blocked activation layout nChw16c ("aBcd16b"): an [N][C][H][W]
 * tensor stored as [N][Cp/16][H][W][16] with Cp = C rounded up to 16, so
 * each run of 16 floats holds one position of 16 consecutive channels.
 * oneDNN's fast convolutions work in it; keeping activations in it between
 * convolutions saves converting every conv's input and output (about 30% of
 * the convolution time). When C is not a multiple of 16 the last block has
 * Cp − C padding lanes, which hold zeros: oneDNN reads them as zeros and
 * writes zeros there, and so does every kernel here (they compute all 16
 * lanes with zero parameters in the padding, or write 0). A sample stays
 * contiguous (Cp·H·W floats, blocked_sample), so batch slicing is
 * unchanged; per-channel code (norms, pooling, statistics) vectorizes over
 * the 16 lanes of a block. */
#ifndef BS_BLOCKED_H
#define BS_BLOCKED_H

#include <stddef.h>

#define BLOCK 16

/* C rounded up to whole blocks, and the number of blocks. */
static inline int blocked_channels(int C) { return (C + BLOCK - 1) / BLOCK * BLOCK; }
static inline int blocked_count(int C) { return (C + BLOCK - 1) / BLOCK; }

/* Whether the layout plan may keep a C-channel tensor blocked: whole
 * blocks, or padding of at most half the real channels (24 → 32 yes,
 * 8 → 16 no: the zeros would cost more than the reorders they save). */
static inline int blocked_fits(int C) { return C > 0 && 2 * blocked_channels(C) <= 3 * C; }

/* Floats per sample of a C x S tensor in the blocked layout. */
static inline size_t blocked_sample(int C, int S) { return (size_t)blocked_channels(C) * (size_t)S; }

/* Where element (n, c, s) of an [N][C][S] tensor lies in the blocked layout. */
static inline size_t blocked_index(int C, int S, int n, int c, int s)
{
    return (size_t)n * blocked_sample(C, S) + (size_t)(c - c % BLOCK) * (size_t)S + (size_t)s * BLOCK +
           (size_t)(c % BLOCK);
}

/* Start of block cb (channels 16cb .. 16cb+15) of sample n: S x 16 floats. */
static inline size_t blocked_tile(int C, int S, int n, int cb)
{
    return (size_t)n * blocked_sample(C, S) + (size_t)cb * BLOCK * (size_t)S;
}

/* The 16 values of per-channel array v (C of them) for block cb, zero in
 * the padding lanes: the parameters a kernel applies to a whole block. */
static inline void blocked_lanes(float *dst, const float *v, int C, int cb)
{
    for (int l = 0; l < BLOCK; l++)
        dst[l] = cb * BLOCK + l < C ? v[cb * BLOCK + l] : 0.0f;
}

/* How many real channels block cb has (16 except maybe the last). */
static inline int blocked_width(int C, int cb) { return C - cb * BLOCK < BLOCK ? C - cb * BLOCK : BLOCK; }

/* s1[l] = Σ(t − m[l]) and s2[l] = Σ(t − m[l])² (double) over the S
 * positions of one tile, lane by lane in position order: the one order
 * every blocked sum over positions uses (BN moments, GN, ESM statistics). */
static inline void blocked_tile_sums(const float *t, int S, const double *m, double *s1, double *s2)
{
    for (int l = 0; l < BLOCK; l++)
        s1[l] = s2[l] = 0.0;
    for (int i = 0; i < S; i++)
#pragma omp simd
        for (int l = 0; l < BLOCK; l++) {
            const double d = (double)t[i * BLOCK + l] - m[l];
            s1[l] += d;
            s2[l] += d * d;
        }
}

/* Conversions; blocked_from_plain writes the padding lanes (zeros). */
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

/* Copies `count` channels between blocked tensors of one spatial size S:
 * channel dst_first + j·dst_step of dst (Cdst channels) gets channel
 * src_first + j·src_step of src (Csrc channels), for every sample. The
 * other real channels of dst are set to zero when zero_unmapped, else left
 * as they are; dst's padding lanes are set to zero. It works block by
 * block of dst, position by position, so each position reads the few
 * source lines it needs once. Concat, its backward and the channel split
 * are this with different strides. */
void blocked_copy_channels(const float *src, int Csrc, int src_first, int src_step, float *dst, int Cdst,
                           int dst_first, int dst_step, int count, int zero_unmapped, int N, int S);

#endif
