/* `bnshift run CONFIG.json`: train, and after every evaluated epoch log each
 * BN layer's estimation shift (REFERENCE.md §2-§4). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "git_hash.h" /* generated: BS_GIT_HASH */
#include "core/mem.h"
#include "core/threads.h"
#include "run/checkpoint.h"
#include "io/fsutil.h"
#include "core_slots.h"
#include "mpi_comm.h"
#include "run_ranks.h"
#include "run/runlock.h"
#include "run/runlog.h"
#include "progress.h"
#include "setup.h"
#include "run/runner.h"
#include "models/state_dict.h"

#define MAX_SETS 64

typedef struct {
    const char *config, *out, *init_from;
    char *sets[MAX_SETS];
    int n_sets, threads, resume, force, overwrite, quiet;
} RunArgs;

static const char USAGE[] =
    "usage: bnshift run CONFIG.json [--out DIR] [--set key.path=value]... [--threads N]\n"
    "                   [--resume [--force]] [--overwrite] [--init-from FILE] [--quiet]\n"
    "Trains the configured network and writes metrics.csv, shift.csv, config.resolved.json\n"
    "and checkpoint.bin into log.out (or --out). Waits while other bnshift runs hold the\n"
    "cores it needs (BNSHIFT_SHARE_CORES=1 starts at once). --init-from starts from the weights\n"
    "and BN statistics of a safetensors file (bnshift export's names). Data-parallel on K processes (a make MPI=1\n"
    "build): mpirun -np K bnshift run CONFIG.json, train.bn_sync local|sync. See docs/REFERENCE.md\n"
    "or man bnshift.\n";

/* The signal that asked us to stop (0 = none). A signal handler can only
 * talk to the loop through globals (sweep_exec.c has its own two). */
static volatile sig_atomic_t stop_signal = 0;
/* Seconds a first signal waits for the current step before stopping anyway. */
#define STOP_GRACE_SECONDS 5
/* Pre-formatted (a handler may only write()): the lines for a stop that
 * could not wait for the step, by the second signal or the grace timer. */
static char hard_stop_msg[2][8192];

static void put_stderr(const char *s) { (void)!write(2, s, strlen(s)); }

static void on_signal(int sig)
{
    if (stop_signal) { /* second signal: exit at once */
        put_stderr(hard_stop_msg[0]);
        _exit(128 + stop_signal);
    }
    stop_signal = sig;
    alarm(STOP_GRACE_SECONDS);
}

static void on_grace_timeout(int sig)
{
    (void)sig;
    put_stderr(hard_stop_msg[1]);
    _exit(128 + stop_signal);
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
            return CLI_HELP_SHOWN;
        } else if (!strcmp(s, "--out") && has_value) {
            a->out = argv[++i];
            if (!a->out[0])
                return cli_error(BS_ERR_USER, "run: --out: empty path, expected a directory");
        } else if (!strcmp(s, "--set") && has_value) {
            if (a->n_sets == MAX_SETS)
                return cli_error(BS_ERR_USER, "run: more than %d --set options", MAX_SETS);
            a->sets[a->n_sets++] = argv[++i];
        } else if (!strcmp(s, "--threads") && has_value) {
            char *end;
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 1 || t > 1024)
                return cli_error(BS_ERR_USER, "run: --threads: '%s' is not a thread count (1..1024)", argv[i]);
            a->threads = (int)t;
        } else if (!strcmp(s, "--init-from") && has_value) {
            a->init_from = argv[++i];
            if (!a->init_from[0])
                return cli_error(BS_ERR_USER, "run: --init-from: empty path, expected a safetensors file");
        } else if (!strcmp(s, "--resume")) {
            a->resume = 1;
        } else if (!strcmp(s, "--force")) {
            a->force = 1;
        } else if (!strcmp(s, "--overwrite")) {
            a->overwrite = 1;
        } else if (!strcmp(s, "--quiet")) {
            a->quiet = 1;
        } else if (s[0] == '-') {
            return cli_error(BS_ERR_USER, "run: unknown or incomplete option '%s' (see bnshift run --help)", s);
        } else if (!a->config) {
            a->config = s;
        } else {
            return cli_error(BS_ERR_USER, "run: unexpected argument '%s'", s);
        }
    }
    if (!a->config)
        return cli_error(BS_ERR_USER, "run: missing CONFIG.json (see bnshift run --help)");
    if (!a->config[0])
        return cli_error(BS_ERR_USER, "run: CONFIG.json: empty path, expected a config file");
    if (a->resume && a->overwrite)
        return cli_error(BS_ERR_USER, "run: --resume and --overwrite exclude each other");
    if (a->force && !a->resume)
        return cli_error(BS_ERR_USER, "run: --force only applies with --resume");
    if (a->init_from && a->resume)
        return cli_error(BS_ERR_USER, "run: --init-from starts a new run; a resumed run continues from its checkpoint");
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

