/* bnshift plot-data on a sweep: a tiny 2x2 sweep (model.norm x seed) made
 * once with `bnshift sweep --jobs 2`, then plot-data given the sweep's
 * directory and its sweep.json (the same tables), the axis columns of
 * sweep_summary.csv, sweep_grouped.csv's groups over seed against the runs'
 * own metrics.csv, runs not started noted once and skipped, and a bad
 * manifest refused with one line, exit 2. */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "suites.h"
#include "test_util.h"

/* Set once by the unchecked fixture (in the parent, before any fork). */
static char workdir[64], bin[PATH_MAX];

/* ResNet-8 of width 8 on 12x12 synthetic images, 1 epoch. */
static const char *BASE =
    "{\"name\": \"tiny\", \"seed\": 3,\n"
    " \"data\": {\"dataset\": \"synthetic\", \"synthetic\": {\"train\": 192, \"test\": 96, \"size\": 12}},\n"
    " \"model\": {\"arch\": \"resnet\", \"depth\": 8, \"width\": 8, \"norm\": \"bn\", \"groups\": 4},\n"
    " \"train\": {\"epochs\": 1, \"batch_size\": 32, \"lr\": 0.05, \"schedule\": {\"type\": \"cosine\"}}}\n";

static const char *GRID = "{\"base\": \"base.json\", \"axes\": {\"model.norm\": [\"bn\", \"gn\"], \"seed\": [1, 2]},\n"
                          " \"out\": \"sw\"}\n";

static const char *const NAMES[4] = {"norm-bn_seed-1", "norm-bn_seed-2", "norm-gn_seed-1", "norm-gn_seed-2"};

static const char *const TABLES[] = {"shift_vs_epoch_train.dat", "shift_vs_depth_train.dat",
                                     "shift_vs_epoch_test.dat",  "shift_vs_depth_test.dat",
                                     "errors.dat",               "summary.csv",
                                     "summary_grouped.csv",      "sweep_summary.csv",
                                     "sweep_grouped.csv"};

