#include "model.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/blocked.h"
#include "models/memory_plan.h"

void model_init(Model *m) { memset(m, 0, sizeof *m); }

size_t tensor_numel(const Tensor *t) { return (size_t)t->c * t->h * t->w; }

size_t tensor_stride(const Tensor *t)
{
    return t->blocked ? blocked_sample(t->c, t->h * t->w) : tensor_numel(t);
}

size_t tensor_capacity(const Tensor *t)
{
    return blocked_fits(t->c) ? blocked_sample(t->c, t->h * t->w) : tensor_numel(t);
}

void tensor_copy_plain(const Tensor *t, int N, float *out)
{
    if (t->blocked)
        blocked_to_plain(t->data, out, N, t->c, t->h * t->w, t->blocked);
    else
        memcpy(out, t->data, sizeof(float) * tensor_numel(t) * (size_t)N);
}

const char *op_kind_name(OpKind k)
{
    const OpType *t = op_type((int)k);
    return t ? t->name : "?";
}

long op_macs(const Op *op)
{
    const OpType *t = op_type((int)op->kind);
    return t && t->macs ? t->macs(op) : 0;
}

long model_macs(const Model *m)
{
    long macs = 0;
    for (int i = 0; i < m->n_ops; i++)
        macs += op_macs(&m->ops[i]);
    return macs;
}

/* Whole-tensor passes a norm's training step makes over memory: BN with
 * batch statistics needs a read for them before the read + write that
 * normalizes, and backward a read of dy and x (its two sums) before the
 * reads of both and the write of dx (3 + 5); GN's statistics are per
 * sample, whose group fits in cache, so the second read of each pass is
 * not memory traffic (2 + 3). A fused residual add reads the residual
 * forward (+1); its backward, where the norm takes it too, writes the
 * residual's gradient (+1) and, with an activation after the add, reads
 * the output for the mask (+1). */
static int norm_floor_passes(const Op *op)
{
    int passes;
    if (op->kind == OP_BN)
        passes = 3 + 5;
    else if (op->kind == OP_GN)
        passes = 2 + 3;
    else
        return 0;
    if (op->residual >= 0) {
        passes += 1;
        if (op->residual_dy) /* the add's backward too */
            passes += 1 + ((op->kind == OP_BN ? op->u.bn.residual_act : op->u.gn.residual_act) != 0);
    }
    return passes;
}

double op_norm_floor_bytes(const Model *m, int i, int N)
{
    const Op *op = &m->ops[i];
    return norm_floor_passes(op) * (double)tensor_numel(&m->tensors[op->in]) * sizeof(float) * N;
}

double model_norm_floor_bytes(const Model *m, int N)
{
    double bytes = 0;
    for (int i = 0; i < m->n_ops; i++)
        bytes += op_norm_floor_bytes(m, i, N);
    return bytes;
}

static int grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 1;
    int ncap = *cap ? *cap * 2 : 32;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return 0;
    *arr = p;
    *cap = ncap;
    return 1;
}

static int new_tensor(Model *m, int c, int h, int w)
{
    if (m->build_failed ||
        !grow((void **)&m->tensors, &m->cap_tensors, m->n_tensors + 1, sizeof(Tensor))) {
        m->build_failed = 1;
        return -1;
    }
    Tensor *t = &m->tensors[m->n_tensors];
    memset(t, 0, sizeof *t);
    t->c = c;
    t->h = h;
    t->w = w;
    return m->n_tensors++;
}

/* Appends an op reading tensor `in` and returns it, or NULL on failure. */
static Op *new_op(Model *m, OpKind kind, const char *name, int in)
{
    if (m->build_failed || in < 0 || in >= m->n_tensors ||
        !grow((void **)&m->ops, &m->cap_ops, m->n_ops + 1, sizeof(Op))) {
        m->build_failed = 1;
        return NULL;
    }
    Op *op = &m->ops[m->n_ops++];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    snprintf(op->name, sizeof op->name, "%s", name ? name : "");
    op->in = in;
    op->in2 = -1;
    op->residual = -1;
    op->w_off = op->b_off = op->stat_off = SIZE_MAX;
    m->tensors[in].consumers++;
    return op;
}

/* Creates the op's output tensor; returns its id. */
static int finish_op(Model *m, Op *op, int c, int h, int w)
{
    if (!op)
        return -1;
    op->out = new_tensor(m, c, h, w);
    return op->out;
}

int model_input(Model *m, int c, int h, int w) { return new_tensor(m, c, h, w); }

