/* `bnshift run CONFIG.json`: train, and after every evaluated epoch log each
 * BN layer's estimation shift (SPEC §2-§4). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "core/mem.h"
#include "core/threads.h"
#include "io/checkpoint.h"
#include "io/progress.h"
#include "setup.h"
#include "train/runner.h"

#define MAX_SETS 64

typedef struct {
    const char *config, *out;
    char *sets[MAX_SETS];
    int n_sets, threads, resume, force, overwrite, quiet;
} RunArgs;

static const char USAGE[] =
    "usage: bnshift run CONFIG.json [--out DIR] [--set key.path=value]... [--threads N]\n"
    "                   [--resume [--force]] [--overwrite] [--quiet]\n"
    "Trains the configured network and writes metrics.csv, shift.csv, config.resolved.json\n"
    "and checkpoint.bin into log.out (or --out). See SPEC.md §2-§4.\n";

/* The signal that asked us to stop (0 = none). A signal handler can only
 * talk to the loop through a global; this is the only one in cmd/. */
static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig)
{
    if (stop_signal) /* second signal: exit at once */
        _exit(128 + sig);
    stop_signal = sig;
}

static int parse_run_args(int argc, char **argv, RunArgs *a)
{
    memset(a, 0, sizeof *a);
    a->threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int has_value = i + 1 < argc;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            fputs(USAGE, stdout);
            exit(0);
        } else if (!strcmp(s, "--out") && has_value) {
            a->out = argv[++i];
        } else if (!strcmp(s, "--set") && has_value) {
            if (a->n_sets == MAX_SETS)
                return cli_error(BN_ERR_USER, "run: more than %d --set options", MAX_SETS);
            a->sets[a->n_sets++] = argv[++i];
        } else if (!strcmp(s, "--threads") && has_value) {
            char *end;
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 1 || t > 1024)
                return cli_error(BN_ERR_USER, "run: --threads: '%s' is not a thread count (1..1024)", argv[i]);
            a->threads = (int)t;
        } else if (!strcmp(s, "--resume")) {
            a->resume = 1;
        } else if (!strcmp(s, "--force")) {
            a->force = 1;
        } else if (!strcmp(s, "--overwrite")) {
            a->overwrite = 1;
        } else if (!strcmp(s, "--quiet")) {
            a->quiet = 1;
        } else if (s[0] == '-') {
            return cli_error(BN_ERR_USER, "run: unknown or incomplete option '%s' (see bnshift run --help)", s);
        } else if (!a->config) {
            a->config = s;
        } else {
            return cli_error(BN_ERR_USER, "run: unexpected argument '%s'", s);
        }
    }
    if (!a->config)
        return cli_error(BN_ERR_USER, "run: missing CONFIG.json (see bnshift run --help)");
    if (a->resume && a->overwrite)
        return cli_error(BN_ERR_USER, "run: --resume and --overwrite exclude each other");
    if (a->force && !a->resume)
        return cli_error(BN_ERR_USER, "run: --force only applies with --resume");
    return 0;
}

static void path_in(char *buf, size_t cap, const char *dir, const char *file)
{
    snprintf(buf, cap, "%s/%s", dir, file);
}

static int file_exists(const char *dir, const char *file)
{
    char p[4200];
    path_in(p, sizeof p, dir, file);
    return access(p, F_OK) == 0;
}

static const char *const RUN_FILES[] = {"metrics.csv", "shift.csv", "checkpoint.bin", "config.resolved.json"};

/* Takes back a failed mkdir -p: removes path and its parents up to the
 * first directory that was created (made = that one's length; 0 = none).
 * rmdir leaves anything that is not empty alone. */
static void remove_made_dirs(char *path, size_t made)
{
    for (size_t len = strlen(path); made && len >= made;) {
        path[len] = 0;
        rmdir(path);
        const char *slash = strrchr(path, '/');
        if (!slash)
            break;
        len = (size_t)(slash - path);
    }
}

/* Checks the output directory against --resume/--overwrite; creates it. */
static int prepare_out_dir(const char *dir, const RunArgs *a, BnError *err)
{
    int holds_run = 0;
    for (size_t i = 0; i < sizeof RUN_FILES / sizeof RUN_FILES[0]; i++)
        holds_run |= file_exists(dir, RUN_FILES[i]);
    if (a->resume) {
        if (!file_exists(dir, "checkpoint.bin"))
            return bn_fail(err, BN_ERR_USER, "%s: no checkpoint.bin to resume from", dir);
        return BN_OK;
    }
    if (holds_run && !a->overwrite)
        return bn_fail(err, BN_ERR_USER, "%s holds a run; use --resume to continue it or --overwrite to replace it", dir);
    char tmp[4200];
    size_t made = 0; /* length of the first directory created here: a failure removes it again */
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) /* mkdir -p */
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0777) == 0 && !made)
                made = strlen(tmp);
            *p = '/';
        }
    if (mkdir(tmp, 0777) == 0) {
        made = made ? made : strlen(tmp);
    } else if (errno != EEXIST) {
        int e = errno;
        remove_made_dirs(tmp, made);
        return bn_fail(err, BN_ERR_RUNTIME, "%s: cannot create the output directory: %s", dir, strerror(e));
    }
    for (size_t i = 0; i < sizeof RUN_FILES / sizeof RUN_FILES[0] && a->overwrite; i++) {
        char p[4200];
        path_in(p, sizeof p, dir, RUN_FILES[i]);
        unlink(p);
    }
    char probe[4200];
    path_in(probe, sizeof probe, dir, ".bnshift-write-test");
    FILE *f = fopen(probe, "w");
    if (!f) {
        int e = errno;
        remove_made_dirs(tmp, made);
        return bn_fail(err, BN_ERR_RUNTIME, "%s: output directory is not writable: %s", dir, strerror(e));
    }
    fclose(f);
    unlink(probe);
    return BN_OK;
}

