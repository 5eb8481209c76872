#include "model.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/activation.h"
#include "layers/add.h"
#include "layers/blocked.h"
#include "layers/softmax_xent.h"

void model_init(Model *m) { memset(m, 0, sizeof *m); }

size_t tensor_numel(const Tensor *t) { return (size_t)t->c * t->h * t->w; }

void tensor_copy_plain(const Tensor *t, int N, float *out)
{
    if (t->blocked)
        blocked_to_plain(t->data, out, N, t->c, t->h * t->w);
    else
        memcpy(out, t->data, sizeof(float) * tensor_numel(t) * (size_t)N);
}

const char *op_kind_name(OpKind k)
{
    static const char *names[] = {"conv", "linear", "bn", "gn", "relu", "maxpool", "avgpool", "add", "shortcut"};
    return names[k];
}

long op_macs(const Op *op)
{
    if (op->kind == OP_CONV)
        return conv2d_macs(&op->u.conv);
    if (op->kind == OP_LINEAR)
        return (long)op->u.lin.in_f * op->u.lin.out_f;
    return 0;
}

long model_macs(const Model *m)
{
    long macs = 0;
    for (int i = 0; i < m->n_ops; i++)
        macs += op_macs(&m->ops[i]);
    return macs;
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

int model_conv(Model *m, const char *name, int in, int out_c, int k, int stride, int pad, int bias)
{
    Op *op = new_op(m, OP_CONV, name, in);
    if (!op)
        return -1;
    const Tensor *t = &m->tensors[in];
    conv2d_init(&op->u.conv, t->c, out_c, k, stride, pad, t->h, t->w, bias);
    op->n_w = conv2d_num_weights(&op->u.conv);
    op->n_b = bias ? (size_t)out_c : 0;
    return finish_op(m, op, out_c, op->u.conv.out_h, op->u.conv.out_w);
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

int model_relu(Model *m, int in)
{
    Op *op = new_op(m, OP_RELU, "relu", in);
    if (!op)
        return -1;
    const Tensor *t = &m->tensors[in];
    return finish_op(m, op, t->c, t->h, t->w);
}

int model_maxpool(Model *m, int in, int k, int stride)
{
    Op *op = new_op(m, OP_MAXPOOL, "maxpool", in);
    if (!op)
        return -1;
    const Tensor *t = &m->tensors[in];
    maxpool_init(&op->u.pool, t->c, t->h, t->w, k, stride);
    return finish_op(m, op, t->c, op->u.pool.out_h, op->u.pool.out_w);
}

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
        if (m->ops[i].kind == OP_CONV || m->ops[i].kind == OP_LINEAR) {
            m->ops[i].w_off = off;
            off += m->ops[i].n_w;
        }
    m->n_decay = off;
    for (int i = 0; i < m->n_ops; i++) {
        Op *op = &m->ops[i];
        if (op->kind == OP_BN || op->kind == OP_GN) {
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

/* Carves every per-batch buffer out of the arena (or measures, when the
 * arena has no base yet). */
/* A ReLU or a residual add may overwrite its (first) input when nothing
 * else reads that tensor and the op that made it does not need its own
 * output for backward (only ReLU does). The gradient then aliases the
 * input's gradient too (both backwards work element by element in place).
 * Saves one activation and one gradient buffer per op. */
static int in_place(const Model *m, const Op *op, const Op *producer)
{
    return (op->kind == OP_RELU || op->kind == OP_ADD) && op->in != 0 && producer &&
           producer->kind != OP_RELU && m->tensors[op->in].consumers == 1;
}

static void carve_activations(Model *m)
{
    size_t ws = 0, biggest = 0;
    /* alias[t]: the tensor whose buffers t shares, or -1. Tensors are made
     * in topological order, so the source is always placed first. Without
     * memory for the table every tensor simply gets its own buffers. */
    int *alias = malloc(sizeof(int) * (size_t)m->n_tensors);
    for (int i = 0; alias && i < m->n_tensors; i++)
        alias[i] = -1;
    for (int i = 0; alias && i < m->n_ops; i++) {
        Op *op = &m->ops[i], *producer = NULL;
        for (int j = i - 1; j >= 0 && !producer; j--)
            if (m->ops[j].out == op->in)
                producer = &m->ops[j];
        if (in_place(m, op, producer)) {
            alias[op->out] = op->in;
            /* BN or GN -> in-place ReLU: the norm's forward applies the ReLU. */
            op->fused = op->kind == OP_RELU && (producer->kind == OP_BN || producer->kind == OP_GN);
            if (op->fused && producer->kind == OP_BN)
                producer->u.bn.relu_after = 1;
            else if (op->fused)
                producer->u.gn.relu_after = 1;
        }
    }
    for (int i = 0; i < m->n_tensors; i++) {
        Tensor *t = &m->tensors[i];
        size_t n = tensor_numel(t) * (size_t)m->max_batch;
        if (n > biggest)
            biggest = n;
        if (alias && alias[i] >= 0) {
            t->data = m->tensors[alias[i]].data;
            t->grad = m->tensors[alias[i]].grad;
            continue;
        }
        t->data = arena_floats(&m->arena, n);
        t->grad = i == 0 ? NULL : arena_floats(&m->arena, n);
    }
    free(alias);
    size_t partial = 0;
    for (int i = 0; i < m->n_ops; i++) {
        const Op *op = &m->ops[i];
        if (op->kind == OP_BN && batchnorm_partial_size(op->u.bn.C, m->max_batch) > partial)
            partial = batchnorm_partial_size(op->u.bn.C, m->max_batch);
    }
    m->bn_partial = partial ? arena_alloc(&m->arena, sizeof(double) * partial) : NULL;
    for (int i = 0; i < m->n_ops; i++) {
        Op *op = &m->ops[i];
        if (op->kind == OP_BN)
            op->u.bn.partial = m->bn_partial;
        if (op->kind == OP_CONV && conv2d_workspace(&op->u.conv) > ws)
            ws = conv2d_workspace(&op->u.conv);
        size_t nstat = op->kind == OP_BN   ? (size_t)op->u.bn.C
                       : op->kind == OP_GN ? (size_t)op->u.gn.G * m->max_batch
                                           : 0;
        if (nstat) {
            op->save_mean = arena_floats(&m->arena, nstat);
            op->save_invstd = arena_floats(&m->arena, nstat);
        }
    }
    m->ws = arena_floats(&m->arena, ws ? ws : 1);
    m->grad_written = arena_alloc(&m->arena, (size_t)m->n_tensors);
    m->scratch = arena_floats(&m->arena, biggest);
}

static void init_params(Model *m, Rng *rng)
{
    for (int i = 0; i < m->n_ops; i++) {
        const Op *op = &m->ops[i];
        float *w = op->w_off != SIZE_MAX ? m->params + op->w_off : NULL;
        float *b = op->b_off != SIZE_MAX ? m->params + op->b_off : NULL;
        if (op->kind == OP_CONV) {
            const Conv2d *c = &op->u.conv;
            float std = sqrtf(2.0f / (float)(c->k * c->k * c->out_c)); /* Kaiming, fan_out */
            for (size_t j = 0; j < op->n_w; j++)
                w[j] = std * rng_normal(rng);
            float bound = 1.0f / sqrtf((float)(c->in_c * c->k * c->k)); /* PyTorch default */
            for (size_t j = 0; j < op->n_b; j++)
                b[j] = bound * (2.0f * rng_uniform(rng) - 1.0f);
        } else if (op->kind == OP_LINEAR) {
            float bound = 1.0f / sqrtf((float)op->u.lin.in_f);
            for (size_t j = 0; j < op->n_w; j++)
                w[j] = bound * (2.0f * rng_uniform(rng) - 1.0f);
            for (size_t j = 0; j < op->n_b; j++)
                b[j] = bound * (2.0f * rng_uniform(rng) - 1.0f);
        } else if (op->kind == OP_BN || op->kind == OP_GN) {
            for (size_t j = 0; j < op->n_w; j++)
                w[j] = 1.0f; /* beta stays 0 */
            if (op->kind == OP_BN)
                for (size_t j = 0; j < op->n_w; j++)
                    m->stats[op->stat_off + op->n_w + j] = 1.0f; /* running var */
        }
    }
}

int model_finish(Model *m, int output, int max_batch, Rng *init_rng, BnError *err)
{
    if (m->build_failed || output < 0 || output >= m->n_tensors || max_batch < 1)
        return bn_fail(err, BN_ERR_RUNTIME, "model construction failed (out of memory or bad wiring)");
    m->output = output;
    m->max_batch = max_batch;
    assign_param_offsets(m);
    m->params = bn_alloc(sizeof(float) * (m->n_params ? m->n_params : 1), err);
    m->grads = bn_alloc(sizeof(float) * (m->n_params ? m->n_params : 1), err);
    m->stats = bn_alloc(sizeof(float) * (m->n_stats ? m->n_stats : 1), err);
    if (!m->params || !m->grads || !m->stats)
        return err->code;
    m->arena = (Arena){0};
    carve_activations(m); /* measure */
    if (arena_reserve(&m->arena, m->arena.used, err) != BN_OK)
        return err->code;
    carve_activations(m);
    init_params(m, init_rng);
    ConvBackend b;
    if (conv_backend_default(&b, err) != BN_OK)
        return err->code;
    return model_set_conv_backend(m, b, err);
}

int conv_backend_default(ConvBackend *b, BnError *err)
{
    const char *env = getenv("BNSHIFT_CONV");
    *b = onednn_available() ? CONV_ONEDNN : CONV_IM2COL;
    if (!env || !*env)
        return BN_OK;
    if (!strcmp(env, "im2col"))
        *b = CONV_IM2COL;
    else if (!strcmp(env, "onednn") && onednn_available())
        *b = CONV_ONEDNN;
    else if (!strcmp(env, "onednn"))
        return bn_fail(err, BN_ERR_USER, "BNSHIFT_CONV=onednn: this build has no oneDNN backend (build with make BACKEND=onednn)");
    else
        return bn_fail(err, BN_ERR_USER, "BNSHIFT_CONV='%s': expected im2col or onednn", env);
    return BN_OK;
}

const char *conv_backend_name(ConvBackend b) { return b == CONV_ONEDNN ? "onednn" : "im2col+openblas"; }

static void release_onednn(Model *m)
{
    for (int i = 0; i < m->n_ops; i++) {
        onednn_conv_destroy(m->ops[i].dnnl);
        m->ops[i].dnnl = NULL;
    }
    onednn_engine_destroy(m->dnnl);
    m->dnnl = NULL;
}

int model_set_conv_backend(Model *m, ConvBackend b, BnError *err)
{
    release_onednn(m);
    m->conv_backend = CONV_IM2COL;
    model_plan_layouts(m);
    if (b == CONV_IM2COL)
        return BN_OK;
    if (!onednn_available())
        return bn_fail(err, BN_ERR_USER, "the oneDNN convolution backend is not built in (make BACKEND=onednn)");
    m->dnnl = onednn_engine_create();
    if (!m->dnnl)
        return bn_fail(err, BN_ERR_RUNTIME, "oneDNN: cannot create a CPU engine");
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].kind == OP_CONV && !(m->ops[i].dnnl = onednn_conv_create(&m->ops[i].u.conv))) {
            release_onednn(m);
            return bn_fail(err, BN_ERR_RUNTIME, "out of memory");
        }
    m->conv_backend = CONV_ONEDNN;
    model_plan_layouts(m);
    return BN_OK;
}

void model_free(Model *m)
{
    release_onednn(m);
    free(m->ops);
    free(m->tensors);
    bn_free(m->params);
    bn_free(m->grads);
    bn_free(m->stats);
    arena_release(&m->arena);
    model_init(m);
}

void model_zero_grad(Model *m) { memset(m->grads, 0, sizeof(float) * m->n_params); }

static float *param(const Model *m, size_t off) { return off == SIZE_MAX ? NULL : m->params + off; }
static float *grad(const Model *m, size_t off) { return off == SIZE_MAX ? NULL : m->grads + off; }

/* A plain (NCHW) view of tensor t's first N samples for the reference
 * convolution: the data itself, or a converted copy (then `*copy` is set
 * and the caller frees it). Only reached when oneDNN fails on a blocked
 * tensor, so a malloc here costs nothing in normal steps. */
static float *plain_view(const Tensor *t, const float *x, int N, int convert, float **copy)
{
    *copy = NULL;
    if (!t->blocked)
        return (float *)x;
    size_t n = tensor_numel(t) * (size_t)N;
    *copy = malloc(sizeof(float) * (n ? n : 1));
    if (!*copy) {
        fprintf(stderr, "bnshift: out of memory converting a tensor of %zu floats\n", n);
        exit(BN_ERR_RUNTIME);
    }
    if (convert)
        blocked_to_plain(x, *copy, N, t->c, t->h * t->w);
    return *copy;
}

/* Copies a plain result back into blocked tensor t and frees the copy. */
static void plain_done(const Tensor *t, float *x, float *copy, int N)
{
    if (copy && x)
        blocked_from_plain(copy, x, N, t->c, t->h * t->w);
    free(copy);
}

/* The reference convolution on tensors of either layout. */
static void conv_reference_forward(Model *m, const Op *op, const float *w, const float *b, int N)
{
    const Tensor *ti = &m->tensors[op->in], *to = &m->tensors[op->out];
    float *ci, *co;
    const float *in = plain_view(ti, ti->data, N, 1, &ci);
    float *out = plain_view(to, to->data, N, 0, &co);
    conv2d_forward(&op->u.conv, w, b, in, out, N, m->ws);
    free(ci);
    plain_done(to, to->data, co, N);
}

static void conv_reference_backward(Model *m, const Op *op, const float *w, float *din, float *gw,
                                    float *gb, int N)
{
    const Tensor *ti = &m->tensors[op->in], *to = &m->tensors[op->out];
    float *ci, *cg, *cd;
    const float *in = plain_view(ti, ti->data, N, 1, &ci);
    const float *dout = plain_view(to, to->grad, N, 1, &cg);
    float *dx = din ? plain_view(ti, din, N, 0, &cd) : (cd = NULL);
    conv2d_backward(&op->u.conv, w, in, dout, dx, gw, gb, N, m->ws);
    free(ci);
    free(cg);
    plain_done(ti, din, cd, N);
}

static void op_forward(Model *m, const Op *op, int N, int train)
{
    const Tensor *ti = &m->tensors[op->in];
    Tensor *to = &m->tensors[op->out];
    const float *w = param(m, op->w_off), *b = param(m, op->b_off);
    switch (op->kind) {
    case OP_CONV:
        /* A oneDNN failure (rare: an unsupported shape) falls back to the
         * reference path for that call. */
        if (!op->dnnl || !onednn_conv_forward(m->dnnl, op->dnnl, w, b, ti->data, to->data, N))
            conv_reference_forward(m, op, w, b, N);
        break;
    case OP_LINEAR:
        linear_forward(&op->u.lin, w, b, ti->data, to->data, N);
        break;
    case OP_BN: {
        float *rm = m->stats + op->stat_off, *rv = rm + op->u.bn.C;
        if (train)
            batchnorm_forward_train(&op->u.bn, w, b, rm, rv, ti->data, to->data,
                                    op->save_mean, op->save_invstd, N);
        else
            batchnorm_forward_eval(&op->u.bn, w, b, rm, rv, ti->data, to->data, N);
        break;
    }
    case OP_GN:
        groupnorm_forward(&op->u.gn, w, b, ti->data, to->data, op->save_mean, op->save_invstd, N);
        break;
    case OP_RELU:
        if (!op->fused)
            relu_forward(ti->data, to->data, tensor_numel(ti) * N);
        break;
    case OP_MAXPOOL:
        maxpool_forward(&op->u.pool, ti->data, to->data, N);
        break;
    case OP_AVGPOOL:
        (ti->blocked ? avgpool_forward_blocked : avgpool_forward)(ti->data, to->data, N, ti->c,
                                                                  ti->h * ti->w);
        break;
    case OP_ADD:
        add_forward(ti->data, m->tensors[op->in2].data, to->data, tensor_numel(ti) * N);
        break;
    case OP_SHORTCUT:
        shortcut_forward(&op->u.sc, ti->data, to->data, N);
        break;
    }
}

void model_forward_until(Model *m, const float *x, int N, int train, int stop)
{
    memcpy(m->tensors[0].data, x, sizeof(float) * tensor_numel(&m->tensors[0]) * N);
    for (int i = 0; i < stop && i < m->n_ops; i++) {
        double t0 = m->op_seconds ? omp_get_wtime() : 0;
        op_forward(m, &m->ops[i], N, train);
        if (m->op_seconds)
            m->op_seconds[i] += omp_get_wtime() - t0;
    }
}

void model_forward(Model *m, const float *x, int N, int train)
{
    model_forward_until(m, x, N, train, m->n_ops);
}

double model_loss(Model *m, const int *labels, int N, int *correct, int want_grad)
{
    const Tensor *t = &m->tensors[m->output];
    return softmax_xent(t->data, labels, N, (int)tensor_numel(t), want_grad ? t->grad : NULL, correct);
}

/* Where an op should write the gradient of input tensor `id`: straight into
 * its grad buffer the first time, into scratch when another consumer has
 * already written there (then added by commit_input_grad). */
static float *input_grad_target(Model *m, int id, const unsigned char *written)
{
    if (id == 0)
        return NULL; /* nobody needs d(loss)/d(image) */
    return written[id] ? m->scratch : m->tensors[id].grad;
}

static void commit_input_grad(Model *m, int id, unsigned char *written, int N)
{
    if (id == 0)
        return;
    if (written[id])
        add_inplace(m->tensors[id].grad, m->scratch, tensor_numel(&m->tensors[id]) * N);
    written[id] = 1;
}

static void op_backward(Model *m, const Op *op, int N, int train, unsigned char *written)
{
    const Tensor *ti = &m->tensors[op->in];
    const Tensor *to = &m->tensors[op->out];
    const float *w = param(m, op->w_off);
    float *gw = grad(m, op->w_off), *gb = grad(m, op->b_off);
    float *din = input_grad_target(m, op->in, written);
    size_t n_in = tensor_numel(ti) * N;
    switch (op->kind) {
    case OP_CONV:
        if (!op->dnnl || !onednn_conv_backward(m->dnnl, op->dnnl, w, ti->data, to->grad, din, gw, gb, N))
            conv_reference_backward(m, op, w, din, gw, gb, N);
        break;
    case OP_LINEAR:
        linear_backward(&op->u.lin, w, ti->data, to->grad, din, gw, gb, N);
        break;
    case OP_BN:
        if (!din)
            din = m->scratch; /* norm on the raw input: parameter grads still needed */
        if (train)
            batchnorm_backward_train(&op->u.bn, w, ti->data, op->save_mean, op->save_invstd,
                                     to->grad, din, gw, gb, N);
        else {
            const float *rm = m->stats + op->stat_off;
            batchnorm_backward_eval(&op->u.bn, w, rm, rm + op->u.bn.C, ti->data, to->grad, din,
                                    gw, gb, N);
        }
        break;
    case OP_GN:
        if (!din)
            din = m->scratch;
        groupnorm_backward(&op->u.gn, w, ti->data, op->save_mean, op->save_invstd, to->grad,
                           din, gw, gb, N);
        break;
    case OP_RELU:
        if (din)
            relu_backward(to->data, to->grad, din, n_in);
        break;
    case OP_MAXPOOL:
        if (din)
            maxpool_backward(&op->u.pool, ti->data, to->grad, din, N);
        break;
    case OP_AVGPOOL:
        if (din)
            (ti->blocked ? avgpool_backward_blocked : avgpool_backward)(to->grad, din, N, ti->c,
                                                                        ti->h * ti->w);
        break;
    case OP_SHORTCUT:
        if (din)
            shortcut_backward(&op->u.sc, to->grad, din, N);
        break;
    case OP_ADD:
        if (din && din != to->grad) /* the same buffer when the add ran in place */
            memcpy(din, to->grad, sizeof(float) * n_in);
        commit_input_grad(m, op->in, written, N);
        din = input_grad_target(m, op->in2, written);
        if (din)
            memcpy(din, to->grad, sizeof(float) * n_in);
        commit_input_grad(m, op->in2, written, N);
        return;
    }
    commit_input_grad(m, op->in, written, N);
}

void model_backward(Model *m, int N, int train)
{
    memset(m->grad_written, 0, (size_t)m->n_tensors);
    for (int i = m->n_ops - 1; i >= 0; i--) {
        double t0 = m->op_seconds ? omp_get_wtime() : 0;
        op_backward(m, &m->ops[i], N, train, m->grad_written);
        if (m->op_seconds)
            m->op_seconds[i] += omp_get_wtime() - t0;
    }
}

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

int model_find_nonfinite(const Model *m, int N)
{
    for (int i = 0; i < m->n_ops; i++) {
        const Tensor *t = &m->tensors[m->ops[i].out];
        if (!all_finite(t->data, tensor_numel(t) * N))
            return i;
    }
    return -1;
}

int model_state_finite(const Model *m)
{
    return all_finite(m->params, m->n_params) && all_finite(m->stats, m->n_stats);
}

double model_clip_grad_norm(Model *m, double max_norm)
{
    double ss = 0;
    for (size_t i = 0; i < m->n_params; i++)
        ss += (double)m->grads[i] * m->grads[i];
    double norm = sqrt(ss);
    if (norm > max_norm) {
        /* PyTorch's coefficient: max_norm / (norm + 1e-6). */
        float scale = (float)(max_norm / (norm + 1e-6));
        for (size_t i = 0; i < m->n_params; i++)
            m->grads[i] *= scale;
    }
    return norm;
}
