/* How BN's population statistics are estimated (issue 15). Training-time:
 * train.bn_estimator ema|cumulative and train.bn_cumulative_reset
 * epoch|never through `bnshift run` (the layer-level formula is checked
 * against PyTorch's momentum=None in test_torch_fixtures.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "test_util.h"
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

Suite *estimators_suite(void)
{
    Suite *s = suite_create("estimators");
    TCase *tc = tcase_create("training");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, factor_is_momentum_or_one_over_t);
    tcase_add_test(tc, cumulative_estimator_through_run);
    suite_add_tcase(s, tc);
    return s;
}
