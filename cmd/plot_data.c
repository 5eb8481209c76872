/* `bnshift plot-data RUN_DIR|SWEEP... [--out DIR] [--epochs LIST]`: turns the
 * logs of one or more runs (a sweep stands for its manifest's runs) into
 * gnuplot-ready tables (one block per run, blocks separated by two blank
 * lines so `index N` picks run N) and summary CSVs: one row per run, per
 * group of runs that differ only in seed, per run and eval.csv condition,
 * and, for a sweep's runs, per run and per combination of its axes but seed.
 * Every run is read (and checked) before anything is written. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "commands.h"
#include "io/fsutil.h"
#include "run/runlog.h"
#include "run/summary.h"
#include "run_inputs.h"
#include "run_labels.h"

#define MAX_EPOCHS_ARG 64
#define MAX_FILES 10
#define PATH_LEN (CONFIG_PATH_MAX + 64)

typedef struct {
    const char *out;
    int epochs[MAX_EPOCHS_ARG], n_epochs; /* --epochs; 0 = first, middle, last */
    char files[MAX_FILES][PATH_LEN];      /* written, for the closing list */
    int n_files;
    AtomicFile cur; /* the table being written */
    /* Printed only when everything was written: a failure stays one line. */
    Notes notes;
} PlotCtx;

/* The axes of every sweep given, each key once, in order of appearance. */
typedef struct {
    const char **keys;
    int n;
} AxisSet;

static void usage(FILE *f)
{
    fprintf(f, "usage: bnshift plot-data RUN_DIR|SWEEP... [--out DIR] [--epochs LIST]\n"
               "SWEEP is a sweep's directory (holding sweep.json) or its sweep.json: its runs in manifest\n"
               "order, those not started or without an evaluated epoch skipped (with a warning).\n"
               "Writes gnuplot-ready tables of the runs' logs into DIR (default plots/):\n"
               "  shift_vs_epoch_<set>.dat  esm_mean and esm_std of every BN layer per epoch\n"
               "  shift_vs_depth_<set>.dat  per-layer shift vs depth at chosen epochs\n"
               "                            (first, middle, last evaluated; or --epochs 1,5,10)\n"
               "  errors.dat                train_batch_err, train_err, test_err, gap per epoch, then the\n"
               "                            errors with batch statistics and train_gap, test_gap (err - bstat)\n"
               "  summary.csv               one row per run (with eval.csv's corrupted-test means)\n"
               "  summary_grouped.csv       runs differing only in seed, mean and std\n"
               "  eval_summary.csv          one row per run and eval.csv condition (when any run has one)\n"
               "  corruption.dat            per corruption type and severity of eval.csv's test rows: err,\n"
               "                            adabn_err, bstat_err, mean_esm_mean, with 'clean 0' and 'mean'\n"
               "                            lines (when any run has a corrupted test set in eval.csv)\n"
               "  sweep_summary.csv         per run of a sweep: its axes' values, then summary.csv's numbers\n"
               "  sweep_grouped.csv         per combination of a sweep's axes but seed: n, mean and std of\n"
               "                            final/best test error, last mean ESM, depth slope (with a SWEEP)\n"
               "Each .dat holds one block per run (gnuplot `index`), headed by '# <name>'.\n");
}

/* Each table is written to NAME.tmp and renamed when whole (fs_atomic_*):
 * a reader never sees half a table, and a failure leaves the old one. */
static FILE *open_out(PlotCtx *ctx, const char *name, BsError *err)
{
    char *path = ctx->files[ctx->n_files];
    snprintf(path, PATH_LEN, "%s/%s", ctx->out, name);
    if (fs_atomic_open(&ctx->cur, path, err))
        return NULL;
    return ctx->cur.f;
}

/* A write error so far (a full disk): stop at once rather than write on. */
static int write_failed(PlotCtx *ctx, FILE *f, BsError *err)
{
    if (!ferror(f))
        return 0;
    int e = errno;
    fs_atomic_abort(&ctx->cur);
    return bs_fail(err, BS_ERR_RUNTIME, "%s: write failed: %s", ctx->files[ctx->n_files], strerror(e ? e : EIO));
}

