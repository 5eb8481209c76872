/* Data-parallel training under mpirun (REFERENCE.md `run` under MPI):
 * synchronized BN with K = 2 equals one process with the same global
 * batch; local BN equals a replay here of two half-batches with their own
 * running estimates; a resume under K = 2 equals the uninterrupted run;
 * the refusals. Those need a `make MPI=1` binary in $BNSHIFT_MPI_BIN and
 * mpirun: scripts/ci_mpi.sh (part of `make test`) builds one and runs this
 * suite, or says why it cannot. Without it only the one-rank case runs. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cmd/setup.h"
#include "layers/activation.h"
#include "layers/add.h"
#include "layers/blocked.h"
#include "run/checkpoint.h"
#include "suites.h"
#include "test_util.h"

#define MPIRUN "mpirun --allow-run-as-root --oversubscribe -np 2 "

static const char *mpi_bin(void)
{
    const char *b = getenv("BNSHIFT_MPI_BIN");
    return b && *b ? b : NULL;
}

/* A ResNet-8 on generated 12x12 images, 96 training samples in global
 * batches of 16 (6 steps an epoch), a learning rate that stays put. */
static void write_config(const char *dir, int width)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"name\": \"mpi\", \"seed\": 3,\n"
             " \"data\": {\"dataset\": \"synthetic\", \"synthetic\": {\"train\": 96, \"test\": 40, \"channels\": 3, "
             "\"size\": 12, \"classes\": 4}},\n"
             " \"model\": {\"arch\": \"resnet\", \"depth\": 8, \"width\": %d, \"norm\": \"bn\", \"groups\": 4},\n"
             " \"train\": {\"epochs\": 2, \"batch_size\": 16, \"lr\": 0.05, \"schedule\": {\"type\": \"multistep\"}},\n"
             " \"log\": {\"checkpoint_every\": 1}}\n",
             width);
    write_text_file(path_of(dir, "c.json"), text);
}

/* `[mpirun -np 2] BIN run DIR/c.json --out DIR/out --threads 1 --quiet EXTRA`; the exit status. */
static int run_cfg(const char *dir, int ranks, const char *bin, const char *out, const char *extra, char **err)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s%s run %s/c.json --out %s/%s --threads 1 --quiet %s", ranks > 1 ? MPIRUN : "", bin,
             dir, dir, out, extra);
    return run_in(dir, cmd, err);
}

static void must_run(const char *dir, int ranks, const char *bin, const char *out, const char *extra)
{
    char *err = NULL;
    int rc = run_cfg(dir, ranks, bin, out, extra, &err);
    ck_assert_msg(rc == 0, "%s run %s exited %d: %s", ranks > 1 ? "mpirun -np 2" : "one process", out, rc,
                  err ? err : "");
    free(err);
}

typedef struct {
    Experiment e;
    CheckpointMeta meta;
    float *rank_stats; /* ranks 1.. */
} Loaded;

/* The model of DIR/c.json with the checkpoint of DIR/OUT loaded. */
static void load_run(Loaded *l, const char *dir, const char *out)
{
    memset(l, 0, sizeof *l);
    BsError err = {0};
    char cfg[1024], ck[1024];
    snprintf(cfg, sizeof cfg, "%s/c.json", dir);
    snprintf(ck, sizeof ck, "%s/%s/checkpoint.bin", dir, out);
    ck_assert_msg(experiment_open(&l->e, cfg, NULL, 0, 0, &err) == BS_OK, "%s", err.msg);
    ck_assert_msg(checkpoint_peek(ck, &l->meta, &err) == BS_OK, "%s", err.msg);
    size_t cap = 0;
    if (l->meta.ranks > 1) {
        cap = l->e.model.n_stats * (size_t)(l->meta.ranks - 1);
        l->rank_stats = falloc(cap);
    }
    ck_assert_msg(checkpoint_load_ranks(ck, &l->e.model, &l->e.opt, &l->meta, l->rank_stats, cap, &err) == BS_OK,
                  "%s", err.msg);
}

static void free_loaded(Loaded *l)
{
    free(l->rank_stats);
    experiment_close(&l->e);
}

/* The numeric fields of two CSV files agree within rtol (relative to
 * max(1e-3, |a|)); text fields are equal. Columns listed in skip (by
 * header name) are left out. */
