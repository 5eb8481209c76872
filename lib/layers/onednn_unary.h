/* oneDNN's primitives for the layers with one input, one output and a
 * workspace kept from the forward for the backward: LRN (lrn.h) and max
 * pooling (pool.h), on NCHW or blocked tensors (blocked.h: the layout the
 * model keeps around the layer, one for input and output).
 * - LRN: oneDNN's is ours for odd window sizes; its α is divided by the
 *   window's element count (n across channels, n² within one), so it gets
 *   α·n or α·n². Even sizes stay on the reference (no centred window).
 * - Max pooling: padded positions never win, as ours; ties go to the first
 *   maximum (the tests check it against the reference).
 * Built only with BS_HAVE_ONEDNN; otherwise the create calls give NULL.
 * A call returns 0 on success and ONEDNN_FAILED when oneDNN failed, in
 * which case the caller runs the reference. */
#ifndef BS_ONEDNN_UNARY_H
#define BS_ONEDNN_UNARY_H

#include "conv2d_onednn.h"
#include "lrn.h"
#include "pool.h"

typedef struct OneDnnUnary OneDnnUnary;

/* NULL when oneDNN is not built in, the layer has no oneDNN form, or out
 * of memory. */
OneDnnUnary *onednn_lrn_create(const Lrn *l);
OneDnnUnary *onednn_maxpool_create(const MaxPool2d *p);
void onednn_unary_destroy(OneDnnUnary *u);
/* The layout of the layer's input and output (one for both). */
void onednn_unary_set_layout(OneDnnUnary *u, int blocked);
/* out = layer(in); keeps what the backward needs (oneDNN's workspace). */
int onednn_unary_forward(OneDnnEngine *e, OneDnnUnary *u, const float *in, float *out, int N);
/* din (overwritten) from dout and in, after a forward at the same N. */
int onednn_unary_backward(OneDnnEngine *e, OneDnnUnary *u, const float *in, const float *dout, float *din,
                          int N);

#endif
