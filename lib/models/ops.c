/* The built-in op kinds (see ops.h): one entry each, their forward and
 * backward over the model's tensors, parameter init, saved statistics and
 * MACs. The layer math itself lives in lib/layers/. */
#include "ops.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layers/activation.h"
#include "layers/add.h"
#include "layers/blocked.h"
#include "layers/channel_split.h"
#include "layers/concat.h"
#include "layers/relu6.h"
#include "model.h"

float *op_param(const Model *m, size_t off) { return off == SIZE_MAX ? NULL : m->params + off; }
float *op_grad(const Model *m, size_t off) { return off == SIZE_MAX ? NULL : m->grads + off; }

/* ---- convolution ---------------------------------------------------------- */

/* A plain (NCHW) view of tensor t's first N samples for the reference
 * convolution: the data itself, or a converted copy (then `*copy` is set
 * and the caller frees it; NULL when out of memory). Only reached when
 * oneDNN fails on a blocked tensor, so a malloc here costs nothing in
 * normal steps. */
static float *plain_view(const Tensor *t, const float *x, int N, int convert, float **copy)
{
    *copy = NULL;
    if (!t->blocked)
        return (float *)x;
    size_t n = tensor_numel(t) * (size_t)N;
    *copy = malloc(sizeof(float) * (n ? n : 1));
    if (*copy && convert)
        blocked_to_plain(x, *copy, N, t->c, t->h * t->w, t->blocked);
    return *copy;
}

/* Copies a plain result back into blocked tensor t and frees the copy. */
static void plain_done(const Tensor *t, float *x, float *copy, int N)
{
    if (copy && x)
        blocked_from_plain(copy, x, N, t->c, t->h * t->w, t->blocked);
    free(copy);
}

/* Out of memory in the fallback: the op's results become NaN, which the
 * trainer and the evaluation report as a runtime failure naming the layer
 * (Model.exec_failed says why); the library neither prints nor exits. */
static void poison(Model *m, float *x, size_t n)
{
    m->exec_failed = 1;
    for (size_t i = 0; x && i < n; i++)
        x[i] = NAN;
}

/* Plain views of an op's tensors for a reference kernel on tensors of
 * either layout (conv, LRN and max-pool fall back to one when oneDNN
 * refuses a call): forward in and out, backward in, dout and dx (the view
 * of din). ok is 0 after out of memory; the _done calls copy results back,
 * free the copies and poison what the caller names after a failure. */
typedef struct {
    const float *in, *dout;
    float *out, *dx;
    float *copy[3];
    int ok;
} PlainViews;

static void plain_forward_views(const Model *m, const Op *op, int N, PlainViews *v)
{
    const Tensor *ti = &m->tensors[op->in], *to = &m->tensors[op->out];
    memset(v, 0, sizeof *v);
    v->in = plain_view(ti, ti->data, N, 1, &v->copy[0]);
    v->out = plain_view(to, to->data, N, 0, &v->copy[1]);
    v->ok = v->in && v->out;
}

/* After out of memory the op's output becomes NaN. */
static void plain_forward_done(Model *m, const Op *op, int N, PlainViews *v)
{
    const Tensor *to = &m->tensors[op->out];
    if (!v->ok)
        poison(m, to->data, tensor_stride(to) * (size_t)N);
    free(v->copy[0]);
    plain_done(to, v->out ? to->data : NULL, v->copy[1], N);
}

/* din may be NULL (no gradient wanted for the input). */
static void plain_backward_views(const Model *m, const Op *op, float *din, int N, PlainViews *v)
{
    const Tensor *ti = &m->tensors[op->in], *to = &m->tensors[op->out];
    memset(v, 0, sizeof *v);
    v->in = plain_view(ti, ti->data, N, 1, &v->copy[0]);
    v->dout = plain_view(to, to->grad, N, 1, &v->copy[1]);
    v->dx = din ? plain_view(ti, din, N, 0, &v->copy[2]) : NULL;
    v->ok = v->in && v->dout && (v->dx || !din);
}

