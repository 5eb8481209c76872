/* `bnshift bench [CONFIG.json]`: how fast a training step is, where its
 * time goes, and how that compares with the machine's own sgemm rate and
 * memory stream rate measured in the same process (so the ratios survive
 * a noisy machine). */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "commands.h"
#include "core/threads.h"
#include "setup.h"

/* ResNet-20 on 32x32x3 synthetic images: the CIFAR shape without CIFAR. */
static char *default_sets[] = {
    "name=bench", /* a label only: --set model.* picks any family */
    "data.dataset=synthetic",
    "data.augment=false",
    "data.synthetic={\"train\": 512, \"test\": 1024, \"channels\": 3, \"size\": 32, \"classes\": 10}",
    "model.arch=resnet",
    "model.depth=20",
};
enum { N_DEFAULT_SETS = sizeof default_sets / sizeof default_sets[0], MAX_SETS = 64 };

typedef struct {
    const char *config;
    char *sets[MAX_SETS + N_DEFAULT_SETS + 2];
    int n_sets, threads, steps, per_op;
    char batch_set[64];
    const char *backend;
} BenchArgs;

static int usage(void)
{
    printf("usage: bnshift bench [CONFIG.json] [--threads N] [--batch B] [--steps K]\n"
           "                     [--backend im2col|onednn] [--per-op] [--set key.path=value]...\n"
           "Times training steps (forward, backward, SGD update) after 3 warm-up steps and\n"
           "prints images/s, ms per step by layer type, the step's GFLOP/s (3 x forward MACs\n"
           "x 2) against a 1024^3 cblas_sgemm measured in the same run (noting when\n"
           "OPENBLAS_CORETYPE holds OpenBLAS below the CPU's kernels), the norms' memory\n"
           "floor (the bytes BN and GN must move in a step, at a memory stream rate\n"
           "measured in the same run, and the step if the norms took only that), the\n"
           "inference pass's images/s without and with the ESM statistics (what run does\n"
           "each epoch; best of 3 passes over the test set), and peak resident memory.\n"
           "--per-op adds each op's ms per training step (forward + backward) and, for a\n"
           "norm, its floor. Without CONFIG: ResNet-20 on 32x32x3 synthetic images, batch\n"
           "128. Defaults: all cores, 20 steps.\n");
    return 0;
}

static int parse_args(int argc, char **argv, BenchArgs *a)
{
    memset(a, 0, sizeof *a);
    a->threads = bs_get_threads();
    a->steps = 20;
    int batch = 0, rc = 0;
    char *user_sets[MAX_SETS];
    int n_user = 0;
    for (int i = 1; i < argc && !rc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h"))
            return -1;
        if (arg[0] != '-') {
            if (a->config)
                return cli_error(BS_ERR_USER, "bench: more than one CONFIG ('%s' and '%s')", a->config, arg);
            a->config = arg;
            continue;
        }
        if (!strcmp(arg, "--per-op")) {
            a->per_op = 1;
            continue;
        }
        if (!val)
            return cli_error(BS_ERR_USER, "bench: %s needs a value (see bnshift bench --help)", arg);
        i++;
        if (!strcmp(arg, "--threads"))
            rc = cli_parse_int("bench", arg, val, 1, 1024, &a->threads);
        else if (!strcmp(arg, "--batch"))
            rc = cli_parse_int("bench", arg, val, 2, 65536, &batch);
        else if (!strcmp(arg, "--steps"))
            rc = cli_parse_int("bench", arg, val, 1, 1000000, &a->steps);
        else if (!strcmp(arg, "--backend"))
            a->backend = val;
        else if (!strcmp(arg, "--set") && n_user < MAX_SETS)
            user_sets[n_user++] = argv[i];
        else
            return cli_error(BS_ERR_USER, "bench: unknown option '%s' (see bnshift bench --help)", arg);
    }
    if (rc)
        return rc;
    if (!a->config)
        for (int i = 0; i < N_DEFAULT_SETS; i++)
            a->sets[a->n_sets++] = default_sets[i];
    for (int i = 0; i < n_user; i++)
        a->sets[a->n_sets++] = user_sets[i];
    if (batch) {
        snprintf(a->batch_set, sizeof a->batch_set, "train.batch_size=%d", batch);
        a->sets[a->n_sets++] = a->batch_set;
    }
    return 0;
}