/* Every file a run (and eval) writes: what --overwrite removes, and what
 * makes a directory "hold a run". The lock file stays. */
static const char *const RUN_FILES[] = {"metrics.csv", "shift.csv", "ranks.csv", "checkpoint.bin", "config.resolved.json",
                                        "eval.csv", "checkpoint.bin.tmp", "config.resolved.json.tmp",
                                        "eval.csv.tmp"};
#define N_RUN_FILES (sizeof RUN_FILES / sizeof RUN_FILES[0])

/* How a run starts in its directory. */
typedef enum { START_NEW, START_FROM_CHECKPOINT, START_OVER } StartMode;

/* The output directory, locked for this process for the whole run. */
typedef struct {
    char path[4096];
    size_t made; /* fs_mkdir_p's record: what to remove again on refusal */
    RunLock lock;
    StartMode mode;
} OutDir;

static int holds_run(const char *dir)
{
    for (size_t i = 0; i < N_RUN_FILES; i++)
        if (file_exists(dir, RUN_FILES[i]))
            return 1;
    return 0;
}

/* Takes a refused start back: the lock file and directories this process
 * created go again, so a refusal leaves nothing behind. */
static void abandon_out_dir(OutDir *o)
{
    runlock_abandon(&o->lock);
    fs_unmake_dirs(o->path, o->made);
    o->made = 0;
}

/* A run that stopped before its first checkpoint can only be started over;
 * that is what --resume does then, after checking that the directory's
 * config is this one (so --resume never replaces another run's logs). */
/* The meta.init_from of a config.resolved.json, into out ("" if none). */
static void started_from(const char *path, char *out, size_t cap)
{
    out[0] = '\0';
    char *text = NULL;
    size_t len;
    if (fs_read_all(path, CONFIG_FILE_MAX, &text, &len) != 0)
        return;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "meta"), "init_from");
    if (cJSON_IsString(v))
        snprintf(out, cap, "%s", v->valuestring);
    cJSON_Delete(root);
}

static int check_start_over(const OutDir *o, const Config *c, int force, BsError *err)
{
    char path[4200], init[4200];
    path_in(path, sizeof path, o->path, "config.resolved.json");
    if (access(path, F_OK) != 0)
        return BS_OK;
    started_from(path, init, sizeof init);
    if (init[0]) /* starting over from random weights would be another run */
        return bs_fail(err, BS_ERR_USER,
                       "%s: the run there started from --init-from %s and stopped before its first checkpoint; "
                       "start it again with --overwrite --init-from %s", o->path, init, init);
    if (force)
        return BS_OK;
    uint64_t old;
    if (config_file_hash(path, &old, err))
        return err->code;
    if (old != config_hash(c))
        return bs_fail(err, BS_ERR_USER,
                       "%s: the run there (stopped before its first checkpoint) has another config beyond "
                       "train.epochs and log.* (use --force to start it over with this one, or --overwrite)",
                       o->path);
    return BS_OK;
}

/* Creates (or, for --resume, finds) the output directory, locks it, and
 * decides how the run starts; checks --resume/--overwrite against what is
 * there. Nothing of an earlier run is touched but by --overwrite. */
