/* How BN's population statistics are estimated (issue 15). Training-time:
 * train.bn_estimator ema|cumulative and train.bn_cumulative_reset
 * epoch|never through `bnshift run` (the layer-level formula is checked
 * against PyTorch's momentum=None in test_torch_fixtures.c). After
 * training: the estimators of `bnshift eval --estimator` on a network whose
 * every formula can be computed by hand, and through the command. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "test_util.h"
#include "io/logformat.h"
#include "train/estimate.h"
#include "train/trainer.h"

START_TEST(factor_is_momentum_or_one_over_t)
{
    ck_assert(bn_estimator_factor(BN_EST_EMA, 0.25, 7) == 0.25);
    ck_assert(bn_estimator_factor(BN_EST_CUMULATIVE, 0.25, 1) == 1.0);
    ck_assert(bn_estimator_factor(BN_EST_CUMULATIVE, 0.25, 4) == 0.25);
    ck_assert(bn_estimator_factor(BN_EST_CUMULATIVE, 0.25, 0) == 1.0); /* never divides by zero */
}
END_TEST

/* The rows of shift.csv of one epoch ("<epoch>,..." lines) joined. */
static char *epoch_rows(const char *csv, int epoch)
{
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%d,", epoch);
    size_t cap = strlen(csv) + 1, n = 0;
    char *out = calloc(cap, 1);
    ck_assert_ptr_nonnull(out);
    for (const char *line = csv; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line + 1) : strlen(line);
        if (!strncmp(line, prefix, strlen(prefix))) {
            memcpy(out + n, line, len);
            n += len;
        }
        line += len;
    }
    return out;
}

static char *run_shift(const char *dir, const char *sub, const char *sets)
{
    char cmd[1024], path[160];
    snprintf(cmd, sizeof cmd, "%s run %s/c.json --quiet --threads 2 --out %s/%s %s", bnshift_bin(), dir, dir, sub,
             sets);
    char *errtext = NULL;
    ck_assert_msg(run_in(dir, cmd, &errtext) == 0, "%s: %s", sub, errtext);
    free(errtext);
    snprintf(path, sizeof path, "%s/%s/shift.csv", dir, sub);
    char *csv = slurp_file(path);
    ck_assert_ptr_nonnull(csv);
    return csv;
}

/* An MLP with BN, 4 training steps an epoch, 2 epochs: the cumulative
 * average restarted each epoch and the one never restarted agree after
 * epoch 1 and differ after epoch 2; the moving average differs from both;
 * a never-restarted run stopped after epoch 1 and resumed gives the very
 * numbers of the straight run (the batch count comes from the epoch). */