int model_add_op(Model *m, int kind, const char *name, int in, int in2, int c, int h, int w, size_t n_w,
                 size_t n_b)
{
    if (!op_type(kind)) {
        m->build_failed = 1;
        return -1;
    }
    Op *op = new_op(m, (OpKind)kind, name, in);
    if (!op)
        return -1;
    if (in2 >= 0) {
        if (in2 >= m->n_tensors) {
            m->build_failed = 1;
            return -1;
        }
        op->in2 = in2;
        m->tensors[in2].consumers++;
    }
    op->n_w = n_w;
    op->n_b = n_b;
    return finish_op(m, op, c, h, w);
}

/* Every convolution builder: a kh x kw kernel, per-axis padding, groups. */
static int add_conv(Model *m, const char *name, int in, int out_c, int kh, int kw, int stride, int pad_h, int pad_w,
                    int groups, int bias)
{
    Op *op = new_op(m, OP_CONV, name, in);
    if (!op)
        return -1;
    const Tensor *t = &m->tensors[in];
    conv2d_init_rect(&op->u.conv, t->c, out_c, kh, kw, stride, pad_h, pad_w, t->h, t->w, bias);
    if (conv2d_set_groups(&op->u.conv, groups) != 0) {
        m->build_failed = 1;
        return -1;
    }
    op->n_w = conv2d_num_weights(&op->u.conv);
    op->n_b = bias ? (size_t)out_c : 0;
    return finish_op(m, op, out_c, op->u.conv.out_h, op->u.conv.out_w);
}

int model_conv(Model *m, const char *name, int in, int out_c, int k, int stride, int pad, int bias)
{
    return add_conv(m, name, in, out_c, k, k, stride, pad, pad, 1, bias);
}

int model_conv_rect(Model *m, const char *name, int in, int out_c, int kh, int kw, int stride, int pad_h, int pad_w,
                    int bias)
{
    return add_conv(m, name, in, out_c, kh, kw, stride, pad_h, pad_w, 1, bias);
}

int model_conv_grouped(Model *m, const char *name, int in, int out_c, int k, int stride, int pad, int groups,
                       int bias)
{
    return add_conv(m, name, in, out_c, k, k, stride, pad, pad, groups, bias);
}

int model_linear(Model *m, const char *name, int in, int out_f, int bias)
{
    Op *op = new_op(m, OP_LINEAR, name, in);
    if (!op)
        return -1;
    linear_init(&op->u.lin, (int)tensor_numel(&m->tensors[in]), out_f, bias);
    op->n_w = (size_t)out_f * op->u.lin.in_f;
    op->n_b = bias ? (size_t)out_f : 0;
    return finish_op(m, op, out_f, 1, 1);
}

int model_bn(Model *m, const char *name, int in, float eps, float momentum)
{
    Op *op = new_op(m, OP_BN, name, in);
    if (!op)
        return -1;
    const Tensor *t = &m->tensors[in];
    batchnorm_init(&op->u.bn, t->c, t->h * t->w, eps, momentum);
    op->n_w = op->n_b = (size_t)t->c;
    op->stat_off = m->n_stats;
    m->n_stats += 2 * (size_t)t->c;
    return finish_op(m, op, t->c, t->h, t->w);
}

int model_gn(Model *m, const char *name, int in, int groups, float eps)
{
    Op *op = new_op(m, OP_GN, name, in);
    if (!op)
        return -1;
    const Tensor *t = &m->tensors[in];
    groupnorm_init(&op->u.gn, t->c, groups, t->h * t->w, eps);
    op->n_w = op->n_b = (size_t)t->c;
    return finish_op(m, op, t->c, t->h, t->w);
}

int model_lrn(Model *m, const char *name, int in, LrnMode mode, int size, float alpha, float beta, float k)
{
    Op *op = new_op(m, OP_LRN, name, in);
    if (!op)
        return -1;
    const Tensor *t = &m->tensors[in];
    lrn_init(&op->u.lrn, mode, size, alpha, beta, k, t->c, t->h, t->w);
    return finish_op(m, op, t->c, t->h, t->w);
}

int model_relu(Model *m, int in)
{
    Op *op = new_op(m, OP_RELU, "relu", in);
    if (!op)
        return -1;
    const Tensor *t = &m->tensors[in];
    return finish_op(m, op, t->c, t->h, t->w);
}

int model_relu6(Model *m, int in)
{
    Op *op = new_op(m, OP_RELU6, "relu6", in);
    if (!op)
        return -1;
    const Tensor *t = &m->tensors[in];
    return finish_op(m, op, t->c, t->h, t->w);
}

