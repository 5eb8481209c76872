#include "memory_plan.h"

#include <stdlib.h>

#include "model.h"

/* Whether op may overwrite its first input (memory_plan.h). */
static int in_place(const Model *m, const Op *op, const Op *producer)
{
    return op_type(op->kind)->in_place && op->in != 0 && producer &&
           !op_type(producer->kind)->backward_needs_output && m->tensors[op->in].consumers == 1;
}

/* The op that makes tensor t, before op `before`; -1 for the network's input. */
static int producer_of(const Model *m, int t, int before)
{
    for (int j = before - 1; j >= 0; j--)
        if (m->ops[j].out == t)
            return j;
    return -1;
}

/* The last op that reads tensor t or a tensor sharing its buffers (its
 * gradient's first writer in backward); -1 for the network's input, whose
 * gradient nobody writes. */
static int last_reader(const Model *m, const int *alias, int t)
{
    int root = t, last = -1;
    while (alias[root] >= 0)
        root = alias[root];
    if (root == 0)
        return -1;
    for (int i = 0; i < m->n_ops; i++) {
        const int reads[2] = {m->ops[i].in, m->ops[i].in2};
        for (int k = 0; k < 2; k++) {
            int r = reads[k];
            while (r >= 0 && alias[r] >= 0)
                r = alias[r];
            if (r == root)
                last = i;
        }
    }
    return last;
}

/* A residual add in place on the output of an op with fuse_residual (BN, GN)
 * is done by that op's forward when the add's other input exists by then
 * (a projection shortcut made after the norm does not: arch.c puts such an
 * add in place on the shortcut's norm instead). Run after the
 * activations are fused: the add's own (add_act) goes with it. Where the
 * add comes right after the norm and is the last reader of its other
 * input, its backward goes into the norm's too (residual_dy): nothing runs
 * between the two backwards, and the add is the first to write that
 * input's gradient, so the norm can write it and read it back as its dy. */
static void fuse_residual_adds(Model *m, const int *alias)
{
    for (int i = 0; i < m->n_ops; i++) {
        Op *op = &m->ops[i];
        if (op->kind != OP_ADD || alias[op->out] != op->in || op->in2 == op->in)
            continue;
        const int p = producer_of(m, op->in, i), q = producer_of(m, op->in2, i);
        if (p < 0 || q >= p || !op_type(m->ops[p].kind)->fuse_residual)
            continue;
        op_type(m->ops[p].kind)->fuse_residual(&m->ops[p], op->in2, op->u.add_act);
        op->fused = 1;
        if (p == i - 1 && last_reader(m, alias, op->in2) == i)
            op->residual_dy = m->ops[p].residual_dy = 1;
    }
}

/* Gradient slots. During backward the gradient of a tensor (of its alias
 * group: in-place outputs share their input's buffers) is live from the
 * backward of its last reader, which writes it first, down to the backward
 * of its producer, which reads it last; the logits' from the loss on. Two
 * gradients whose lives do not meet can share a buffer, so a handful of
 * buffers that stay in cache carry a backward pass instead of one per
 * tensor in DRAM (every op writes where a recent op wrote, nothing is
 * written back in between). Only tensors without padding lanes share (a
 * blocked layout pads channels to a block; those lanes must stay zero,
 * and another tensor's gradient would fill them), only ones with the same
 * floats, and only ones something reads (a tensor nobody reads keeps the
 * zero gradient it starts with). Sets grad_share[t] to the first tensor
 * (lowest index) whose gradient buffer t uses, or -1 for its own; returns
 * 0, or -1 without memory for the bookkeeping (then nothing shares). */
static int plan_gradient_slots(const Model *m, const int *alias, int *grad_share)
{
    const int T = m->n_tensors;
    int *born = malloc(sizeof(int) * (size_t)T), *dies = malloc(sizeof(int) * (size_t)T);
    int *slot_dies = malloc(sizeof(int) * (size_t)T), *slot_owner = malloc(sizeof(int) * (size_t)T);
    int *root = malloc(sizeof(int) * (size_t)T); /* the tensor whose buffers t's group uses */
    int n_slots = 0, ok = 0;
    for (int t = 0; t < T; t++)
        grad_share[t] = -1;
    if (!born || !dies || !slot_dies || !slot_owner || !root)
        goto out;
    for (int t = 0; t < T; t++) /* an alias source comes first (topological order) */
        root[t] = alias[t] >= 0 ? root[alias[t]] : t;
    for (int t = 0; t < T; t++)
        born[t] = dies[t] = -1;
    born[root[m->output]] = m->n_ops;
    for (int i = 0; i < m->n_ops; i++) {
        const Op *op = &m->ops[i];
        const int out = root[op->out];
        if (dies[out] < 0)
            dies[out] = i; /* the group's first producer */
        const int reads[2] = {op->in, op->in2};
        for (int k = 0; k < 2; k++)
            if (reads[k] >= 0 && reads[k] < T) {
                const int g = root[reads[k]];
                if (i > born[g])
                    born[g] = i;
            }
    }
    /* In backward order (latest birth first): a slot is free for g once its
     * holder's producer ran, strictly after g's first writer. grad_share
     * holds slot numbers until the end. */
    for (int i = m->n_ops; i >= 0; i--)
        for (int t = 1; t < T; t++) {
            const Tensor *x = &m->tensors[t];
            if (alias[t] >= 0 || born[t] != i || dies[t] < 0 || tensor_capacity(x) != tensor_numel(x))
                continue;
            int k = 0;
            while (k < n_slots && !(slot_dies[k] > i && tensor_numel(&m->tensors[slot_owner[k]]) == tensor_numel(x)))
                k++;
            if (k == n_slots)
                slot_owner[n_slots++] = t;
            if (t < slot_owner[k]) /* the buffer is carved at its lowest tensor */
                slot_owner[k] = t;
            slot_dies[k] = dies[t];
            grad_share[t] = k;
        }
    for (int t = 0; t < T; t++)
        if (grad_share[t] >= 0)
            grad_share[t] = slot_owner[grad_share[t]];
    ok = 1;
out:
    free(born);
    free(dies);
    free(slot_dies);
    free(slot_owner);
    free(root);
    return ok ? 0 : -1;
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
        Op *op = &m->ops[i];
        const int p = producer_of(m, op->in, i);
        Op *producer = p >= 0 ? &m->ops[p] : NULL;
        if (in_place(m, op, producer)) {
            alias[op->out] = op->in;
            const OpType *pt = op_type(producer->kind);
            const int act = op_type(op->kind)->activation;
            op->fused = act && pt->fuse_activation;
            if (op->fused)
                pt->fuse_activation(producer, act);
        }
    }
    if (alias)
        fuse_residual_adds(m, alias);
    int *grad_share = alias ? malloc(sizeof(int) * (size_t)m->n_tensors) : NULL;
    if (grad_share && plan_gradient_slots(m, alias, grad_share) < 0) {
        free(grad_share);
        grad_share = NULL;
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
        const int share = grad_share ? grad_share[i] : -1; /* carved before i, same size */
        t->grad = i == 0 ? NULL : share >= 0 && share < i ? m->tensors[share].grad : arena_floats(&m->arena, n);
    }
    free(grad_share);
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