/* After out of memory bad[0, n) becomes NaN. */
static void plain_backward_done(Model *m, const Op *op, float *din, int N, PlainViews *v, float *bad, size_t n)
{
    if (!v->ok)
        poison(m, bad, n);
    free(v->copy[0]);
    free(v->copy[1]);
    plain_done(&m->tensors[op->in], v->dx ? din : NULL, v->copy[2], N);
}

/* The reference convolution on tensors of either layout. */
static void conv_reference_forward(Model *m, const Op *op, const float *w, const float *b, int N)
{
    PlainViews v;
    plain_forward_views(m, op, N, &v);
    if (v.ok)
        conv2d_forward(&op->u.conv, w, b, v.in, v.out, N, m->ws);
    plain_forward_done(m, op, N, &v);
}

static void conv_reference_backward(Model *m, const Op *op, const float *w, float *din, float *gw,
                                    float *gb, int N)
{
    PlainViews v;
    plain_backward_views(m, op, din, N, &v);
    if (v.ok)
        conv2d_backward(&op->u.conv, w, v.in, v.dout, v.dx, gw, gb, N, m->ws);
    plain_backward_done(m, op, din, N, &v, gw, op->n_w);
}

static void conv_forward(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const Tensor *ti = &m->tensors[op->in];
    Tensor *to = &m->tensors[op->out];
    const float *w = op_param(m, op->w_off), *b = op_param(m, op->b_off);
    /* A oneDNN failure (rare: an unsupported shape) falls back to the
     * reference path for that call. */
    if (!op->dnnl || onednn_conv_forward(m->dnnl, op->dnnl, w, b, ti->data, to->data, N))
        conv_reference_forward(m, op, w, b, N);
}

static void conv_backward(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const Tensor *ti = &m->tensors[op->in], *to = &m->tensors[op->out];
    const float *w = op_param(m, op->w_off);
    float *gw = op_grad(m, op->w_off), *gb = op_grad(m, op->b_off);
    /* A second consumer's gradient: oneDNN adds it in place where it can
     * (the same bits as scratch + op_grad_end's add: one rounding of a + b). */
    float *added = op->dnnl ? op_grad_written(m, op->in) : NULL;
    if (added && !onednn_conv_backward_data_add(m->dnnl, op->dnnl, w, to->grad, added, N)) {
        if (onednn_conv_backward(m->dnnl, op->dnnl, w, ti->data, to->grad, NULL, gw, gb, N))
            conv_reference_backward(m, op, w, NULL, gw, gb, N);
        return;
    }
    float *din = op_grad_begin(m, op->in);
    if (!op->dnnl || onednn_conv_backward(m->dnnl, op->dnnl, w, ti->data, to->grad, din, gw, gb, N))
        conv_reference_backward(m, op, w, din, gw, gb, N);
    op_grad_end(m, op->in, N);
}

static void conv_init(const Op *op, float *w, float *b, float *stats, Rng *rng)
{
    (void)stats;
    const Conv2d *c = &op->u.conv;
    float std = sqrtf(2.0f / (float)(c->kh * c->kw * c->out_c)); /* Kaiming, fan_out */
    for (size_t j = 0; j < op->n_w; j++)
        w[j] = std * rng_normal(rng);
    float bound = 1.0f / sqrtf((float)(c->in_c / c->groups * c->kh * c->kw)); /* PyTorch default: 1/sqrt(fan_in) */
    for (size_t j = 0; j < op->n_b; j++)
        b[j] = bound * (2.0f * rng_uniform(rng) - 1.0f);
}

static long conv_macs(const Op *op) { return conv2d_macs(&op->u.conv); }

static int conv_blocked(const Op *op) { return op->dnnl != NULL; }

static void conv_set_layouts(Op *op, int in_blocked, int out_blocked)
{
    onednn_conv_set_layouts(op->dnnl, in_blocked, out_blocked);
}

static size_t conv_workspace(const Op *op) { return conv2d_workspace(&op->u.conv); }

