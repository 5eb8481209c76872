/* `bnshift eval RUN_DIR [--recalibrate train|test]`: evaluate a run's
 * checkpoint on its train and test sets — inference-mode error, the error
 * with batch statistics on the same samples, and every BN layer's
 * estimation shift — optionally again after re-estimating every BN's running
 * statistics exactly on one set. If estimation shift causes the gap between
 * the two errors, recalibrating on the evaluation set must close it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "core/mem.h"
#include "core/threads.h"
#include "io/checkpoint.h"
#include "io/csv.h"
#include "setup.h"

#define EVAL_HEADER                                                                             \
    "checkpoint_epoch,recalibrated_on,stage,set,loss,err,batch_stats_err,layer,name,depth,"      \
    "channels,esm_mean,esm_std,esm_var,rms_mean,rms_std,nesm_mean,nesm_std"

static const char USAGE[] =
    "usage: bnshift eval RUN_DIR [--recalibrate train|test] [--set key.path=value]... [--threads N]\n"
    "Evaluates RUN_DIR/checkpoint.bin on the run's train and test sets: inference-mode error,\n"
    "error with batch statistics, and per-BN-layer estimation shift; with --recalibrate, again\n"
    "after re-estimating every BN's running statistics exactly on that set. Prints a table and\n"
    "appends the rows to RUN_DIR/eval.csv.\n";

typedef struct {
    const char *dir, *recal;
    char *sets[64];
    int n_sets, threads;
} EvalArgs;

static int parse_eval_args(int argc, char **argv, EvalArgs *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int has_value = i + 1 < argc;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            fputs(USAGE, stdout);
            exit(0);
        } else if (!strcmp(s, "--recalibrate") && has_value) {
            a->recal = argv[++i];
            if (strcmp(a->recal, "train") && strcmp(a->recal, "test"))
                return cli_error(BN_ERR_USER, "eval: --recalibrate: expected train or test, got '%s'", a->recal);
        } else if (!strcmp(s, "--set") && has_value && a->n_sets < 64) {
            a->sets[a->n_sets++] = argv[++i];
        } else if (!strcmp(s, "--threads") && has_value) {
            char *end;
            long t = strtol(argv[++i], &end, 10);
            if (end == argv[i] || *end || t < 1 || t > 1024)
                return cli_error(BN_ERR_USER, "eval: --threads: '%s' is not a thread count (1..1024)", argv[i]);
            a->threads = (int)t;
        } else if (s[0] != '-' && !a->dir) {
            a->dir = s;
        } else {
            return cli_error(BN_ERR_USER, "eval: unexpected argument '%s' (see bnshift eval --help)", s);
        }
    }
    if (!a->dir)
        return cli_error(BN_ERR_USER, "eval: missing RUN_DIR (see bnshift eval --help)");
    return 0;
}

typedef struct {
    Experiment *e;
    ShiftStats stats;
    double *mu, *var;
    CsvLog csv;
    int epoch;
    const char *recal;
} EvalCtx;

/* One pass over set `which`: prints and logs errors and per-layer ESM. */
static int eval_set(EvalCtx *c, const char *stage, int which, BnError *err)
{
    static const char *const names[2] = {"train", "test"};
    Experiment *e = c->e;
    SampleSet set = setup_eval_set(&e->data, which);
    EvalResult inf, bat;
    evaluate(&e->model, &set, e->x, e->y, &c->stats, &inf);
    if (evaluate_batch_stats(&e->model, &set, e->x, e->y, &bat, err))
        return err->code;
    printf("%-7s %-5s  err %.4f  with batch stats %.4f  gap %+.4f\n", stage, names[which], inf.err,
           bat.err, inf.err - bat.err);
    const char *recal = c->recal ? c->recal : "";
    if (c->stats.n_layers == 0)
        csv_printf(&c->csv, "%d,%s,%s,%s,%.9g,%.9g,%.9g,,,,,,,,,,,\n", c->epoch, recal, stage, names[which],
                   inf.loss, inf.err, bat.err);
    for (int l = 0; l < c->stats.n_layers; l++) {
        const Op *op = &e->model.ops[c->stats.op_index[l]];
        Esm s;
        shift_stats_esm(&c->stats, &e->model, l, c->mu, c->var, &s);
        printf("        %-32s depth %3d  esm_mean %10.4g  esm_std %10.4g  nesm_mean %8.4g\n", op->name,
               op->norm_depth, s.esm_mean, s.esm_std, s.nesm_mean);
        csv_printf(&c->csv, "%d,%s,%s,%s,%.9g,%.9g,%.9g,%d,%s,%d,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n",
                   c->epoch, recal, stage, names[which], inf.loss, inf.err, bat.err, l, op->name,
                   op->norm_depth, op->u.bn.C, s.esm_mean, s.esm_std, s.esm_var, s.rms_mean, s.rms_std,
                   s.nesm_mean, s.nesm_std);
    }
    return BN_OK;
}

