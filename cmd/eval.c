/* `bnshift eval RUN_DIR [--recalibrate train|test]`: evaluate a run's
 * checkpoint on its train and test sets — inference-mode error, the error
 * with batch statistics on the same samples, and every BN layer's
 * estimation shift — optionally again after re-estimating every BN's running
 * statistics exactly on one set. If estimation shift causes the gap between
 * the two errors, recalibrating on the evaluation set must close it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "core/mem.h"
#include "core/threads.h"
#include "run/checkpoint.h"
#include "io/fsutil.h"
#include "io/logformat.h"
#include "run/runlock.h"
#include "setup.h"

static const char USAGE[] =
    "usage: bnshift eval RUN_DIR [--recalibrate train|test] [--set key.path=value]... [--threads N]\n"
    "Evaluates RUN_DIR/checkpoint.bin on the run's train and test sets: inference-mode error,\n"
    "error with batch statistics, and per-BN-layer estimation shift; with --recalibrate, again\n"
    "after re-estimating every BN's running statistics exactly on that set. Prints a table and\n"
    "appends the rows to RUN_DIR/eval.csv (a new file, or the old one plus whole rows).\n";

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
            return CLI_HELP_SHOWN;
        } else if (!strcmp(s, "--recalibrate") && has_value) {
            a->recal = argv[++i];
            if (strcmp(a->recal, "train") && strcmp(a->recal, "test"))
                return cli_error(BS_ERR_USER, "eval: --recalibrate: expected train or test, got '%s'", a->recal);
        } else if (!strcmp(s, "--set") && has_value && a->n_sets < 64) {
            a->sets[a->n_sets++] = argv[++i];
        } else if (!strcmp(s, "--threads") && has_value) {
            char *end;
            long t = strtol(argv[++i], &end, 10);
            if (end == argv[i] || *end || t < 1 || t > 1024)
                return cli_error(BS_ERR_USER, "eval: --threads: '%s' is not a thread count (1..1024)", argv[i]);
            a->threads = (int)t;
        } else if (s[0] != '-' && !a->dir) {
            if (!s[0])
                return cli_error(BS_ERR_USER, "eval: RUN_DIR: empty path, expected a run directory");
            a->dir = s;
        } else {
            return cli_error(BS_ERR_USER, "eval: unexpected argument '%s' (see bnshift eval --help)", s);
        }
    }
    if (!a->dir)
        return cli_error(BS_ERR_USER, "eval: missing RUN_DIR (see bnshift eval --help)");
    return 0;
}

typedef struct {
    Experiment *e;
    ShiftStats stats;
    double *mu, *var;
    FILE *rows; /* the new eval.csv rows (an open_memstream) */
    int epoch;
    const char *recal;
} EvalCtx;

/* One pass over set `which`: prints and logs errors and per-layer ESM. */
static int eval_set(EvalCtx *c, const char *stage, int which, BsError *err)
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
        fprintf(c->rows, "%d,%s,%s,%s,%.9g,%.9g,%.9g,,,,,,,,,,,\n", c->epoch, recal, stage, names[which],
                   inf.loss, inf.err, bat.err);
    for (int l = 0; l < c->stats.n_layers; l++) {
        const Op *op = &e->model.ops[c->stats.op_index[l]];
        Esm s;
        shift_stats_esm(&c->stats, &e->model, l, c->mu, c->var, &s);
        printf("        %-32s depth %3d  esm_mean %10.4g  esm_std %10.4g  nesm_mean %8.4g\n", op->name,
               op->norm_depth, s.esm_mean, s.esm_std, s.nesm_mean);
        fprintf(c->rows, "%d,%s,%s,%s,%.9g,%.9g,%.9g,%d,%s,%d,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n",
                   c->epoch, recal, stage, names[which], inf.loss, inf.err, bat.err, l, op->name,
                   op->norm_depth, op->u.bn.C, s.esm_mean, s.esm_std, s.esm_var, s.rms_mean, s.rms_std,
                   s.nesm_mean, s.nesm_std);
    }
    return BS_OK;
}

static int eval_all(EvalCtx *c, const char *stage, BsError *err)
{
    for (int which = 0; which < 2; which++)
        if (eval_set(c, stage, which, err))
            return err->code;
    return BS_OK;
}

/* The eval.csv rows are appended whole or not at all: the old file plus
 * the new rows go to a temp file that replaces it (fs_write_atomic), so a
 * kill leaves the old file or the old file plus every new row. */
typedef struct {
    char path[4200];
    char *old; /* what stays of the existing file ("" when none) */
    size_t old_len;
    int dropped_cut_row;
} EvalCsv;

/* Reads and checks an existing eval.csv before any work is done: its
 * header must be this version's, line ends LF; a last row cut by a killed
 * eval is dropped (said on stderr at the end). */