static int prepare_out_dir(OutDir *o, const RunArgs *a, const Config *c, BsError *err)
{
    struct stat st;
    if (a->resume) {
        if (stat(o->path, &st) != 0 || !S_ISDIR(st.st_mode))
            return bs_fail(err, BS_ERR_USER, "%s: no run to resume there (not a directory); start one without --resume",
                           o->path);
    } else if (fs_mkdir_p(o->path, &o->made, err)) {
        return err->code;
    }
    if (runlock_exclusive(&o->lock, o->path, err)) {
        fs_unmake_dirs(o->path, o->made);
        return err->code;
    }
    int rc = BS_OK;
    if (a->resume) {
        if (file_exists(o->path, "checkpoint.bin"))
            o->mode = START_FROM_CHECKPOINT;
        else if (holds_run(o->path)) {
            o->mode = START_OVER;
            rc = check_start_over(o, c, a->force, err);
        } else
            rc = bs_fail(err, BS_ERR_USER, "%s: no run to resume there (no checkpoint.bin, no logs); start one without --resume",
                         o->path);
    } else if (holds_run(o->path) && !a->overwrite) {
        rc = bs_fail(err, BS_ERR_USER, "%s holds a run; use --resume to continue it or --overwrite to replace it",
                     o->path);
    }
    char probe[4200];
    path_in(probe, sizeof probe, o->path, ".bnshift-write-test");
    FILE *f = rc ? NULL : fopen(probe, "w");
    if (!rc && !f)
        rc = bs_fail(err, BS_ERR_RUNTIME, "%s: output directory is not writable: %s", o->path, strerror(errno));
    if (f) {
        fclose(f);
        unlink(probe);
    }
    if (rc) {
        abandon_out_dir(o);
        return rc;
    }
    for (size_t i = 0; i < N_RUN_FILES && a->overwrite; i++) {
        char p[4200];
        path_in(p, sizeof p, o->path, RUN_FILES[i]);
        unlink(p);
    }
    return BS_OK;
}

static cJSON *run_meta(int threads, ConvBackend backend, const Comm *comm, const char *init_from)
{
    cJSON *meta = cJSON_CreateObject();
    char host[256] = "unknown", when[64];
    gethostname(host, sizeof host);
    host[sizeof host - 1] = 0;
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cJSON_AddStringToObject(meta, "bnshift_version", BS_VERSION);
    cJSON_AddStringToObject(meta, "git_hash", BS_GIT_HASH);
    cJSON_AddNumberToObject(meta, "threads", threads);
    cJSON_AddNumberToObject(meta, "ranks", comm_is_multi(comm) ? comm->size : 1);
    if (init_from)
        cJSON_AddStringToObject(meta, "init_from", init_from);
    char conv[64];
    snprintf(conv, sizeof conv, "%s%s%s", conv_backend_name(backend),
             backend == CONV_ONEDNN ? " " : "", backend == CONV_ONEDNN ? onednn_version() : "");
    cJSON_AddStringToObject(meta, "conv_backend", conv);
    cJSON_AddStringToObject(meta, "blas_core", bs_blas_core());
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
    int metrics_v1; /* resuming a metrics.csv of an older bnshift (no bstat columns) */
    const Comm *comm; /* data-parallel ranks, or NULL */
    double *grad_sum; /* the trainer's gradient-sum scratch (several ranks) */
    float *rank_stats; /* rank 0 resuming: ranks 1.. of the checkpoint's running statistics */
} Run;

static int build_run(Run *r, const RunArgs *a, BsError *err)
{
    if (experiment_open(&r->e, a->config, a->sets, a->n_sets, 0, err))
        return err->code;
    const Config *c = &r->e.cfg;
    r->sched = (Schedule){.type = (ScheduleType)c->train.schedule.type, .base_lr = (float)c->train.lr,
                          .gamma = (float)c->train.schedule.gamma,
                          .n_milestones = c->train.schedule.n_milestones, .total_epochs = c->train.epochs,
                          .warmup_epochs = c->train.schedule.warmup_epochs};
    memcpy(r->sched.milestones, c->train.schedule.milestones, sizeof(int) * (size_t)r->sched.n_milestones);
    rng_seed(&r->rng, (uint64_t)c->seed + SETUP_TRAIN_STREAM);
    if (a->init_from && state_dict_load(a->init_from, &r->e.model, err))
        return err->code;
    r->order = bs_alloc(sizeof(int) * (size_t)r->e.data.n_train, err);
    if (r->order && comm_is_multi(r->comm))
        r->grad_sum = bs_alloc(sizeof(double) * (r->e.model.n_params + 1), err);
    return err->code;
}

