#include "train/estimate.h"

#include <string.h>

#include "core/mem.h"

static const char *const NAMES[REEST_N] = {"exact", "ioffe", "precise", "ema", "cumulative"};

const char *reestimator_name(Reestimator e)
{
    return e >= 0 && e < REEST_N ? NAMES[e] : "?";
}

int reestimator_parse(const char *name, Reestimator *out)
{
    for (int i = 0; i < REEST_N; i++)
        if (!strcmp(name, NAMES[i])) {
            *out = (Reestimator)i;
            return 0;
        }
    return -1;
}

const char *reestimator_list(void)
{
    return "exact, ioffe, precise, ema, cumulative";
}

/* The momentum the BN update uses at batch t (1-based): 1 makes the
 * running statistics the batch's own, which ioffe and precise average. */
static float batch_momentum(Reestimator kind, double momentum, int t)
{
    if (kind == REEST_EMA)
        return (float)momentum;
    if (kind == REEST_CUMULATIVE)
        return (float)(1.0 / t);
    return 1.0f;
}

/* sum[2·off..] += every BN's running mean and var (the batch's, at momentum 1). */
static void add_batch_stats(const Model *m, double *sum)
{
    size_t k = 0;
    for (int i = 0; i < m->n_ops; i++) {
        const Op *op = &m->ops[i];
        if (op->kind != OP_BN)
            continue;
        const float *rm = m->stats + op->stat_off;
        for (int c = 0; c < 2 * op->u.bn.C; c++) /* mean then var: contiguous */
            sum[k++] += rm[c];
    }
}

static void set_means(Model *m, const double *sum, int t)
{
    size_t k = 0;
    for (int i = 0; i < m->n_ops; i++) {
        const Op *op = &m->ops[i];
        if (op->kind != OP_BN)
            continue;
        float *rm = m->stats + op->stat_off;
        for (int c = 0; c < 2 * op->u.bn.C; c++)
            rm[c] = (float)(sum[k++] / t);
    }
}

int reestimate_bn(Model *m, const SampleSet *set, const int *samples, int n, int batch, Reestimator kind,
                  double momentum, float *x, int *y, int *used, BsError *err)
{
    *used = 0;
    size_t values = 0;
    int n_bn = 0;
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].kind == OP_BN) {
            values += 2 * (size_t)m->ops[i].u.bn.C;
            n_bn++;
        }
    const int averaged = kind == REEST_IOFFE || kind == REEST_PRECISE;
    double *sum = bs_alloc(sizeof(double) * (values ? values : 1), err);
    float *saved_momentum = bs_alloc(sizeof(float) * (n_bn ? n_bn : 1), err);
    if (!sum || !saved_momentum) {
        bs_free(sum);
        bs_free(saved_momentum);
        return err->code;
    }
    memset(sum, 0, sizeof(double) * values);
    for (int i = 0, b = 0; i < m->n_ops; i++)
        if (m->ops[i].kind == OP_BN)
            saved_momentum[b++] = m->ops[i].u.bn.momentum;
    int t = 0;
    for (int s = 0; s < n; s += batch) {
        const int nb = n - s < batch ? n - s : batch;
        if (nb < 2 || (kind == REEST_IOFFE && nb < batch))
            break;
        t++;
        model_set_bn_momentum(m, batch_momentum(kind, momentum, t));
        dataset_gather(set->d, samples + s, nb, set->mean, set->std, x, y);
        model_forward(m, x, nb, 1);
        if (averaged)
            add_batch_stats(m, sum);
    }
    if (averaged && t > 0)
        set_means(m, sum, t);
    for (int i = 0, b = 0; i < m->n_ops; i++)
        if (m->ops[i].kind == OP_BN)
            m->ops[i].u.bn.momentum = saved_momentum[b++];
    bs_free(sum);
    bs_free(saved_momentum);
    *used = t;
    if (t == 0)
        return bs_fail(err, BS_ERR_USER, "%s: no batch of %d samples to estimate from (%d samples)",
                       reestimator_name(kind), kind == REEST_IOFFE ? batch : 2, n);
    return BS_OK;
}
