/* He et al.'s CIFAR "option A" shortcut: spatial subsampling by `stride`
 * and zero-padded channels, split evenly before and after (as
 * F.pad(x[:, :, ::2, ::2], (0,0,0,0, pad, pad))). No parameters. */
#ifndef BS_SHORTCUT_H
#define BS_SHORTCUT_H

typedef struct {
    int in_c, out_c, in_h, in_w, stride, out_h, out_w, pad_front;
} PadShortcut;

void shortcut_init(PadShortcut *s, int in_c, int out_c, int in_h, int in_w, int stride);
void shortcut_forward(const PadShortcut *s, const float *in, float *out, int N);
/* din overwritten. */
void shortcut_backward(const PadShortcut *s, const float *dout, float *din, int N);

#endif