START_TEST(cumulative_estimator_through_run)
{
    char dir[64], path[128], cfg[1024];
    make_test_dir(dir, sizeof dir, "bnshift-estim");
    snprintf(path, sizeof path, "%s/c.json", dir);
    snprintf(cfg, sizeof cfg,
             "{\"name\": \"e\", \"data\": {\"dataset\": \"fashion-mnist\", \"train_subset\": 64, \"eval_subset\": 32},\n"
             " \"model\": {\"arch\": \"mlp\", \"hidden\": [16, 16]},\n"
             " \"train\": {\"epochs\": 2, \"batch_size\": 16, \"bn_estimator\": \"cumulative\"}}\n");
    write_text_file(path, cfg);
    char *per_epoch = run_shift(dir, "epoch", "");
    char *never = run_shift(dir, "never", "--set train.bn_cumulative_reset=never");
    char *ema = run_shift(dir, "ema", "--set train.bn_estimator=ema");
    char *a1 = epoch_rows(per_epoch, 1), *b1 = epoch_rows(never, 1), *c1 = epoch_rows(ema, 1);
    char *a2 = epoch_rows(per_epoch, 2), *b2 = epoch_rows(never, 2);
    ck_assert(strlen(a1) > 0 && strlen(a2) > 0);
    ck_assert_str_eq(a1, b1);
    ck_assert_str_ne(a2, b2);
    ck_assert_str_ne(a1, c1);
    /* Stopped after epoch 1, resumed to 2. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s run %s/c.json --quiet --threads 2 --out %s/resumed --set train.bn_cumulative_reset=never "
             "--set train.epochs=1 && %s run %s/c.json --quiet --threads 2 --out %s/resumed "
             "--set train.bn_cumulative_reset=never --resume",
             bnshift_bin(), dir, dir, bnshift_bin(), dir, dir);
    char *errtext = NULL;
    ck_assert_msg(run_in(dir, cmd, &errtext) == 0, "resume: %s", errtext);
    free(errtext);
    snprintf(path, sizeof path, "%s/resumed/shift.csv", dir);
    char *resumed = slurp_file(path);
    ck_assert_ptr_nonnull(resumed);
    ck_assert_str_eq(resumed, never);
    char *bufs[] = {per_epoch, never, ema, a1, b1, c1, a2, b2, resumed};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
    remove_test_dir(dir);
}
END_TEST

/* x(2) -> BN1 -> linear 2x2 + bias -> BN2 -> linear 2x3: BN1's input is
 * the raw pixels/255, BN2's the linear map of BN1's batch-normalized
 * output, so every estimator has a closed form computed here in double. */
typedef struct {
    Dataset d;
    Model m;
    int idx[10];
    float x[2 * 4];
    int y[4];
    SampleSet set;
    const Op *bn[2], *lin;
} TinyNet;

static void tiny_net_make(TinyNet *t)
{
    BsError err = {0};
    ck_assert_int_eq(dataset_alloc(&t->d, 10, 2, 1, 1, 3, &err), BS_OK);
    for (int i = 0; i < 20; i++)
        t->d.pixels[i] = (uint8_t)((i * 37 + 11) % 251);
    for (int i = 0; i < 10; i++) {
        t->d.labels[i] = i % 3;
        t->idx[i] = i;
    }
    model_init(&t->m);
    int h = model_input(&t->m, 2, 1, 1);
    h = model_bn(&t->m, "bn1", h, 1e-5f, 0.1f);
    h = model_linear(&t->m, "fc1", h, 2, 1);
    h = model_bn(&t->m, "bn2", h, 1e-5f, 0.1f);
    h = model_linear(&t->m, "fc2", h, 3, 1);
    Rng r;
    rng_seed(&r, 5);
    ck_assert_int_eq(model_finish(&t->m, h, 4, &r, &err), BS_OK);
    for (int i = 0, k = 0; i < t->m.n_ops; i++)
        if (t->m.ops[i].kind == OP_BN)
            t->bn[k++] = &t->m.ops[i];
        else if (t->m.ops[i].kind == OP_LINEAR && !t->lin)
            t->lin = &t->m.ops[i];
    float *g1 = t->m.params + t->bn[0]->w_off, *b1 = t->m.params + t->bn[0]->b_off;
    g1[0] = 1.5f, g1[1] = 0.5f, b1[0] = 0.1f, b1[1] = -0.2f; /* BN1's output matters */
    t->set = (SampleSet){&t->d, t->idx, 10, NULL, NULL, 0, NULL};
}

/* Per layer: batch mean and biased variance of the batch samples[0..nb). */
static void tiny_batch_stats(const TinyNet *t, const int *samples, int nb, double mu[2][2], double var[2][2])
{
    double x[4][2], z[4][2];
    for (int i = 0; i < nb; i++)
        for (int c = 0; c < 2; c++)
            x[i][c] = t->d.pixels[samples[i] * 2 + c] / 255.0;
    const float *g1 = t->m.params + t->bn[0]->w_off, *b1 = t->m.params + t->bn[0]->b_off;
    const float *w = t->m.params + t->lin->w_off, *bias = t->m.params + t->lin->b_off;
    for (int layer = 0; layer < 2; layer++) {
        double (*v)[2] = layer == 0 ? x : z;
        for (int c = 0; c < 2; c++) {
            double s = 0, q = 0;
            for (int i = 0; i < nb; i++)
                s += v[i][c];
            mu[layer][c] = s / nb;
            for (int i = 0; i < nb; i++)
                q += (v[i][c] - mu[layer][c]) * (v[i][c] - mu[layer][c]);
            var[layer][c] = q / nb;
        }
        if (layer == 0) /* z = W·BN1_train(x) + b */
            for (int i = 0; i < nb; i++) {
                double yn[2];
                for (int c = 0; c < 2; c++)
                    yn[c] = g1[c] * (x[i][c] - mu[0][c]) / sqrt(var[0][c] + 1e-5) + b1[c];
                for (int o = 0; o < 2; o++)
                    z[i][o] = w[o * 2] * yn[0] + w[o * 2 + 1] * yn[1] + bias[o];
            }
    }
}

static void tiny_check(const TinyNet *t, const double want_mu[2][2], const double want_var[2][2], const char *what)
{
    for (int l = 0; l < 2; l++) {
        const float *rm = t->m.stats + t->bn[l]->stat_off;
        for (int c = 0; c < 2; c++) {
            ck_assert_msg(fabs(rm[c] - want_mu[l][c]) <= 1e-5 * (1 + fabs(want_mu[l][c])),
                          "%s: layer %d mean[%d] %.8g, want %.8g", what, l, c, rm[c], want_mu[l][c]);
            ck_assert_msg(fabs(rm[2 + c] - want_var[l][c]) <= 1e-5 * (1 + fabs(want_var[l][c])),
                          "%s: layer %d var[%d] %.8g, want %.8g", what, l, c, rm[2 + c], want_var[l][c]);
        }
    }
}

static void tiny_set_stats(TinyNet *t, float mean, float var)
{
    for (int l = 0; l < 2; l++)
        for (int c = 0; c < 2; c++) {
            t->m.stats[t->bn[l]->stat_off + c] = mean;
            t->m.stats[t->bn[l]->stat_off + 2 + c] = var;
        }
}

/* Ten samples in batches of 4: two full batches and one of 2. */
START_TEST(estimators_match_their_formulas)
{
    TinyNet t;
    memset(&t, 0, sizeof t);
    tiny_net_make(&t);
    static const int order[10] = {3, 7, 1, 9, 0, 5, 8, 2, 6, 4};
    double mu[3][2][2], var[3][2][2]; /* per batch */
    const int sizes[3] = {4, 4, 2};
    for (int b = 0; b < 3; b++)
        tiny_batch_stats(&t, order + 4 * b, sizes[b], mu[b], var[b]);
    double want_mu[2][2], want_var[2][2];
    BsError err = {0};
    int used;
    /* precise: equal-weight mean of batch means and unbiased variances, all three batches */
    for (int l = 0; l < 2; l++)
        for (int c = 0; c < 2; c++) {
            want_mu[l][c] = want_var[l][c] = 0;
            for (int b = 0; b < 3; b++) {
                want_mu[l][c] += mu[b][l][c] / 3;
                want_var[l][c] += var[b][l][c] * sizes[b] / (sizes[b] - 1) / 3;
            }
        }
    tiny_set_stats(&t, 0.3f, 2.0f);
    ck_assert_int_eq(reestimate_bn(&t.m, &t.set, order, 10, 4, REEST_PRECISE, 0, t.x, t.y, &used, &err), BS_OK);
    ck_assert_int_eq(used, 3);
    tiny_check(&t, want_mu, want_var, "precise");
    /* cumulative: the same average, by the layer's own 1/t updates from any start */
    tiny_set_stats(&t, 0.3f, 2.0f);
    ck_assert_int_eq(reestimate_bn(&t.m, &t.set, order, 10, 4, REEST_CUMULATIVE, 0, t.x, t.y, &used, &err), BS_OK);
    ck_assert_int_eq(used, 3);
    tiny_check(&t, want_mu, want_var, "cumulative");
    /* ioffe: full batches only; m/(m-1) times the mean biased variance */
    for (int l = 0; l < 2; l++)
        for (int c = 0; c < 2; c++) {
            want_mu[l][c] = (mu[0][l][c] + mu[1][l][c]) / 2;
            want_var[l][c] = 4.0 / 3.0 * (var[0][l][c] + var[1][l][c]) / 2;
        }
    ck_assert_int_eq(reestimate_bn(&t.m, &t.set, order, 10, 4, REEST_IOFFE, 0, t.x, t.y, &used, &err), BS_OK);
    ck_assert_int_eq(used, 2);
    tiny_check(&t, want_mu, want_var, "ioffe");
    /* ema m = 0.25 from (0.3, 2): r <- 0.75 r + 0.25 b over the three batches */
    for (int l = 0; l < 2; l++)
        for (int c = 0; c < 2; c++) {
            want_mu[l][c] = 0.3, want_var[l][c] = 2.0;
            for (int b = 0; b < 3; b++) {
                want_mu[l][c] = 0.75 * want_mu[l][c] + 0.25 * mu[b][l][c];
                want_var[l][c] = 0.75 * want_var[l][c] + 0.25 * var[b][l][c] * sizes[b] / (sizes[b] - 1);
            }
        }
    tiny_set_stats(&t, 0.3f, 2.0f);
    ck_assert_int_eq(reestimate_bn(&t.m, &t.set, order, 10, 4, REEST_EMA, 0.25, t.x, t.y, &used, &err), BS_OK);
    tiny_check(&t, want_mu, want_var, "ema");
    for (int l = 0; l < 2; l++) /* the layers' own momentum is back */
        ck_assert_float_eq(t.bn[l]->u.bn.momentum, 0.1f);
    /* no usable batch: a user error, not a silent no-op */
    ck_assert_int_eq(reestimate_bn(&t.m, &t.set, order, 3, 4, REEST_IOFFE, 0, t.x, t.y, &used, &err), BS_ERR_USER);
    ck_assert_int_eq(used, 0);
    model_free(&t.m);
    dataset_free(&t.d);
}
END_TEST

START_TEST(estimator_names_parse)
{
    for (int i = 0; i < REEST_N; i++) {
        Reestimator e;
        ck_assert_int_eq(reestimator_parse(reestimator_name((Reestimator)i), &e), 0);
        ck_assert_int_eq(e, i);
        ck_assert_ptr_nonnull(strstr(reestimator_list(), reestimator_name((Reestimator)i)));
    }
    Reestimator e;
    ck_assert_int_eq(reestimator_parse("running", &e), -1);
}
END_TEST

/* Column k (0-based) of a CSV line, into out. */
static void csv_column(const char *line, int k, char *out, size_t cap)
{
    for (int i = 0; i < k && line; i++) {
        line = strchr(line, ',');
        line = line ? line + 1 : NULL;
    }
    ck_assert_ptr_nonnull(line);
    size_t n = strcspn(line, ",\n");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), line);
}

