/* `bnshift eval RUN_DIR [--recalibrate train|test [--estimator E ...]]`:
 * evaluate a run's checkpoint on its train and test sets — inference-mode
 * error, the error with batch statistics on the same samples, and every BN
 * layer's estimation shift — optionally again after re-estimating every
 * BN's running statistics on one set with one of the estimators of
 * train/estimate.h. If estimation shift causes the gap between the two
 * errors, recalibrating on the evaluation set must close it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "core/mem.h"
#include "core/threads.h"
#include "data/corrupt.h"
#include "eval_csv.h"
#include "run/checkpoint.h"
#include "io/fsutil.h"
#include "io/logformat.h"
#include "io/safetensors.h"
#include "models/state_dict.h"
#include "run/runlock.h"
#include "setup.h"
#include "train/estimate.h"

static const char USAGE[] =
    "usage: bnshift eval RUN_DIR [--recalibrate train|test [--estimator E] [--batches N] [--batch-size B]\n"
    "                    [--momentum M]] [--batch-stats B] [--only train|test] [--set key.path=value]...\n"
    "                    [--threads N] [--weights FILE] [--out DIR] [--logits FILE]\n"
    "       bnshift eval CONFIG.json --weights FILE --out DIR [the options above]\n"
    "Evaluates RUN_DIR/checkpoint.bin on the run's train and test sets (--only: one of them):\n"
    "inference-mode error, error with batch statistics (batches of B samples, default\n"
    "train.batch_size: prediction-time BN), and per-BN-layer estimation shift; with --recalibrate,\n"
    "again after re-estimating every BN's running statistics on that set. Estimators E:\n"
    "  exact       population statistics, layer by layer in inference mode (the default)\n"
    "  ioffe       BN paper Alg. 2: mean of batch means, m/(m-1) x mean of batch variances\n"
    "  precise     PreciseBN: equal-weight mean of batch means and unbiased variances\n"
    "  ema         running average with momentum M (default train.bn_momentum), from the current estimates\n"
    "  cumulative  cumulative moving average (PyTorch momentum=None)\n"
    "The training-mode estimators run N batches (default: one pass over the set) of B samples\n"
    "(default train.batch_size) in a seeded shuffled order. Prints a table and appends the rows\n"
    "to RUN_DIR/eval.csv (a new file, or the old one plus whole rows).\n"
    "  --weights F    evaluate the weights and BN statistics of safetensors file F (bnshift export's\n"
    "                 names) instead of the checkpoint; then the first argument may be a CONFIG.json\n"
    "                 (a model trained elsewhere on this config's data), with --out DIR\n"
    "  --out DIR      write eval.csv into DIR (created if missing) instead of RUN_DIR\n"
    "  --logits F     also write the evaluated test set (--only train: the train set) as fed to the\n"
    "                 network: inputs [N,C,H,W], labels [N], logits [N,classes], safetensors\n";

typedef struct {
    const char *dir, *recal;
    const char *weights, *out, *logits;
    int config_mode; /* dir is a CONFIG.json (with --weights) */
    char *sets[64];
    int n_sets, threads;
    Reestimator estimator;
    int batches, est_batch, batch_stats; /* 0: the default */
    double momentum;                     /* < 0: train.bn_momentum */
    int only;                            /* -1: both sets, else 0 train / 1 test */
} EvalArgs;

/* Options that only make sense together. */
static int check_eval_args(const EvalArgs *a)
{
    const int trained = a->estimator != REEST_EXACT;
    if (!a->recal && (a->estimator != REEST_EXACT || a->batches || a->est_batch || a->momentum >= 0))
        return cli_error(BS_ERR_USER, "eval: --estimator, --batches, --batch-size and --momentum need "
                                      "--recalibrate train|test");
    if (!trained && (a->batches || a->est_batch))
        return cli_error(BS_ERR_USER, "eval: --batches and --batch-size do not apply to --estimator exact "
                                      "(it uses every sample of the set once)");
    if (a->momentum >= 0 && a->estimator != REEST_EMA)
        return cli_error(BS_ERR_USER, "eval: --momentum applies to --estimator ema only");
    if (a->recal && a->only >= 0 && a->only != !strcmp(a->recal, "test"))
        return cli_error(BS_ERR_USER, "eval: --only %s with --recalibrate %s: the recalibration set is "
                                      "evaluated too", a->only ? "test" : "train", a->recal);
    return 0;
}