int model_concat(Model *m, int a, int b)
{
    if (a < 0 || b < 0 || b >= m->n_tensors || a >= m->n_tensors || m->tensors[a].h != m->tensors[b].h ||
        m->tensors[a].w != m->tensors[b].w) {
        m->build_failed = 1;
        return -1;
    }
    const Tensor *ta = &m->tensors[a];
    return model_add_op(m, OP_CONCAT, "concat", a, b, ta->c + m->tensors[b].c, ta->h, ta->w, 0, 0);
}

int model_channel_split(Model *m, int in, int parity)
{
    if (in < 0 || in >= m->n_tensors || m->tensors[in].c % 2 != 0) {
        m->build_failed = 1;
        return -1;
    }
    const Tensor *t = &m->tensors[in];
    int y = model_add_op(m, OP_CHSPLIT, parity ? "split.odd" : "split.even", in, -1, t->c / 2, t->h, t->w, 0, 0);
    if (y >= 0)
        m->ops[m->n_ops - 1].u.parity = parity;
    return y;
}

int model_channel_slice(Model *m, int in, int first, int count)
{
    if (in < 0 || in >= m->n_tensors || first < 0 || count < 1 || first + count > m->tensors[in].c) {
        m->build_failed = 1;
        return -1;
    }
    const Tensor *t = &m->tensors[in];
    int y = model_add_op(m, OP_CHSLICE, "slice", in, -1, count, t->h, t->w, 0, 0);
    if (y >= 0)
        m->ops[m->n_ops - 1].u.first = first;
    return y;
}

int model_maxpool_padded(Model *m, int in, int k, int stride, int pad)
{
    if (pad < 0 || pad >= k) { /* a window must hold a real position */
        m->build_failed = 1;
        return -1;
    }
    Op *op = new_op(m, OP_MAXPOOL, "maxpool", in);
    if (!op)
        return -1;
    const Tensor *t = &m->tensors[in];
    maxpool_init_padded(&op->u.pool, t->c, t->h, t->w, k, stride, pad);
    return finish_op(m, op, t->c, op->u.pool.out_h, op->u.pool.out_w);
}

int model_maxpool(Model *m, int in, int k, int stride) { return model_maxpool_padded(m, in, k, stride, 0); }

int model_avgpool(Model *m, int in)
{
    Op *op = new_op(m, OP_AVGPOOL, "avgpool", in);
    if (!op)
        return -1;
    return finish_op(m, op, m->tensors[in].c, 1, 1);
}

int model_add(Model *m, int a, int b)
{
    Op *op = new_op(m, OP_ADD, "add", a);
    if (!op)
        return -1;
    if (b < 0 || b >= m->n_tensors || tensor_numel(&m->tensors[a]) != tensor_numel(&m->tensors[b])) {
        m->build_failed = 1;
        return -1;
    }
    op->in2 = b;
    m->tensors[b].consumers++;
    const Tensor *t = &m->tensors[a];
    return finish_op(m, op, t->c, t->h, t->w);
}

int model_shortcut(Model *m, int in, int out_c, int stride)
{
    Op *op = new_op(m, OP_SHORTCUT, "shortcut", in);
    if (!op)
        return -1;
    const Tensor *t = &m->tensors[in];
    shortcut_init(&op->u.sc, t->c, out_c, t->h, t->w, stride);
    return finish_op(m, op, out_c, op->u.sc.out_h, op->u.sc.out_w);
}

/* Weights first so weight decay can be applied to one leading range. */
static void assign_param_offsets(Model *m)
{
    size_t off = 0;
    for (int i = 0; i < m->n_ops; i++)
        if (op_type(m->ops[i].kind)->params == OP_PARAMS_DECAYED) {
            m->ops[i].w_off = off;
            off += m->ops[i].n_w;
        }
    m->n_decay = off;
    for (int i = 0; i < m->n_ops; i++) {
        Op *op = &m->ops[i];
        OpParamGroup g = op_type(op->kind)->params;
        if (g == OP_PARAMS_NORM || (g == OP_PARAMS_NONE && op->n_w)) {
            op->w_off = off;
            off += op->n_w;
        }
        if (op->n_b) {
            op->b_off = off;
            off += op->n_b;
        }
    }
    m->n_params = off;
}

/* Each op's own init, in op order (the RNG stream is consumed in that order). */
static void init_params(Model *m, Rng *rng)
{
    for (int i = 0; i < m->n_ops; i++) {
        const Op *op = &m->ops[i];
        const OpType *t = op_type(op->kind);
        if (t->init_params)
            t->init_params(op, op_param(m, op->w_off), op_param(m, op->b_off),
                           op->stat_off != SIZE_MAX ? m->stats + op->stat_off : NULL, rng);
    }
}