/* The first line of text that starts with prefix and contains needle. */
static const char *find_row(const char *text, const char *prefix, const char *needle)
{
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (!strncmp(line, prefix, strlen(prefix))) {
            const char *hit = strstr(line, needle);
            if (hit && hit < line + len)
                return line;
        }
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

static int eval_cmd(const char *dir, const char *run, const char *args, char **errtext)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s eval %s/%s %s", bnshift_bin(), dir, run, args);
    return run_in(dir, cmd, errtext);
}

/* dir/c.json: a width-4 ResNet-8 on 64 Fashion-MNIST images (40 per
 * evaluation set), batch 16, for `epochs` epochs. */
static void write_resnet8_fashion(const char *dir, int epochs)
{
    char path[160], text[400];
    snprintf(path, sizeof path, "%s/c.json", dir);
    snprintf(text, sizeof text,
             "{\"name\": \"e\", \"data\": {\"dataset\": \"fashion-mnist\", \"train_subset\": 64, \"eval_subset\": 40},\n"
             " \"model\": {\"arch\": \"resnet\", \"depth\": 8, \"width\": 4},\n"
             " \"train\": {\"epochs\": %d, \"batch_size\": 16}}\n", epochs);
    write_text_file(path, text);
}

/* A ResNet-8 trained one epoch: every estimator through `bnshift eval`
 * gives the same eval.csv at 1 and 2 threads; exact zeroes the shift on
 * its set; the columns say what was run; metrics.csv's test_bstat_err is
 * eval's batch_stats_err of the same checkpoint. */