/* ---- linear ---------------------------------------------------------------- */

static void linear_fwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    linear_forward(&op->u.lin, op_param(m, op->w_off), op_param(m, op->b_off), m->tensors[op->in].data,
                   m->tensors[op->out].data, N);
}

static void linear_bwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    float *din = op_grad_begin(m, op->in);
    linear_backward(&op->u.lin, op_param(m, op->w_off), m->tensors[op->in].data, m->tensors[op->out].grad, din,
                    op_grad(m, op->w_off), op_grad(m, op->b_off), N);
    op_grad_end(m, op->in, N);
}

static void linear_init_params(const Op *op, float *w, float *b, float *stats, Rng *rng)
{
    (void)stats;
    float bound = 1.0f / sqrtf((float)op->u.lin.in_f);
    for (size_t j = 0; j < op->n_w; j++)
        w[j] = bound * (2.0f * rng_uniform(rng) - 1.0f);
    for (size_t j = 0; j < op->n_b; j++)
        b[j] = bound * (2.0f * rng_uniform(rng) - 1.0f);
}

static long linear_macs(const Op *op) { return (long)op->u.lin.in_f * op->u.lin.out_f; }

/* ---- BatchNorm, GroupNorm ------------------------------------------------------ */

static void bn_fwd(Model *m, const Op *op, int N, int train)
{
    const float *w = op_param(m, op->w_off), *b = op_param(m, op->b_off);
    float *rm = m->stats + op->stat_off, *rv = rm + op->u.bn.C;
    const float *x = m->tensors[op->in].data;
    float *y = m->tensors[op->out].data;
    const BatchNorm *bn = &op->u.bn;
    BatchNorm with_residual; /* the residual's buffer is the current plan's (training or inference) */
    if (op->residual >= 0) {
        with_residual = *bn;
        with_residual.residual = m->tensors[op->residual].data;
        bn = &with_residual;
    }
    if (train)
        batchnorm_forward_train(bn, w, b, rm, rv, x, y, op->save_mean, op->save_invstd, N);
    else
        batchnorm_forward_eval(bn, w, b, rm, rv, x, y, N);
}

/* The gradient a norm takes back: its output's, or, where the residual
 * add after it left its backward to the norm (residual_dy), the add's
 * output gradient taken back through the add's activation (act), written
 * once to the residual's buffer (whose first writer this is, by the plan)
 * instead of to both of the add's inputs. A layer that takes that in its
 * own first pass (in_layer) gets the buffer in *residual_grad and the
 * output's gradient as dy; for the others it is made here. */
static const float *norm_dy(Model *m, const Op *op, int act, int in_layer, int N, float **residual_grad)
{
    const Tensor *to = &m->tensors[op->out];
    *residual_grad = NULL;
    if (!op->residual_dy)
        return to->grad;
    float *g = op_grad_begin(m, op->residual);
    if (in_layer && g == m->tensors[op->residual].grad)
        *residual_grad = g;
    else
        add_backward_act(to->data, to->grad, g, NULL, tensor_stride(to) * N, act);
    op_grad_end(m, op->residual, N); /* nothing reads it before the layer has written it */
    return *residual_grad ? to->grad : g;
}

static void bn_bwd(Model *m, const Op *op, int N, int train)
{
    const float *w = op_param(m, op->w_off), *b = op_param(m, op->b_off);
    float *gw = op_grad(m, op->w_off), *gb = op_grad(m, op->b_off);
    const BatchNorm *bn = &op->u.bn;
    float *rg;
    const float *x = m->tensors[op->in].data,
                *dy = norm_dy(m, op, bn->residual_act, batchnorm_takes_residual_grad(bn, train), N, &rg);
    BatchNorm with_grad; /* as bn_fwd */
    if (rg) {
        with_grad = *bn;
        with_grad.residual_grad = rg;
        with_grad.output = m->tensors[op->out].data;
        bn = &with_grad;
    }
    float *din = op_grad_begin(m, op->in); /* after norm_dy: the residual may be x */
    if (!din)
        din = m->scratch; /* norm on the raw input: parameter grads still needed */
    if (train)
        batchnorm_backward_train(bn, w, b, x, op->save_mean, op->save_invstd, dy, din, gw, gb, N);
    else {
        const float *rm = m->stats + op->stat_off;
        batchnorm_backward_eval(bn, w, b, rm, rm + bn->C, x, dy, din, gw, gb, N);
    }
    op_grad_end(m, op->in, N);
}