static void assert_csv_close(const char *pa, const char *pb, double rtol, const char *skip)
{
    char *a = slurp_file(pa), *b = slurp_file(pb);
    ck_assert_msg(a && b, "cannot read %s or %s", pa, pb);
    ck_assert_int_eq(count_lines(a), count_lines(b));
    char *sa, *sb;
    char *la = strtok_r(a, "\n", &sa), *lb = strtok_r(b, "\n", &sb);
    char header[1024];
    snprintf(header, sizeof header, "%s", la);
    for (int row = 0; la && lb; row++, la = strtok_r(NULL, "\n", &sa), lb = strtok_r(NULL, "\n", &sb)) {
        char *fa, *fb, *ta, *tb, hcopy[1024], *th;
        snprintf(hcopy, sizeof hcopy, "%s", header);
        char *name = strtok_r(hcopy, ",", &th);
        fa = strtok_r(la, ",", &ta);
        fb = strtok_r(lb, ",", &tb);
        for (; fa && fb; fa = strtok_r(NULL, ",", &ta), fb = strtok_r(NULL, ",", &tb), name = strtok_r(NULL, ",", &th)) {
            if (name && strstr(skip, name))
                continue;
            char *ea, *eb;
            double va = strtod(fa, &ea), vb = strtod(fb, &eb);
            if (*ea || *eb || ea == fa)
                ck_assert_msg(!strcmp(fa, fb), "%s row %d column %s: '%s' vs '%s'", pb, row, name, fa, fb);
            else
                ck_assert_msg(fabs(va - vb) <= rtol * fmax(1e-3, fabs(va)), "%s row %d column %s: %.9g vs %.9g", pb,
                              row, name, va, vb);
        }
    }
    free(a);
    free(b);
}

START_TEST(sync_two_ranks_equal_one_process)
{
    char dir[256];
    make_test_dir(dir, sizeof dir, "bnshift-mpi");
    write_config(dir, 16); /* 16 channels: BN in the blocked layout under oneDNN */
    /* One epoch (6 steps, with augmentation): over more steps the two
     * drift apart as any two float summation orders do (a batch whose
     * BN variances are tiny amplifies 1e-7 into 1e-3 within a step). */
    must_run(dir, 1, bnshift_bin(), "one", "--set train.epochs=1");
    must_run(dir, 2, mpi_bin(), "two", "--set train.epochs=1 --set train.bn_sync=sync");
    Loaded one, two;
    load_run(&one, dir, "one");
    load_run(&two, dir, "two");
    ck_assert_int_eq(two.meta.ranks, 2);
    assert_close(two.e.model.params, one.e.model.params, one.e.model.n_params, 1e-4, "weights");
    assert_close(two.e.model.stats, one.e.model.stats, one.e.model.n_stats, 1e-4, "running statistics");
    assert_close(two.rank_stats, one.e.model.stats, one.e.model.n_stats, 1e-4, "rank 1's running statistics");
    free_loaded(&one);
    free_loaded(&two);
    assert_csv_close(path_of(dir, "one/shift.csv"), path_of(dir, "two/shift.csv"), 1e-4, "");
    assert_csv_close(path_of(dir, "one/metrics.csv"), path_of(dir, "two/metrics.csv"), 1e-4, "seconds,images_per_s");
    remove_test_dir(dir);
}
END_TEST

/* Local BN replayed in one process: per global batch, each half through
 * the model with that rank's running statistics in it, the gradients of
 * both halves added (each half's loss is its mean) and halved, one SGD
 * step. */