/* Commits the table and records its name; write errors are runtime failures. */
static int close_out(PlotCtx *ctx, BsError *err)
{
    if (fs_atomic_commit(&ctx->cur, err))
        return err->code;
    ctx->n_files++;
    return 0;
}

/* After a failure: removes every table this run of plot-data wrote. */
static void remove_outputs(PlotCtx *ctx)
{
    for (int i = 0; i < ctx->n_files; i++)
        unlink(ctx->files[i]);
    ctx->n_files = 0;
}

/* A value for a whitespace table: NaN when missing (gnuplot skips it). */
static void put_num(FILE *f, double v)
{
    if (isnan(v))
        fputs(" NaN", f);
    else
        fprintf(f, " %.15g", v); /* round-trips the logs' %.9g digits exactly */
}

/* A value for a CSV: empty when missing. */
static void put_csv_num(FILE *f, double v)
{
    if (!isnan(v))
        fprintf(f, "%.15g", v);
}

/* A CSV text field, quoted when it holds a comma or quote. */
static void put_csv_text(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void block_start(FILE *f, int index, const char *label)
{
    if (index > 0)
        fputs("\n\n", f);
    fprintf(f, "# %s\n", label);
}

static const char *layer_name(const RunLog *r, int set, int layer)
{
    for (int i = 0; i < r->n_shift; i++)
        if (r->shift[i].set == set && r->shift[i].layer == layer)
            return r->shift[i].name;
    return "?";
}

static int any_rows(const RunLog *runs, int n, int set)
{
    for (int i = 0; i < n; i++)
        if (runlog_n_layers(&runs[i], set) > 0)
            return 1;
    return 0;
}

/* All of r's evaluated epochs on set (caller frees); *n gets the count. */
static int *epochs_of(const RunLog *r, int set, int *n)
{
    *n = runlog_epochs(r, set, NULL, 0);
    int *e = malloc(((size_t)*n + 1) * sizeof *e);
    if (e)
        runlog_epochs(r, set, e, *n);
    return e;
}

static void shift_epoch_block(FILE *f, const RunLog *r, int set, int *ep, int n_ep)
{
    int L = runlog_n_layers(r, set);
    fputs("# epoch", f);
    for (int k = 0; k < 2; k++)
        for (int l = 0; l < L; l++)
            fprintf(f, " %s:%s", k ? "std" : "mean", layer_name(r, set, l));
    fputc('\n', f);
    for (int i = 0; i < n_ep; i++) {
        fprintf(f, "%d", ep[i]);
        for (int k = 0; k < 2; k++)
            for (int l = 0; l < L; l++) {
                const ShiftRow *s = runlog_find(r, ep[i], set, l);
                put_num(f, s ? s->v[k ? SV_ESM_STD : SV_ESM_MEAN] : NAN);
            }
        fputc('\n', f);
    }
}

static int write_shift_vs_epoch(PlotCtx *ctx, const RunLog *runs, int n, int set, BsError *err)
{
    char name[64];
    snprintf(name, sizeof name, "shift_vs_epoch_%s.dat", runlog_set_name(set));
    FILE *f = open_out(ctx, name, err);
    if (!f)
        return err->code;
    for (int i = 0; i < n; i++) {
        block_start(f, i, runs[i].cfg.name);
        int n_ep;
        int *ep = epochs_of(&runs[i], set, &n_ep);
        if (!ep) {
            fs_atomic_abort(&ctx->cur);
            return bs_fail(err, BS_ERR_RUNTIME, "out of memory");
        }
        shift_epoch_block(f, &runs[i], set, ep, n_ep);
        free(ep);
        if (write_failed(ctx, f, err))
            return err->code;
    }
    return close_out(ctx, err);
}

static void shift_depth_block(FILE *f, const RunLog *r, int set, int epoch, int blocks)
{
    if (blocks > 0)
        fputs("\n\n", f);
    fprintf(f, "# %s epoch %d\n", r->cfg.name, epoch); /* the label line, with its epoch */
    fputs("# depth layer name esm_mean esm_std rms_mean rms_std nesm_mean nesm_std\n", f);
    static const int cols[] = {SV_ESM_MEAN, SV_ESM_STD, SV_RMS_MEAN, SV_RMS_STD, SV_NESM_MEAN, SV_NESM_STD};
    for (int l = 0; l < runlog_n_layers(r, set); l++) {
        const ShiftRow *s = runlog_find(r, epoch, set, l);
        if (!s)
            continue;
        fprintf(f, "%d %d %s", s->depth, s->layer, s->name);
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++)
            put_num(f, s->v[cols[c]]);
        fputc('\n', f);
    }
}