int model_finish(Model *m, int output, int max_batch, Rng *init_rng, BsError *err)
{
    if (m->build_failed || output < 0 || output >= m->n_tensors || max_batch < 1)
        return bs_fail(err, BS_ERR_RUNTIME, "model construction failed (out of memory or bad wiring)");
    m->output = output;
    m->max_batch = max_batch;
    assign_param_offsets(m);
    m->params = bs_alloc(sizeof(float) * (m->n_params ? m->n_params : 1), err);
    m->grads = bs_alloc(sizeof(float) * (m->n_params ? m->n_params : 1), err);
    m->stats = bs_alloc(sizeof(float) * (m->n_stats ? m->n_stats : 1), err);
    if (!m->params || !m->grads || !m->stats)
        return err->code;
    m->arena = (Arena){0};
    memory_plan_carve(m); /* measure */
    if (arena_reserve(&m->arena, m->arena.used, err) != BS_OK)
        return err->code;
    memory_plan_carve(m);
    init_params(m, init_rng);
    return model_set_conv_backend(m, conv_backend_default(), err);
}

/* The backend model_finish picks; cmd/ sets it from BNSHIFT_CONV. */
static ConvBackend default_backend = CONV_ONEDNN;

int conv_backend_parse(const char *name, ConvBackend *b, BsError *err)
{
    *b = onednn_available() ? CONV_ONEDNN : CONV_IM2COL;
    if (!name || !*name)
        return BS_OK;
    if (!strcmp(name, "im2col"))
        *b = CONV_IM2COL;
    else if (!strcmp(name, "onednn") && onednn_available())
        *b = CONV_ONEDNN;
    else if (!strcmp(name, "onednn"))
        return bs_fail(err, BS_ERR_USER, "BNSHIFT_CONV=onednn: this build has no oneDNN backend (build with make BACKEND=onednn)");
    else
        return bs_fail(err, BS_ERR_USER, "BNSHIFT_CONV='%s': expected im2col or onednn", name);
    return BS_OK;
}

void conv_backend_set_default(ConvBackend b) { default_backend = b; }

ConvBackend conv_backend_default(void)
{
    return default_backend == CONV_ONEDNN && !onednn_available() ? CONV_IM2COL : default_backend;
}

const char *conv_backend_name(ConvBackend b) { return b == CONV_ONEDNN ? "onednn" : "im2col+openblas"; }

static void release_onednn(Model *m)
{
    for (int i = 0; i < m->n_ops; i++) {
        onednn_conv_destroy(m->ops[i].dnnl);
        onednn_unary_destroy(m->ops[i].dnnl_unary);
        m->ops[i].dnnl = NULL;
        m->ops[i].dnnl_unary = NULL;
    }
    onednn_engine_destroy(m->dnnl);
    m->dnnl = NULL;
}

int model_set_conv_backend(Model *m, ConvBackend b, BsError *err)
{
    release_onednn(m);
    m->conv_backend = CONV_IM2COL;
    model_plan_layouts(m);
    if (b == CONV_IM2COL)
        return BS_OK;
    if (!onednn_available())
        return bs_fail(err, BS_ERR_USER, "the oneDNN convolution backend is not built in (make BACKEND=onednn)");
    m->dnnl = onednn_engine_create();
    if (!m->dnnl)
        return bs_fail(err, BS_ERR_RUNTIME, "oneDNN: cannot create a CPU engine");
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].kind == OP_CONV && !(m->ops[i].dnnl = onednn_conv_create(&m->ops[i].u.conv))) {
            release_onednn(m);
            return bs_fail(err, BS_ERR_RUNTIME, "out of memory");
        } else if (m->ops[i].kind == OP_LRN) { /* NULL: the reference */
            m->ops[i].dnnl_unary = onednn_lrn_create(&m->ops[i].u.lrn);
        } else if (m->ops[i].kind == OP_MAXPOOL) {
            m->ops[i].dnnl_unary = onednn_maxpool_create(&m->ops[i].u.pool);
        }
    m->conv_backend = CONV_ONEDNN;
    model_plan_layouts(m);
    return BS_OK;
}

void model_free(Model *m)
{
    release_onednn(m);
    memory_plan_inference_reset(m);
    free(m->ops);
    free(m->tensors);
    bs_free(m->params);
    bs_free(m->grads);
    bs_free(m->stats);
    arena_release(&m->arena);
    model_init(m);
}

void model_set_bn_momentum(Model *m, float momentum)
{
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].kind == OP_BN)
            m->ops[i].u.bn.momentum = momentum;
}

void model_set_bn_comm(Model *m, const Comm *comm)
{
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].kind == OP_BN)
            m->ops[i].u.bn.comm = comm;
}