static void replay_local(Experiment *e, float *stats[2])
{
    Model *m = &e->model;
    const Config *c = &e->cfg;
    Rng rng;
    rng_seed(&rng, (uint64_t)c->seed + SETUP_TRAIN_STREAM);
    const int n = e->data.n_train, B = c->train.batch_size, b = B / 2;
    int *order = calloc((size_t)n, sizeof *order);
    const Dataset *d = e->data.src[0];
    const size_t sample = (size_t)d->c * d->h * d->w;
    const float *mean = e->data.normalize ? e->data.mean : NULL, *std = e->data.normalize ? e->data.std : NULL;
    for (int k = 0; k < 2; k++)
        memcpy(stats[k], m->stats, sizeof(float) * m->n_stats);
    for (int epoch = 0; epoch < c->train.epochs; epoch++) {
        memcpy(order, e->data.train_idx, sizeof(int) * (size_t)n);
        rng_shuffle(&rng, order, n);
        for (int s = 0; s < n / B; s++) {
            if (c->data.augment)
                dataset_gather_augmented(d, order + s * B, B, mean, std, c->data.flip, &rng, e->x, e->y);
            else
                dataset_gather(d, order + s * B, B, mean, std, e->x, e->y);
            model_zero_grad(m);
            for (int k = 0; k < 2; k++) {
                int hits;
                memcpy(m->stats, stats[k], sizeof(float) * m->n_stats);
                model_forward(m, e->x + (size_t)k * b * sample, b, 1);
                model_loss(m, e->y + k * b, b, &hits, 1);
                model_backward(m, b, 1);
                memcpy(stats[k], m->stats, sizeof(float) * m->n_stats);
            }
            for (size_t i = 0; i < m->n_params; i++)
                m->grads[i] *= 0.5f;
            optimizer_step(&e->opt, m, (float)c->train.lr);
        }
    }
    free(order);
}

/* The seven shift values of a CSV line from field `first` on. */
static void shift_values(char *line, int first, double v[7])
{
    char *f;
    for (int i = 0; (f = strsep(&line, ",")) && i < first + 7; i++) /* empty fields count */
        if (i >= first)
            v[i - first] = strtod(f, NULL);
}

/* `bnshift eval` of the run by one process (rank 0's estimates, the whole
 * set in one pass) gives the ESM the ranks logged for the last epoch from
 * their shares of the set. */
static void assert_eval_matches_log(const char *dir, const char *out, int epoch)
{
    char cmd[2048], *err = NULL;
    snprintf(cmd, sizeof cmd, "%s eval %s/%s --threads 1", bnshift_bin(), dir, out);
    ck_assert_msg(run_in(dir, cmd, &err) == 0, "eval: %s", err ? err : "");
    free(err);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/shift.csv", dir, out);
    char *shift = slurp_file(path);
    snprintf(path, sizeof path, "%s/%s/eval.csv", dir, out);
    char *eval = slurp_file(path);
    ck_assert(shift && eval);
    int matched = 0;
    char *s1, *s2;
    for (char *ls = strtok_r(shift, "\n", &s1); ls; ls = strtok_r(NULL, "\n", &s1)) {
        int e, layer;
        char set[16];
        if (sscanf(ls, "%d,%15[^,],%d,", &e, set, &layer) != 3 || e != epoch)
            continue;
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%d,,before,%s,", epoch, set);
        char *copy = strdup(eval);
        for (char *le = strtok_r(copy, "\n", &s2); le; le = strtok_r(NULL, "\n", &s2)) {
            char lcopy[1024];
            snprintf(lcopy, sizeof lcopy, "%s", le);
            char *f = le;
            for (int i = 0; i < 7 && f; i++)
                f = strchr(f + 1, ',');
            if (strncmp(le, prefix, strlen(prefix)) || !f || atoi(f + 1) != layer)
                continue;
            double a[7], b[7];
            char lshift[1024];
            snprintf(lshift, sizeof lshift, "%s", ls);
            shift_values(lshift, 6, a);
            shift_values(lcopy, 11, b);
            for (int i = 0; i < 7; i++)
                ck_assert_msg(fabs(a[i] - b[i]) <= 1e-6 * fmax(1e-3, fabs(b[i])), "%s layer %d: logged %.9g, eval %.9g",
                              set, layer, a[i], b[i]);
            matched++;
        }
        free(copy);
    }
    ck_assert_int_gt(matched, 0);
    free(shift);
    free(eval);
}