static int write_shift_vs_depth(PlotCtx *ctx, const RunLog *runs, int n, int set, BsError *err)
{
    char name[64];
    snprintf(name, sizeof name, "shift_vs_depth_%s.dat", runlog_set_name(set));
    FILE *f = open_out(ctx, name, err);
    if (!f)
        return err->code;
    int blocks = 0;
    for (int i = 0; i < n; i++) {
        if (runlog_n_layers(&runs[i], set) == 0)
            continue; /* no BN layers (gn, none): nothing to plot, nothing to warn about */
        int chosen[MAX_EPOCHS_ARG + 3];
        int n_chosen = run_inputs_depth_epochs(&runs[i], set, ctx->epochs, ctx->n_epochs, chosen, &ctx->notes);
        if (n_chosen < 0) {
            fs_atomic_abort(&ctx->cur);
            return bs_fail(err, BS_ERR_RUNTIME, "out of memory");
        }
        for (int k = 0; k < n_chosen; k++)
            shift_depth_block(f, &runs[i], set, chosen[k], blocks++);
        if (write_failed(ctx, f, err))
            return err->code;
    }
    return close_out(ctx, err);
}

static int write_errors(PlotCtx *ctx, const RunLog *runs, int n, BsError *err)
{
    FILE *f = open_out(ctx, "errors.dat", err);
    if (!f)
        return err->code;
    for (int i = 0; i < n; i++) {
        block_start(f, i, runs[i].cfg.name);
        fputs("# epoch train_batch_err train_err test_err gap train_bstat_err test_bstat_err train_gap test_gap\n",
              f);
        for (int k = 0; k < runs[i].n_metrics; k++) {
            const MetricRow *m = &runs[i].metrics[k];
            fprintf(f, "%d", m->epoch);
            put_num(f, m->train_batch_err);
            put_num(f, m->train_err);
            put_num(f, m->test_err);
            put_num(f, m->test_err - m->train_batch_err); /* NaN when either is */
            put_num(f, m->train_bstat_err);
            put_num(f, m->test_bstat_err);
            put_num(f, m->train_err - m->train_bstat_err);
            put_num(f, m->test_err - m->test_bstat_err);
            fputc('\n', f);
        }
        if (write_failed(ctx, f, err))
            return err->code;
    }
    return close_out(ctx, err);
}

/* A count for a CSV: empty when 0 (not recorded). */
static void put_csv_count(FILE *f, int v)
{
    if (v > 0)
        fprintf(f, "%d", v);
}

static void put_eval_row(FILE *f, const RunLog *r, const EvalCond *c)
{
    const EvalKey *k = &c->key;
    put_csv_text(f, r->cfg.name);
    fprintf(f, ",%d,%s,%s,", r->cfg.seed, k->recal, k->estimator);
    put_csv_count(f, k->est_batches);
    fputc(',', f);
    put_csv_count(f, k->est_batch_size);
    fputc(',', f);
    put_csv_num(f, k->est_momentum);
    fputc(',', f);
    put_csv_count(f, k->batch_stats_size);
    fprintf(f, ",%s,", k->corruption == CORRUPT_NONE ? "" : corruption_name(k->corruption));
    put_csv_count(f, k->severity);
    fprintf(f, ",%s,%s", evallog_stage_name(k->stage), runlog_set_name(k->set));
    const double v[] = {c->err, c->batch_stats_err, c->mean_esm_mean, c->mean_nesm_mean};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        fputc(',', f);
        put_csv_num(f, v[i]);
    }
    fputc('\n', f);
}