/* gamma 1, beta 0; BN also running var 1 (running mean stays 0). */
static void norm_init(const Op *op, float *w, float *b, float *stats, Rng *rng)
{
    (void)b;
    (void)rng;
    for (size_t j = 0; j < op->n_w; j++)
        w[j] = 1.0f;
    for (size_t j = 0; stats && j < op->n_w; j++)
        stats[op->n_w + j] = 1.0f;
}

static void bn_fuse_act(Op *op, int act) { op->u.bn.act_after = act; }

static void bn_fuse_residual(Op *op, int residual, int act)
{
    op->residual = residual;
    op->u.bn.residual_act = act;
}

static size_t bn_saved(const Op *op, int max_batch)
{
    (void)max_batch;
    return (size_t)op->u.bn.C;
}

static size_t bn_partial(const Op *op, int max_batch) { return batchnorm_partial_size(op->u.bn.C, max_batch); }

static void bn_set_partial(Op *op, double *partial) { op->u.bn.partial = partial; }

static void bn_set_layouts(Op *op, int in_blocked, int out_blocked)
{
    (void)out_blocked;
    op->u.bn.blocked = in_blocked;
}

/* The blocked BN needs its per-tile partial sums (carved by the memory plan). */
static int bn_writes_blocked(const Op *op) { return op->u.bn.partial != NULL; }

static int always(const Op *op)
{
    (void)op;
    return 1;
}

static void gn_fwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const GroupNorm *gn = &op->u.gn;
    GroupNorm with_residual; /* as bn_fwd */
    if (op->residual >= 0) {
        with_residual = *gn;
        with_residual.residual = m->tensors[op->residual].data;
        gn = &with_residual;
    }
    groupnorm_forward(gn, op_param(m, op->w_off), op_param(m, op->b_off), m->tensors[op->in].data,
                      m->tensors[op->out].data, op->save_mean, op->save_invstd, N);
}

static void gn_bwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const GroupNorm *gn = &op->u.gn;
    float *rg;
    const float *dy = norm_dy(m, op, gn->residual_act, groupnorm_takes_residual_grad(gn), N, &rg);
    GroupNorm with_grad; /* as bn_fwd */
    if (rg) {
        with_grad = *gn;
        with_grad.residual_grad = rg;
        with_grad.output = m->tensors[op->out].data;
        gn = &with_grad;
    }
    float *din = op_grad_begin(m, op->in); /* after norm_dy, as in bn_bwd */
    if (!din)
        din = m->scratch;
    groupnorm_backward(gn, op_param(m, op->w_off), op_param(m, op->b_off), m->tensors[op->in].data,
                       op->save_mean, op->save_invstd, dy, din, op_grad(m, op->w_off),
                       op_grad(m, op->b_off), N);
    op_grad_end(m, op->in, N);
}

static void gn_fuse_act(Op *op, int act) { op->u.gn.act_after = act; }

static void gn_fuse_residual(Op *op, int residual, int act)
{
    op->residual = residual;
    op->u.gn.residual_act = act;
}

static size_t gn_saved(const Op *op, int max_batch) { return (size_t)op->u.gn.G * (size_t)max_batch; }

static size_t gn_partial(const Op *op, int max_batch)
{
    return groupnorm_partial_size(op->u.gn.C, op->u.gn.G, max_batch);
}

static void gn_set_partial(Op *op, double *partial) { op->u.gn.partial = partial; }

static void gn_set_layouts(Op *op, int in_blocked, int out_blocked)
{
    (void)out_blocked;
    op->u.gn.blocked = in_blocked;
}

