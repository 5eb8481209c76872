/* The summary numbers of plot-data (lib/run/summary.c) on hand-made logs
 * whose answers are known: final and best test error, mean esm_mean at the
 * first and last epoch, an exact depth slope, and seed grouping with its
 * mean and sample std; eval.csv read back as conditions (lib/run/evallog.c:
 * the last occurrence of a condition wins, V1 files, malformed files) and
 * its corrupted-test-set cells and means. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/logformat.h"
#include "run/summary.h"
#include "suites.h"
#include "test_util.h"

#define MH "epoch,lr,train_batch_loss,train_batch_err,train_loss,train_err,test_loss,test_err,seconds,images_per_s\n"
#define SH "epoch,set,layer,name,depth,channels,esm_mean,esm_std,esm_var,rms_mean,rms_std,nesm_mean,nesm_std\n"

/* A run directory dir with the given config text, 3 epochs of test errors
 * e1..e3, and test shift rows of 3 BN layers at depths 1, 2, 4 for epochs
 * 1 (esm_mean 0.5 each) and 3 (esm_mean 1, 2, 4). */
static void make_run(const char *dir, const char *config, double e3)
{
    char path[700], text[4096];
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/config.resolved.json", dir);
    write_text_file(path, config);
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    snprintf(text, sizeof text,
             MH "1,0.1,1,0.5,1,0.5,1,0.3,1,1\n2,0.1,1,0.5,,,,,1,1\n3,0.1,1,0.5,1,0.5,1,%.3f,1,1\n", e3);
    write_text_file(path, text);
    snprintf(path, sizeof path, "%s/shift.csv", dir);
    write_text_file(path, SH "1,test,0,stem.bn,1,4,0.5,0,0,0,0,0,0\n"
                             "1,test,1,a.bn1,2,4,0.5,0,0,0,0,0,0\n"
                             "1,test,2,a.bn2,4,4,0.5,0,0,0,0,0,0\n"
                             "3,test,0,stem.bn,1,4,1,0,0,0,0,0,0\n"
                             "3,test,1,a.bn1,2,4,2,0,0,0,0,0,0\n"
                             "3,test,2,a.bn2,4,4,4,0,0,0,0,0,0\n");
}