static int pick_backend(const char *name, Model *m, BsError *err)
{
    if (!name)
        return BS_OK;
    if (!strcmp(name, "im2col"))
        return model_set_conv_backend(m, CONV_IM2COL, err);
    if (!strcmp(name, "onednn"))
        return model_set_conv_backend(m, CONV_ONEDNN, err);
    return bs_fail(err, BS_ERR_USER, "bench: --backend expects im2col or onednn, got '%s'", name);
}

/* GFLOP/s of C = A·B with 1024x1024 matrices, best of a few. */
static double sgemm_gflops(void)
{
    const int n = 1024, reps = 5;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
          *c = malloc(sizeof(float) * n * n);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0;
    }
    for (int i = 0; i < n * n; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) { /* the first one warms up */
        double t0 = omp_get_wtime();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = omp_get_wtime() - t0;
        if (r > 0 && t < best)
            best = t;
    }
    free(a), free(b), free(c);
    return 2.0 * n * n * (double)n / best / 1e9;
}

/* GB/s of a = s·b + c over three 32 MiB arrays (two reads and a write per
 * element, as a norm's passes mostly are), on the run's threads, best of a
 * few: the rate the norms' memory floor is priced at. */
static double stream_gbps(void)
{
    const size_t n = (size_t)8 << 20;
    const int reps = 5;
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n), *c = malloc(sizeof(float) * n);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0;
    }
#pragma omp parallel for schedule(static) /* first touch where the timed loop runs */
    for (size_t i = 0; i < n; i++) {
        a[i] = 0;
        b[i] = (float)(i % 7);
        c[i] = (float)(i % 5);
    }
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) {
        double t0 = omp_get_wtime();
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++)
            a[i] = 1.5f * b[i] + c[i];
        double t = omp_get_wtime() - t0;
        if (r > 0 && t < best)
            best = t;
    }
    volatile float sink = a[n / 2]; /* the result is used */
    (void)sink;
    free(a), free(b), free(c);
    return 3.0 * sizeof(float) * (double)n / best / 1e9;
}

enum { N_KINDS = OP_N_BUILTIN };

typedef struct {
    double step_s, conv_s, norm_s, other_ops_s;
    double kind_s[N_KINDS]; /* per op kind, forward + backward */
} StepTimes;

/* Splits the op times accumulated in m->op_seconds by kind, each divided
 * by `per` (steps, or thousands of images). */
static void split_times(const Model *m, double per, StepTimes *st)
{
    for (int i = 0; i < m->n_ops; i++) {
        double t = m->op_seconds[i] / per;
        OpKind k = m->ops[i].kind;
        if ((int)k < N_KINDS) /* a registered kind is timed in the totals only */
            st->kind_s[k] += t;
        if (k == OP_CONV)
            st->conv_s += t;
        else if (k == OP_BN || k == OP_GN || k == OP_LRN)
            st->norm_s += t;
        else
            st->other_ops_s += t;
    }
}

static void time_steps(Experiment *e, int steps, StepTimes *st)
{
    Model *m = &e->model;
    const int B = e->cfg.train.batch_size;
    const float clip = (float)e->cfg.train.grad_clip;
    SampleSet set = setup_eval_set(&e->data, 0);
    dataset_gather(set.d, e->data.train_idx, B, set.mean, set.std, e->x, e->y);
    int correct;
    for (int i = 0; i < 3; i++) /* warm-up: first touch, oneDNN primitive creation */
        train_step_clipped(m, &e->opt, e->x, e->y, B, 0.01f, clip, &correct);
    memset(m->op_seconds, 0, sizeof(double) * (size_t)m->n_ops);
    double t0 = omp_get_wtime();
    for (int s = 0; s < steps; s++) /* the very step `run` executes, clipping and NaN check included */
        train_step_clipped(m, &e->opt, e->x, e->y, B, 0.01f, clip, &correct);
    double total = omp_get_wtime() - t0;
    memset(st, 0, sizeof *st);
    st->step_s = total / steps;
    split_times(m, steps, st);
}

/* The evaluation pass that also accumulates every BN input's statistics
 * (what `run` does each epoch), on the test set: images/s, and per 1000
 * images the time by layer type (step_s: the whole pass). Each rate is the
 * best of INFER_PASSES passes, alternating with and without the statistics
 * (a shared machine's neighbours slow single passes by 10-20%;
 * scripts/reference/bench_torch.py times PyTorch's the same way). */
