/* 2-D convolution through oneDNN (libdnnl, C API): the fast backend. Same
 * semantics as conv2d.h (OIHW weights, din overwritten, dw/db accumulated);
 * activations are NCHW, or blocked (nChw16c or NHWC, blocked.h) where the
 * model keeps them so (onednn_conv_set_layouts). oneDNN works in its own layouts internally and
 * any reorders to and from ours happen here.
 * Primitives are made lazily for each batch size a layer meets (a few are
 * cached), so steady-state steps allocate nothing.
 *
 * Built only with `make BACKEND=onednn` (BS_HAVE_ONEDNN); otherwise
 * onednn_available() is 0 and the functions do nothing. Any oneDNN failure
 * makes a call return 0 and the caller falls back to the reference path. */
#ifndef BN_CONV2D_ONEDNN_H
#define BN_CONV2D_ONEDNN_H

#include "conv2d.h"

typedef struct OneDnnEngine OneDnnEngine; /* engine, stream, shared scratch */
typedef struct OneDnnConv OneDnnConv;     /* one layer's primitives */

int onednn_available(void);
/* oneDNN's version, e.g. "2.6.3", or "" when not built in. */
const char *onednn_version(void);

OneDnnEngine *onednn_engine_create(void);
void onednn_engine_destroy(OneDnnEngine *e);
/* frozen 1 starts a forward-only pass (memory_plan_inference_begin): the
 * weights do not change until frozen 0 ends it, so each layer converts
 * them to its primitive's layout once per pass instead of once per call. */
void onednn_engine_freeze_weights(OneDnnEngine *e, int frozen);
OneDnnConv *onednn_conv_create(const Conv2d *c);
void onednn_conv_destroy(OneDnnConv *oc);

/* Return 0 on success, ONEDNN_FAILED if oneDNN failed (nothing useful was
 * written: the caller falls back to the reference convolution). */
#define ONEDNN_FAILED 1
int onednn_conv_forward(OneDnnEngine *e, OneDnnConv *oc, const float *w, const float *b,
                        const float *in, float *out, int N);
int onednn_conv_backward(OneDnnEngine *e, OneDnnConv *oc, const float *w, const float *in,
                         const float *dout, float *din, float *dw, float *db, int N);
/* din += the input's gradient, in one pass (a sum post-op on the layer's
 * backward data), where the layer's backward data runs as a forward
 * brgemm convolution writing our layout directly; ONEDNN_FAILED, with din
 * untouched, anywhere else. For a tensor with several consumers: it saves
 * the write to scratch and the add's re-read that op_grad_end would do. */
int onednn_conv_backward_data_add(OneDnnEngine *e, OneDnnConv *oc, const float *w, const float *dout, float *din,
                                  int N);
/* Whether onednn_conv_backward_data_add may run (default 1); tests turn it
 * off to compare with the scratch-and-add path. */
void onednn_conv_allow_data_add(int allow);
/* The layouts of the layer's input and output tensors: 0 (NCHW, the
 * default) or a blocked one (blocked.h). Drops the cached plans. */
void onednn_conv_set_layouts(OneDnnConv *oc, int src_blocked, int dst_blocked);
/* The implementation oneDNN chose for the forward pass at batch N, e.g.
 * "jit:avx512_core" (for benchmarks); "" if none is made yet. */
const char *onednn_conv_impl(const OneDnnConv *oc);

#endif
