/* The blocked activation layouts: an [N][C][H][W] tensor whose channels
 * come in blocks of 16, Cp = C rounded up to 16, and each position of a
 * block one run of 16 floats. oneDNN's fast convolutions work in these
 * layouts; keeping activations in them between convolutions saves
 * converting every conv's input and output (about 30% of the convolution
 * time). Two of them (the `layout` argument below; the layout plan,
 * layout_plan.c, picks one per tensor):
 * - BLOCKED_16C, nChw16c ("aBcd16b", [N][Cp/16][H][W][16]). When C is not
 *   a multiple of 16 the last block has Cp − C padding lanes, which hold
 *   zeros: oneDNN reads them as zeros and writes zeros there, and so does
 *   every kernel here (they compute all 16 lanes with zero parameters in
 *   the padding, or write 0).
 * - BLOCKED_NHWC, for C a multiple of 16: [N][H][W][C], where the blocks of
 *   one position lie side by side and oneDNN has its brgemm convolutions
 *   (faster on 3x3 layers, slower on 1x1 and depthwise ones).
 * At C = 16 the two are the same bytes. Either way block cb of sample n is
 * a tile of S positions of 16 floats, blocked_step floats apart
 * (blocked_tile), so per-channel code (norms, pooling, statistics)
 * vectorizes over the 16 lanes of a block and sums over positions in the
 * same order in both layouts. A sample stays contiguous (Cp·H·W floats,
 * blocked_sample), so batch slicing is unchanged. */
#ifndef BS_BLOCKED_H
#define BS_BLOCKED_H

#include <stddef.h>

#define BLOCK 16

/* C rounded up to whole blocks, and the number of blocks. */
static inline int blocked_channels(int C) { return (C + BLOCK - 1) / BLOCK * BLOCK; }
static inline int blocked_count(int C) { return (C + BLOCK - 1) / BLOCK; }

/* A tensor's layout: 0 (NCHW, not blocked) or one of the blocked ones. */
enum { BLOCKED_16C = 1, BLOCKED_NHWC = 2 };

/* Whether a C-channel tensor may be NHWC (whole blocks), and how many
 * floats apart a block's consecutive positions lie in `layout`. */
static inline int blocked_nhwc_fits(int C) { return C > 0 && C % BLOCK == 0; }
static inline int blocked_step(int C, int layout) { return layout == BLOCKED_NHWC ? C : BLOCK; }

/* Whether the layout plan may keep a C-channel tensor blocked: whole
 * blocks, or padding of at most half the real channels (24 → 32 yes,
 * 8 → 16 no: the zeros would cost more than the reorders they save). */
static inline int blocked_fits(int C) { return C > 0 && 2 * blocked_channels(C) <= 3 * C; }

/* Floats per sample of a C x S tensor in the blocked layout. */
static inline size_t blocked_sample(int C, int S) { return (size_t)blocked_channels(C) * (size_t)S; }

/* Start of block cb (channels 16cb .. 16cb+15) of sample n: S positions of
 * 16 floats, blocked_step apart. */
static inline size_t blocked_tile(int C, int S, int layout, int n, int cb)
{
    return (size_t)n * blocked_sample(C, S) + (size_t)cb * BLOCK * (layout == BLOCKED_NHWC ? 1 : (size_t)S);
}

/* Where element (n, c, s) of an [N][C][S] tensor lies in `layout`. */
static inline size_t blocked_index(int C, int S, int layout, int n, int c, int s)
{
    return blocked_tile(C, S, layout, n, c / BLOCK) + (size_t)s * (size_t)blocked_step(C, layout) +
           (size_t)(c % BLOCK);
}

/* dst[c] = the first value of channel c (sample 0, position 0) of x: the
 * shift K of shifted-data sums (blocked_centered_sums about K). K is one
 * of the values summed, so |mean − K| <= σ·√M and the cancellation in
 * Σ(x − K)² − (Σ(x − K))²/M costs at most ~M·2⁻⁵³ of the variance. */
static inline void blocked_first_values(double *dst, const float *x, int C, int S, int layout)
{
    for (int c = 0; c < C; c++)
        dst[c] = x[blocked_index(C, S, layout, 0, c, 0)];
}

/* dst[l] = v[first + l] for the w channels from `first` of per-channel
 * array v (C values), zero past C (the padding lanes); a local copy, which
 * the compiler knows no output aliases, so tile loops keep it in registers. */
static inline void channel_lanes(float *dst, const float *v, int C, int first, int w)
{
    for (int l = 0; l < w; l++)
        dst[l] = first + l < C ? v[first + l] : 0.0f;
}

/* How many of the w channels from `first` are real (w but at the end). */
static inline int channel_run_width(int C, int first, int w) { return C - first < w ? C - first : w; }

/* The 16 values of per-channel array v (C of them) for block cb, zero in
 * the padding lanes: the parameters a kernel applies to a whole block. */
static inline void blocked_lanes(float *dst, const float *v, int C, int cb)
{
    channel_lanes(dst, v, C, cb * BLOCK, BLOCK);
}

/* How many real channels block cb has (16 except maybe the last). */
static inline int blocked_width(int C, int cb) { return channel_run_width(C, cb * BLOCK, BLOCK); }