START_TEST(local_two_ranks_equal_replay)
{
    char dir[256];
    make_test_dir(dir, sizeof dir, "bnshift-mpi");
    write_config(dir, 8);
    must_run(dir, 2, mpi_bin(), "two", "");
    Loaded two, ref;
    load_run(&two, dir, "two");
    memset(&ref, 0, sizeof ref);
    BsError err = {0};
    ck_assert_msg(experiment_open(&ref.e, path_of(dir, "c.json"), NULL, 0, 0, &err) == BS_OK, "%s", err.msg);
    float *stats[2] = {falloc(ref.e.model.n_stats), falloc(ref.e.model.n_stats)};
    replay_local(&ref.e, stats);
    assert_close(two.e.model.params, ref.e.model.params, ref.e.model.n_params, 1e-4, "weights");
    assert_close(two.e.model.stats, stats[0], ref.e.model.n_stats, 1e-4, "rank 0's running statistics");
    assert_close(two.rank_stats, stats[1], ref.e.model.n_stats, 1e-4, "rank 1's running statistics");
    /* The ranks' estimates really differ, and ranks.csv says by how much. */
    ck_assert(max_abs_diff(stats[0], stats[1], ref.e.model.n_stats) > 1e-4);
    int bn = 0;
    for (int i = 0; i < ref.e.model.n_ops; i++)
        bn += ref.e.model.ops[i].kind == OP_BN;
    ck_assert_int_eq(csv_rows(path_of(dir, "two/ranks.csv")), 2 * bn); /* a row per epoch and BN layer */
    assert_eval_matches_log(dir, "two", 2);
    free(stats[0]);
    free(stats[1]);
    free_loaded(&two);
    experiment_close(&ref.e);
    remove_test_dir(dir);
}
END_TEST

START_TEST(resume_under_two_ranks_equals_uninterrupted)
{
    char dir[256];
    make_test_dir(dir, sizeof dir, "bnshift-mpi");
    write_config(dir, 8);
    must_run(dir, 2, mpi_bin(), "whole", "--set train.epochs=3");
    must_run(dir, 2, mpi_bin(), "parts", "");
    must_run(dir, 2, mpi_bin(), "parts", "--set train.epochs=3 --resume");
    ck_assert_runs_equal(path_of(dir, "whole"), path_of(dir, "parts"));
    char *a = slurp_file(path_of(dir, "whole/ranks.csv")), *b = slurp_file(path_of(dir, "parts/ranks.csv"));
    ck_assert_msg(a && b, "ranks.csv missing");
    ck_assert_str_eq(b, a);
    free(a);
    free(b);
    Loaded w, p;
    load_run(&w, dir, "whole");
    load_run(&p, dir, "parts");
    ck_assert(!memcmp(w.e.model.params, p.e.model.params, sizeof(float) * w.e.model.n_params));
    ck_assert(!memcmp(w.e.model.stats, p.e.model.stats, sizeof(float) * w.e.model.n_stats));
    ck_assert(!memcmp(w.rank_stats, p.rank_stats, sizeof(float) * w.e.model.n_stats));
    free_loaded(&w);
    free_loaded(&p);
    remove_test_dir(dir);
}
END_TEST

static int count_of(const char *text, const char *word)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, word)); p++)
        n++;
    return n;
}

START_TEST(refusals)
{
    char dir[256], *err = NULL;
    make_test_dir(dir, sizeof dir, "bnshift-mpi");
    write_config(dir, 8);
    /* A build without MPI started by mpirun would train two copies into one directory. */
    ck_assert_int_ne(run_cfg(dir, 2, bnshift_bin(), "plain", "", &err), 0);
    ck_assert_msg(strstr(err, "built without MPI") && strstr(err, "make MPI=1"), "%s", err);
    free(err);
    /* A global batch the ranks cannot share evenly: said once, by rank 0. */
    ck_assert_int_ne(run_cfg(dir, 2, mpi_bin(), "odd", "--set train.batch_size=15", &err), 0);
    ck_assert_msg(count_of(err, "does not split evenly among 2 ranks") == 1, "%s", err);
    free(err);
    /* Local BN keeps estimates per rank: no resume by one process. */
    must_run(dir, 2, mpi_bin(), "local", "--set train.epochs=1");
    ck_assert_int_eq(run_cfg(dir, 1, bnshift_bin(), "local", "--resume", &err), 2);
    ck_assert_msg(strstr(err, "resume it with mpirun -np 2"), "%s", err);
    free(err);
    remove_test_dir(dir);
}
END_TEST