static int parse_eval_args(int argc, char **argv, EvalArgs *a)
{
    memset(a, 0, sizeof *a);
    a->momentum = -1;
    a->only = -1;
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
        } else if (!strcmp(s, "--estimator") && has_value) {
            if (reestimator_parse(argv[++i], &a->estimator))
                return cli_error(BS_ERR_USER, "eval: --estimator: expected one of %s, got '%s'",
                                 reestimator_list(), argv[i]);
        } else if (!strcmp(s, "--batches") && has_value) {
            if (cli_parse_int("eval", s, argv[++i], 1, 100000000, &a->batches))
                return BS_ERR_USER;
        } else if (!strcmp(s, "--batch-size") && has_value) {
            if (cli_parse_int("eval", s, argv[++i], 2, 65536, &a->est_batch))
                return BS_ERR_USER;
        } else if (!strcmp(s, "--batch-stats") && has_value) {
            if (cli_parse_int("eval", s, argv[++i], 2, 65536, &a->batch_stats))
                return BS_ERR_USER;
        } else if (!strcmp(s, "--momentum") && has_value) {
            char *end;
            errno = 0;
            a->momentum = strtod(argv[++i], &end);
            if (end == argv[i] || *end || errno || !(a->momentum > 0 && a->momentum <= 1))
                return cli_error(BS_ERR_USER, "eval: --momentum: '%s' is not a number in (0, 1]", argv[i]);
        } else if ((!strcmp(s, "--weights") || !strcmp(s, "--out") || !strcmp(s, "--logits")) && has_value) {
            const char *v = argv[++i];
            if (!v[0])
                return cli_error(BS_ERR_USER, "eval: %s: empty path", s);
            *(!strcmp(s, "--weights") ? &a->weights : !strcmp(s, "--out") ? &a->out : &a->logits) = v;
        } else if (!strcmp(s, "--only") && has_value) {
            const char *w = argv[++i];
            if (strcmp(w, "train") && strcmp(w, "test"))
                return cli_error(BS_ERR_USER, "eval: --only: expected train or test, got '%s'", w);
            a->only = !strcmp(w, "test");
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
    struct stat st;
    a->config_mode = stat(a->dir, &st) == 0 && S_ISREG(st.st_mode);
    if (a->config_mode && (!a->weights || !a->out))
        return cli_error(BS_ERR_USER, "eval: %s is a file: a CONFIG.json needs --weights FILE and --out DIR (a run "
                                      "directory needs neither)", a->dir);
    return check_eval_args(a);
}

typedef struct {
    Experiment *e;
    const EvalArgs *a;
    ShiftStats stats;
    double *mu, *var;
    FILE *rows; /* the new eval.csv rows (an open_memstream) */
    int epoch;
    char estimator[96]; /* the estimator columns: "name,batches,batch_size,momentum" */
    EvalResult bstat[2]; /* per set, from the "before" stage: batch statistics do not */
    int have_bstat[2];   /* depend on the running estimates, so "after" reuses them */
} EvalCtx;

/* "type,severity" of the corruption on the set (which: 0 train, 1 test),
 * or "," when it is clean. */
static void corruption_columns(const Config *c, int which, char *out, size_t cap)
{
    if (setup_corrupts(c, which))
        snprintf(out, cap, "%s,%d", corruption_name(c->data.corruption.type), c->data.corruption.severity);
    else
        snprintf(out, cap, ",");
}

