#include "stats.h"

#include <math.h>
#include <string.h>

#include "layers/blocked.h"

int shift_stats_init(ShiftStats *s, const Model *m, BsError *err)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < m->n_ops; i++)
        s->n_layers += m->ops[i].kind == OP_BN;
    int n = s->n_layers ? s->n_layers : 1;
    s->op_index = bs_alloc(sizeof(int) * n, err);
    s->channels = bs_alloc(sizeof(int) * n, err);
    s->offset = bs_alloc(sizeof(size_t) * n, err);
    s->count = bs_alloc(sizeof(double) * n, err);
    size_t total = 0;
    for (int i = 0, l = 0; i < m->n_ops && s->offset; i++)
        if (m->ops[i].kind == OP_BN) {
            s->op_index[l] = i;
            s->channels[l] = m->ops[i].u.bn.C;
            s->offset[l++] = total;
            total += (size_t)m->ops[i].u.bn.C;
        }
    s->mean = bs_alloc(sizeof(double) * (total ? total : 1), err);
    s->m2 = bs_alloc(sizeof(double) * (total ? total : 1), err);
    s->fused = bs_alloc(sizeof(double) * (3 * total + (size_t)n), err);
    s->scratch = bs_alloc(sizeof(double) * (total + (size_t)n), err);
    if (!s->op_index || !s->channels || !s->offset || !s->count || !s->mean || !s->m2 || !s->fused ||
        !s->scratch) {
        shift_stats_free(s);
        return err->code;
    }
    return BS_OK;
}

void shift_stats_free(ShiftStats *s)
{
    bs_free(s->op_index);
    bs_free(s->channels);
    bs_free(s->offset);
    bs_free(s->count);
    bs_free(s->mean);
    bs_free(s->m2);
    bs_free(s->fused);
    bs_free(s->scratch);
    memset(s, 0, sizeof *s);
}

void shift_stats_reset(ShiftStats *s)
{
    int n = s->n_layers;
    size_t total = n ? s->offset[n - 1] + (size_t)s->channels[n - 1] : 0;
    memset(s->count, 0, sizeof(double) * (size_t)n);
    memset(s->mean, 0, sizeof(double) * total);
    memset(s->m2, 0, sizeof(double) * total);
}

/* Merges a batch's sum of x - K and of (x - K)^2 (nb values) into channel
 * c's running mean and sum of squared deviations (Chan et al.). */
static void merge_batch(double *mean, double *m2, double K, double sum, double ss, double na,
                        double nb)
{
    const double nt = na + nb, bm = K + sum / nb;
    ss = fmax(ss - sum * sum / nb, 0.0); /* the batch's sum of squared deviations */
    const double delta = bm - *mean;
    *mean += delta * nb / nt;
    *m2 += ss + delta * delta * na * nb / nt;
}

/* Layer l's slot of `fused`: K, Σ, Σ² (C each) and the count (3C + 1). */
static double *fused_sums(const ShiftStats *s, int l) { return s->fused + 3 * s->offset[l] + (size_t)l; }

void shift_stats_attach(ShiftStats *s, Model *m)
{
    for (int l = 0; l < s->n_layers; l++) {
        BatchNorm *b = &m->ops[s->op_index[l]].u.bn;
        double *f = fused_sums(s, l);
        f[3 * (size_t)s->channels[l]] = 0; /* no sums yet */
        b->stats_out = b->blocked ? f : NULL;
    }
}

void shift_stats_detach(ShiftStats *s, Model *m)
{
    for (int l = 0; l < s->n_layers; l++)
        m->ops[s->op_index[l]].u.bn.stats_out = NULL;
}

/* The same sums over blocked input (blocked_centered_sums, its tile sums in
 * the BN layer's scratch), or the ones the layer's own inference forward
 * left for these N samples; K, sum and sq per channel live in the layer's
 * slot of ShiftStats.fused either way. */