/* A Comm of one rank: SyncBatchNorm's code path with nothing to add. */
static void one_sum(const Comm *c, double *buf, size_t n) { (void)c, (void)buf, (void)n; }
static void one_gather(const Comm *c, const float *mine, float *all, size_t n)
{
    (void)c;
    memcpy(all, mine, sizeof(float) * n);
}
static void one_bcast(const Comm *c, void *buf, size_t bytes, int root) { (void)c, (void)buf, (void)bytes, (void)root; }

/* The synchronized forward and backward on one rank compute what the
 * plain BatchNorm does, in NCHW and in nChw16c with padding lanes. */
static void check_sync_bn(int C, int blocked)
{
    const int N = 3, S = 10;
    const Comm one = {.rank = 0, .size = 1, .sum = one_sum, .gather = one_gather, .bcast = one_bcast};
    const size_t n = blocked ? N * blocked_sample(C, S) : (size_t)N * C * S;
    Rng r;
    rng_seed(&r, 7);
    float *x = falloc(n), *dy = falloc(n), *gamma = falloc(C), *beta = falloc(C);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < C; c++)
            for (int s = 0; s < S; s++) {
                size_t at = blocked ? blocked_index(C, S, blocked, i, c, s) : ((size_t)i * C + c) * S + s;
                x[at] = 2.0f * rng_uniform(&r) + 0.5f;
                dy[at] = rng_uniform(&r) - 0.5f;
            }
    fill_uniform(&r, gamma, C, 0.5f, 1.5f);
    fill_uniform(&r, beta, C, -0.5f, 0.5f);
    float *out[2], *din[2], *rm[2], *rv[2], *sm[2], *si[2], *dg[2], *db[2];
    for (int k = 0; k < 2; k++) {
        BatchNorm b;
        batchnorm_init(&b, C, S, 1e-5f, 0.1f);
        b.blocked = blocked;
        double *partial = calloc(batchnorm_partial_size(C, N), sizeof(double));
        b.partial = partial;
        b.act_after = 1; /* ReLU in the same pass */
        b.comm = k ? &one : NULL;
        out[k] = falloc(n), din[k] = falloc(n), rm[k] = falloc(C), rv[k] = falloc(C), sm[k] = falloc(C);
        si[k] = falloc(C), dg[k] = falloc(C), db[k] = falloc(C);
        for (int c = 0; c < C; c++)
            rv[k][c] = 1.0f;
        batchnorm_forward_train(&b, gamma, beta, rm[k], rv[k], x, out[k], sm[k], si[k], N);
        batchnorm_backward_train(&b, gamma, beta, x, sm[k], si[k], dy, din[k], dg[k], db[k], N);
        free(partial);
    }
    assert_close(out[1], out[0], n, 1e-5, "sync forward");
    assert_close(rm[1], rm[0], C, 1e-5, "sync running mean");
    assert_close(rv[1], rv[0], C, 1e-5, "sync running var");
    assert_close(din[1], din[0], n, 1e-4, "sync input gradient");
    assert_close(dg[1], dg[0], C, 1e-4, "sync gamma gradient");
    assert_close(db[1], db[0], C, 1e-4, "sync beta gradient");
    /* The residual add after the layer, fused (BatchNorm.residual; dy as
     * the shortcut): the bits of the output and then the add and its ReLU. */
    float *fused[2] = {falloc(n), falloc(n)};
    for (int k = 0; k < 2; k++) {
        BatchNorm b;
        batchnorm_init(&b, C, S, 1e-5f, 0.1f);
        b.blocked = blocked;
        double *partial = calloc(batchnorm_partial_size(C, N), sizeof(double));
        b.partial = partial;
        b.comm = &one;
        b.residual = k ? dy : NULL;
        b.residual_act = ACT_RELU;
        batchnorm_forward_train(&b, gamma, beta, rm[1], rv[1], x, fused[k], sm[1], si[1], N);
        free(partial);
    }
    add_forward_act(fused[0], dy, fused[0], n, ACT_RELU);
    ck_assert_msg(!memcmp(fused[1], fused[0], sizeof(float) * n), "sync forward + residual add (C %d)", C);
    free(fused[0]), free(fused[1]);
    for (int k = 0; k < 2; k++) {
        free(out[k]), free(din[k]), free(rm[k]), free(rv[k]), free(sm[k]), free(si[k]), free(dg[k]), free(db[k]);
    }
    free(x), free(dy), free(gamma), free(beta);
}