/* One pass over set `which`: prints and logs errors and per-layer ESM. */
static int eval_set(EvalCtx *c, const char *stage, int which, BsError *err)
{
    static const char *const names[2] = {"train", "test"};
    Experiment *e = c->e;
    SampleSet set = setup_eval_set(&e->data, which);
    set.batch = e->cfg.train.batch_size; /* the model may hold more (--batch-stats, --batch-size) */
    EvalResult inf, bat;
    evaluate(&e->model, &set, e->x, e->y, &c->stats, &inf);
    SampleSet bset = set;
    bset.batch = c->a->batch_stats ? c->a->batch_stats : set.batch;
    if (!c->have_bstat[which] && evaluate_batch_stats(&e->model, &bset, e->x, e->y, &c->bstat[which], err))
        return err->code;
    c->have_bstat[which] = 1;
    bat = c->bstat[which];
    printf("%-7s %-5s  err %.4f  with batch stats (B=%d) %.4f  gap %+.4f\n", stage, names[which], inf.err,
           bset.batch, bat.err, inf.err - bat.err);
    const char *recal = c->a->recal ? c->a->recal : "";
    char tail[256], corr[64];
    corruption_columns(&e->cfg, which, corr, sizeof corr);
    snprintf(tail, sizeof tail, "%s,%d,%s", c->estimator, bset.batch, corr);
    if (c->stats.n_layers == 0)
        fprintf(c->rows, "%d,%s,%s,%s,%.9g,%.9g,%.9g,,,,,,,,,,,,%s\n", c->epoch, recal, stage, names[which],
                inf.loss, inf.err, bat.err, tail);
    for (int l = 0; l < c->stats.n_layers; l++) {
        const Op *op = &e->model.ops[c->stats.op_index[l]];
        Esm s;
        shift_stats_esm(&c->stats, &e->model, l, c->mu, c->var, &s);
        printf("        %-32s depth %3d  esm_mean %10.4g  esm_std %10.4g  nesm_mean %8.4g\n", op->name,
               op->norm_depth, s.esm_mean, s.esm_std, s.nesm_mean);
        fprintf(c->rows, "%d,%s,%s,%s,%.9g,%.9g,%.9g,%d,%s,%d,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%s\n",
                c->epoch, recal, stage, names[which], inf.loss, inf.err, bat.err, l, op->name,
                op->norm_depth, op->u.bn.C, s.esm_mean, s.esm_std, s.esm_var, s.rms_mean, s.rms_std,
                s.nesm_mean, s.nesm_std, tail);
    }
    return BS_OK;
}

static int eval_all(EvalCtx *c, const char *stage, BsError *err)
{
    for (int which = 0; which < 2; which++)
        if ((c->a->only < 0 || c->a->only == which) && eval_set(c, stage, which, err))
            return err->code;
    return BS_OK;
}

/* The samples of a training-mode estimator: `batches` batches of `batch`
 * (default: one pass over the set, the last batch possibly shorter), drawn
 * from shuffled passes over the set, the shuffles seeded by the run's seed. */
static int *estimator_samples(const Config *cfg, const SampleSet *set, int batches, int batch, int *n,
                              BsError *err)
{
    const long want = batches ? (long)batches * batch : set->n;
    if (want > 200000000L) {
        bs_fail(err, BS_ERR_USER, "eval: --batches %d x --batch-size %d: more than 200000000 samples", batches,
                batch);
        return NULL;
    }
    int *out = bs_alloc(sizeof(int) * (size_t)want, err);
    int *perm = bs_alloc(sizeof(int) * (size_t)(set->n ? set->n : 1), err);
    if (!out || !perm) {
        bs_free(out);
        bs_free(perm);
        return NULL;
    }
    Rng rng;
    rng_seed(&rng, (uint64_t)cfg->seed ^ rng_hash_string("bn-estimator"));
    for (long k = 0; k < want;) {
        memcpy(perm, set->idx, sizeof(int) * (size_t)set->n);
        rng_shuffle(&rng, perm, set->n);
        for (int i = 0; i < set->n && k < want; i++)
            out[k++] = perm[i];
    }
    bs_free(perm);
    *n = (int)want;
    return out;
}