static void accumulate_blocked(ShiftStats *s, const Op *op, const float *x, int l, int N)
{
    const int C = op->u.bn.C, S = op->u.bn.spatial;
    double *K = fused_sums(s, l), *sum = K + C, *sq = sum + C;
    if (op->u.bn.stats_out == K && K[3 * (size_t)C] == (double)N * S)
        K[3 * (size_t)C] = 0; /* used once */
    else {
        blocked_first_values(K, x, C, S, op->u.bn.blocked);
        blocked_centered_sums(x, N, C, S, op->u.bn.blocked, K, op->u.bn.partial, sum, sq);
    }
    double *mean = s->mean + s->offset[l], *m2 = s->m2 + s->offset[l];
    for (int c = 0; c < C; c++)
        merge_batch(&mean[c], &m2[c], K[c], sum[c], sq[c], s->count[l], (double)N * S);
    s->count[l] += (double)N * S;
}

void shift_stats_accumulate_layer(ShiftStats *s, const Model *m, int l, int N)
{
    const Op *op = &m->ops[s->op_index[l]];
    const float *x = m->tensors[op->in].data;
    if (op->u.bn.blocked) {
        accumulate_blocked(s, op, x, l, N);
        return;
    }
    const int C = op->u.bn.C, S = op->u.bn.spatial;
    const double nb = (double)N * S, na = s->count[l], nt = na + nb;
    double *mean = s->mean + s->offset[l], *m2 = s->m2 + s->offset[l];
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        /* One pass: sums of x - K and (x - K)^2 about a value K of the
         * channel itself, so that the difference below does not cancel
         * (x - K is exact in double for float x and K). */
        const double K = x[(size_t)c * S];
        double sum = 0, ss = 0;
        for (int n = 0; n < N; n++) {
            const float *p = x + ((size_t)n * C + c) * S;
#pragma omp simd reduction(+ : sum, ss) /* partial sums, not one serial chain */
            for (int i = 0; i < S; i++) {
                const double d = p[i] - K;
                sum += d;
                ss += d * d;
            }
        }
        merge_batch(&mean[c], &m2[c], K, sum, ss, na, nb);
    }
    s->count[l] = nt;
}

void shift_stats_accumulate(ShiftStats *s, const Model *m, int N)
{
    for (int l = 0; l < s->n_layers; l++)
        shift_stats_accumulate_layer(s, m, l, N);
}

void shift_stats_sum_ranks(ShiftStats *s, const Comm *comm)
{
    if (!comm_is_multi(comm) || !s->n_layers)
        return;
    const int L = s->n_layers;
    const size_t total = s->offset[L - 1] + (size_t)s->channels[L - 1];
    double *buf = s->scratch, *counts = s->scratch + total;
    for (int l = 0; l < L; l++) {
        counts[l] = s->count[l];
        for (int c = 0; c < s->channels[l]; c++)
            buf[s->offset[l] + c] = s->count[l] * s->mean[s->offset[l] + c];
    }
    comm->sum(comm, buf, total + (size_t)L);
    for (int l = 0; l < L; l++)
        for (int c = 0; c < s->channels[l]; c++) {
            const size_t i = s->offset[l] + c;
            const double global = counts[l] > 0 ? buf[i] / counts[l] : 0.0, d = s->mean[i] - global;
            s->mean[i] = global;
            buf[i] = s->m2[i] + s->count[l] * d * d;
        }
    comm->sum(comm, buf, total);
    memcpy(s->m2, buf, sizeof(double) * total);
    memcpy(s->count, counts, sizeof(double) * (size_t)L);
}

double shift_stats_mean(const ShiftStats *s, int l, int c) { return s->mean[s->offset[l] + c]; }

double shift_stats_var(const ShiftStats *s, int l, int c)
{
    return s->count[l] > 0 ? s->m2[s->offset[l] + c] / s->count[l] : 0.0;
}

void shift_stats_layer(const ShiftStats *s, int l, double *mu, double *var)
{
    for (int c = 0; c < s->channels[l]; c++) {
        mu[c] = shift_stats_mean(s, l, c);
        var[c] = shift_stats_var(s, l, c);
    }
}

int shift_stats_max_channels(const ShiftStats *s)
{
    int m = 0;
    for (int l = 0; l < s->n_layers; l++)
        m = s->channels[l] > m ? s->channels[l] : m;
    return m;
}

void shift_stats_esm(const ShiftStats *s, const Model *m, int l, double *mu, double *var, Esm *out)
{
    const Op *op = &m->ops[s->op_index[l]];
    const float *run_mean = m->stats + op->stat_off;
    shift_stats_layer(s, l, mu, var);
    esm_compute(run_mean, run_mean + op->u.bn.C, mu, var, op->u.bn.C, out);
}