/* Written only when some run has eval.csv rows (as the shift tables are
 * only written for sets with rows). */
static int write_eval_summary(PlotCtx *ctx, const RunLog *runs, int n, BsError *err)
{
    int any = 0;
    for (int i = 0; i < n; i++)
        any |= runs[i].n_eval > 0;
    if (!any)
        return 0;
    FILE *f = open_out(ctx, "eval_summary.csv", err);
    if (!f)
        return err->code;
    fputs("label,seed,recalibrated_on,estimator,est_batches,est_batch_size,est_momentum,batch_stats_size,"
          "corruption,severity,stage,set,err,batch_stats_err,mean_esm_mean,mean_nesm_mean\n", f);
    for (int i = 0; i < n; i++) {
        for (int c = 0; c < runs[i].n_eval; c++)
            put_eval_row(f, &runs[i], &runs[i].eval[c]);
        if (write_failed(ctx, f, err))
            return err->code;
    }
    return close_out(ctx, err);
}

static void put_cell(FILE *f, const char *type, const CorrCell *c)
{
    fprintf(f, "%s %d", type, c->severity);
    put_num(f, c->err);
    put_num(f, c->adabn_err);
    put_num(f, c->bstat_err);
    put_num(f, c->mean_esm);
    fputc('\n', f);
}

/* A run's block: the clean test set as severity 0 (when evaluated), each
 * corrupted cell, then per severity the mean over the types present. */
static void corruption_block(FILE *f, const RunLog *r, const CorrCell *cells, int n)
{
    fputs("# type severity err adabn_err bstat_err mean_esm_mean\n", f);
    CorrCell clean;
    if (summary_corr_cell(r, CORRUPT_NONE, 0, &clean))
        put_cell(f, "clean", &clean);
    for (int i = 0; i < n; i++)
        put_cell(f, corruption_name(cells[i].type), &cells[i]);
    for (int sev = 1; sev <= CORRUPT_MAX_SEVERITY; sev++) {
        int present = 0;
        for (int i = 0; i < n; i++)
            present |= cells[i].severity == sev;
        if (present) {
            CorrCell m = summary_corr_mean(cells, n, sev);
            put_cell(f, "mean", &m);
        }
    }
}

/* Written only when some run has a corrupted test set in eval.csv. */
static int write_corruption(PlotCtx *ctx, const RunLog *runs, int n, BsError *err)
{
    CorrCell cells[SUMMARY_MAX_CELLS];
    int any = 0;
    for (int i = 0; i < n && !any; i++)
        any = summary_corr_cells(&runs[i], cells) > 0;
    if (!any)
        return 0;
    FILE *f = open_out(ctx, "corruption.dat", err);
    if (!f)
        return err->code;
    for (int i = 0; i < n; i++) {
        block_start(f, i, runs[i].cfg.name);
        corruption_block(f, &runs[i], cells, summary_corr_cells(&runs[i], cells));
        if (write_failed(ctx, f, err))
            return err->code;
    }
    return close_out(ctx, err);
}

/* label,norm,setting,train_size: the columns both summaries start with.
 * norm is the variant, with the batch-free norm after a slash when a mixed
 * variant uses another than GN ("xbnblock/lrn"). */
static void put_run_columns(FILE *f, const Config *c)
{
    char norm[64];
    run_label_norm(c, norm, sizeof norm);
    put_csv_text(f, c->name);
    fprintf(f, ",%s,%s->%s,", norm, run_label_source(c->data.train_from), run_label_source(c->data.test_from));
    if (c->data.train_subset)
        fprintf(f, "%d", c->data.train_subset);
    else
        fputs("all", f);
}

/* ",bn_estimator,corruption": train.bn_estimator and data.corruption as
 * type:severity or none. */