START_TEST(sync_bn_one_rank_is_batchnorm)
{
    check_sync_bn(5, 0);
    check_sync_bn(32, 1);
    check_sync_bn(24, 1); /* 8 padding lanes */
}
END_TEST

/* Version 2 (a data-parallel run's): every rank's running statistics
 * round-trip; a reader without room for them skips them; a cut file is
 * refused. */
START_TEST(checkpoint_keeps_every_rank)
{
    Model m;
    Rng r;
    rng_seed(&r, 5);
    BsError err = {0};
    model_init(&m);
    int t = model_input(&m, 3, 4, 4);
    t = model_conv(&m, "conv", t, 8, 3, 1, 1, 0);
    t = model_bn(&m, "bn", t, 1e-5f, 0.1f);
    t = model_avgpool(&m, t);
    t = model_linear(&m, "fc", t, 2, 1);
    ck_assert_int_eq(model_finish(&m, t, 2, &r, &err), BS_OK);
    Optimizer o;
    ck_assert_int_eq(optimizer_init(&o, &m, (SgdConfig){0}, 0.0f, 0, &err), BS_OK);
    fill_uniform(&r, m.stats, m.n_stats, 0.1f, 1.0f);
    float *others = falloc(2 * m.n_stats), *back = falloc(2 * m.n_stats);
    fill_uniform(&r, others, 2 * m.n_stats, 0.1f, 1.0f);
    char dir[256];
    make_test_dir(dir, sizeof dir, "bnshift-ckpt2");
    const char *path = path_of(dir, "checkpoint.bin");
    CheckpointMeta meta = {.config_hash = 9, .epoch = 3, .threads = 1, .rng = r, .ranks = 3, .ranks_len = 77,
                           .rank_stats = others};
    ck_assert_msg(checkpoint_save(path, &m, &o, &meta, &err) == BS_OK, "%s", err.msg);
    float *stats0 = falloc(m.n_stats);
    memcpy(stats0, m.stats, sizeof(float) * m.n_stats);
    memset(m.stats, 0, sizeof(float) * m.n_stats);
    CheckpointMeta got;
    ck_assert_int_eq(checkpoint_load_ranks(path, &m, &o, &got, back, m.n_stats, &err), BS_ERR_USER); /* no room */
    ck_assert_msg(strstr(err.msg, "3 ranks"), "%s", err.msg);
    err = (BsError){0};
    ck_assert_msg(checkpoint_load_ranks(path, &m, &o, &got, back, 2 * m.n_stats, &err) == BS_OK, "%s", err.msg);
    ck_assert_int_eq(got.ranks, 3);
    ck_assert_int_eq(got.ranks_len, 77);
    ck_assert_int_eq(got.epoch, 3);
    ck_assert(!memcmp(m.stats, stats0, sizeof(float) * m.n_stats));
    ck_assert(!memcmp(back, others, sizeof(float) * 2 * m.n_stats));
    CheckpointMeta skip; /* eval: rank 0's statistics only */
    ck_assert_msg(checkpoint_load(path, &m, &o, &skip, &err) == BS_OK, "%s", err.msg);
    ck_assert(!memcmp(m.stats, stats0, sizeof(float) * m.n_stats));
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "truncate -s -8 %s", path);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(checkpoint_load(path, &m, &o, &skip, &err), BS_ERR_USER);
    ck_assert_msg(strstr(err.msg, "truncated checkpoint"), "%s", err.msg);
    free(others), free(back), free(stats0);
    optimizer_free(&o);
    model_free(&m);
    remove_test_dir(dir);
}
END_TEST

Suite *mpi_suite(void)
{
    Suite *s = suite_create("mpi");
    if (mpi_bin()) {
        TCase *tc = tcase_create("mpirun");
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, sync_two_ranks_equal_one_process);
        tcase_add_test(tc, local_two_ranks_equal_replay);
        tcase_add_test(tc, resume_under_two_ranks_equals_uninterrupted);
        tcase_add_test(tc, refusals);
        suite_add_tcase(s, tc);
    }
    TCase *one = tcase_create("one_rank");
    tcase_add_test(one, sync_bn_one_rank_is_batchnorm);
    tcase_add_test(one, checkpoint_keeps_every_rank);
    suite_add_tcase(s, one);
    return s;
}
