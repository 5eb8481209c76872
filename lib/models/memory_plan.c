#include "memory_plan.h"

#include <stdlib.h>

#include "model.h"

/* Whether op may overwrite its first input (memory_plan.h). */
static int in_place(const Model *m, const Op *op, const Op *producer)
{
    return op_type(op->kind)->in_place && op->in != 0 && producer &&
           !op_type(producer->kind)->backward_needs_output && m->tensors[op->in].consumers == 1;
}

void memory_plan_carve(Model *m)
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
            const OpType *pt = op_type(producer->kind);
            const int act = op_type(op->kind)->activation;
            op->fused = act && pt->fuse_activation;
            if (op->fused)
                pt->fuse_activation(producer, act);
        }
    }
    for (int i = 0; i < m->n_tensors; i++) {
        Tensor *t = &m->tensors[i];
        size_t n = tensor_capacity(t) * (size_t)m->max_batch;
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
        const OpType *t = op_type(m->ops[i].kind);
        size_t need = t->partial_sums ? t->partial_sums(&m->ops[i], m->max_batch) : 0;
        if (need > partial)
            partial = need;
    }
    m->bn_partial = partial ? arena_alloc(&m->arena, sizeof(double) * partial) : NULL;
    for (int i = 0; i < m->n_ops; i++) {
        Op *op = &m->ops[i];
        const OpType *t = op_type(op->kind);
        if (t->set_partial)
            t->set_partial(op, m->bn_partial);
        if (t->workspace && t->workspace(op) > ws)
            ws = t->workspace(op);
        size_t nstat = t->saved_stats ? t->saved_stats(op, m->max_batch) : 0;
        if (nstat) {
            op->save_mean = arena_floats(&m->arena, nstat);
            op->save_invstd = arena_floats(&m->arena, nstat);
        }
    }
    m->ws = arena_floats(&m->arena, ws ? ws : 1);
    m->grad_written = arena_alloc(&m->arena, (size_t)m->n_tensors);
    m->scratch = arena_floats(&m->arena, biggest);
}