enum { INFER_PASSES = 3 };

static double esm_pass_rate(Experiment *e, StepTimes *st, double *plain_rate, BsError *err)
{
    Model *m = &e->model;
    ShiftStats stats;
    if (shift_stats_init(&stats, m, err))
        return 0;
    double *best_ops = calloc((size_t)m->n_ops, sizeof(double));
    if (!best_ops) {
        shift_stats_free(&stats);
        bs_fail(err, BS_ERR_RUNTIME, "out of memory");
        return 0;
    }
    SampleSet set = setup_eval_set(&e->data, 1);
    EvalResult res;
    evaluate(m, &set, e->x, e->y, &stats, &res); /* warm-up */
    double best_plain = 1e30, best_esm = 1e30;
    for (int p = 0; p < INFER_PASSES; p++) {
        /* The same pass without the statistics: what PyTorch's inference does. */
        double t0 = omp_get_wtime();
        evaluate(m, &set, e->x, e->y, NULL, &res);
        double t = omp_get_wtime() - t0;
        best_plain = t < best_plain ? t : best_plain;
        memset(m->op_seconds, 0, sizeof(double) * (size_t)m->n_ops);
        t0 = omp_get_wtime();
        evaluate(m, &set, e->x, e->y, &stats, &res);
        t = omp_get_wtime() - t0;
        if (t < best_esm) { /* the split by layer type is the best pass's */
            best_esm = t;
            memcpy(best_ops, m->op_seconds, sizeof(double) * (size_t)m->n_ops);
        }
    }
    memcpy(m->op_seconds, best_ops, sizeof(double) * (size_t)m->n_ops);
    free(best_ops);
    shift_stats_free(&stats);
    *plain_rate = set.n / best_plain;
    memset(st, 0, sizeof *st);
    st->step_s = best_esm / (set.n / 1000.0);
    split_times(m, set.n / 1000.0, st);
    return set.n / best_esm;
}

/* --per-op: each op's ms per training step (the op times time_steps left
 * in m->op_seconds, kept before the inference passes reuse them) and, for
 * a norm, its floor at the stream rate: which norms run far from what they
 * must move. */
static void print_per_op(const Model *m, const double *op_seconds, int steps, int B, double stream)
{
    printf("  per op, ms per step (forward + backward); norms: floor ms at the stream rate:\n");
    for (int i = 0; i < m->n_ops; i++) {
        const double ms = op_seconds[i] / steps * 1e3;
        const double floor_ms = stream > 0 ? op_norm_floor_bytes(m, i, B) / (stream * 1e9) * 1e3 : 0;
        printf("    %-30s %-8s %8.3f", m->ops[i].name, op_kind_name(m->ops[i].kind), ms);
        if (floor_ms > 0)
            printf("  floor %.3f (%.1fx)", floor_ms, ms / floor_ms);
        printf("\n");
    }
}