/* The blocked GroupNorm needs its partial sums (carved by the memory plan). */
static int gn_writes_blocked(const Op *op) { return op->u.gn.partial != NULL; }

/* LRN: oneDNN's primitive where the model made one (odd sizes under the
 * oneDNN backend, either layout), else the reference, which keeps its
 * denominators' bases in save_mean and uses save_invstd as backward
 * scratch, on plain views of blocked tensors. */
static void lrn_reference_forward(Model *m, const Op *op, int N)
{
    PlainViews v;
    plain_forward_views(m, op, N, &v);
    if (v.ok)
        lrn_forward(&op->u.lrn, v.in, v.out, op->save_mean, N);
    plain_forward_done(m, op, N, &v);
}

static void lrn_fwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const Tensor *ti = &m->tensors[op->in];
    if (!op->dnnl_unary || onednn_unary_forward(m->dnnl, op->dnnl_unary, ti->data, m->tensors[op->out].data, N))
        lrn_reference_forward(m, op, N);
}

/* The reference backward; after a oneDNN forward it first recomputes the
 * denominators (the output goes to scratch). */
static void lrn_reference_backward(Model *m, const Op *op, float *din, int N)
{
    PlainViews v;
    plain_backward_views(m, op, din, N, &v);
    if (v.ok) {
        if (op->dnnl_unary)
            lrn_forward(&op->u.lrn, v.in, v.dx, op->save_mean, N); /* dx is overwritten next */
        lrn_backward(&op->u.lrn, v.in, op->save_mean, v.dout, v.dx, op->save_invstd, N);
    }
    plain_backward_done(m, op, din, N, &v, din, tensor_stride(&m->tensors[op->in]) * (size_t)N);
}

static void lrn_bwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    float *din = op_grad_begin(m, op->in);
    if (din && (!op->dnnl_unary || onednn_unary_backward(m->dnnl, op->dnnl_unary, m->tensors[op->in].data,
                                                     m->tensors[op->out].grad, din, N)))
        lrn_reference_backward(m, op, din, N);
    op_grad_end(m, op->in, N);
}

/* LRN and max-pool: blocked where oneDNN runs them. */
static int unary_blocked(const Op *op) { return op->dnnl_unary != NULL; }

static void unary_set_layouts(Op *op, int in_blocked, int out_blocked)
{
    (void)out_blocked; /* one layout: the op keeps it */
    onednn_unary_set_layout(op->dnnl_unary, in_blocked);
}

static size_t lrn_saved(const Op *op, int max_batch)
{
    const Lrn *l = &op->u.lrn;
    return (size_t)l->C * (size_t)l->H * (size_t)l->W * (size_t)max_batch;
}

/* ---- ReLU, pools, add, shortcut ---------------------------------------------------- */

static void relu_fwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const Tensor *ti = &m->tensors[op->in];
    if (!op->fused) /* else the norm before it applied it */
        relu_forward(ti->data, m->tensors[op->out].data, tensor_stride(ti) * N);
}

static void relu_bwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const Tensor *to = &m->tensors[op->out];
    float *din = op_grad_begin(m, op->in);
    if (din && !op->fused) /* else the op before it (in place) takes its gradient through */
        relu_backward(to->data, to->grad, din, tensor_stride(&m->tensors[op->in]) * N);
    op_grad_end(m, op->in, N);
}

/* Max-pool: oneDNN's where the model made one, else the reference on
 * plain views of blocked tensors (as LRN above). */
static void maxpool_fwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const Tensor *ti = &m->tensors[op->in], *to = &m->tensors[op->out];
    if (op->dnnl_unary && !onednn_unary_forward(m->dnnl, op->dnnl_unary, ti->data, to->data, N))
        return;
    PlainViews v;
    plain_forward_views(m, op, N, &v);
    if (v.ok)
        maxpool_forward(&op->u.pool, v.in, v.out, N);
    plain_forward_done(m, op, N, &v);
}