/* How the BN kernels walk a blocked tensor: `tiles` tiles per sample,
 * tile t holding channels t·w .. t·w + w − 1 (its lanes) at S positions
 * `step` floats apart. In nChw16c a tile is a 16-channel block (w = step =
 * 16); in NHWC a run of w = 64, 32 or 16 channels (the most that divides
 * C) of each row of C (step = C), so a tile reads whole cache lines. The
 * tile loops are compiled for each w (BLOCKED_WITH_W). Per channel, values
 * are visited in position order either way, so sums over positions do not
 * depend on the walk or the layout. (GroupNorm and the statistics' sums go
 * block by block, blocked_tile: their double accumulators over data in
 * cache keep to the 16 AVX2 registers that way; measured.) */
enum { BLOCKED_MAX_W = 64 };

typedef struct {
    int tiles, w, step;
    size_t tile_stride; /* floats from one tile of a sample to the next */
} BlockedWalk;

static inline BlockedWalk blocked_walk(int C, int S, int layout)
{
    BlockedWalk k = {blocked_count(C), BLOCK, BLOCK, (size_t)BLOCK * (size_t)S};
    if (layout == BLOCKED_NHWC) {
        k.w = C % 64 == 0 ? 64 : C % 32 == 0 ? 32 : BLOCK;
        k.tiles = C / k.w;
        k.step = C;
        k.tile_stride = (size_t)k.w;
    }
    return k;
}

/* Runs CALL(W) with W the lane count w (16, 32 or 64) as a constant. */
#define BLOCKED_WITH_W(w, CALL)                                                                                \
    do {                                                                                                       \
        if ((w) == 64)                                                                                         \
            CALL(64);                                                                                          \
        else if ((w) == 32)                                                                                    \
            CALL(32);                                                                                          \
        else                                                                                                   \
            CALL(BLOCK);                                                                                       \
    } while (0)

/* Start of tile t of sample n. */
static inline size_t blocked_walk_tile(int C, int S, BlockedWalk k, int n, int t)
{
    return (size_t)n * blocked_sample(C, S) + (size_t)t * k.tile_stride;
}

/* The w lanes of tile t of per-channel array v (channel_lanes). */
static inline void blocked_walk_lanes(float *buf, const float *v, int C, BlockedWalk k, int t)
{
    channel_lanes(buf, v, C, t * k.w, k.w);
}

/* How many real channels tile t has (w except maybe the last nChw16c block). */
static inline int blocked_walk_width(int C, BlockedWalk k, int t) { return channel_run_width(C, t * k.w, k.w); }

/* s1[l] = Σ(t − m[l]) and s2[l] = Σ(t − m[l])² (double) over the S
 * positions of one 16-channel block (positions `step` floats apart: 16 in
 * nChw16c, C in NHWC), lane by lane in position order: the one order
 * every blocked sum over positions uses (BN moments, GN, ESM statistics),
 * whatever the layout or the walk. */
static inline void blocked_tile_sums(const float *t, int S, int step, const double *m, double *s1, double *s2)
{
    for (int l = 0; l < BLOCK; l++)
        s1[l] = s2[l] = 0.0;
    for (int i = 0; i < S; i++)
#pragma omp simd
        for (int l = 0; l < BLOCK; l++) {
            const double d = (double)t[(size_t)i * step + l] - m[l];
            s1[l] += d;
            s2[l] += d * d;
        }
}

/* Conversions; blocked_from_plain writes the padding lanes (zeros). */
void blocked_from_plain(const float *plain, float *blocked, int N, int C, int S, int layout);
void blocked_to_plain(const float *blocked, float *plain, int N, int C, int S, int layout);

/* Per channel c over all samples and positions, in double:
 * sum[c] = Σ(x − center[c]) and sq[c] = Σ(x − center[c])² (center NULL: 0).
 * Each (sample, block) tile's sums go to part (2·N·C doubles) and are added
 * per channel in sample order, so the result does not depend on the
 * thread count. */
void blocked_centered_sums(const float *x, int N, int C, int S, int layout, const double *center, double *part,
                           double *sum, double *sq);
/* total[c] = Σ over samples n of part[n·C + c], in sample order. */
void blocked_sum_over_samples(const double *part, double *total, int N, int C);

/* Conv bias in the blocked layout: out += b[c]; db[c] += sum of dout over
 * samples and positions (double, one fixed order per channel). */
void blocked_add_bias(const float *b, float *out, int N, int C, int S, int layout);
void blocked_bias_grad(const float *dout, float *db, int N, int C, int S, int layout);

/* Copies `count` channels between blocked tensors of one spatial size S:
 * channel dst_first + j·dst_step of dst (Cdst channels) gets channel
 * src_first + j·src_step of src (Csrc channels), for every sample. The
 * other real channels of dst are set to zero when zero_unmapped, else left
 * as they are; dst's padding lanes are set to zero. It works block by
 * block of dst, position by position, so each position reads the few
 * source lines it needs once. Concat, its backward and the channel split
 * are this with different strides. */
void blocked_copy_channels(const float *src, int Csrc, int src_layout, int src_first, int src_step, float *dst,
                           int Cdst, int dst_layout, int dst_first, int dst_step, int count, int zero_unmapped,
                           int N, int S);

#endif