/* Re-estimates every BN's running statistics on the --recalibrate set. */
static int reestimate(EvalCtx *c, BsError *err)
{
    const EvalArgs *a = c->a;
    Experiment *e = c->e;
    SampleSet set = setup_eval_set(&e->data, strcmp(a->recal, "test") == 0);
    set.batch = e->cfg.train.batch_size;
    if (a->estimator == REEST_EXACT) {
        recalibrate_bn(&e->model, &set, e->x, e->y, &c->stats);
        snprintf(c->estimator, sizeof c->estimator, "exact,,,");
        printf("recalibrated every BN on the %s set (%d samples, exact)\n", a->recal, set.n);
        return BS_OK;
    }
    if (set.n < 2)
        return bs_fail(err, BS_ERR_USER, "eval: the %s set has %d samples; an estimator needs 2 or more", a->recal,
                       set.n);
    const int batch = a->est_batch ? a->est_batch : e->cfg.train.batch_size;
    const double momentum = a->momentum >= 0 ? a->momentum : e->cfg.train.bn_momentum;
    int n = 0, used = 0;
    int *samples = estimator_samples(&e->cfg, &set, a->batches, batch, &n, err);
    if (!samples)
        return err->code;
    int rc = reestimate_bn(&e->model, &set, samples, n, batch, a->estimator, momentum, e->x, e->y, &used, err);
    bs_free(samples);
    if (rc)
        return rc;
    char mom[32] = "";
    if (a->estimator == REEST_EMA)
        snprintf(mom, sizeof mom, "%.9g", momentum);
    snprintf(c->estimator, sizeof c->estimator, "%s,%d,%d,%s", reestimator_name(a->estimator), used, batch, mom);
    printf("re-estimated every BN on the %s set: %s, %d batches of %d%s%s\n", a->recal,
           reestimator_name(a->estimator), used, batch, *mom ? ", momentum " : "", mom);
    return BS_OK;
}

/* The run's checkpoint, or --weights; *epoch: the checkpoint's (an
 * export's epoch for --weights, 0 when the file does not say). */
static int load_model(const EvalArgs *a, Experiment *e, int *epoch, BsError *err)
{
    char path[4200];
    if (a->weights) {
        if (state_dict_load_epoch(a->weights, &e->model, epoch, err))
            return err->code;
        *epoch = *epoch < 0 ? 0 : *epoch;
        return BS_OK;
    }
    CheckpointMeta meta = {0};
    snprintf(path, sizeof path, "%s/checkpoint.bin", a->dir);
    if (checkpoint_load(path, &e->model, &e->opt, &meta, err))
        return err->code;
    *epoch = meta.epoch;
    return BS_OK;
}

/* --logits: the evaluated set as fed to the network, with bnshift's logits
 * (inference mode, the statistics as loaded). */
static int write_logits(EvalCtx *c, const char *path, BsError *err)
{
    Experiment *e = c->e;
    Model *m = &e->model;
    SampleSet set = setup_eval_set(&e->data, c->a->only == 0 ? 0 : 1);
    const Dataset *d = set.d;
    const Tensor *out = &m->tensors[m->output];
    const size_t sample = (size_t)d->c * d->h * d->w, K = tensor_numel(out), n = (size_t)set.n;
    float *inputs = bs_alloc(sizeof(float) * (sample * n + 1), err), *logits = bs_alloc(sizeof(float) * (K * n + 1), err);
    int64_t *labels = bs_alloc(sizeof(int64_t) * (n + 1), err);
    for (size_t s = 0; s < n && inputs && logits && labels; s += (size_t)m->max_batch) {
        const int nb = (int)(n - s < (size_t)m->max_batch ? n - s : (size_t)m->max_batch);
        dataset_gather(d, set.idx + s, nb, set.mean, set.std, inputs + s * sample, e->y);
        model_forward(m, inputs + s * sample, nb, 0);
        tensor_copy_plain(out, nb, logits + s * K);
        for (int i = 0; i < nb; i++)
            labels[s + (size_t)i] = e->y[i];
    }
    if (inputs && logits && labels) {
        const StTensor t[3] = {{"inputs", "F32", 4, {(int64_t)n, d->c, d->h, d->w}, inputs},
                               {"labels", "I64", 1, {(int64_t)n}, labels},
                               {"logits", "F32", 2, {(int64_t)n, (int64_t)K}, logits}};
        const char *keys[] = {"format", "set"}, *values[] = {"pt", c->a->only == 0 ? "train" : "test"};
        if (st_write(path, t, 3, keys, values, 2, err) == BS_OK)
            printf("wrote %s: %zu %s samples, inputs, labels and logits\n", path, n, values[1]);
    }
    bs_free(inputs);
    bs_free(logits);
    bs_free(labels);
    return err->code;
}