START_TEST(summary_numbers_of_hand_made_logs)
{
    char root[] = "/tmp/bnshift-summary-XXXXXX", a[600], b[600], c[600];
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(a, sizeof a, "%s/a", root);
    snprintf(b, sizeof b, "%s/b", root);
    snprintf(c, sizeof c, "%s/c", root);
    make_run(a, "{\"name\": \"a\", \"seed\": 1}", 0.25);
    make_run(b, "{\"name\": \"b\", \"seed\": 2, \"log\": {\"eval_every\": 2}}", 0.35);
    make_run(c, "{\"name\": \"c\", \"seed\": 1, \"train\": {\"lr\": 0.2}}", 0.15);
    RunLog runs[3];
    BsError err = {0};
    const char *dirs[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        ck_assert_msg(runlog_load(&runs[i], dirs[i], 0, &err) == BS_OK, "%s", err.msg);
    RunSummary s = summary_of_run(&runs[0]);
    ck_assert_int_eq(runs[0].n_eval, 0); /* no eval.csv */
    ck_assert(isnan(s.v[RS_FINAL_BSTAT_ERR])); /* a V1 metrics.csv */
    ck_assert(s.v[RS_CORR_CELLS] == 0.0 && isnan(s.v[RS_CORR_ERR]));
    ck_assert_double_eq_tol(s.v[RS_FINAL_ERR], 0.25, 1e-12);
    ck_assert_double_eq_tol(s.v[RS_BEST_ERR], 0.25, 1e-12);
    ck_assert_double_eq_tol(s.v[RS_ESM_FIRST], 0.5, 1e-12);
    ck_assert_double_eq_tol(s.v[RS_ESM_LAST], 7.0 / 3.0, 1e-12);
    ck_assert_double_eq_tol(s.v[RS_SLOPE], 1.0, 1e-12); /* esm = depth exactly */
    ck_assert_double_eq_tol(summary_depth_slope(&runs[0], RUNLOG_TEST, 1), 0.0, 1e-12);
    ck_assert(isnan(summary_mean_esm(&runs[0], RUNLOG_TRAIN, 3))); /* no train rows */
    ck_assert_double_eq_tol(summary_of_run(&runs[2]).v[RS_BEST_ERR], 0.15, 1e-12);
    /* a and b differ in seed, name and log.* only; c in train.lr. */
    int group[3];
    ck_assert_int_eq(summary_assign_groups(runs, 3, group, &err), BS_OK);
    ck_assert_int_eq(group[0], 0);
    ck_assert_int_eq(group[1], 0);
    ck_assert_int_eq(group[2], 2);
    RunSummary sum[3] = {summary_of_run(&runs[0]), summary_of_run(&runs[1]), summary_of_run(&runs[2])};
    double mean, std;
    summary_group_stat(sum, group, 3, 0, RS_FINAL_ERR, &mean, &std);
    ck_assert_double_eq_tol(mean, 0.30, 1e-12);
    ck_assert_double_eq_tol(std, sqrt(0.005), 1e-12);
    summary_group_stat(sum, group, 3, 2, RS_FINAL_ERR, &mean, &std);
    ck_assert(std == 0.0); /* one run: 0 */
    for (int i = 0; i < 3; i++)
        runlog_free(&runs[i]);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static void check_cond(const EvalCond *c, const char *recal, const char *est, int corruption, int severity, int stage,
                       int set, double err, double esm)
{
    ck_assert_str_eq(c->key.recal, recal);
    ck_assert_str_eq(c->key.estimator, est);
    ck_assert_int_eq(c->key.corruption, corruption);
    ck_assert_int_eq(c->key.severity, severity);
    ck_assert_int_eq(c->key.stage, stage);
    ck_assert_int_eq(c->key.set, set);
    ck_assert_double_eq_tol(c->err, err, 1e-12);
    if (isnan(esm))
        ck_assert(isnan(c->mean_esm_mean) && isnan(c->mean_nesm_mean));
    else
        ck_assert_double_eq_tol(c->mean_esm_mean, esm, 1e-12);
}

static void check_cell(const CorrCell *c, int type, int sev, double e, double adabn, double bstat, double esm)
{
    ck_assert_int_eq(c->type, type);
    ck_assert_int_eq(c->severity, sev);
    const double got[4] = {c->err, c->adabn_err, c->bstat_err, c->mean_esm}, want[4] = {e, adabn, bstat, esm};
    for (int i = 0; i < 4; i++)
        if (isnan(want[i]))
            ck_assert_msg(isnan(got[i]), "cell %d/%d value %d: %g, not NaN", type, sev, i, got[i]);
        else
            ck_assert_double_eq_tol(got[i], want[i], 1e-12);
}

START_TEST(eval_conditions_cells_and_means)
{
    char root[] = "/tmp/bnshift-evallog-XXXXXX", a[600], b[600], path[700];
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(a, sizeof a, "%s/a", root);
    snprintf(b, sizeof b, "%s/b", root);
    make_run(a, "{\"name\": \"a\", \"seed\": 1}", 0.25);
    make_run(b, "{\"name\": \"b\", \"seed\": 2}", 0.35);
    snprintf(path, sizeof path, "%s/metrics.csv", a); /* today's header: with the bstat columns */
    write_text_file(path, METRICS_HEADER "\n1,0.1,1,0.5,1,0.4,1,0.3,1,1,1,0.35,1,0.25\n"
                                         "3,0.1,1,0.5,1,0.4,1,0.2,1,1,1,0.3,1,0.15\n");
    snprintf(path, sizeof path, "%s/eval.csv", a);
    write_text_file(path, TEST_EVAL_CSV);
    snprintf(path, sizeof path, "%s/eval.csv", b);
    write_text_file(path, TEST_EVAL_CSV_V1);
    RunLog runs[2];
    BsError err = {0};
    ck_assert_msg(runlog_load(&runs[0], a, 0, &err) == BS_OK, "%s", err.msg);
    ck_assert_msg(runlog_load(&runs[1], b, 0, &err) == BS_OK, "%s", err.msg);
    /* A', C, D, E, F, B': ordered by last occurrence. */
    const RunLog *ra = &runs[0];
    ck_assert_int_eq(ra->n_eval, 6);
    check_cond(&ra->eval[0], "", "", CORRUPT_NONE, 0, EVAL_BEFORE, RUNLOG_TEST, 0.22, 2.0);
    ck_assert_double_eq_tol(ra->eval[0].mean_nesm_mean, 0.2, 1e-12);
    ck_assert_double_eq_tol(ra->eval[0].batch_stats_err, 0.32, 1e-12);
    ck_assert_int_eq(ra->eval[0].key.batch_stats_size, 32);
    check_cond(&ra->eval[1], "test", "exact", CORRUPT_GAUSSIAN_NOISE, 3, EVAL_AFTER, RUNLOG_TEST, 0.3, 0.5);
    check_cond(&ra->eval[2], "", "", CORRUPT_CONTRAST, 3, EVAL_BEFORE, RUNLOG_TEST, 0.7, 6.0);
    check_cond(&ra->eval[3], "", "", CORRUPT_GAUSSIAN_NOISE, 5, EVAL_BEFORE, RUNLOG_TEST, 0.9, 8.0);
    check_cond(&ra->eval[4], "train", "ema", CORRUPT_NONE, 0, EVAL_AFTER, RUNLOG_TRAIN, 0.6, 1.0);
    ck_assert_int_eq(ra->eval[4].key.est_batches, 5);
    ck_assert_int_eq(ra->eval[4].key.est_batch_size, 64);
    ck_assert_double_eq_tol(ra->eval[4].key.est_momentum, 0.1, 1e-12);
    check_cond(&ra->eval[5], "", "", CORRUPT_GAUSSIAN_NOISE, 3, EVAL_BEFORE, RUNLOG_TEST, 0.45, 1.0);
    ck_assert(isnan(ra->eval[5].key.est_momentum) && ra->eval[5].key.est_batches == 0);
    /* V1: estimator exact where recalibrated, no BN rows: NaN means. */
    ck_assert_int_eq(runs[1].n_eval, 3);
    check_cond(&runs[1].eval[0], "", "", CORRUPT_NONE, 0, EVAL_BEFORE, RUNLOG_TEST, 0.4, NAN);
    check_cond(&runs[1].eval[1], "test", "exact", CORRUPT_NONE, 0, EVAL_BEFORE, RUNLOG_TEST, 0.4, NAN);
    check_cond(&runs[1].eval[2], "test", "exact", CORRUPT_NONE, 0, EVAL_AFTER, RUNLOG_TEST, 0.35, NAN);
    ck_assert_int_eq(runs[1].eval[2].key.batch_stats_size, 0);
    /* Cells by type then severity; means per severity and overall. */
    CorrCell cells[SUMMARY_MAX_CELLS], clean;
    ck_assert_int_eq(summary_corr_cells(ra, cells), 3);
    check_cell(&cells[0], CORRUPT_GAUSSIAN_NOISE, 3, 0.45, 0.3, 0.4, 1.0);
    check_cell(&cells[1], CORRUPT_GAUSSIAN_NOISE, 5, 0.9, NAN, 0.8, 8.0);
    check_cell(&cells[2], CORRUPT_CONTRAST, 3, 0.7, NAN, 0.6, 6.0);
    check_cell((CorrCell[]){summary_corr_mean(cells, 3, 3)}, CORRUPT_NONE, 3, 0.575, 0.3, 0.5, 3.5);
    check_cell((CorrCell[]){summary_corr_mean(cells, 3, 4)}, CORRUPT_NONE, 4, NAN, NAN, NAN, NAN);
    ck_assert_int_eq(summary_corr_cell(ra, CORRUPT_NONE, 0, &clean), 1);
    check_cell(&clean, CORRUPT_NONE, 0, 0.22, NAN, 0.32, 2.0);
    ck_assert_int_eq(summary_corr_cell(ra, CORRUPT_SATURATE, 1, &clean), 0);
    ck_assert_int_eq(summary_corr_cell(&runs[1], CORRUPT_NONE, 0, &clean), 1);
    check_cell(&clean, CORRUPT_NONE, 0, 0.4, 0.35, 0.5, NAN);
    RunSummary sum[2] = {summary_of_run(&runs[0]), summary_of_run(&runs[1])};
    ck_assert_double_eq_tol(sum[0].v[RS_FINAL_BSTAT_ERR], 0.15, 1e-12);
    ck_assert_double_eq(sum[0].v[RS_CORR_CELLS], 3.0);
    ck_assert_double_eq_tol(sum[0].v[RS_CORR_ERR], 2.05 / 3, 1e-12);
    ck_assert_double_eq_tol(sum[0].v[RS_CORR_ADABN_ERR], 0.3, 1e-12);
    ck_assert_double_eq_tol(sum[0].v[RS_CORR_BSTAT_ERR], 0.6, 1e-12);
    ck_assert(sum[1].v[RS_CORR_CELLS] == 0.0 && isnan(sum[1].v[RS_CORR_ERR]));
    /* a and b differ only in seed and name: the group's mean is a's alone. */
    int group[2];
    double mean, std;
    ck_assert_int_eq(summary_assign_groups(runs, 2, group, &err), BS_OK);
    ck_assert_int_eq(group[1], 0);
    summary_group_stat(sum, group, 2, 0, RS_CORR_ERR, &mean, &std);
    ck_assert_double_eq_tol(mean, 2.05 / 3, 1e-12);
    ck_assert(std == 0.0);
    for (int i = 0; i < 2; i++)
        runlog_free(&runs[i]);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* A malformed eval.csv: BS_ERR_USER naming file:line (and, for a field,
 * its number); an empty one is no rows. */
START_TEST(malformed_eval_csv_is_a_user_error)
{
    char root[] = "/tmp/bnshift-evalbad-XXXXXX", dir[600], path[700], want[800];
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(dir, sizeof dir, "%s/r", root);
    make_run(dir, "{\"name\": \"r\", \"seed\": 1}", 0.25);
    snprintf(path, sizeof path, "%s/eval.csv", dir);
    static const struct {
        const char *text, *where;
    } cases[] = {
        {"checkpoint_epoch,recalibrated_on\n", ":1: bad header"},
        {EVAL_HEADER "\n" EV2("2,,before,test,1,0.2,0.3", 1, 0.1, 3, 0.3, ",,,,32,,") "2,,before,test,1,0.2",
         ":4: truncated line"},
        {EVAL_HEADER_V1 "\n" EV2("2,,before,test,1,0.2,0.3", 1, 0.1, 3, 0.3, ",,,,32,,"), ":2: expected 18 fields"},
        {EVAL_HEADER "\n2,,before,test,1,0.2,0.3,1,a.bn1,2,4,1,0,0,0,0,0,0,,,,,32,,\n", ":2: layer 1 out of sequence"},
        {EVAL_HEADER "\n" EV2("2,,before,test,1,0.2,0.3", 1, 0.1, 3, 0.3, ",,,,32,,")
                     "2,,before,test,1,0.2,0.3,2,a.bn2,3,4,1,0,0,0,0,0,0,,,,,16,,\n",
         ":4: layer 2 out of sequence"},
        {EVAL_HEADER "\n2,test,after,test,1,0.2,0.3,,,,,,,,,,,,median,,,,32,,\n", ":2: field 19"},
        {EVAL_HEADER "\n2,,after,test,1,0.2,0.3,,,,,,,,,,,,,,,,32,fog,3\n", ":2: field 24"},
        {EVAL_HEADER "\n2,,before,test,1,0.2,0.3,,,,,,,,,,,,,,,,32,contrast,6\n", ":2: field 25"},
        {EVAL_HEADER "\n2,,before,test,1,0.2,0.3,,,,,,,0.5,,,,,,,,,32,,\n", ":2: field 14"},
        {EVAL_HEADER "\n2,,during,test,1,0.2,0.3,,,,,,,,,,,,,,,,32,,\n", ":2: field 3"},
    };
    RunLog r;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        BsError err = {0};
        write_text_file(path, cases[i].text);
        ck_assert_int_eq(runlog_load(&r, dir, 0, &err), BS_ERR_USER);
        snprintf(want, sizeof want, "%s%s", path, cases[i].where);
        ck_assert_msg(strstr(err.msg, want), "case %zu: '%s' lacks '%s'", i, err.msg, want);
    }
    BsError err = {0};
    write_text_file(path, "");
    ck_assert_int_eq(runlog_load(&r, dir, 0, &err), BS_OK);
    ck_assert_int_eq(r.n_eval, 0);
    runlog_free(&r);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *summary_suite(void)
{
    Suite *s = suite_create("summary");
    TCase *tc = tcase_create("plot_data_numbers");
    tcase_add_test(tc, summary_numbers_of_hand_made_logs);
    tcase_add_test(tc, eval_conditions_cells_and_means);
    tcase_add_test(tc, malformed_eval_csv_is_a_user_error);
    suite_add_tcase(s, tc);
    return s;
}
