/* Exact per-channel statistics of every BN layer's input over a whole set,
 * accumulated batch by batch during one inference pass: each batch's mean
 * and sum of squared deviations are taken in double (two passes over the
 * batch), then merged with Chan et al.'s pairwise update, so the result is
 * the population mean/variance of the concatenated inputs, not an average
 * of batch variances. */
#ifndef BS_STATS_H
#define BS_STATS_H

#include "core/comm.h"
#include "models/model.h"
#include "shift/esm.h"

typedef struct {
    int n_layers;   /* BN ops, in forward order */
    int *op_index;  /* [n_layers] index into Model.ops */
    int *channels;  /* [n_layers] */
    size_t *offset; /* [n_layers] into mean/m2 */
    double *count;  /* [n_layers] values per channel seen */
    double *mean, *m2;
    /* Where attached blocked BN layers leave their input's sums during an
     * inference forward (BatchNorm.stats_out): 3·C + 1 doubles per layer,
     * at 3·offset + layer. */
    double *fused;
    double *scratch; /* total channels + n_layers, for shift_stats_sum_ranks */
} ShiftStats;

int shift_stats_init(ShiftStats *s, const Model *m, BsError *err);
void shift_stats_free(ShiftStats *s);
void shift_stats_reset(ShiftStats *s);
/* Lets every blocked BN layer of m sum its own input during inference
 * forwards (one read of each BN input instead of two); the accumulate
 * calls below then use those sums, which equal what they would compute.
 * Detach before m or s goes away. The numbers do not change either way. */
void shift_stats_attach(ShiftStats *s, Model *m);
void shift_stats_detach(ShiftStats *s, Model *m);
/* Adds the inputs of every BN layer (from the last forward pass on N samples). */
void shift_stats_accumulate(ShiftStats *s, const Model *m, int N);
/* Adds one BN layer's input only. */
void shift_stats_accumulate_layer(ShiftStats *s, const Model *m, int layer, int N);
/* Combines what every rank accumulated over its share of a set into the
 * statistics of the whole set, on every rank (a collective; nothing on one
 * process): counts and sums first, then each rank's sum of squared
 * deviations moved to the global mean (m2 + n·(mean - global mean)²). */
void shift_stats_sum_ranks(ShiftStats *s, const Comm *c);
/* Population variance of channel c of layer l (0 before any data). */
double shift_stats_var(const ShiftStats *s, int l, int c);
double shift_stats_mean(const ShiftStats *s, int l, int c);
/* Layer l's per-channel mean and population variance into mu/var [C]. */
void shift_stats_layer(const ShiftStats *s, int l, double *mu, double *var);
/* The widest BN layer's channel count (for scratch arrays). */
int shift_stats_max_channels(const ShiftStats *s);
/* ESM of BN layer l: its running estimates in m against the statistics
 * accumulated here. mu/var are scratch of shift_stats_max_channels(). */
void shift_stats_esm(const ShiftStats *s, const Model *m, int l, double *mu, double *var, Esm *out);

#endif
