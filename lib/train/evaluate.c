#include "evaluate.h"

#include <string.h>

#include "core/mem.h"

/* Samples per pass: set->batch, at most the model's max_batch. */
static int step_of(const Model *m, const SampleSet *set)
{
    return set->batch > 0 && set->batch < m->max_batch ? set->batch : m->max_batch;
}

static int batch_at(const Model *m, const SampleSet *set, int start, float *x, int *y)
{
    int step = step_of(m, set);
    int nb = set->n - start < step ? set->n - start : step;
    dataset_gather(set->d, set->idx + start, nb, set->mean, set->std, x, y);
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
    for (int s = 0; s < set->n; s += step_of(m, set)) {
        int nb = batch_at(m, set, s, x, y), c;
        model_forward(m, x, nb, 0);
        loss += model_loss(m, y, nb, &c, 0) * nb;
        hits += c;
        if (stats)
            shift_stats_accumulate(stats, m, nb);
    }
    if (stats)
        shift_stats_detach(stats, m);
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
    for (int s = 0; s < set->n; s += step_of(m, set)) {
        int nb = batch_at(m, set, s, x, y), c;
        if (nb < 2)
            break;
        model_forward(m, x, nb, 1);
        loss += model_loss(m, y, nb, &c, 0) * nb;
        hits += c;
        n += nb;
    }
    memcpy(m->stats, saved, sizeof(float) * m->n_stats);
    bs_free(saved);
    res->n = n;
    res->loss = n ? loss / n : 0;
    res->err = n ? 1.0 - (double)hits / n : 0;
    return BS_OK;
}
