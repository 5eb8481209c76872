#include <stdlib.h>

#include "layers/blocked.h"
#include "memory_plan.h"
#include "model.h"

static int find(int *parent, int t)
{
    while (parent[t] != t)
        t = parent[t] = parent[parent[t]];
    return t;
}

static void join(int *parent, int a, int b) { parent[find(parent, a)] = find(parent, b); }

/* The table's word on each op (ops.h). */
static int keeps_layout(const Op *op) { return op_type(op->kind)->keeps_layout; }

static int reads_blocked(const Op *op)
{
    const OpType *t = op_type(op->kind);
    return t->reads_blocked && t->reads_blocked(op);
}

static int writes_blocked(const Op *op)
{
    const OpType *t = op_type(op->kind);
    return t->writes_blocked && t->writes_blocked(op);
}

/* Whether the model keeps its blocked tensors of whole 16-channel blocks
 * in NHWC rather than nChw16c (blocked.h). oneDNN's NHWC (brgemm)
 * convolutions beat its nChw16c ones on dense layers with spatial kernels
 * (ResNet-20: forward convolutions -10%) but lose on 1x1 layers' weight
 * gradients, depthwise ones and the reorders mixed pairs need (bottleneck,
 * Inception, MobileNetV2 training 14-17% slower; docs/PERFORMANCE.md): so
 * NHWC when no convolution is grouped and 1x1 ones hold under a tenth of
 * the convolution MACs. */
static int prefers_nhwc(const Model *m)
{
    long all = 0, pointwise = 0;
    for (int i = 0; i < m->n_ops; i++) {
        const Op *op = &m->ops[i];
        if (op->kind != OP_CONV)
            continue;
        const Conv2d *c = &op->u.conv;
        if (c->groups > 1)
            return 0;
        const long macs = conv2d_macs(c);
        all += macs;
        if (c->kh == 1 && c->kw == 1)
            pointwise += macs;
    }
    return all > 0 && 10 * pointwise < all;
}

void model_plan_layouts(Model *m)
{
    memory_plan_inference_reset(m); /* its pins depend on the layouts */
    int *parent = malloc(sizeof(int) * 2 * (size_t)m->n_tensors);
    for (int t = 0; t < m->n_tensors; t++)
        m->tensors[t].blocked = 0;
    if (parent && m->conv_backend == CONV_ONEDNN) { /* without memory: all NCHW */
        int *ok = parent + m->n_tensors;
        for (int t = 0; t < m->n_tensors; t++) {
            parent[t] = t;
            ok[t] = 1;
        }
        for (int i = 0; i < m->n_ops; i++) {
            const Op *op = &m->ops[i];
            if (keeps_layout(op)) {
                join(parent, op->in, op->out);
                if (op->in2 >= 0)
                    join(parent, op->in2, op->out);
            }
        }
        ok[find(parent, 0)] = 0; /* the input images stay as given */
        for (int t = 0; t < m->n_tensors; t++)
            if (!blocked_fits(m->tensors[t].c))
                ok[find(parent, t)] = 0;
        for (int i = 0; i < m->n_ops; i++) {
            const Op *op = &m->ops[i];
            if (!writes_blocked(op))
                ok[find(parent, op->out)] = 0;
            if (!reads_blocked(op)) {
                ok[find(parent, op->in)] = 0;
                if (op->in2 >= 0)
                    ok[find(parent, op->in2)] = 0;
            }
        }
        const int nhwc = prefers_nhwc(m);
        for (int t = 0; t < m->n_tensors; t++)
            m->tensors[t].blocked = !ok[find(parent, t)]                           ? 0
                                    : nhwc && blocked_nhwc_fits(m->tensors[t].c) ? BLOCKED_NHWC
                                                                                 : BLOCKED_16C;
    }
    free(parent);
    for (int i = 0; i < m->n_ops; i++) {
        Op *op = &m->ops[i];
        const OpType *t = op_type(op->kind);
        if (t->set_layouts)
            t->set_layouts(op, m->tensors[op->in].blocked, m->tensors[op->out].blocked);
    }
}