int cmd_bench(int argc, char **argv)
{
    BenchArgs a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? usage() : rc;
    BsError err = {0};
    if (bs_threads_start(a.threads, &err))
        return cli_error(err.code, "%s", err.msg);
    Experiment e;
    if (experiment_open(&e, a.config, a.sets, a.n_sets, 0, &err) || pick_backend(a.backend, &e.model, &err)) {
        experiment_close(&e);
        return cli_error(err.code, "%s", err.msg);
    }
    Model *m = &e.model;
    const int B = e.cfg.train.batch_size;
    if (e.data.n_train < B) {
        experiment_close(&e);
        return cli_error(BS_ERR_USER, "bench: the training set has %d samples, fewer than the batch (%d)",
                         e.data.n_train, B);
    }
    m->op_seconds = calloc((size_t)m->n_ops, sizeof(double));
    if (!m->op_seconds) {
        experiment_close(&e);
        return cli_error(BS_ERR_RUNTIME, "out of memory");
    }
    const Tensor *in = &m->tensors[0];
    printf("model: %s, input %dx%dx%d, batch %d, %zu parameters, %.1f M MACs/image\n", e.cfg.name,
           in->c, in->h, in->w, B, m->n_params, model_macs(m) / 1e6);
    printf("threads: %d, convolution: %s%s%s, BLAS core: %s\n", a.threads, conv_backend_name(m->conv_backend),
           m->conv_backend == CONV_ONEDNN ? " " : "", m->conv_backend == CONV_ONEDNN ? onednn_version() : "",
           bs_blas_core());
    StepTimes st;
    time_steps(&e, a.steps, &st);
    double *train_ops = a.per_op ? malloc(sizeof(double) * (size_t)m->n_ops) : NULL;
    if (a.per_op && !train_ops) {
        free(m->op_seconds);
        m->op_seconds = NULL;
        experiment_close(&e);
        return cli_error(BS_ERR_RUNTIME, "out of memory");
    }
    if (train_ops)
        memcpy(train_ops, m->op_seconds, sizeof(double) * (size_t)m->n_ops);
    StepTimes inf;
    double plain_rate = 0;
    double esm_rate = esm_pass_rate(&e, &inf, &plain_rate, &err);
    /* The peak is the model's: read before the sgemm's and the stream's
     * buffers (108 MiB together) join it. */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double gemm = sgemm_gflops();
    double stream = stream_gbps();
    double floor_bytes = model_norm_floor_bytes(m, B), floor_s = stream > 0 ? floor_bytes / (stream * 1e9) : 0;
    double flops = 3.0 * 2.0 * (double)model_macs(m) * B;
    double step_gflops = flops / st.step_s / 1e9;
    printf("train step: %.1f ms (%d steps), %.1f images/s\n", st.step_s * 1e3, a.steps, B / st.step_s);
    printf("  conv %.1f ms, norm %.1f ms, other layers %.1f ms, loss + update %.1f ms\n", st.conv_s * 1e3,
           st.norm_s * 1e3, st.other_ops_s * 1e3,
           (st.step_s - st.conv_s - st.norm_s - st.other_ops_s) * 1e3);
    printf("  by op:");
    for (int k = 0; k < N_KINDS; k++)
        if (st.kind_s[k] > 0)
            printf(" %s %.1f", op_kind_name((OpKind)k), st.kind_s[k] * 1e3);
    printf(" (ms)\n");
    if (floor_bytes > 0)
        printf("  norm floor: %.0f MB a step = %.1f ms at the stream rate (norms took %.1f ms); "
               "the step with norms at the floor: %.1f ms\n", floor_bytes / 1e6, floor_s * 1e3, st.norm_s * 1e3,
               (st.step_s - st.norm_s + floor_s) * 1e3);
    if (train_ops)
        print_per_op(m, train_ops, a.steps, B, stream);
    free(train_ops);
    printf("  %.1f GFLOP/s useful (3 x forward MACs x 2) = %.0f%% of sgemm\n", step_gflops,
           gemm > 0 ? 100.0 * step_gflops / gemm : 0.0);
    printf("sgemm 1024^3: %.1f GFLOP/s\n", gemm);
    const char *forced = getenv("OPENBLAS_CORETYPE"), *cpu_core = bs_blas_cpu_core();
    const int rank = bs_blas_core_rank(bs_blas_core());
    if (forced && rank >= 0 && rank < bs_blas_core_rank(cpu_core))
        printf("  (OPENBLAS_CORETYPE=%s runs kernels narrower than this CPU's %s, so the %% of sgemm reads high;"
               " unset it for OpenBLAS's own choice)\n", forced, cpu_core);
    printf("memory stream (a = 1.5 b + c, 3 x 32 MiB): %.1f GB/s\n", stream);
    printf("inference: %.1f images/s\n", plain_rate);
    printf("inference + ESM pass: %.1f images/s\n", esm_rate);
    printf("  per 1000 images: conv %.1f ms, norm %.1f ms, other layers %.1f ms, "
           "BN-input statistics + data %.1f ms\n", inf.conv_s * 1e3, inf.norm_s * 1e3,
           inf.other_ops_s * 1e3, (inf.step_s - inf.conv_s - inf.norm_s - inf.other_ops_s) * 1e3);
    printf("peak resident memory: %.1f MiB\n", ru.ru_maxrss / 1024.0);
    free(m->op_seconds);
    m->op_seconds = NULL;
    experiment_close(&e);
    return err.code ? cli_error(err.code, "%s", err.msg) : 0;
}
