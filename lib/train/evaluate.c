#include "evaluate.h"

#include <string.h>

#include "core/mem.h"
#include "models/memory_plan.h"

/* Samples per pass: set->batch, at most the model's max_batch. */
static int step_of(const Model *m, const SampleSet *set)
{
    return set->batch > 0 && set->batch < m->max_batch ? set->batch : m->max_batch;
}

/* The samples of the batch at `start` in the whole set. */
static int global_batch(const Model *m, const SampleSet *set, int start)
{
    int step = step_of(m, set);
    return set->n - start < step ? set->n - start : step;
}

/* This rank's part of the batch at `start` into x/y; returns its size
 * (possibly 0 on a rank of a multi-rank pass). */
static int batch_at(const Model *m, const SampleSet *set, int start, float *x, int *y)
{
    int first = 0, nb = global_batch(m, set, start);
    if (comm_is_multi(set->comm))
        comm_share(nb, set->comm->rank, set->comm->size, &first, &nb);
    if (nb > 0)
        dataset_gather(set->d, set->idx + start + first, nb, set->mean, set->std, x, y);
    return nb;
}

void evaluate(Model *m, const SampleSet *set, float *x, int *y, ShiftStats *stats,
              EvalResult *res)
{
    double loss = 0;
    long hits = 0;
    if (stats) {
        shift_stats_reset(stats);
        shift_stats_attach(stats, m); /* BN layers sum their inputs as they read them */
    }
    memory_plan_inference_begin(m); /* buffers reused along the pass, kept in cache */
    for (int s = 0; s < set->n; s += step_of(m, set)) {
        int nb = batch_at(m, set, s, x, y), c;
        if (nb == 0)
            continue;
        model_forward(m, x, nb, 0);
        loss += model_loss(m, y, nb, &c, 0) * nb;
        hits += c;
        if (stats)
            shift_stats_accumulate(stats, m, nb);
    }
    memory_plan_inference_end(m);
    if (stats) {
        shift_stats_detach(stats, m);
        shift_stats_sum_ranks(stats, set->comm);
    }
    comm_sum_totals(set->comm, &loss, &hits, NULL);
    res->n = set->n;
    res->loss = set->n ? loss / set->n : 0;
    res->err = set->n ? 1.0 - (double)hits / set->n : 0;
}

void recalibrate_bn(Model *m, const SampleSet *set, float *x, int *y, ShiftStats *stats)
{
    shift_stats_reset(stats);
    for (int l = 0; l < stats->n_layers; l++) {
        int op_i = stats->op_index[l];
        for (int s = 0; s < set->n; s += step_of(m, set)) {
            int nb = batch_at(m, set, s, x, y);
            model_forward_until(m, x, nb, 0, op_i);
            shift_stats_accumulate_layer(stats, m, l, nb);
        }
        const Op *op = &m->ops[op_i];
        float *rm = m->stats + op->stat_off, *rv = rm + op->u.bn.C;
        for (int c = 0; c < op->u.bn.C; c++) {
            rm[c] = (float)shift_stats_mean(stats, l, c);
            rv[c] = (float)shift_stats_var(stats, l, c);
        }
    }
}

int evaluate_batch_stats(Model *m, const SampleSet *set, float *x, int *y, EvalResult *res,
                         BsError *err)
{
    float *saved = bs_alloc(sizeof(float) * (m->n_stats ? m->n_stats : 1), err);
    if (!saved)
        return err->code;
    memcpy(saved, m->stats, sizeof(float) * m->n_stats);
    double loss = 0;
    long hits = 0, n = 0;
    /* Every rank needs at least 2 samples of each batch (a batch variance);
     * the decision is the same on every rank, as the synchronized BN's
     * collectives require. */
    const int ranks = comm_is_multi(set->comm) ? set->comm->size : 1;
    memory_plan_inference_begin(m); /* forward only: the inference plan's buffers do */
    for (int s = 0; s < set->n; s += step_of(m, set)) {
        if (global_batch(m, set, s) < 2 * ranks)
            break;
        int nb = batch_at(m, set, s, x, y), c;
        model_forward(m, x, nb, 1);
        loss += model_loss(m, y, nb, &c, 0) * nb;
        hits += c;
        n += nb;
    }
    memory_plan_inference_end(m);
    comm_sum_totals(set->comm, &loss, &hits, &n);
    memcpy(m->stats, saved, sizeof(float) * m->n_stats);
    bs_free(saved);
    res->n = n;
    res->loss = n ? loss / n : 0;
    res->err = n ? 1.0 - (double)hits / n : 0;
    return BS_OK;
}