static void put_train_settings(FILE *f, const Config *c)
{
    char corruption[64];
    run_label_corruption(c, corruption, sizeof corruption);
    fprintf(f, ",%s,%s", run_label_bn_estimator(c), corruption);
}

static int write_summary(PlotCtx *ctx, const RunLog *runs, const RunSummary *sum, int n, BsError *err)
{
    FILE *f = open_out(ctx, "summary.csv", err);
    if (!f)
        return err->code;
    fputs("label,norm,setting,train_size,seed,final_test_err,best_test_err,mean_esm_first,"
          "mean_esm_last,esm_depth_slope,bn_estimator,corruption,final_test_bstat_err,corr_cells,corr_err,"
          "corr_adabn_err,corr_bstat_err\n", f);
    for (int i = 0; i < n; i++) {
        const Config *c = &runs[i].cfg;
        put_run_columns(f, c);
        fprintf(f, ",%d", c->seed);
        for (int k = 0; k < RS_N; k++) {
            if (k == RS_FINAL_BSTAT_ERR) /* the run's own settings, after the older columns */
                put_train_settings(f, c);
            fputc(',', f);
            put_csv_num(f, sum[i].v[k]);
        }
        fputc('\n', f);
    }
    return close_out(ctx, err);
}

/* ",mean,std" of summary column c over the runs of group g (empty when
 * not available). */
static void put_group_stat(FILE *f, const RunSummary *sum, const int *group, int n, int g, int c)
{
    double mean, std;
    summary_group_stat(sum, group, n, g, c, &mean, &std);
    fputc(',', f);
    put_csv_num(f, mean);
    fputc(',', f);
    put_csv_num(f, std);
}

static int write_grouped(PlotCtx *ctx, const RunLog *runs, const RunSummary *sum, int n, BsError *err)
{
    int *group = malloc((size_t)n * sizeof *group);
    if (!group)
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory");
    FILE *f = NULL;
    if (summary_assign_groups(runs, n, group, err) || !(f = open_out(ctx, "summary_grouped.csv", err))) {
        free(group);
        return err->code;
    }
    fputs("label,norm,setting,train_size,n_seeds,final_test_err_mean,final_test_err_std,"
          "best_test_err_mean,best_test_err_std,mean_esm_last_mean,mean_esm_last_std,"
          "esm_depth_slope_mean,esm_depth_slope_std,final_test_bstat_err_mean,final_test_bstat_err_std,"
          "corr_err_mean,corr_err_std,corr_adabn_err_mean,corr_adabn_err_std,corr_bstat_err_mean,"
          "corr_bstat_err_std\n", f);
    for (int g = 0; g < n; g++) {
        if (group[g] != g)
            continue; /* not the first run of its group */
        int k = 0;
        for (int i = 0; i < n; i++)
            k += group[i] == g;
        put_run_columns(f, &runs[g].cfg);
        fprintf(f, ",%d", k);
        static const int cols[] = {RS_FINAL_ERR, RS_BEST_ERR, RS_ESM_LAST, RS_SLOPE, RS_FINAL_BSTAT_ERR,
                                   RS_CORR_ERR, RS_CORR_ADABN_ERR, RS_CORR_BSTAT_ERR};
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++)
            put_group_stat(f, sum, group, n, g, cols[c]);
        fputc('\n', f);
    }
    free(group);
    return close_out(ctx, err);
}

/* Run i's value on axis key ("" when its sweep has no such axis or it is
 * not from a sweep). */
static const char *axis_value(const RunOrigin *o, const char *key)
{
    for (int a = 0; o->m && a < o->m->n_axes; a++)
        if (!strcmp(o->m->axes[a], key))
            return o->m->values[o->run * o->m->n_axes + a];
    return "";
}