/* A shell command run in workdir (run_in: stderr into *errtext). */
static int sh(const char *what, char **errtext)
{
    char cmd[PATH_MAX + 1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s", workdir, what);
    return run_in(workdir, cmd, errtext);
}

static void sweep_setup(void)
{
    snprintf(workdir, sizeof workdir, "/tmp/bnshift-swp-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(workdir));
    ck_assert_msg(realpath(bnshift_bin(), bin) != NULL, "no bnshift binary at %s (run make)", bnshift_bin());
    write_text_file(path_of(workdir, "base.json"), BASE);
    write_text_file(path_of(workdir, "grid.json"), GRID);
    char cmd[PATH_MAX + 128];
    snprintf(cmd, sizeof cmd, "'%s' sweep grid.json --jobs 2 --threads-per-job 1", bin);
    ck_assert_int_eq(sh(cmd, NULL), 0);
}

static void sweep_teardown(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", workdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", workdir);
}

/* `plot-data ARGS` in workdir; stderr into *errtext when asked. */
static int plot(const char *args, char **errtext)
{
    char cmd[PATH_MAX + 512];
    snprintf(cmd, sizeof cmd, "'%s' plot-data %s", bin, args);
    return sh(cmd, errtext);
}

static char *read_in(const char *dir, const char *file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", workdir, dir, file);
    char *text = slurp_file(path);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    return text;
}

/* Field k (0-based) of a CSV line without quotes, into out. */
static void field(const char *line, int k, char *out, size_t cap)
{
    for (; k > 0 && line; k--) {
        line = strchr(line, ',');
        if (line)
            line++;
    }
    ck_assert_ptr_nonnull(line);
    size_t n = strcspn(line, ",\n");
    ck_assert_uint_lt(n, cap);
    memcpy(out, line, n);
    out[n] = '\0';
}

/* The column of name in a CSV header line. */
static int column(const char *header, const char *name)
{
    char cell[128];
    for (int k = 0; k < 64; k++) {
        field(header, k, cell, sizeof cell);
        if (!strcmp(cell, name))
            return k;
    }
    ck_abort_msg("no column %s", name);
    return -1;
}

/* Line i (0: the header) of text. */
static const char *line_at(const char *text, int i)
{
    for (; i > 0 && text; i--) {
        text = strchr(text, '\n');
        if (text)
            text++;
    }
    ck_assert_msg(text && *text, "no line %d", i);
    return text;
}

/* test_err of the last row of a run's metrics.csv: its final test error. */
static double final_test_err(const char *name)
{
    char file[200], cell[64];
    snprintf(file, sizeof file, "%s/metrics.csv", name);
    char *text = read_in("sw", file);
    int col = column(text, "test_err"), rows = count_lines(text) - 1;
    field(line_at(text, rows), col, cell, sizeof cell);
    free(text);
    return atof(cell);
}

START_TEST(sweep_dir_and_manifest_give_the_same_tables)
{
    ck_assert_int_eq(plot("sw --out p-dir", NULL), 0);
    ck_assert_int_eq(plot("sw/sweep.json --out p-manifest", NULL), 0);
    for (size_t i = 0; i < sizeof TABLES / sizeof TABLES[0]; i++) {
        char *a = read_in("p-dir", TABLES[i]), *b = read_in("p-manifest", TABLES[i]);
        ck_assert_msg(!strcmp(a, b), "%s differs between the directory and the manifest", TABLES[i]);
        free(a);
        free(b);
    }
    /* The sweep stands for its runs: the plain tables as from the run directories. */
    ck_assert_int_eq(plot("sw/norm-bn_seed-1 sw/norm-bn_seed-2 sw/norm-gn_seed-1 sw/norm-gn_seed-2 --out p-runs",
                          NULL), 0);
    for (size_t i = 0; i < 7; i++) {
        char *a = read_in("p-dir", TABLES[i]), *b = read_in("p-runs", TABLES[i]);
        ck_assert_msg(!strcmp(a, b), "%s differs from the run directories'", TABLES[i]);
        free(a);
        free(b);
    }
    struct stat st;
    ck_assert_int_ne(stat(path_of(workdir, "p-runs/sweep_summary.csv"), &st), 0);
}
END_TEST

START_TEST(sweep_summary_has_the_axis_values)
{
    ck_assert_int_eq(plot("sw --out p-axes", NULL), 0);
    char *text = read_in("p-axes", "sweep_summary.csv");
    ck_assert_int_eq(count_lines(text), 5);
    ck_assert_msg(!strncmp(text, "label,model.norm,seed,final_test_err,best_test_err,", 51), "header: %.80s", text);
    static const char *const norms[4] = {"bn", "bn", "gn", "gn"}, *const seeds[4] = {"1", "2", "1", "2"};
    for (int r = 0; r < 4; r++) {
        char cell[64];
        const char *line = line_at(text, r + 1);
        field(line, 0, cell, sizeof cell);
        ck_assert_str_eq(cell, NAMES[r]);
        field(line, 1, cell, sizeof cell);
        ck_assert_str_eq(cell, norms[r]);
        field(line, 2, cell, sizeof cell);
        ck_assert_str_eq(cell, seeds[r]);
        field(line, 3, cell, sizeof cell);
        ck_assert_double_eq_tol(atof(cell), final_test_err(NAMES[r]), 1e-12);
    }
    free(text);
}
END_TEST

START_TEST(sweep_grouped_averages_over_seeds)
{
    ck_assert_int_eq(plot("sw --out p-grouped", NULL), 0);
    char *text = read_in("p-grouped", "sweep_grouped.csv");
    ck_assert_int_eq(count_lines(text), 3);
    ck_assert_msg(!strncmp(text, "model.norm,n,final_test_err_mean,final_test_err_std,", 52), "header: %.80s",
                  text);
    static const char *const norms[2] = {"bn", "gn"};
    for (int g = 0; g < 2; g++) {
        char cell[64];
        const char *line = line_at(text, g + 1);
        field(line, 0, cell, sizeof cell);
        ck_assert_str_eq(cell, norms[g]);
        field(line, 1, cell, sizeof cell);
        ck_assert_str_eq(cell, "2");
        double a = final_test_err(NAMES[2 * g]), b = final_test_err(NAMES[2 * g + 1]);
        field(line, 2, cell, sizeof cell);
        ck_assert_double_eq_tol(atof(cell), (a + b) / 2, 1e-9);
        field(line, 3, cell, sizeof cell);
        ck_assert_double_eq_tol(atof(cell), fabs(a - b) / sqrt(2.0), 1e-9);
    }
    free(text);
}
END_TEST

START_TEST(runs_not_started_are_noted_once_and_skipped)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp -r sw part && rm -rf part/%s && rm -rf part/%s && mkdir part/%s", NAMES[1], NAMES[3],
             NAMES[3]);
    ck_assert_int_eq(sh(cmd, NULL), 0);
    char *err = NULL;
    ck_assert_int_eq(plot("part --out p-part", &err), 0);
    ck_assert_int_eq(count_lines(err), 1);
    ck_assert_msg(strstr(err, "bnshift: ") == err && strstr(err, "part/sweep.json: skipped 2 runs") &&
                      strstr(err, NAMES[1]) && strstr(err, NAMES[3]),
                  "stderr: %s", err);
    free(err);
    char *text = read_in("p-part", "sweep_summary.csv");
    ck_assert_int_eq(count_lines(text), 3);
    ck_assert_ptr_nonnull(strstr(text, NAMES[0]));
    ck_assert_ptr_nonnull(strstr(text, NAMES[2]));
    free(text);
    text = read_in("p-part", "sweep_grouped.csv");
    ck_assert_int_eq(count_lines(text), 3);
    ck_assert_ptr_nonnull(strstr(text, "\nbn,1,"));
    ck_assert_ptr_nonnull(strstr(text, "\ngn,1,"));
    free(text);
}
END_TEST

START_TEST(a_bad_manifest_exits_2_with_one_line)
{
    ck_assert_int_eq(sh("mkdir -p bad && printf '{\"bnshift_sweep\": 1' > bad/sweep.json", NULL), 0);
    static const char *const args[] = {"bad --out p-bad", "bad/sweep.json --out p-bad",
                                       "sw/norm-bn_seed-1 bad --out p-bad"};
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++) {
        char *err = NULL;
        ck_assert_int_eq(plot(args[i], &err), 2);
        ck_assert_int_eq(count_lines(err), 1);
        ck_assert_msg(strstr(err, "bnshift: plot-data: bad/sweep.json: not a sweep manifest") == err, "stderr: %s",
                      err);
        free(err);
        struct stat st;
        ck_assert_int_ne(stat(path_of(workdir, "p-bad"), &st), 0);
    }
}
END_TEST

Suite *sweep_plot_suite(void)
{
    Suite *s = suite_create("sweep_plot");
    TCase *tc = tcase_create("sweep_plot");
    tcase_add_unchecked_fixture(tc, sweep_setup, sweep_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, sweep_dir_and_manifest_give_the_same_tables);
    tcase_add_test(tc, sweep_summary_has_the_axis_values);
    tcase_add_test(tc, sweep_grouped_averages_over_seeds);
    tcase_add_test(tc, runs_not_started_are_noted_once_and_skipped);
    tcase_add_test(tc, a_bad_manifest_exits_2_with_one_line);
    suite_add_tcase(s, tc);
    return s;
}