static void maxpool_bwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const Tensor *ti = &m->tensors[op->in], *to = &m->tensors[op->out];
    float *din = op_grad_begin(m, op->in);
    if (din && (!op->dnnl_unary || onednn_unary_backward(m->dnnl, op->dnnl_unary, ti->data, to->grad, din, N))) {
        PlainViews v;
        plain_backward_views(m, op, din, N, &v);
        if (v.ok)
            maxpool_backward(&op->u.pool, v.in, v.dout, v.dx, N);
        plain_backward_done(m, op, din, N, &v, din, tensor_stride(ti) * (size_t)N);
    }
    op_grad_end(m, op->in, N);
}

static void avgpool_fwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const Tensor *ti = &m->tensors[op->in];
    if (ti->blocked)
        avgpool_forward_blocked(ti->data, m->tensors[op->out].data, N, ti->c, ti->h * ti->w, ti->blocked);
    else
        avgpool_forward(ti->data, m->tensors[op->out].data, N, ti->c, ti->h * ti->w);
}

static void avgpool_bwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const Tensor *ti = &m->tensors[op->in];
    float *din = op_grad_begin(m, op->in);
    if (din && ti->blocked)
        avgpool_backward_blocked(m->tensors[op->out].grad, din, N, ti->c, ti->h * ti->w, ti->blocked);
    else if (din)
        avgpool_backward(m->tensors[op->out].grad, din, N, ti->c, ti->h * ti->w);
    op_grad_end(m, op->in, N);
}

static void add_fwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    if (op->fused) /* the norm before it added (memory_plan.c) */
        return;
    const Tensor *ti = &m->tensors[op->in];
    add_forward_act(ti->data, m->tensors[op->in2].data, m->tensors[op->out].data, tensor_stride(ti) * N,
                    op->u.add_act);
}

/* The ReLU after a residual add runs in the add's passes (both of its own
 * are skipped): add_bwd takes the gradient back through it by the output. */
static void add_fuse_act(Op *op, int act) { op->u.add_act = act; }

static void add_bwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    if (op->residual_dy) /* the norm before it does this (norm_dy) */
        return;
    const Tensor *to = &m->tensors[op->out];
    const size_t n = tensor_stride(&m->tensors[op->in]) * N;
    /* Both inputs get the output's gradient (through the fused activation):
     * one pass writing both (in place for the first when the add ran in
     * place), unless both would go through the scratch buffer. */
    float *da = op_grad_begin(m, op->in), *db = NULL;
    const int together = op->in2 != op->in && da != m->scratch;
    if (together)
        db = op_grad_begin(m, op->in2);
    add_backward_act(to->data, to->grad, da, db, n, op->u.add_act);
    op_grad_end(m, op->in, N);
    if (!together)
        add_backward_act(to->data, to->grad, op_grad_begin(m, op->in2), NULL, n, op->u.add_act);
    op_grad_end(m, op->in2, N);
}

static void shortcut_fwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    shortcut_forward(&op->u.sc, m->tensors[op->in].data, m->tensors[op->out].data, N);
}

static void shortcut_bwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    float *din = op_grad_begin(m, op->in);
    if (din)
        shortcut_backward(&op->u.sc, m->tensors[op->out].grad, din, N);
    op_grad_end(m, op->in, N);
}

/* ---- ReLU6, concat, channel split ------------------------------------------------ */

static void relu6_fwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const Tensor *ti = &m->tensors[op->in];
    if (!op->fused) /* else the norm before it applied it */
        relu6_forward(ti->data, m->tensors[op->out].data, tensor_stride(ti) * N);
}

static void relu6_bwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const Tensor *to = &m->tensors[op->out];
    float *din = op_grad_begin(m, op->in);
    if (din && !op->fused) /* as relu_bwd */
        relu6_backward(to->data, to->grad, din, tensor_stride(&m->tensors[op->in]) * N);
    op_grad_end(m, op->in, N);
}

