#include "run/summary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double summary_mean_esm(const RunLog *r, int set, int epoch)
{
    double sum = 0;
    int n = 0;
    for (int l = 0; l < runlog_n_layers(r, set); l++) {
        const ShiftRow *s = runlog_find(r, epoch, set, l);
        if (s) {
            sum += s->v[SV_ESM_MEAN];
            n++;
        }
    }
    return n ? sum / n : NAN;
}

double summary_depth_slope(const RunLog *r, int set, int epoch)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int n = 0;
    for (int l = 0; l < runlog_n_layers(r, set); l++) {
        const ShiftRow *s = runlog_find(r, epoch, set, l);
        if (!s)
            continue;
        sx += s->depth;
        sy += s->v[SV_ESM_MEAN];
        sxx += (double)s->depth * s->depth;
        sxy += s->depth * s->v[SV_ESM_MEAN];
        n++;
    }
    double den = n * sxx - sx * sx;
    return n >= 2 && den != 0 ? (n * sxy - sx * sy) / den : NAN;
}

/* The last condition of r (ordered by last occurrence) on the test set's
 * cell (type, severity) at stage with, unless NULL, recalibrated_on recal
 * and estimator; NULL when none. */
static const EvalCond *last_cond(const RunLog *r, CorruptionType type, int severity, int stage, const char *recal,
                                 const char *estimator)
{
    for (int i = r->n_eval - 1; i >= 0; i--) {
        const EvalKey *k = &r->eval[i].key;
        if (k->set == RUNLOG_TEST && k->corruption == type && k->severity == severity && k->stage == stage &&
            (!recal || !strcmp(k->recal, recal)) && (!estimator || !strcmp(k->estimator, estimator)))
            return &r->eval[i];
    }
    return NULL;
}

int summary_corr_cell(const RunLog *r, CorruptionType type, int severity, CorrCell *out)
{
    /* Before re-estimation the model is the one trained: a recalibrating
     * eval's "before" rows stand in when no plain eval was made. */
    const EvalCond *before = last_cond(r, type, severity, EVAL_BEFORE, "", NULL);
    if (!before)
        before = last_cond(r, type, severity, EVAL_BEFORE, NULL, NULL);
    const EvalCond *adabn = last_cond(r, type, severity, EVAL_AFTER, "test", "exact");
    *out = (CorrCell){type, severity, before ? before->err : NAN, adabn ? adabn->err : NAN,
                      before ? before->batch_stats_err : NAN, before ? before->mean_esm_mean : NAN};
    return before || adabn;
}

int summary_corr_cells(const RunLog *r, CorrCell *out)
{
    int n = 0;
    for (int t = CORRUPT_NONE + 1; t < CORRUPT_N; t++)
        for (int sev = 1; sev <= CORRUPT_MAX_SEVERITY; sev++)
            n += summary_corr_cell(r, (CorruptionType)t, sev, &out[n]);
    return n;
}

CorrCell summary_corr_mean(const CorrCell *cells, int n, int severity)
{
    double sum[4] = {0, 0, 0, 0}, m[4];
    int k[4] = {0, 0, 0, 0};
    for (int i = 0; i < n; i++) {
        if (severity && cells[i].severity != severity)
            continue;
        const double v[4] = {cells[i].err, cells[i].adabn_err, cells[i].bstat_err, cells[i].mean_esm};
        for (int j = 0; j < 4; j++)
            if (!isnan(v[j])) {
                sum[j] += v[j];
                k[j]++;
            }
    }
    for (int j = 0; j < 4; j++)
        m[j] = k[j] ? sum[j] / k[j] : NAN;
    return (CorrCell){CORRUPT_NONE, severity, m[0], m[1], m[2], m[3]};
}

/* The eval.csv columns of the summary: corrupted cells and their means. */
static void corr_summary(const RunLog *r, RunSummary *s)
{
    CorrCell cells[SUMMARY_MAX_CELLS];
    int n = summary_corr_cells(r, cells);
    CorrCell m = summary_corr_mean(cells, n, 0);
    s->v[RS_CORR_CELLS] = n;
    s->v[RS_CORR_ERR] = m.err;
    s->v[RS_CORR_ADABN_ERR] = m.adabn_err;
    s->v[RS_CORR_BSTAT_ERR] = m.bstat_err;
}

RunSummary summary_of_run(const RunLog *r)
{
    RunSummary s;
    for (int c = 0; c < RS_N; c++)
        s.v[c] = NAN;
    for (int k = 0; k < r->n_metrics; k++) {
        double e = r->metrics[k].test_err;
        if (isnan(e))
            continue;
        s.v[RS_FINAL_ERR] = e;
        s.v[RS_FINAL_BSTAT_ERR] = r->metrics[k].test_bstat_err;
        if (isnan(s.v[RS_BEST_ERR]) || e < s.v[RS_BEST_ERR])
            s.v[RS_BEST_ERR] = e;
    }
    int set = runlog_n_layers(r, RUNLOG_TEST) > 0 ? RUNLOG_TEST : RUNLOG_TRAIN;
    int n_ep = r->n_groups[set];
    if (n_ep > 0) {
        int first = r->groups[set][0].epoch, last = r->groups[set][n_ep - 1].epoch;
        s.v[RS_ESM_FIRST] = summary_mean_esm(r, set, first);
        s.v[RS_ESM_LAST] = summary_mean_esm(r, set, last);
        s.v[RS_SLOPE] = summary_depth_slope(r, set, last);
    }
    corr_summary(r, &s);
    return s;
}

/* The resolved config without seed, name and log.*: equal keys = runs that
 * differ only in seed. Caller frees; NULL when out of memory. */
static char *group_key(const Config *c)
{
    cJSON *j = config_to_json(c);
    if (!j)
        return NULL;
    cJSON_DeleteItemFromObject(j, "seed");
    cJSON_DeleteItemFromObject(j, "name");
    cJSON_DeleteItemFromObject(j, "log");
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

int summary_assign_groups(const RunLog *runs, int n, int *group, BsError *err)
{
    char **keys = calloc((size_t)(n > 0 ? n : 1), sizeof *keys);
    int rc = keys ? 0 : bs_fail(err, BS_ERR_RUNTIME, "out of memory");
    for (int i = 0; i < n && !rc; i++) {
        keys[i] = group_key(&runs[i].cfg);
        if (!keys[i]) {
            rc = bs_fail(err, BS_ERR_RUNTIME, "out of memory");
            break;
        }
        group[i] = i;
        for (int j = 0; j < i; j++)
            if (!strcmp(keys[i], keys[j])) {
                group[i] = group[j];
                break;
            }
    }
    for (int i = 0; keys && i < n; i++)
        free(keys[i]);
    free(keys);
    return rc;
}

void summary_group_stat(const RunSummary *sum, const int *group, int n, int g, int c, double *mean, double *std)
{
    double s = 0, ss = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        double v = sum[i].v[c];
        if (group[i] != g || isnan(v))
            continue;
        s += v;
        k++;
    }
    *mean = k ? s / k : NAN;
    for (int i = 0; i < n; i++) {
        double v = sum[i].v[c];
        if (group[i] == g && !isnan(v))
            ss += (v - *mean) * (v - *mean);
    }
    *std = k > 1 ? sqrt(ss / (k - 1)) : k == 1 ? 0.0 : NAN;
}