static void free_run(Run *r)
{
    bs_free(r->order);
    bs_free(r->grad_sum);
    bs_free(r->rank_stats);
    experiment_close(&r->e);
}

/* Loads the checkpoint after checking everything a resume depends on: the
 * config hash, train.epochs, and that each CSV is a regular file holding at
 * least the bytes the checkpoint recorded, all of them whole LF-terminated
 * rows under the right header. Only the model in memory changes here; the
 * directory is rewritten (config.resolved.json, the truncation of the logs)
 * after this returns BS_OK, so that a refused resume changes no file. */
static int resume_from(Run *r, const char *dir, const RunArgs *a, int threads, CheckpointMeta *meta,
                       BsError *err)
{
    char path[4200];
    path_in(path, sizeof path, dir, "checkpoint.bin");
    if (checkpoint_peek(path, meta, err))
        return err->code;
    if (meta->config_hash != config_hash(&r->e.cfg) && !a->force)
        return bs_fail(err, BS_ERR_USER,
                       "%s: the config differs from the checkpoint's beyond train.epochs and log.* "
                       "(use --force to resume anyway)", path);
    if (r->e.cfg.train.epochs < meta->epoch)
        return bs_fail(err, BS_ERR_USER,
                       "train.epochs: %d is below the %d epochs %s already holds (use --set train.epochs=%d or more)",
                       r->e.cfg.train.epochs, meta->epoch, path, meta->epoch);
    char ranks_note[4400];
    if (ranks_check_resume(&r->e.cfg, r->comm, meta, path, ranks_note, sizeof ranks_note, err))
        return err->code;
    size_t cap = 0; /* the other ranks' estimates are kept only for a run of several ranks */
    if (meta->ranks > 1 && comm_is_multi(r->comm)) {
        cap = r->e.model.n_stats * (size_t)(meta->ranks - 1);
        r->rank_stats = bs_alloc(sizeof(float) * (cap ? cap : 1), err);
        if (!r->rank_stats)
            return err->code;
    }
    if (checkpoint_load_ranks(path, &r->e.model, &r->e.opt, meta, r->rank_stats, cap, err))
        return err->code;
    path_in(path, sizeof path, dir, "metrics.csv");
    if (runlog_check_prefix(path, RUNLOG_METRICS, meta->metrics_len, &r->metrics_v1, err))
        return err->code;
    path_in(path, sizeof path, dir, "shift.csv");
    if (runlog_check_prefix(path, RUNLOG_SHIFT, meta->shift_len, NULL, err))
        return err->code;
    /* Only once nothing can fail here: a refusal stays one line. */
    if (meta->threads != threads)
        cli_warn("checkpoint was written with %d threads, resuming with %d: numbers may differ from an "
                 "uninterrupted run", meta->threads, threads);
    if (ranks_note[0])
        cli_warn("%s", ranks_note);
    r->rng = meta->rng;
    return BS_OK;
}

static int exit_code_for(int rc)
{
    if (rc == BS_STOPPED)
        return stop_signal == SIGTERM ? 143 : 130;
    return rc;
}

/* The command that resumes this run, as the user would type it: the same
 * binary, config, --out, --set and --threads, each quoted for the shell, so
 * that the printed advice works when followed literally. */
