/* The summary numbers of plot-data (lib/run/summary.c) on hand-made logs
 * whose answers are known: final and best test error, mean esm_mean at the
 * first and last epoch, an exact depth slope, and seed grouping with its
 * mean and sample std. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

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

Suite *summary_suite(void)
{
    Suite *s = suite_create("summary");
    TCase *tc = tcase_create("plot_data_numbers");
    tcase_add_test(tc, summary_numbers_of_hand_made_logs);
    suite_add_tcase(s, tc);
    return s;
}
