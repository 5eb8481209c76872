/* The inference plan (memory_plan.h): during an evaluation pass nothing
 * runs backward, so a tensor's buffer is free once its last reader ran and
 * the next op's output can take it. A handful of buffers then carry the
 * whole pass instead of one per tensor, and they stay in cache: every op
 * writes into memory a recent op touched, not into fresh memory that has to
 * come from DRAM first (the training plan's buffers total ~50 MB for
 * ResNet-20 at batch 32; the plan's ~10 MB). Same kernels, same order: the
 * numbers are those of the training plan's buffers, bit for bit. */
#include <stdint.h>
#include <stdlib.h>

#include "core/mem.h"
#include "layers/conv2d_onednn.h"
#include "memory_plan.h"
#include "model.h"

/* The first tensor with t's training-plan buffer (an in-place op's output
 * shares its input's; tensors are made in topological order). */
static int owner_of(const Model *m, int t)
{
    int s = 0;
    while (m->tensors[s].data != m->tensors[t].data)
        s++;
    return s;
}

/* Whether a tensor keeps its training-plan buffer: the network's input (the
 * caller copies samples there), the logits (read after the pass), and the
 * input of a BN layer in NCHW, whose statistics are summed after the pass
 * (shift/stats.c; a blocked BN sums them while it reads them). */
static int pinned(const Model *m, int t)
{
    if (t == 0 || t == m->output)
        return 1;
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].kind == OP_BN && !m->ops[i].u.bn.blocked && m->ops[i].in == t)
            return 1;
    return 0;
}

typedef struct {
    size_t floats;
    int free_after; /* index of the last op that reads the current holder */
    float *base;    /* in Model.infer_arena, once carved */
} Slot;

/* Of two free slots, whether a serves a tensor of `need` floats better than
 * b: the smallest that fits, else the largest (it grows least). */
static int better_slot(const Slot *a, const Slot *b, size_t need)
{
    const int a_fits = a->floats >= need, b_fits = b->floats >= need;
    if (a_fits != b_fits)
        return a_fits;
    return a_fits ? a->floats < b->floats : a->floats > b->floats;
}

/* Assigns every unpinned owner tensor a slot (slot_of[t]); returns the slot
 * count, -1 when out of memory. Slots grow to the largest tensor they hold. */
static int assign_slots(const Model *m, const int *owner, int *slot_of, Slot *slots)
{
    int *last = malloc(sizeof(int) * (size_t)m->n_tensors);
    if (!last)
        return -1;
    for (int t = 0; t < m->n_tensors; t++)
        last[t] = -1;
    for (int i = 0; i < m->n_ops; i++) { /* in op order: the last assignment stays */
        const Op *op = &m->ops[i];
        const int reads[2] = {op->in, op->in2};
        for (int k = 0; k < 2; k++)
            if (reads[k] >= 0 && reads[k] < m->n_tensors)
                last[owner[reads[k]]] = i;
        last[owner[op->out]] = i; /* an in-place op writes its input's buffer */
    }
    int n_slots = 0;
    for (int i = 0; i < m->n_ops; i++) {
        const int t = m->ops[i].out;
        if (owner[t] != t || slot_of[t] == INT32_MIN) /* shares an input's buffer, or pinned */
            continue;
        const size_t need = tensor_capacity(&m->tensors[t]) * (size_t)m->max_batch;
        int best = -1;
        for (int k = 0; k < n_slots; k++)
            if (slots[k].free_after < i && (best < 0 || better_slot(&slots[k], &slots[best], need)))
                best = k;
        if (best < 0)
            best = n_slots++;
        if (slots[best].floats < need)
            slots[best].floats = need;
        slots[best].free_after = last[t];
        slot_of[t] = best;
    }
    free(last);
    return n_slots;
}

void memory_plan_inference_reset(Model *m)
{
    free(m->infer_data);
    free(m->train_data);
    arena_release(&m->infer_arena);
    m->infer_data = m->train_data = NULL;
}

/* The slots' buffers, measured then carved like the training arena. */
static int carve_slots(Arena *a, Slot *slots, int n_slots)
{
    *a = (Arena){0};
    for (int k = 0; k < n_slots; k++)
        arena_floats(a, slots[k].floats);
    BsError err = {0};
    if (n_slots && arena_reserve(a, a->used, &err) != BS_OK)
        return 0;
    for (int k = 0; k < n_slots; k++)
        slots[k].base = arena_floats(a, slots[k].floats);
    return 1;
}

static int build(Model *m)
{
    const int T = m->n_tensors;
    int *owner = malloc(sizeof(int) * (size_t)T), *slot_of = malloc(sizeof(int) * (size_t)T);
    Slot *slots = calloc((size_t)T, sizeof(Slot));
    m->infer_data = malloc(sizeof(float *) * (size_t)T);
    m->train_data = malloc(sizeof(float *) * (size_t)T);
    int ok = owner && slot_of && slots && m->infer_data && m->train_data;
    int n_slots = 0;
    for (int t = 0; ok && t < T; t++) {
        owner[t] = owner_of(m, t);
        m->train_data[t] = m->tensors[t].data;
        slot_of[t] = -1;
    }
    for (int t = 0; ok && t < T; t++) /* a pin holds the whole buffer */
        if (pinned(m, t))
            slot_of[owner[t]] = INT32_MIN;
    ok = ok && (n_slots = assign_slots(m, owner, slot_of, slots)) >= 0 && carve_slots(&m->infer_arena, slots, n_slots);
    for (int t = 0; ok && t < T; t++) {
        const int k = slot_of[owner[t]];
        m->infer_data[t] = k >= 0 ? slots[k].base : m->train_data[t];
    }
    free(owner);
    free(slot_of);
    free(slots);
    if (!ok)
        memory_plan_inference_reset(m);
    return ok;
}

int memory_plan_inference_begin(Model *m)
{
    onednn_engine_freeze_weights(m->dnnl, 1); /* forward only: the weights hold still */
    if (!m->infer_data && !build(m))
        return 0;
    for (int t = 0; t < m->n_tensors; t++)
        m->tensors[t].data = m->infer_data[t];
    return 1;
}

void memory_plan_inference_end(Model *m)
{
    onednn_engine_freeze_weights(m->dnnl, 0);
    if (!m->train_data)
        return;
    for (int t = 0; t < m->n_tensors; t++)
        m->tensors[t].data = m->train_data[t];
}