static void resume_command(char *buf, size_t cap, const RunArgs *a, const Comm *comm)
{
    size_t n = 0;
    const char *words[2 * MAX_SETS + 12];
    int k = 0;
    char ranks[16];
    if (comm_is_multi(comm)) {
        snprintf(ranks, sizeof ranks, "%d", comm->size);
        words[k++] = "mpirun";
        words[k++] = "-np";
        words[k++] = ranks;
    }
    words[k++] = cli_program;
    words[k++] = "run";
    words[k++] = a->config;
    words[k++] = "--resume";
    if (a->out) {
        words[k++] = "--out";
        words[k++] = a->out;
    }
    for (int i = 0; i < a->n_sets; i++) {
        words[k++] = "--set";
        words[k++] = a->sets[i];
    }
    char threads[16];
    if (a->threads) {
        snprintf(threads, sizeof threads, "%d", a->threads);
        words[k++] = "--threads";
        words[k++] = threads;
    }
    buf[0] = '\0';
    for (int i = 0; i < k && n + 1 < cap; i++) {
        if (i)
            buf[n++] = ' ';
        n += cli_shell_quote(buf + n, cap - n, words[i]);
    }
    if (n >= cap)
        buf[cap - 1] = '\0';
}

/* The messages of a stop: graceful (after the step) or at once. */
static void prepare_stop_messages(const RunArgs *a, const Comm *comm, char *graceful, size_t cap)
{
    char cmd[6000];
    resume_command(cmd, sizeof cmd, a, comm);
    for (char *p = cmd; *p; p++) /* a path with a newline stays on one line */
        if (*p == '\n')
            *p = ' ';
    snprintf(graceful, cap, "interrupted; the CSVs hold every finished epoch. Resume with: %s", cmd);
    snprintf(hard_stop_msg[0], sizeof hard_stop_msg[0],
             "bnshift: interrupted twice; stopped at once without finishing the step. Resume with: %s\n", cmd);
    snprintf(hard_stop_msg[1], sizeof hard_stop_msg[1],
             "bnshift: interrupted; the current step did not finish within %d s, so bnshift stopped at once. "
             "Resume with: %s\n", STOP_GRACE_SECONDS, cmd);
}

static const char *arch_label(const Config *c)
{
    return c->model.arch == ARCH_RESNET ? "resnet" : c->model.arch == ARCH_VGG ? "vgg" : "mlp";
}