static cJSON *run_meta(int threads, ConvBackend backend)
{
    cJSON *meta = cJSON_CreateObject();
    char host[256] = "unknown", when[64];
    gethostname(host, sizeof host);
    host[sizeof host - 1] = 0;
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(meta, "bnshift_version", BN_VERSION);
    cJSON_AddStringToObject(meta, "git_hash", BN_GIT_HASH);
    cJSON_AddNumberToObject(meta, "threads", threads);
    char conv[64];
    snprintf(conv, sizeof conv, "%s%s%s", conv_backend_name(backend),
             backend == CONV_ONEDNN ? " " : "", backend == CONV_ONEDNN ? onednn_version() : "");
    cJSON_AddStringToObject(meta, "conv_backend", conv);
    cJSON_AddStringToObject(meta, "blas_core", bn_blas_core());
    cJSON_AddStringToObject(meta, "host", host);
    cJSON_AddStringToObject(meta, "start_time", when);
    return meta;
}

typedef struct {
    Progress progress;
    int quiet, has_test;
    double best_test, last_test;
    int best_epoch;
} Console;

static void print_epoch(void *ctx, const EpochReport *r)
{
    Console *c = ctx;
    progress_clear(&c->progress);
    if (r->evaluated && c->has_test) {
        c->last_test = r->set_err[c->has_test - 1];
        if (c->best_epoch == 0 || c->last_test < c->best_test) {
            c->best_test = c->last_test;
            c->best_epoch = r->epoch;
        }
    }
    if (c->quiet)
        return;
    printf("epoch %3d  lr %.4g  train(batch) loss %.4f err %.4f", r->epoch, r->lr, r->train_batch_loss,
           r->train_batch_err);
    if (r->evaluated && c->has_test)
        printf("  test err %.4f  mean esm_mean %.4g", c->last_test, r->mean_esm_mean[c->has_test - 1]);
    printf("  %.1fs %.0f img/s\n", r->seconds, r->images_per_s);
    fflush(stdout);
}

typedef struct {
    Experiment e;
    Schedule sched;
    Rng rng;
    int *order;
} Run;

static int build_run(Run *r, const RunArgs *a, BnError *err)
{
    if (experiment_open(&r->e, a->config, a->sets, a->n_sets, err))
        return err->code;
    const Config *c = &r->e.cfg;
    r->sched = (Schedule){.type = (ScheduleType)c->train.schedule.type, .base_lr = (float)c->train.lr,
                          .gamma = (float)c->train.schedule.gamma,
                          .n_milestones = c->train.schedule.n_milestones, .total_epochs = c->train.epochs,
                          .warmup_epochs = c->train.schedule.warmup_epochs};
    memcpy(r->sched.milestones, c->train.schedule.milestones, sizeof(int) * (size_t)r->sched.n_milestones);
    rng_seed(&r->rng, (uint64_t)c->seed + 0x7a11ULL);
    r->order = bn_alloc(sizeof(int) * (size_t)r->e.data.n_train, err);
    return r->order ? BN_OK : err->code;
}

static void free_run(Run *r)
{
    bn_free(r->order);
    experiment_close(&r->e);
}

/* Loads the checkpoint after checking its config hash and thread count. */
static int resume_from(Run *r, const char *dir, const RunArgs *a, int threads, CheckpointMeta *meta,
                       BnError *err)
{
    char path[4200];
    path_in(path, sizeof path, dir, "checkpoint.bin");
    if (checkpoint_peek(path, meta, err))
        return err->code;
    if (meta->config_hash != config_hash(&r->e.cfg) && !a->force)
        return bn_fail(err, BN_ERR_USER,
                       "%s: the config differs from the checkpoint's beyond train.epochs and log.* "
                       "(use --force to resume anyway)", path);
    if (checkpoint_load(path, &r->e.model, &r->e.opt, meta, err))
        return err->code;
    /* The CSVs must still hold what the checkpoint recorded; checked before
     * anything in the directory is rewritten (config.resolved.json, the
     * truncation of the logs), so that a refused resume changes nothing. */
    const char *const logs[2] = {"metrics.csv", "shift.csv"};
    const long lens[2] = {meta->metrics_len, meta->shift_len};
    for (int i = 0; i < 2; i++) {
        struct stat st;
        path_in(path, sizeof path, dir, logs[i]);
        if (stat(path, &st) != 0 || st.st_size < lens[i])
            return bn_fail(err, BN_ERR_USER, "%s: missing or shorter than the %ld bytes its checkpoint recorded",
                           path, lens[i]);
    }
    /* Only once nothing can fail here: a refusal stays one line. */
    if (meta->threads != threads)
        fprintf(stderr, "bnshift: warning: checkpoint was written with %d threads, resuming with %d: "
                        "numbers may differ from an uninterrupted run\n", meta->threads, threads);
    r->rng = meta->rng;
    return BN_OK;
}