static int run_eval(const EvalArgs *a, const char *out_dir, Experiment *e, EvalCtx *c, EvalCsv *csv, BsError *err)
{
    if (eval_csv_check(csv, out_dir, err) || (!a->weights && setup_checkpoint_belongs(a->dir, err)))
        return err->code;
    char path[4200];
    if (a->config_mode)
        snprintf(path, sizeof path, "%s", a->dir);
    else
        snprintf(path, sizeof path, "%s/config.resolved.json", a->dir);
    const int max_batch = a->batch_stats > a->est_batch ? a->batch_stats : a->est_batch;
    if (experiment_open(e, path, a->sets, a->n_sets, max_batch, err))
        return err->code;
    int epoch = 0;
    if (load_model(a, e, &epoch, err) || shift_stats_init(&c->stats, &e->model, err))
        return err->code;
    CheckpointMeta meta = {.epoch = epoch};
    int C = shift_stats_max_channels(&c->stats);
    c->mu = bs_alloc(sizeof(double) * (C ? C : 1), err);
    c->var = bs_alloc(sizeof(double) * (C ? C : 1), err);
    if (!c->mu || !c->var)
        return err->code;
    c->epoch = meta.epoch;
    snprintf(c->estimator, sizeof c->estimator, a->recal ? "%s,,," : ",,,", reestimator_name(a->estimator));
    if (a->weights)
        printf("%s: weights of %s, %d BN layers\n", a->dir, a->weights, c->stats.n_layers);
    else
        printf("%s: checkpoint of epoch %d, %d BN layers\n", a->dir, meta.epoch, c->stats.n_layers);
    if (eval_all(c, "before", err) || (a->logits && write_logits(c, a->logits, err)))
        return err->code;
    if (a->recal) {
        if (reestimate(c, err) || eval_all(c, "after", err))
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
    const char *out_dir = a.out ? a.out : a.dir;
    size_t made = 0;
    if ((a.out && fs_mkdir_p(a.out, &made, &err)) || lock_run_dir(out_dir, &lock, &err))
        return cli_error(err.code, "%s", err.msg);
    Experiment e;
    EvalCtx c;
    EvalCsv csv;
    memset(&e, 0, sizeof e);
    memset(&c, 0, sizeof c);
    memset(&csv, 0, sizeof csv);
    c.e = &e;
    c.a = &a;
    char *rows = NULL;
    size_t rows_len = 0;
    c.rows = open_memstream(&rows, &rows_len);
    int rc = c.rows ? run_eval(&a, out_dir, &e, &c, &csv, &err) : bs_fail(&err, BS_ERR_RUNTIME, "out of memory");
    if (c.rows && fclose(c.rows) != 0 && rc == BS_OK)
        rc = bs_fail(&err, BS_ERR_RUNTIME, "out of memory");
    if (rc == BS_OK && eval_csv_write(&csv, rows, rows_len, &err) == BS_OK) {
        if (csv.dropped_cut_row)
            cli_warn("%s: dropped its cut last row (an eval killed while writing)", csv.path);
        if (csv.upgraded_rows >= 0)
            cli_warn("%s: written by an older bnshift; rewrote its header with the new columns (its %d rows "
                     "have them empty, estimator exact where recalibrated)", csv.path, csv.upgraded_rows);
        printf("appended to %s\n", csv.path);
    }
    rc = err.code;
    free(rows);
    eval_csv_free(&csv);
    bs_free(c.mu);
    bs_free(c.var);
    shift_stats_free(&c.stats);
    experiment_close(&e);
    if (rc) {
        runlock_abandon(&lock); /* a refusal leaves no lock file it made */
        fs_unmake_dirs(out_dir, made);
    }
    runlock_release(&lock);
    return rc ? cli_error(rc, "%s", err.msg) : 0;
}