/* The run of one process, or of one rank of a data-parallel run (comm). */
static int run_ranked(RunArgs *ra, const Comm *comm)
{
    RunArgs a = *ra;
    if (!comm_writes(comm))
        a.quiet = 1; /* rank 0 speaks for all */
    int threads = a.threads ? a.threads
                            : comm_is_multi(comm) ? ranks_default_threads(bs_get_threads()) : bs_get_threads();
    BsError err = {0};
    Run r;
    memset(&r, 0, sizeof r);
    r.comm = comm;
    OutDir od;
    memset(&od, 0, sizeof od);
    od.lock.fd = -1;
    CheckpointMeta meta = {0};
    /* Everything the user supplied is checked before the directory is touched;
     * then the directory is locked before anything in it is read. Every
     * rank builds the same run; rank 0 alone owns the directory. */
    if (bs_threads_start(threads, &err) == BS_OK && build_run(&r, &a, &err) == BS_OK)
        ranks_check_config(&r.e.cfg, comm, &err);
    if (ranks_agree(comm, &err) == BS_OK && comm_writes(comm)) {
        setup_out_dir(&r.e.cfg, a.out, od.path, sizeof od.path);
        if (prepare_out_dir(&od, &a, &r.e.cfg, &err) == BS_OK && od.mode == START_FROM_CHECKPOINT)
            resume_from(&r, od.path, &a, threads, &meta, &err);
        if (err.code == BS_OK) {
            char path[4200];
            path_in(path, sizeof path, od.path, "config.resolved.json");
            cJSON *m = run_meta(threads, r.e.model.conv_backend, comm, a.init_from);
            config_write_resolved(&r.e.cfg, m, path, &err);
            cJSON_Delete(m);
        }
    }
    if (comm_is_multi(comm) && ranks_agree(comm, &err) == BS_OK) {
        int resuming = od.mode == START_FROM_CHECKPOINT;
        ranks_share_start(comm, &resuming, &r.e.model, &r.e.opt, &r.rng, &meta, r.rank_stats, &err);
    }
    if (err.code != BS_OK) {
        runlock_release(&od.lock);
        free_run(&r);
        return cli_error(err.code, "%s", err.msg);
    }
    const char *dir = od.path;
    if (od.mode == START_OVER)
        cli_note("%s: the run there stopped before its first checkpoint; starting it over from epoch 1", dir);
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
                              .bn_estimator = c->train.bn_estimator, .bn_reset = c->train.bn_cumulative_reset,
                              .rng = &r.rng, .x = e->x, .y = e->y, .order = r.order,
                              .progress = progress_batch, .progress_ctx = &con.progress,
                              .stop = &stop_signal, .comm = comm, .grad_sum = r.grad_sum},
                  .comm = comm, .ranks_len = meta.ranks > 1 ? meta.ranks_len : -1,
                  .epochs = c->train.epochs, .eval_every = c->log.eval_every, .skip_bstat = !c->log.bstat,
                  .checkpoint_every = c->log.checkpoint_every, .out_dir = dir,
                  .config_hash = config_hash(c), .threads = threads, .metrics_v1 = r.metrics_v1,
                  .on_epoch = print_epoch, .ctx = &con};
    if (r.metrics_v1)
        cli_note("%s/metrics.csv: written by an older bnshift; the resumed run keeps its columns "
                 "(no train_bstat_* / test_bstat_*)", dir);
    if (c->log.eval_train)
        run.eval[run.n_eval++] = (EvalSet){"train", setup_eval_set(&e->data, 0)};
    if (c->log.eval_test)
        run.eval[run.n_eval++] = (EvalSet){"test", setup_eval_set(&e->data, 1)};
    if (c->train.bn_sync == BN_SYNC_SYNC && comm_is_multi(comm))
        model_set_bn_comm(&e->model, comm);
    char ranks[96] = "";
    if (comm_is_multi(comm))
        snprintf(ranks, sizeof ranks, " per rank, %d ranks (BN %s, %d samples each per batch)", comm->size,
                 c->train.bn_sync == BN_SYNC_SYNC ? "sync" : "local", c->train.batch_size / comm->size);
    if (!a.quiet)
        printf("%s: %s %s-%d (%s), %zu parameters; %s: %d training samples; %d threads%s; writing %s/\n",
               c->name, config_dataset_name(c->data.dataset), arch_label(c),
               c->model.arch == ARCH_RESNET ? c->model.depth : model_norm_count(&e->model),
               norm_variant_name((NormVariant)c->model.norm), e->model.n_params,
               c->data.dataset == DS_SYNTHETIC ? "generated" : config_data_root(c), e->data.n_train, threads, ranks,
               dir);
    char graceful[8192];
    prepare_stop_messages(&a, comm, graceful, sizeof graceful);
    signal(SIGALRM, on_grace_timeout);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    CoreSlots slots = {.n = 0};
    /* Ranks are placed by their launcher; queueing them for cores one by one
     * would leave the first waiting for the others forever. */
    int rc = comm_is_multi(comm) ? BS_OK : core_slots_take(&slots, threads, &stop_signal);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (rc == BS_OK)
        rc = runner_run(&run, meta.epoch, meta.metrics_len, meta.shift_len, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    core_slots_release(&slots);
    progress_clear(&con.progress);
    free_run(&r);
    runlock_release(&od.lock);
    if (rc == BS_STOPPED) {
        alarm(0);
        cli_error(exit_code_for(rc), "%s", graceful);
        return exit_code_for(rc);
    }
    if (rc != BS_OK)
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

int cmd_run(int argc, char **argv)
{
    BsError err = {0};
    const Comm *comm;
    if (mpi_comm_start(&argc, &argv, &comm, &err))
        return cli_error(err.code, "%s", err.msg);
    if (!comm_writes(comm))
        cli_set_silent(1);
    RunArgs a;
    int parsed = parse_run_args(argc, argv, &a);
    int rc = parsed ? (parsed == CLI_HELP_SHOWN ? 0 : BS_ERR_USER) : run_ranked(&a, comm);
    mpi_comm_finish();
    return rc;
}
