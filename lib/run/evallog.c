/* eval.csv read back as conditions (see evallog.h). */
#include "run/evallog.h"

#include "io/logformat.h"
#include "run/runlog.h"
#include "train/estimate.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One row: its condition, its numbers and its BN layer (-1: a model
 * without BN, one row per condition). */
typedef struct {
    EvalKey key;
    double loss, err, batch_stats_err, esm_mean, nesm_mean;
    int layer;
} EvalRow;

const char *evallog_stage_name(int stage)
{
    return stage == EVAL_AFTER ? "after" : "before";
}

int evallog_key_eq(const EvalKey *a, const EvalKey *b)
{
    const int same_momentum = isnan(a->est_momentum) ? isnan(b->est_momentum) : a->est_momentum == b->est_momentum;
    return !strcmp(a->recal, b->recal) && !strcmp(a->estimator, b->estimator) && a->est_batches == b->est_batches &&
           a->est_batch_size == b->est_batch_size && a->batch_stats_size == b->batch_stats_size && same_momentum &&
           a->corruption == b->corruption && a->severity == b->severity && a->stage == b->stage && a->set == b->set;
}

static int bad_field(const CsvReader *rd, int i, const char *expected, BsError *err)
{
    return bs_fail(err, BS_ERR_USER, "%s:%d: field %d: expected %s, found '%s'", rd->path, rd->lineno, i + 1,
                   expected, rd->field[i]);
}

/* Index of field i's text in names[n], or -1. */
static int field_choice(const CsvReader *rd, int i, const char *const *names, int n)
{
    for (int k = 0; k < n; k++)
        if (!strcmp(rd->field[i], names[k]))
            return k;
    return -1;
}

/* An optional count: 0 when empty. */
static int field_count(const CsvReader *rd, int i, int *out, BsError *err)
{
    *out = 0;
    return *rd->field[i] ? runlog_csv_int(rd, i, 1, out, err) : 0;
}

/* The columns EVAL_HEADER added to V1: estimator .. severity. */
static int parse_new_columns(const CsvReader *rd, EvalKey *k, BsError *err)
{
    const char *est = rd->field[18];
    Reestimator e;
    if (*k->recal ? reestimator_parse(est, &e) != 0 : *est != '\0')
        return bad_field(rd, 18, *k->recal ? reestimator_list() : "nothing (not recalibrated)", err);
    snprintf(k->estimator, sizeof k->estimator, "%s", est);
    if (field_count(rd, 19, &k->est_batches, err) || field_count(rd, 20, &k->est_batch_size, err) ||
        runlog_csv_num(rd, 21, 1, &k->est_momentum, err) || field_count(rd, 22, &k->batch_stats_size, err))
        return err->code;
    if (!*rd->field[23] && !*rd->field[24])
        return 0; /* a clean set */
    int t = field_choice(rd, 23, corruption_names, CORRUPT_N);
    if (t <= CORRUPT_NONE)
        return bad_field(rd, 23, "a corruption type (bnshift corruptions)", err);
    k->corruption = (CorruptionType)t;
    if (runlog_csv_int(rd, 24, 1, &k->severity, err))
        return err->code;
    return k->severity <= CORRUPT_MAX_SEVERITY ? 0 : bad_field(rd, 24, "a severity 1..5", err);
}

static int parse_key(const CsvReader *rd, int v1, EvalKey *k, BsError *err)
{
    static const char *const recal[] = {"", "train", "test"}, *const stage[] = {"before", "after"},
                             *const set[] = {"train", "test"};
    memset(k, 0, sizeof *k);
    k->est_momentum = NAN;
    int epoch;
    if (runlog_csv_int(rd, 0, 0, &epoch, err))
        return err->code;
    if (field_choice(rd, 1, recal, 3) < 0)
        return bad_field(rd, 1, "nothing, train or test", err);
    snprintf(k->recal, sizeof k->recal, "%s", rd->field[1]);
    if ((k->stage = field_choice(rd, 2, stage, 2)) < 0)
        return bad_field(rd, 2, "before or after", err);
    int s = field_choice(rd, 3, set, 2);
    if (s < 0)
        return bad_field(rd, 3, "train or test", err);
    k->set = s ? RUNLOG_TEST : RUNLOG_TRAIN;
    if (v1) { /* V1 had one estimator: the exact recalibration */
        snprintf(k->estimator, sizeof k->estimator, "%s", *k->recal ? "exact" : "");
        return 0;
    }
    return parse_new_columns(rd, k, err);
}

/* The layer columns (layer .. nesm_std): all empty for a model without BN,
 * else a layer, its name, depth, channels and seven numbers. */