/* One row per run of a sweep: label, the axes, summary.csv's numbers. */
static int write_sweep_summary(PlotCtx *ctx, const RunLog *runs, const RunSummary *sum, const RunOrigin *from,
                               int n, const AxisSet *axes, BsError *err)
{
    FILE *f = open_out(ctx, "sweep_summary.csv", err);
    if (!f)
        return err->code;
    fputs("label", f);
    for (int a = 0; a < axes->n; a++) {
        fputc(',', f);
        put_csv_text(f, axes->keys[a]);
    }
    for (int k = 0; k < RS_N; k++)
        fprintf(f, ",%s", run_label_summary_column(k));
    fputc('\n', f);
    for (int i = 0; i < n; i++) {
        if (!from[i].m)
            continue;
        put_csv_text(f, runs[i].cfg.name);
        for (int a = 0; a < axes->n; a++) {
            fputc(',', f);
            put_csv_text(f, axis_value(&from[i], axes->keys[a]));
        }
        for (int k = 0; k < RS_N; k++) {
            fputc(',', f);
            put_csv_num(f, sum[i].v[k]);
        }
        fputc('\n', f);
    }
    return close_out(ctx, err);
}

/* Whether sweep runs i and j agree on every axis but seed. */
static int same_cell(const RunOrigin *i, const RunOrigin *j, const AxisSet *axes)
{
    for (int a = 0; a < axes->n; a++)
        if (strcmp(axes->keys[a], "seed") && strcmp(axis_value(i, axes->keys[a]), axis_value(j, axes->keys[a])))
            return 0;
    return 1;
}

/* One row per combination of the axes but seed, in order of first run:
 * the axes, n, and mean and std over its runs (summary_group_stat). */
static int write_sweep_grouped(PlotCtx *ctx, const RunSummary *sum, const RunOrigin *from, int n,
                               const AxisSet *axes, BsError *err)
{
    int *group = malloc((size_t)n * sizeof *group);
    if (!group)
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory");
    for (int i = 0; i < n; i++) {
        group[i] = -1; /* not from a sweep: in no group */
        for (int j = 0; from[i].m && j <= i && group[i] < 0; j++)
            if (from[j].m && same_cell(&from[i], &from[j], axes))
                group[i] = j;
    }
    FILE *f = open_out(ctx, "sweep_grouped.csv", err);
    if (!f) {
        free(group);
        return err->code;
    }
    for (int a = 0; a < axes->n; a++)
        if (strcmp(axes->keys[a], "seed")) {
            put_csv_text(f, axes->keys[a]);
            fputc(',', f);
        }
    fputs("n,final_test_err_mean,final_test_err_std,best_test_err_mean,best_test_err_std,"
          "mean_esm_last_mean,mean_esm_last_std,esm_depth_slope_mean,esm_depth_slope_std\n", f);
    for (int g = 0; g < n; g++) {
        if (group[g] != g)
            continue; /* not the first run of its combination */
        int k = 0;
        for (int i = 0; i < n; i++)
            k += group[i] == g;
        for (int a = 0; a < axes->n; a++)
            if (strcmp(axes->keys[a], "seed")) {
                put_csv_text(f, axis_value(&from[g], axes->keys[a]));
                fputc(',', f);
            }
        fprintf(f, "%d", k);
        static const int cols[] = {RS_FINAL_ERR, RS_BEST_ERR, RS_ESM_LAST, RS_SLOPE};
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++)
            put_group_stat(f, sum, group, n, g, cols[c]);
        fputc('\n', f);
    }
    free(group);
    return close_out(ctx, err);
}

/* The sweep tables, when any run is from a sweep: their own files, so that
 * summary.csv and summary_grouped.csv keep one set of columns (scripts read
 * them by column number). */
static int write_sweep_tables(PlotCtx *ctx, const RunLog *runs, const RunSummary *sum, const RunOrigin *from,
                              int n, BsError *err)
{
    int any = 0, cap = 0;
    for (int i = 0; i < n; i++)
        if (from[i].m) {
            any = 1;
            cap += from[i].m->n_axes;
        }
    if (!any)
        return 0;
    AxisSet axes = {malloc(((size_t)cap + 1) * sizeof *axes.keys), 0};
    if (!axes.keys)
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory");
    for (int i = 0; i < n; i++)
        for (int a = 0; from[i].m && a < from[i].m->n_axes; a++) {
            const char *key = from[i].m->axes[a];
            int seen = 0;
            for (int k = 0; k < axes.n && !seen; k++)
                seen = !strcmp(axes.keys[k], key);
            if (!seen)
                axes.keys[axes.n++] = key;
        }
    int rc = write_sweep_summary(ctx, runs, sum, from, n, &axes, err) ||
             write_sweep_grouped(ctx, sum, from, n, &axes, err);
    free(axes.keys);
    return rc ? err->code : 0;
}