START_TEST(eval_estimators_through_the_command)
{
    char dir[64], path[160], cmd[1024];
    make_test_dir(dir, sizeof dir, "bnshift-eval-est");
    write_resnet8_fashion(dir, 1);
    snprintf(cmd, sizeof cmd, "%s run %s/c.json --quiet --threads 2 --out %s/r1 && cp -r %s/r1 %s/r2", bnshift_bin(),
             dir, dir, dir, dir);
    char *errtext = NULL;
    ck_assert_msg(run_in(dir, cmd, &errtext) == 0, "run: %s", errtext);
    free(errtext);
    static const char *const calls[] = {
        "--recalibrate train --estimator ioffe --batch-size 8",
        "--recalibrate train --estimator precise --batches 7",
        "--recalibrate test --estimator ema --momentum 0.3 --batches 4 --batch-size 32",
        "--recalibrate train --estimator cumulative",
        "--recalibrate train --batch-stats 20",
    };
    for (int r = 1; r <= 2; r++)
        for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
            char args[256], run[8];
            snprintf(args, sizeof args, "%s --threads %d", calls[i], r);
            snprintf(run, sizeof run, "r%d", r);
            ck_assert_msg(eval_cmd(dir, run, args, &errtext) == 0, "eval %s: %s", args, errtext);
            free(errtext);
        }
    snprintf(path, sizeof path, "%s/r1/eval.csv", dir);
    char *e1 = slurp_file(path);
    snprintf(path, sizeof path, "%s/r2/eval.csv", dir);
    char *e2 = slurp_file(path);
    ck_assert_ptr_nonnull(e1);
    ck_assert_ptr_nonnull(e2);
    ck_assert_str_eq(e1, e2); /* 1 and 2 threads: the same numbers */
    char col[64];
    /* the columns of what ran: 40 samples in batches of 8 (ioffe: 5), 7 of 16 (precise), 4 of 32 (ema) */
    const char *row = find_row(e1, "1,train,after,", ",ioffe,");
    ck_assert_ptr_nonnull(row);
    ck_assert_ptr_nonnull(strstr(row, ",ioffe,5,8,,16,,"));
    ck_assert_ptr_nonnull(find_row(e1, "1,train,after,", ",precise,7,16,,16,,"));
    ck_assert_ptr_nonnull(find_row(e1, "1,test,after,", ",ema,4,32,0.3,16,,"));
    ck_assert_ptr_nonnull(find_row(e1, "1,train,after,", ",cumulative,3,16,,16,,"));
    /* exact (the default) zeroes the shift on its set */
    int exact_rows = 0;
    for (const char *line = e1; (line = find_row(line, "1,train,after,train,", ",exact,,,,20,,"));) {
        csv_column(line, 11, col, sizeof col);
        ck_assert_msg(atof(col) <= 1e-4, "exact: esm_mean %s on its own set", col);
        csv_column(line, 12, col, sizeof col);
        ck_assert_msg(atof(col) <= 1e-4, "exact: esm_std %s on its own set", col);
        exact_rows++;
        line = strchr(line, '\n');
    }
    ck_assert_int_eq(exact_rows, 9); /* ResNet-8: 9 BN layers (2 in shortcuts) */
    /* test_bstat_err of the run = eval's batch_stats_err at the training batch size */
    snprintf(path, sizeof path, "%s/r1/metrics.csv", dir);
    char *metrics = slurp_file(path);
    ck_assert_ptr_nonnull(metrics);
    const char *m1 = find_row(metrics, "1,", ",");
    char bstat[64], train_bstat[64];
    csv_column(m1, 13, bstat, sizeof bstat);
    csv_column(m1, 11, train_bstat, sizeof train_bstat);
    row = find_row(e1, "1,train,before,test,", ",ioffe,");
    csv_column(row, 6, col, sizeof col);
    ck_assert_str_eq(col, bstat);
    row = find_row(e1, "1,train,before,train,", ",ioffe,");
    csv_column(row, 6, col, sizeof col);
    ck_assert_str_eq(col, train_bstat);
    free(metrics);
    free(e1);
    free(e2);
    remove_test_dir(dir);
}
END_TEST