static int exit_code_for(int rc)
{
    if (rc == BN_STOPPED)
        return stop_signal == SIGTERM ? 143 : 130;
    return rc;
}

int cmd_run(int argc, char **argv)
{
    RunArgs a;
    if (parse_run_args(argc, argv, &a))
        return BN_ERR_USER;
    int threads = a.threads ? a.threads : bn_get_threads();
    bn_set_threads(threads);
    BnError err = {0};
    Run r;
    memset(&r, 0, sizeof r);
    char dir[4096];
    CheckpointMeta meta = {0};
    /* Everything the user supplied is checked before the directory is touched. */
    if (build_run(&r, &a, &err) == BN_OK) {
        setup_out_dir(&r.e.cfg, a.out, dir, sizeof dir);
        if (prepare_out_dir(dir, &a, &err) == BN_OK && a.resume)
            resume_from(&r, dir, &a, threads, &meta, &err);
    }
    if (err.code == BN_OK) {
        char path[4200];
        path_in(path, sizeof path, dir, "config.resolved.json");
        cJSON *m = run_meta(threads, r.e.model.conv_backend);
        config_write_resolved(&r.e.cfg, m, path, &err);
        cJSON_Delete(m);
    }
    if (err.code != BN_OK) {
        free_run(&r);
        return cli_error(err.code, "%s", err.msg);
    }
    const Config *c = &r.e.cfg;
    Experiment *e = &r.e;
    Console con = {.quiet = a.quiet, .has_test = c->log.eval_test ? 1 + c->log.eval_train : 0};
    progress_init(&con.progress, stderr, c->train.epochs, c->train.batch_size, a.quiet);
    Runner run = {.trainer = {.m = &e->model, .o = &e->opt, .sched = &r.sched, .d = e->data.src[0],
                              .idx = e->data.train_idx, .n = e->data.n_train,
                              .mean = e->data.normalize ? e->data.mean : NULL,
                              .std = e->data.normalize ? e->data.std : NULL,
                              .batch = c->train.batch_size, .augment = c->data.augment,
                              .flip = c->data.flip, .grad_clip = (float)c->train.grad_clip,
                              .rng = &r.rng, .x = e->x, .y = e->y, .order = r.order,
                              .progress = progress_batch, .progress_ctx = &con.progress,
                              .stop = &stop_signal},
                  .epochs = c->train.epochs, .eval_every = c->log.eval_every,
                  .checkpoint_every = c->log.checkpoint_every, .out_dir = dir,
                  .config_hash = config_hash(c), .threads = threads, .on_epoch = print_epoch, .ctx = &con};
    if (c->log.eval_train)
        run.eval[run.n_eval++] = (EvalSet){"train", setup_eval_set(&e->data, 0)};
    if (c->log.eval_test)
        run.eval[run.n_eval++] = (EvalSet){"test", setup_eval_set(&e->data, 1)};
    if (!a.quiet)
        printf("%s: %s %s-%d (%s), %zu parameters; %s: %d training samples; %d threads; writing %s/\n",
               c->name, config_dataset_name(c->data.dataset),
               c->model.arch == ARCH_RESNET ? "resnet" : c->model.arch == ARCH_VGG ? "vgg" : "mlp",
               c->model.arch == ARCH_RESNET ? c->model.depth : model_norm_count(&e->model),
               norm_variant_name((NormVariant)c->model.norm), e->model.n_params,
               c->data.dataset == DS_SYNTHETIC ? "generated" : config_data_root(c), e->data.n_train, threads, dir);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = runner_run(&run, meta.epoch, meta.metrics_len, meta.shift_len, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    progress_clear(&con.progress);
    free_run(&r);
    if (rc == BN_STOPPED) {
        fprintf(stderr, "bnshift: interrupted; the CSVs hold every finished epoch. Resume with: "
                        "bnshift run %s --resume%s%s\n", a.config, a.out ? " --out " : "", a.out ? a.out : "");
        return exit_code_for(rc);
    }
    if (rc != BN_OK)
        return cli_error(rc, "%s", err.msg);
    if (!a.quiet) {
        double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        if (con.best_epoch)
            printf("done in %.1fs: final test err %.4f, best %.4f (epoch %d). Files: %s/metrics.csv, %s/shift.csv\n",
                   secs, con.last_test, con.best_test, con.best_epoch, dir, dir);
        else
            printf("done in %.1fs. Files: %s/metrics.csv, %s/shift.csv\n", secs, dir, dir);
    }
    return 0;
}
