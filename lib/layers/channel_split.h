/* One half of ShuffleNetV2's channel_shuffle split (the reference code's
 * reshape(N*C/2, 2, H*W).permute(1, 0, 2)): parity 0 takes the even
 * channels 0, 2, 4, ... and parity 1 the odd ones, each in order, so out
 * has C/2 channels; the _blocked versions do the same on blocked tensors. */
#ifndef BS_CHANNEL_SPLIT_H
#define BS_CHANNEL_SPLIT_H

#include <stddef.h>

/* in: N x C x S, out: N x C/2 x S (C even). */
void channel_split_forward(const float *in, float *out, int N, int C, int S, int parity);
/* Overwrites all of din: dout in the picked channels, 0 in the others (the
 * other half's op adds its part through the model's gradient fork). */
void channel_split_backward(const float *dout, float *din, int N, int C, int S, int parity);

/* Channels first .. first + count − 1 of in (C channels), in order: the
 * halves of IBN-Net's split. The backward writes all of din: dout in those
 * channels, 0 in the others (the other slice adds its part through the
 * model's gradient fork). */
void channel_slice_forward(const float *in, float *out, int N, int C, int S, int first, int count);
void channel_slice_backward(const float *dout, float *din, int N, int C, int S, int first, int count);

/* The same on blocked tensors (blocked.h): in (C channels) in in_layout,
 * out in out_layout; padding lanes are written as zeros. */
void channel_split_forward_blocked(const float *in, float *out, int N, int C, int S, int in_layout,
                                   int out_layout, int parity);
void channel_split_backward_blocked(const float *dout, float *din, int N, int C, int S, int in_layout,
                                    int out_layout, int parity);
void channel_slice_forward_blocked(const float *in, float *out, int N, int C, int S, int in_layout,
                                   int out_layout, int first, int count);
void channel_slice_backward_blocked(const float *dout, float *din, int N, int C, int S, int in_layout,
                                    int out_layout, int first, int count);

#endif