static int parse_layer(const CsvReader *rd, EvalRow *row, BsError *err)
{
    row->layer = -1;
    row->esm_mean = row->nesm_mean = NAN;
    if (!*rd->field[7]) {
        for (int i = 8; i < EVAL_COLUMNS_V1; i++)
            if (*rd->field[i])
                return bad_field(rd, i, "nothing (a row without a BN layer)", err);
        return 0;
    }
    int depth, channels;
    double v[EVAL_COLUMNS_V1];
    if (runlog_csv_int(rd, 7, 0, &row->layer, err) || runlog_csv_int(rd, 9, 1, &depth, err) ||
        runlog_csv_int(rd, 10, 1, &channels, err))
        return err->code;
    if (!*rd->field[8])
        return bad_field(rd, 8, "a layer name", err);
    for (int i = 11; i < EVAL_COLUMNS_V1; i++) /* esm_mean .. nesm_std */
        if (runlog_csv_num(rd, i, 0, &v[i], err))
            return err->code;
    row->esm_mean = v[11];
    row->nesm_mean = v[16];
    return 0;
}

static int parse_row(const CsvReader *rd, int v1, EvalRow *row, BsError *err)
{
    if (parse_key(rd, v1, &row->key, err) || runlog_csv_num(rd, 4, 0, &row->loss, err) ||
        runlog_csv_num(rd, 5, 0, &row->err, err) || runlog_csv_num(rd, 6, 0, &row->batch_stats_err, err))
        return err->code;
    return parse_layer(rd, row, err);
}

/* Layer 0 (or a row without BN) starts an occurrence of its condition;
 * layer l > 0 continues the one before, which must be the same condition
 * with layers 0..l-1. The means are sums until evallog_load ends. */
static int add_row(const CsvReader *rd, const EvalRow *row, EvalCond **c, int *n, int *cap, BsError *err)
{
    EvalCond *cur = *n ? &(*c)[*n - 1] : NULL;
    if (row->layer > 0) {
        if (!cur || !evallog_key_eq(&cur->key, &row->key) || cur->n_layers != row->layer)
            return bs_fail(err, BS_ERR_USER, "%s:%d: layer %d out of sequence (a condition's rows come as "
                           "layers 0, 1, ... in order)", rd->path, rd->lineno, row->layer);
        cur->mean_esm_mean += row->esm_mean;
        cur->mean_nesm_mean += row->nesm_mean;
        cur->n_layers++;
        return 0;
    }
    if (runlog_grow((void **)c, cap, *n, sizeof **c, err))
        return err->code;
    const int bn = row->layer == 0;
    (*c)[(*n)++] = (EvalCond){row->key, row->loss, row->err, row->batch_stats_err, bn ? row->esm_mean : 0,
                              bn ? row->nesm_mean : 0, bn};
    return 0;
}

/* Drops every occurrence that a later one of its condition replaces, and
 * turns the sums into means. */
static void keep_last(EvalCond *c, int *n)
{
    int w = 0;
    for (int i = 0; i < *n; i++) {
        int later = 0;
        for (int j = i + 1; j < *n && !later; j++)
            later = evallog_key_eq(&c[i].key, &c[j].key);
        if (later)
            continue;
        EvalCond k = c[i];
        k.mean_esm_mean = k.n_layers ? k.mean_esm_mean / k.n_layers : NAN;
        k.mean_nesm_mean = k.n_layers ? k.mean_nesm_mean / k.n_layers : NAN;
        c[w++] = k;
    }
    *n = w;
}

int evallog_load(const char *dir, EvalCond **conds, int *n, BsError *err)
{
    *conds = NULL;
    *n = 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/eval.csv", dir);
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? 0 : bs_fail(err, BS_ERR_USER, "%s: cannot read (%s)", path, strerror(errno));
    if (S_ISREG(st.st_mode) && st.st_size == 0)
        return 0; /* eval accepts an empty file too (it writes the header) */
    CsvReader rd;
    int v1, cap = 0, got;
    if (runlog_csv_open(&rd, NULL, path, EVAL_HEADER, EVAL_HEADER_V1, &v1, 0, 0, err))
        return err->code;
    EvalRow row;
    while ((got = runlog_csv_row(&rd, v1 ? EVAL_COLUMNS_V1 : EVAL_COLUMNS, err)) == 1)
        if (parse_row(&rd, v1, &row, err) || add_row(&rd, &row, conds, n, &cap, err)) {
            got = -1;
            break;
        }
    runlog_csv_close(&rd);
    if (got < 0) {
        free(*conds);
        *conds = NULL;
        *n = 0;
        return err->code;
    }
    keep_last(*conds, n);
    return 0;
}