static int eval_csv_check(EvalCsv *x, const char *dir, BsError *err)
{
    snprintf(x->path, sizeof x->path, "%s/eval.csv", dir);
    if (fs_read_all(x->path, (size_t)1 << 30, &x->old, &x->old_len) != 0) {
        if (errno == ENOENT) {
            x->old = NULL;
            x->old_len = 0;
            return BS_OK;
        }
        return bs_fail(err, BS_ERR_RUNTIME, "%s: cannot append to it: %s", x->path,
                       errno == EINVAL ? "not a regular file" : strerror(errno));
    }
    if (x->old_len == 0)
        return BS_OK;
    if (memchr(x->old, '\r', x->old_len))
        return bs_fail(err, BS_ERR_USER, "%s: CRLF line ends (bnshift writes LF only; was the file edited?)",
                       x->path);
    const size_t hl = strlen(EVAL_HEADER);
    if (x->old_len < hl + 1 || memcmp(x->old, EVAL_HEADER, hl) || x->old[hl] != '\n')
        return bs_fail(err, BS_ERR_USER,
                       "%s: its header is not this bnshift's eval.csv header (another version, or edited); "
                       "move it away to start a new one", x->path);
    if (x->old[x->old_len - 1] != '\n') { /* a row cut by a killed eval */
        while (x->old_len > 0 && x->old[x->old_len - 1] != '\n')
            x->old_len--;
        x->dropped_cut_row = 1;
    }
    return BS_OK;
}

/* The old contents (or the header) plus the new rows, atomically. */
static int eval_csv_write(const EvalCsv *x, const char *rows, size_t rows_len, BsError *err)
{
    const char *head = x->old_len ? x->old : EVAL_HEADER "\n";
    size_t head_len = x->old_len ? x->old_len : strlen(EVAL_HEADER) + 1;
    char *all = malloc(head_len + rows_len + 1);
    if (!all)
        return bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory", x->path);
    memcpy(all, head, head_len);
    memcpy(all + head_len, rows, rows_len);
    int rc = fs_write_atomic(x->path, all, head_len + rows_len, err);
    free(all);
    return rc;
}

/* The checkpoint must be the one of the run's own config (as for --resume):
 * compared before --set overrides, which may change what eval measures. */
static int check_checkpoint_belongs(const char *dir, BsError *err)
{
    char cfg_path[4200], ck_path[4200];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.resolved.json", dir);
    snprintf(ck_path, sizeof ck_path, "%s/checkpoint.bin", dir);
    uint64_t hash;
    CheckpointMeta meta;
    if (config_file_hash(cfg_path, &hash, err) || checkpoint_peek(ck_path, &meta, err))
        return err->code;
    if (meta.config_hash != hash)
        return bs_fail(err, BS_ERR_USER,
                       "%s: written by a run with another config than %s (beyond train.epochs and log.*)", ck_path,
                       cfg_path);
    return BS_OK;
}

static int run_eval(const EvalArgs *a, Experiment *e, EvalCtx *c, EvalCsv *csv, BsError *err)
{
    if (eval_csv_check(csv, a->dir, err) || check_checkpoint_belongs(a->dir, err))
        return err->code;
    char path[4200];
    snprintf(path, sizeof path, "%s/config.resolved.json", a->dir);
    if (experiment_open(e, path, a->sets, a->n_sets, err))
        return err->code;
    CheckpointMeta meta;
    snprintf(path, sizeof path, "%s/checkpoint.bin", a->dir);
    if (checkpoint_load(path, &e->model, &e->opt, &meta, err) || shift_stats_init(&c->stats, &e->model, err))
        return err->code;
    int C = shift_stats_max_channels(&c->stats);
    c->mu = bs_alloc(sizeof(double) * (C ? C : 1), err);
    c->var = bs_alloc(sizeof(double) * (C ? C : 1), err);
    if (!c->mu || !c->var)
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
    return BS_OK;
}

/* Checks that dir is a directory and takes its lock (eval writes eval.csv). */
static int lock_run_dir(const char *dir, RunLock *lock, BsError *err)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return bs_fail(err, BS_ERR_USER, "%s: no such run directory (%s)", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return bs_fail(err, BS_ERR_USER, "%s: not a run directory", dir);
    return runlock_exclusive(lock, dir, err);
}

int cmd_eval(int argc, char **argv)
{
    EvalArgs a;
    int parsed = parse_eval_args(argc, argv, &a);
    if (parsed)
        return parsed == CLI_HELP_SHOWN ? 0 : BS_ERR_USER;
    BsError err = {0};
    if (bs_threads_start(a.threads ? a.threads : bs_get_threads(), &err))
        return cli_error(err.code, "%s", err.msg);
    RunLock lock = {.fd = -1};
    if (lock_run_dir(a.dir, &lock, &err))
        return cli_error(err.code, "%s", err.msg);
    Experiment e;
    EvalCtx c;
    EvalCsv csv;
    memset(&e, 0, sizeof e);
    memset(&c, 0, sizeof c);
    memset(&csv, 0, sizeof csv);
    c.e = &e;
    c.recal = a.recal;
    char *rows = NULL;
    size_t rows_len = 0;
    c.rows = open_memstream(&rows, &rows_len);
    int rc = c.rows ? run_eval(&a, &e, &c, &csv, &err) : bs_fail(&err, BS_ERR_RUNTIME, "out of memory");
    if (c.rows && fclose(c.rows) != 0 && rc == BS_OK)
        rc = bs_fail(&err, BS_ERR_RUNTIME, "out of memory");
    if (rc == BS_OK && eval_csv_write(&csv, rows, rows_len, &err) == BS_OK) {
        if (csv.dropped_cut_row)
            cli_warn("%s: dropped its cut last row (an eval killed while writing)", csv.path);
        printf("appended to %s\n", csv.path);
    }
    rc = err.code;
    free(rows);
    free(csv.old);
    bs_free(c.mu);
    bs_free(c.var);
    shift_stats_free(&c.stats);
    experiment_close(&e);
    if (rc)
        runlock_abandon(&lock); /* a refusal leaves no lock file it made */
    runlock_release(&lock);
    return rc ? cli_error(rc, "%s", err.msg) : 0;
}