static int eval_all(EvalCtx *c, const char *stage, BnError *err)
{
    for (int which = 0; which < 2; which++)
        if (eval_set(c, stage, which, err))
            return err->code;
    return BN_OK;
}

static int open_eval_csv(EvalCtx *c, const char *dir, BnError *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/eval.csv", dir);
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size > 0)
        return csv_open(&c->csv, path, EVAL_HEADER, st.st_size, err); /* append */
    return csv_open(&c->csv, path, EVAL_HEADER, -1, err);
}

static int run_eval(const EvalArgs *a, Experiment *e, EvalCtx *c, BnError *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.resolved.json", a->dir);
    if (experiment_open(e, path, a->sets, a->n_sets, err))
        return err->code;
    CheckpointMeta meta;
    snprintf(path, sizeof path, "%s/checkpoint.bin", a->dir);
    if (checkpoint_load(path, &e->model, &e->opt, &meta, err) || shift_stats_init(&c->stats, &e->model, err))
        return err->code;
    int C = shift_stats_max_channels(&c->stats);
    c->mu = bn_alloc(sizeof(double) * (C ? C : 1), err);
    c->var = bn_alloc(sizeof(double) * (C ? C : 1), err);
    if (!c->mu || !c->var || open_eval_csv(c, a->dir, err))
        return err->code;
    c->epoch = meta.epoch;
    printf("%s: checkpoint of epoch %d, %d BN layers\n", a->dir, meta.epoch, c->stats.n_layers);
    if (eval_all(c, "before", err))
        return err->code;
    if (a->recal) {
        SampleSet set = setup_eval_set(&e->data, strcmp(a->recal, "test") == 0);
        recalibrate_bn(&e->model, &set, e->x, e->y, &c->stats);
        printf("recalibrated every BN on the %s set (%d samples)\n", a->recal, set.n);
        if (eval_all(c, "after", err))
            return err->code;
    }
    long len;
    if (csv_commit(&c->csv, &len, err))
        return err->code;
    printf("appended to %s/eval.csv\n", a->dir);
    return BN_OK;
}

int cmd_eval(int argc, char **argv)
{
    EvalArgs a;
    if (parse_eval_args(argc, argv, &a))
        return BN_ERR_USER;
    bn_set_threads(a.threads ? a.threads : bn_get_threads());
    BnError err = {0};
    Experiment e;
    EvalCtx c;
    memset(&e, 0, sizeof e);
    memset(&c, 0, sizeof c);
    c.e = &e;
    c.recal = a.recal;
    int rc = run_eval(&a, &e, &c, &err);
    csv_close(&c.csv);
    bn_free(c.mu);
    bn_free(c.var);
    shift_stats_free(&c.stats);
    experiment_close(&e);
    return rc ? cli_error(rc, "%s", err.msg) : 0;
}