static void concat_fwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const Tensor *a = &m->tensors[op->in], *b = &m->tensors[op->in2], *o = &m->tensors[op->out];
    if (a->blocked) /* the plan keeps a concat's tensors all blocked or all NCHW */
        concat_forward_blocked(a->data, a->c, a->blocked, b->data, b->c, b->blocked, o->data, o->blocked, N,
                               a->h * a->w);
    else
        concat_forward(a->data, tensor_numel(a), b->data, tensor_numel(b), o->data, N);
}

/* One input at a time: op_grad_begin may hand both the same scratch. */
static void concat_bwd_one(Model *m, const Op *op, int which, int N)
{
    const Tensor *a = &m->tensors[op->in], *b = &m->tensors[op->in2];
    const Tensor *o = &m->tensors[op->out];
    const int id = which ? op->in2 : op->in;
    float *d = op_grad_begin(m, id), *da = which ? NULL : d, *db = which ? d : NULL;
    if (a->blocked)
        concat_backward_blocked(o->grad, o->blocked, da, a->c, a->blocked, db, b->c, b->blocked, N, a->h * a->w);
    else
        concat_backward(o->grad, da, tensor_numel(a), db, tensor_numel(b), N);
    op_grad_end(m, id, N);
}

static void concat_bwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    concat_bwd_one(m, op, 0, N);
    concat_bwd_one(m, op, 1, N);
}

static void chsplit_fwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const Tensor *ti = &m->tensors[op->in], *to = &m->tensors[op->out];
    if (ti->blocked)
        channel_split_forward_blocked(ti->data, to->data, N, ti->c, ti->h * ti->w, ti->blocked, to->blocked,
                                      op->u.parity);
    else
        channel_split_forward(ti->data, to->data, N, ti->c, ti->h * ti->w, op->u.parity);
}

static void chsplit_bwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const Tensor *ti = &m->tensors[op->in], *to = &m->tensors[op->out];
    float *din = op_grad_begin(m, op->in);
    if (din && ti->blocked)
        channel_split_backward_blocked(to->grad, din, N, ti->c, ti->h * ti->w, ti->blocked, to->blocked,
                                       op->u.parity);
    else if (din)
        channel_split_backward(to->grad, din, N, ti->c, ti->h * ti->w, op->u.parity);
    op_grad_end(m, op->in, N);
}

static void chslice_fwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const Tensor *ti = &m->tensors[op->in], *to = &m->tensors[op->out];
    if (ti->blocked)
        channel_slice_forward_blocked(ti->data, to->data, N, ti->c, ti->h * ti->w, ti->blocked, to->blocked,
                                      op->u.first, to->c);
    else
        channel_slice_forward(ti->data, to->data, N, ti->c, ti->h * ti->w, op->u.first, to->c);
}

static void chslice_bwd(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const Tensor *ti = &m->tensors[op->in], *to = &m->tensors[op->out];
    float *din = op_grad_begin(m, op->in);
    if (din && ti->blocked)
        channel_slice_backward_blocked(to->grad, din, N, ti->c, ti->h * ti->w, ti->blocked, to->blocked,
                                       op->u.first, to->c);
    else if (din)
        channel_slice_backward(to->grad, din, N, ti->c, ti->h * ti->w, op->u.first, to->c);
    op_grad_end(m, op->in, N);
}

/* ---- the table ------------------------------------------------------------------ */

