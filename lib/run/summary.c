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

RunSummary summary_of_run(const RunLog *r)
{
    RunSummary s = {{NAN, NAN, NAN, NAN, NAN}};
    for (int k = 0; k < r->n_metrics; k++) {
        double e = r->metrics[k].test_err;
        if (isnan(e))
            continue;
        s.v[RS_FINAL_ERR] = e;
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