static int write_all(PlotCtx *ctx, const RunLog *runs, const RunOrigin *from, int n, BsError *err)
{
    for (int set = 0; set < RUNLOG_NSETS; set++)
        if (any_rows(runs, n, set) &&
            (write_shift_vs_epoch(ctx, runs, n, set, err) || write_shift_vs_depth(ctx, runs, n, set, err)))
            return err->code;
    if (write_errors(ctx, runs, n, err) || write_eval_summary(ctx, runs, n, err) ||
        write_corruption(ctx, runs, n, err))
        return err->code;
    RunSummary *sum = malloc((size_t)n * sizeof *sum);
    if (!sum)
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory");
    for (int i = 0; i < n; i++)
        sum[i] = summary_of_run(&runs[i]);
    int rc = write_summary(ctx, runs, sum, n, err) || write_grouped(ctx, runs, sum, n, err) ||
             write_sweep_tables(ctx, runs, sum, from, n, err);
    free(sum);
    return rc ? err->code : 0;
}

/* Parses the options; run directories are collected into dirs[*n_dirs]. */
static int parse_args(PlotCtx *ctx, int argc, char **argv, char **dirs, int *n_dirs)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            ctx->out = argv[++i];
            if (!ctx->out[0])
                return cli_error(BS_ERR_USER, "plot-data: --out: empty path, expected a directory");
        } else if (!strcmp(argv[i], "--epochs") && i + 1 < argc) {
            if (run_inputs_parse_epochs("plot-data", argv[++i], ctx->epochs, MAX_EPOCHS_ARG, &ctx->n_epochs))
                return BS_ERR_USER;
        } else if (!argv[i][0])
            return cli_error(BS_ERR_USER, "plot-data: RUN_DIR: empty path, expected a run directory");
        else if (argv[i][0] != '-' || !argv[i][1])
            dirs[(*n_dirs)++] = argv[i];
        else
            return cli_error(BS_ERR_USER, "plot-data: unexpected argument '%s' (see bnshift plot-data --help)",
                             argv[i]);
    }
    if (!*n_dirs)
        return cli_error(BS_ERR_USER, "plot-data: missing RUN_DIR (see bnshift plot-data --help)");
    return 0;
}

int cmd_plot_data(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    PlotCtx *ctx = calloc(1, sizeof *ctx);
    char **args = malloc((size_t)argc * sizeof *args);
    if (!args || !ctx) {
        free(ctx);
        free(args);
        return cli_error(BS_ERR_RUNTIME, "plot-data: out of memory");
    }
    ctx->out = "plots";
    int n_args = 0;
    RunInputs in = {0};
    BsError err = {0};
    int rc = parse_args(ctx, argc, argv, args, &n_args);
    if (!rc)
        rc = run_inputs_load(&in, "plot-data", args, n_args, &ctx->notes);
    size_t made = 0;
    if (!rc && fs_mkdir_p(ctx->out, &made, &err))
        rc = cli_error(err.code, "%s", err.msg);
    if (!rc && write_all(ctx, in.runs, in.from, in.n, &err)) {
        remove_outputs(ctx); /* a failed --out leaves nothing it made */
        fs_unmake_dirs(ctx->out, made);
        rc = cli_error(err.code, "%s", err.msg);
    }
    if (!rc)
        notes_print(&ctx->notes);
    for (int i = 0; !rc && i < ctx->n_files; i++)
        printf("wrote %s\n", ctx->files[i]);
    run_inputs_free(&in);
    free(args);
    free(ctx);
    return rc;
}