static const OpType BUILTIN_OPS[OP_N_BUILTIN] = {
    [OP_CONV] = {.name = "conv", .params = OP_PARAMS_DECAYED, .reads_blocked = conv_blocked,
                 .writes_blocked = conv_blocked, .set_layouts = conv_set_layouts, .forward = conv_forward,
                 .backward = conv_backward, .init_params = conv_init, .workspace = conv_workspace,
                 .macs = conv_macs},
    [OP_LINEAR] = {.name = "linear", .params = OP_PARAMS_DECAYED, .forward = linear_fwd, .backward = linear_bwd,
                   .init_params = linear_init_params, .macs = linear_macs},
    [OP_BN] = {.name = "bn", .params = OP_PARAMS_NORM, .fuse_activation = bn_fuse_act,
               .fuse_residual = bn_fuse_residual, .keeps_layout = 1,
               .reads_blocked = always, .writes_blocked = bn_writes_blocked, .set_layouts = bn_set_layouts,
               .forward = bn_fwd, .backward = bn_bwd, .init_params = norm_init, .saved_stats = bn_saved,
               .partial_sums = bn_partial, .set_partial = bn_set_partial},
    [OP_GN] = {.name = "gn", .params = OP_PARAMS_NORM, .fuse_activation = gn_fuse_act,
               .fuse_residual = gn_fuse_residual, .keeps_layout = 1,
               .reads_blocked = always, .writes_blocked = gn_writes_blocked, .set_layouts = gn_set_layouts,
               .forward = gn_fwd, .backward = gn_bwd, .init_params = norm_init, .saved_stats = gn_saved,
               .partial_sums = gn_partial, .set_partial = gn_set_partial},
    [OP_RELU] = {.name = "relu", .in_place = 1, .backward_needs_output = 1, .activation = ACT_RELU, .keeps_layout = 1,
                 .reads_blocked = always, .writes_blocked = always, .forward = relu_fwd, .backward = relu_bwd},
    /* Input and output in one layout. */
    [OP_MAXPOOL] = {.name = "maxpool", .keeps_layout = 1, .reads_blocked = unary_blocked,
                    .writes_blocked = unary_blocked, .set_layouts = unary_set_layouts, .forward = maxpool_fwd,
                    .backward = maxpool_bwd},
    [OP_AVGPOOL] = {.name = "avgpool", .reads_blocked = always, .forward = avgpool_fwd, .backward = avgpool_bwd},
    [OP_ADD] = {.name = "add", .in_place = 1, .keeps_layout = 1, .reads_blocked = always,
                .writes_blocked = always, .forward = add_fwd, .backward = add_bwd, .fuse_activation = add_fuse_act},
    [OP_SHORTCUT] = {.name = "shortcut", .forward = shortcut_fwd, .backward = shortcut_bwd},
    [OP_RELU6] = {.name = "relu6", .in_place = 1, .backward_needs_output = 1, .activation = ACT_RELU6, .keeps_layout = 1,
                  .reads_blocked = always, .writes_blocked = always, .forward = relu6_fwd, .backward = relu6_bwd},
    /* Inputs and output in one layout (concat.h, channel_split.h). */
    [OP_CONCAT] = {.name = "concat", .keeps_layout = 1, .reads_blocked = always, .writes_blocked = always,
                   .forward = concat_fwd, .backward = concat_bwd},
    [OP_LRN] = {.name = "lrn", .keeps_layout = 1, .reads_blocked = unary_blocked, .writes_blocked = unary_blocked,
                .set_layouts = unary_set_layouts, .forward = lrn_fwd, .backward = lrn_bwd, .saved_stats = lrn_saved},
    [OP_CHSLICE] = {.name = "slice", .keeps_layout = 1, .reads_blocked = always, .writes_blocked = always,
                    .forward = chslice_fwd, .backward = chslice_bwd},
    [OP_CHSPLIT] = {.name = "split", .keeps_layout = 1, .reads_blocked = always, .writes_blocked = always,
                    .forward = chsplit_fwd, .backward = chsplit_bwd},
};

#define MAX_REGISTERED 32
static const OpType *registered[MAX_REGISTERED];
static int n_registered;

const OpType *op_type(int kind)
{
    if (kind >= 0 && kind < OP_N_BUILTIN)
        return &BUILTIN_OPS[kind];
    kind -= OP_N_BUILTIN;
    return kind >= 0 && kind < n_registered ? registered[kind] : NULL;
}

int op_type_register(const OpType *t)
{
    if (!t || n_registered == MAX_REGISTERED)
        return -1;
    registered[n_registered] = t;
    return OP_N_BUILTIN + n_registered++;
}