/* log.bstat false: the same run without the batch-statistics pass; every
 * other column and shift.csv unchanged, the four bstat columns empty. */
START_TEST(log_bstat_false_leaves_the_bstat_columns_empty)
{
    char dir[64], path[160], cmd[1024];
    make_test_dir(dir, sizeof dir, "bnshift-no-bstat");
    write_resnet8_fashion(dir, 2);
    snprintf(cmd, sizeof cmd,
             "%s run %s/c.json --quiet --threads 2 --out %s/with && "
             "%s run %s/c.json --quiet --threads 2 --out %s/without --set log.bstat=false",
             bnshift_bin(), dir, dir, bnshift_bin(), dir, dir);
    char *errtext = NULL;
    ck_assert_msg(run_in(dir, cmd, &errtext) == 0, "run: %s", errtext);
    free(errtext);
    char *m[2], *sh[2];
    static const char *const runs[] = {"with", "without"};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s/metrics.csv", dir, runs[k]);
        m[k] = slurp_file(path);
        snprintf(path, sizeof path, "%s/%s/shift.csv", dir, runs[k]);
        sh[k] = slurp_file(path);
        ck_assert_ptr_nonnull(m[k]);
        ck_assert_ptr_nonnull(sh[k]);
    }
    ck_assert_str_eq(sh[0], sh[1]);
    for (int epoch = 1; epoch <= 2; epoch++) {
        char prefix[8], a[64], b[64];
        snprintf(prefix, sizeof prefix, "%d,", epoch);
        const char *ra = find_row(m[0], prefix, ","), *rb = find_row(m[1], prefix, ",");
        ck_assert_ptr_nonnull(ra);
        ck_assert_ptr_nonnull(rb);
        for (int col = 0; col < 14; col++) {
            if (col == 8 || col == 9) /* seconds, images_per_s */
                continue;
            csv_column(ra, col, a, sizeof a);
            csv_column(rb, col, b, sizeof b);
            if (col < 8)
                ck_assert_str_eq(a, b);
            else {
                ck_assert_msg(*a, "epoch %d: bstat column %d empty in the default run", epoch, col);
                ck_assert_msg(!*b, "epoch %d: bstat column %d is '%s' with log.bstat false", epoch, col, b);
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        free(m[k]);
        free(sh[k]);
    }
    remove_test_dir(dir);
}
END_TEST

/* Refusals name the option; an older eval.csv gets the new columns. */
START_TEST(eval_estimator_options_and_old_eval_csv)
{
    char dir[64], path[160];
    make_test_dir(dir, sizeof dir, "bnshift-eval-opt");
    run_small_fashion(dir, "\"arch\": \"mlp\", \"hidden\": [8]", "");
    static const struct {
        const char *args, *needle;
    } bad[] = {
        {"--recalibrate train --estimator running", "exact, ioffe, precise, ema, cumulative"},
        {"--estimator precise", "need --recalibrate"},
        {"--recalibrate train --momentum 0.1", "ema only"},
        {"--recalibrate train --estimator ema --momentum 1.5", "--momentum"},
        {"--recalibrate train --batches 3", "do not apply to --estimator exact"},
        {"--recalibrate train --estimator precise --batch-size 1", "--batch-size"},
        {"--batch-stats 0", "--batch-stats"},
        {"--only both", "--only"},
        {"--recalibrate test --only train", "--only train with --recalibrate test"},
        {"--recalibrate train --estimator ioffe --batch-size 64", "no batch of 64"},
    };
    char *errtext = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(eval_cmd(dir, "run", bad[i].args, &errtext) == BS_ERR_USER, "%s: not refused", bad[i].args);
        ck_assert_msg(strstr(errtext, bad[i].needle) && count_lines(errtext) == 1, "%s: '%s'", bad[i].args, errtext);
        free(errtext);
    }
    snprintf(path, sizeof path, "%s/run/eval.csv", dir);
    ck_assert_ptr_null(slurp_file(path)); /* refusals write nothing */
    write_text_file(path, "checkpoint_epoch,recalibrated_on,stage,set,loss,err,batch_stats_err,layer,name,depth,"
                          "channels,esm_mean,esm_std,esm_var,rms_mean,rms_std,nesm_mean,nesm_std\n"
                          "1,test,after,test,1,0.5,0.5,0,fc1.bn,1,8,1,1,1,1,1,1,1\n"
                          "1,,before,test,1,0.5,0.5,0,fc1.bn,1,8,1,1,1,1,1,1,1\n");
    ck_assert_msg(eval_cmd(dir, "run", "--only test", &errtext) == 0, "%s", errtext);
    ck_assert_ptr_nonnull(strstr(errtext, "older bnshift"));
    free(errtext);
    char *csv = slurp_file(path);
    ck_assert_ptr_nonnull(csv);
    ck_assert(!strncmp(csv, EVAL_HEADER "\n", strlen(EVAL_HEADER) + 1));
    ck_assert_ptr_nonnull(strstr(csv, "\n1,test,after,test,1,0.5,0.5,0,fc1.bn,1,8,1,1,1,1,1,1,1,exact,,,,,,\n"));
    ck_assert_ptr_nonnull(strstr(csv, "\n1,,before,test,1,0.5,0.5,0,fc1.bn,1,8,1,1,1,1,1,1,1,,,,,,,\n"));
    ck_assert_ptr_null(find_row(csv, "1,,before,train,", ",")); /* --only test */
    ck_assert_ptr_nonnull(find_row(csv, "1,,before,test,", ",,,,,16,,"));
    free(csv);
    /* The corruption columns name the corruption of the row's own set. */
    ck_assert_msg(eval_cmd(dir, "run", "--set data.corruption.type=contrast --set data.corruption.severity=2",
                           &errtext) == 0, "%s", errtext);
    free(errtext);
    ck_assert_msg(eval_cmd(dir, "run", "--only test --batch-stats 8 --set data.corruption.type=contrast "
                           "--set data.corruption.apply_to=train", &errtext) == 0, "%s", errtext);
    free(errtext);
    csv = slurp_file(path);
    ck_assert_ptr_nonnull(csv);
    ck_assert_ptr_nonnull(find_row(csv, "1,,before,test,", ",,,,,16,contrast,2\n"));
    ck_assert_ptr_nonnull(find_row(csv, "1,,before,train,", ",,,,,16,,\n"));
    ck_assert_ptr_nonnull(find_row(csv, "1,,before,test,", ",,,,,8,,\n")); /* S corrupted, S' clean */
    free(csv);
    remove_test_dir(dir);
}
END_TEST

Suite *estimators_suite(void)
{
    Suite *s = suite_create("estimators");
    TCase *tc = tcase_create("training");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, factor_is_momentum_or_one_over_t);
    tcase_add_test(tc, cumulative_estimator_through_run);
    suite_add_tcase(s, tc);
    TCase *after = tcase_create("after_training");
    tcase_set_timeout(after, 120);
    tcase_add_test(after, estimators_match_their_formulas);
    tcase_add_test(after, estimator_names_parse);
    tcase_add_test(after, eval_estimators_through_the_command);
    tcase_add_test(after, eval_estimator_options_and_old_eval_csv);
    tcase_add_test(after, log_bstat_false_leaves_the_bstat_columns_empty);
    suite_add_tcase(s, after);
    return s;
}
