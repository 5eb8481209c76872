/* bnshift plot-data end to end: three tiny synthetic runs (two BN runs that
 * differ only in seed, one GNBN run) made once with the binary, then the
 * tables checked cell by cell against the runs' own CSVs, the summaries'
 * row and group counts, and exit 2 with the file named for bad input; and
 * three hand-made run directories with eval.csv files (today's and V1) and
 * both metrics.csv headers, whose eval_summary.csv, corruption.dat and new
 * errors/summary columns are known exactly. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/logformat.h"
#include "suites.h"
#include "test_util.h"

/* Set once by the unchecked fixture (in the parent, before any fork). */
static char workdir[64];

static const char *TINY =
    "{\"name\": \"%s\", \"seed\": %d,\n"
    " \"data\": {\"dataset\": \"synthetic\", \"synthetic\": {\"train\": 128, \"test\": 64, \"size\": 12}},\n"
    " \"model\": {\"arch\": \"resnet\", \"depth\": 8, \"width\": 4, \"norm\": \"%s\", \"groups\": 2},\n"
    " \"train\": {\"epochs\": 2, \"batch_size\": 32, \"lr\": 0.05}}\n";

static void make_run(const char *name, int seed, const char *norm)
{
    char cfg[300], text[1024], cmd[1024];
    snprintf(cfg, sizeof cfg, "%s/%s.json", workdir, name);
    snprintf(text, sizeof text, TINY, name, seed, norm);
    write_text_file(cfg, text);
    snprintf(cmd, sizeof cmd, "%s run %s --out %s/%s --threads 2 --quiet", bnshift_bin(), cfg, workdir, name);
    ck_assert_int_eq(run_in(workdir, cmd, NULL), 0);
}

static void runs_setup(void)
{
    snprintf(workdir, sizeof workdir, "/tmp/bnshift-pd-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(workdir));
    make_run("bn-s1", 1, "bn");
    make_run("bn-s2", 2, "bn");
    make_run("gnbn", 1, "gnbn");
}

static void runs_teardown(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", workdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", workdir);
}

/* plot-data over the three runs into workdir/out (extra: more options). */
static int plot(const char *out, const char *extra, char **errtext)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s plot-data %s/bn-s1 %s/bn-s2 %s/gnbn --out %s/%s %s", bnshift_bin(), workdir,
             workdir, workdir, workdir, out, extra);
    return run_in(workdir, cmd, errtext);
}

static char *read_out(const char *out, const char *name)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s/%s", workdir, out, name);
    char *s = slurp_file(path);
    ck_assert_msg(s != NULL, "%s missing", path);
    return s;
}

/* The first line at or after `from` that starts with prefix, or NULL. */
static const char *find_line(const char *text, const char *from, const char *prefix)
{
    for (const char *p = from; p && *p;) {
        if ((p == text || p[-1] == '\n') && !strncmp(p, prefix, strlen(prefix)))
            return p;
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return NULL;
}

/* Splits the line at p into fields on sep (empty fields kept); copies into
 * buf. Returns the field count. */
static int split(const char *p, char sep, char *buf, size_t cap, char **f, int max)
{
    size_t len = strcspn(p, "\n");
    ck_assert_uint_lt(len, cap);
    memcpy(buf, p, len);
    buf[len] = '\0';
    int n = 0;
    for (char *s = buf; n < max;) {
        f[n++] = s;
        char *e = strchr(s, sep);
        if (!e)
            break;
        *e = '\0';
        s = e + 1;
        while (sep == ' ' && *s == ' ')
            s++;
    }
    return n;
}

/* Field i of the first line after `from` starting with prefix, as a number. */
static double num_at(const char *text, const char *from, const char *prefix, char sep, int i)
{
    const char *p = find_line(text, from, prefix);
    ck_assert_msg(p != NULL, "no line starting '%s'", prefix);
    char buf[4096], *f[256];
    int n = split(p, sep, buf, sizeof buf, f, 256);
    ck_assert_int_gt(n, i);
    char *end;
    double v = strtod(f[i], &end);
    ck_assert_msg(*f[i] && !*end, "field %d of '%s' is '%s'", i, prefix, f[i]);
    return v;
}

/* Asserts text begins with prefix. */
static void ck_assert_starts(const char *text, const char *prefix)
{
    ck_assert_msg(!strncmp(text, prefix, strlen(prefix)), "'%.200s' does not start with '%s'", text, prefix);
}

static void file_exists(const char *out, const char *name)
{
    char path[400];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s/%s", workdir, out, name);
    ck_assert_msg(stat(path, &st) == 0 && st.st_size > 0, "%s missing or empty", path);
}

START_TEST(writes_every_file_with_headers)
{
    char *err = NULL;
    int rc = plot("plots", "", &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err ? err : "");
    free(err);
    const char *names[] = {"shift_vs_epoch_train.dat", "shift_vs_epoch_test.dat", "shift_vs_depth_train.dat",
                           "shift_vs_depth_test.dat", "errors.dat", "summary.csv", "summary_grouped.csv"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        file_exists("plots", names[i]);
    char *e = read_out("plots", "shift_vs_epoch_test.dat");
    ck_assert_starts(e, "# bn-s1\n# epoch mean:stem.bn mean:stage1.block1.bn1 ");
    ck_assert_ptr_nonnull(strstr(e, " std:stem.bn std:stage1.block1.bn1 "));
    /* Three blocks, separated by two blank lines, each headed by its label. */
    ck_assert_ptr_nonnull(strstr(e, "\n\n\n# bn-s2\n# epoch "));
    ck_assert_ptr_nonnull(strstr(e, "\n\n\n# gnbn\n# epoch "));
    char *d = read_out("plots", "shift_vs_depth_test.dat");
    ck_assert_starts(d, "# bn-s1 epoch 1\n# depth layer name esm_mean esm_std rms_mean rms_std "
                          "nesm_mean nesm_std\n1 0 stem.bn ");
    ck_assert_ptr_nonnull(strstr(d, "\n\n\n# gnbn epoch 2\n"));
    char *r = read_out("plots", "errors.dat");
    ck_assert_starts(r, "# bn-s1\n# epoch train_batch_err train_err test_err gap train_bstat_err test_bstat_err "
                        "train_gap test_gap\n1 ");
    free(e);
    free(d);
    free(r);
}
END_TEST

START_TEST(tables_hold_the_logged_numbers)
{
    ck_assert_int_eq(plot("plots", "", NULL), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/bn-s2/shift.csv", workdir);
    char *shift = slurp_file(path);
    snprintf(path, sizeof path, "%s/bn-s2/metrics.csv", workdir);
    char *metrics = slurp_file(path);
    ck_assert(shift && metrics);
    char *e = read_out("plots", "shift_vs_epoch_test.dat");
    const char *blk = strstr(e, "# bn-s2\n");
    ck_assert_ptr_nonnull(blk);
    /* ResNet-8 bn: 9 BN layers; columns epoch, 9 means, 9 stds. */
    const int L = 9;
    for (int layer = 0; layer < L; layer += 4) {
        char pre[32];
        snprintf(pre, sizeof pre, "2,test,%d,", layer);
        ck_assert_double_eq(num_at(e, blk, "2 ", ' ', 1 + layer), num_at(shift, shift, pre, ',', 6));
        ck_assert_double_eq(num_at(e, blk, "2 ", ' ', 1 + L + layer), num_at(shift, shift, pre, ',', 7));
    }
    ck_assert_double_eq(num_at(e, blk, "1 ", ' ', 1), num_at(shift, shift, "1,test,0,", ',', 6));
    char *t = read_out("plots", "shift_vs_epoch_train.dat");
    ck_assert_double_eq(num_at(t, strstr(t, "# bn-s2\n"), "2 ", ' ', 3), num_at(shift, shift, "2,train,2,", ',', 6));
    /* shift_vs_depth: depth layer name esm_mean esm_std rms_mean rms_std nesm_mean nesm_std */
    char *d = read_out("plots", "shift_vs_depth_test.dat");
    const char *db = strstr(d, "# bn-s2 epoch 2\n");
    ck_assert_ptr_nonnull(db);
    static const int csv_col[] = {4, 2, -1, 6, 7, 9, 10, 11, 12};
    for (int c = 0; c < 9; c++)
        if (csv_col[c] >= 0)
            ck_assert_double_eq(num_at(d, db, "6 5 ", ' ', c), num_at(shift, shift, "2,test,5,", ',', csv_col[c]));
    /* errors.dat: epoch train_batch_err train_err test_err gap */
    char *r = read_out("plots", "errors.dat");
    const char *rb = strstr(r, "# bn-s2\n");
    ck_assert_ptr_nonnull(rb);
    double tbe = num_at(metrics, metrics, "2,", ',', 3);
    ck_assert_double_eq(num_at(r, rb, "2 ", ' ', 1), tbe);
    ck_assert_double_eq(num_at(r, rb, "2 ", ' ', 2), num_at(metrics, metrics, "2,", ',', 5));
    double te = num_at(metrics, metrics, "2,", ',', 7);
    ck_assert_double_eq(num_at(r, rb, "2 ", ' ', 3), te);
    ck_assert_double_eq_tol(num_at(r, rb, "2 ", ' ', 4), te - tbe, 1e-12);
    /* ... train_bstat_err test_bstat_err train_gap test_gap */
    double trb = num_at(metrics, metrics, "2,", ',', 11), teb = num_at(metrics, metrics, "2,", ',', 13);
    ck_assert_double_eq(num_at(r, rb, "2 ", ' ', 5), trb);
    ck_assert_double_eq(num_at(r, rb, "2 ", ' ', 6), teb);
    ck_assert_double_eq_tol(num_at(r, rb, "2 ", ' ', 7), num_at(metrics, metrics, "2,", ',', 5) - trb, 1e-12);
    ck_assert_double_eq_tol(num_at(r, rb, "2 ", ' ', 8), te - teb, 1e-12);
    free(shift);
    free(metrics);
    free(e);
    free(t);
    free(d);
    free(r);
}
END_TEST

START_TEST(summaries_have_runs_and_seed_groups)
{
    ck_assert_int_eq(plot("plots", "", NULL), 0);
    char *s = read_out("plots", "summary.csv");
    ck_assert_starts(s, "label,norm,setting,train_size,seed,final_test_err,best_test_err,mean_esm_first,"
                          "mean_esm_last,esm_depth_slope,bn_estimator,corruption,final_test_bstat_err,corr_cells,"
                          "corr_err,corr_adabn_err,corr_bstat_err\n");
    ck_assert_int_eq(count_lines(s), 4);
    ck_assert_ptr_nonnull(find_line(s, s, "bn-s1,bn,train->test,all,1,"));
    ck_assert_ptr_nonnull(find_line(s, s, "bn-s2,bn,train->test,all,2,"));
    ck_assert_ptr_nonnull(find_line(s, s, "gnbn,gnbn,train->test,all,1,"));
    char path[400];
    snprintf(path, sizeof path, "%s/gnbn/metrics.csv", workdir);
    char *m = slurp_file(path);
    ck_assert_ptr_nonnull(m);
    ck_assert_double_eq(num_at(s, s, "gnbn,", ',', 5), num_at(m, m, "2,", ',', 7));
    ck_assert_double_eq(num_at(s, s, "gnbn,", ',', 12), num_at(m, m, "2,", ',', 13)); /* final_test_bstat_err */
    ck_assert_ptr_nonnull(strstr(find_line(s, s, "gnbn,"), ",ema,none,"));
    /* mean_esm_last: the mean of the test set's layer esm_means at epoch 2. */
    snprintf(path, sizeof path, "%s/bn-s1/shift.csv", workdir);
    char *sh = slurp_file(path);
    double sum = 0;
    for (int l = 0; l < 9; l++) {
        char pre[32];
        snprintf(pre, sizeof pre, "2,test,%d,", l);
        sum += num_at(sh, sh, pre, ',', 6);
    }
    ck_assert_double_eq_tol(num_at(s, s, "bn-s1,", ',', 8), sum / 9, 1e-12);
    char *g = read_out("plots", "summary_grouped.csv");
    ck_assert_starts(g, "label,norm,setting,train_size,n_seeds,final_test_err_mean,");
    ck_assert_int_eq(count_lines(g), 3);
    ck_assert_ptr_nonnull(find_line(g, g, "bn-s1,bn,train->test,all,2,"));
    ck_assert_ptr_nonnull(find_line(g, g, "gnbn,gnbn,train->test,all,1,"));
    ck_assert_double_eq(num_at(g, g, "gnbn,", ',', 6), 0.0); /* one seed: std 0 */
    double e1 = num_at(s, s, "bn-s1,", ',', 5), e2 = num_at(s, s, "bn-s2,", ',', 5);
    ck_assert_double_eq_tol(num_at(g, g, "bn-s1,", ',', 5), (e1 + e2) / 2, 1e-12);
    ck_assert_double_eq_tol(num_at(g, g, "bn-s1,", ',', 6), fabs(e1 - e2) / sqrt(2.0), 1e-12);
    free(s);
    free(m);
    free(sh);
    free(g);
}
END_TEST

START_TEST(epochs_option_picks_and_warns)
{
    char *err = NULL;
    ck_assert_int_eq(plot("sel", "--epochs 2,9", &err), 0);
    ck_assert_ptr_nonnull(strstr(err, "epoch 9"));
    free(err);
    char *d = read_out("sel", "shift_vs_depth_test.dat");
    ck_assert_ptr_nonnull(strstr(d, "# bn-s1 epoch 2\n"));
    ck_assert_ptr_null(strstr(d, "epoch 1\n"));
    free(d);
    ck_assert_int_eq(plot("sel", "--epochs 2,x", NULL), 2);
}
END_TEST

/* cmd must exit 2 with one stderr line containing needle. */
static void expect_user_error(const char *cmd, const char *needle)
{
    char *err = NULL;
    int rc = run_in(workdir, cmd, &err);
    ck_assert_msg(rc == 2, "exit %d for %s (stderr: %s)", rc, cmd, err ? err : "");
    ck_assert_msg(err && strstr(err, needle), "stderr '%s' lacks '%s'", err ? err : "", needle);
    ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1, "not one line: '%s'", err);
    free(err);
}

/* Copies run bn-s1 to workdir/name and replaces one of its files. */
static void bad_copy(const char *name, const char *file, const char *text)
{
    char cmd[1024], path[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s/%s && cp -r %s/bn-s1 %s/%s", workdir, name, workdir, workdir, name);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof path, "%s/%s/%s", workdir, name, file);
    write_text_file(path, text);
}

START_TEST(bad_input_exits_2_naming_the_file)
{
    char cmd[2048], path[400], needle[400];
    /* shift.csv cut in the middle of its last row. */
    snprintf(path, sizeof path, "%s/bn-s1/shift.csv", workdir);
    char *s = slurp_file(path);
    ck_assert_ptr_nonnull(s);
    int lines = count_lines(s);
    s[strlen(s) - 7] = '\0';
    bad_copy("trunc", "shift.csv", s);
    free(s);
    snprintf(cmd, sizeof cmd, "%s plot-data %s/bn-s2 %s/trunc --out %s/bad", bnshift_bin(), workdir, workdir, workdir);
    snprintf(needle, sizeof needle, "%s/trunc/shift.csv:%d", workdir, lines);
    expect_user_error(cmd, needle);
    /* A row with a field missing. */
    bad_copy("short", "shift.csv", "epoch,set,layer,name,depth,channels,esm_mean,esm_std,esm_var,rms_mean,"
                                   "rms_std,nesm_mean,nesm_std\n1,test,0,stem.bn,1,4,0.1,0.2,0.3,0.4,0.5,0.6\n");
    snprintf(cmd, sizeof cmd, "%s plot-data %s/short", bnshift_bin(), workdir);
    snprintf(needle, sizeof needle, "%s/short/shift.csv:2: expected 13 fields", workdir);
    expect_user_error(cmd, needle);
    /* metrics.csv with a wrong header. */
    bad_copy("hdr", "metrics.csv", "epoch,lr,loss\n1,0.1,2.3\n");
    snprintf(cmd, sizeof cmd, "%s plot-data %s/hdr", bnshift_bin(), workdir);
    snprintf(needle, sizeof needle, "%s/hdr/metrics.csv:1: bad header", workdir);
    expect_user_error(cmd, needle);
    /* A number that does not parse. */
    bad_copy("num", "metrics.csv", "epoch,lr,train_batch_loss,train_batch_err,train_loss,train_err,test_loss,"
                                   "test_err,seconds,images_per_s\n1,0.1,2.3,0.9x,,,,,1.0,100\n");
    snprintf(cmd, sizeof cmd, "%s plot-data %s/num", bnshift_bin(), workdir);
    snprintf(needle, sizeof needle, "%s/num/metrics.csv:2: field 4", workdir);
    expect_user_error(cmd, needle);
    /* A missing run directory, a missing config, no RUN_DIR at all. */
    snprintf(cmd, sizeof cmd, "%s plot-data %s/bn-s1 %s/nope", bnshift_bin(), workdir, workdir);
    snprintf(needle, sizeof needle, "%s/nope", workdir);
    expect_user_error(cmd, needle);
    snprintf(cmd, sizeof cmd, "rm %s/num/config.resolved.json", workdir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s plot-data %s/num", bnshift_bin(), workdir);
    expect_user_error(cmd, "config.resolved.json");
    snprintf(cmd, sizeof cmd, "%s plot-data --out %s/bad", bnshift_bin(), workdir);
    expect_user_error(cmd, "missing RUN_DIR");
    /* Nothing was written for the failures; --help succeeds. */
    struct stat st;
    snprintf(path, sizeof path, "%s/bad", workdir);
    ck_assert_int_ne(stat(path, &st), 0);
    snprintf(cmd, sizeof cmd, "%s plot-data --help", bnshift_bin());
    ck_assert_int_eq(run_in(workdir, cmd, NULL), 0);
}
END_TEST

/* ---- eval.csv: hand-made run directories ---------------------------------- */

static char evdir[64];

/* A run directory evdir/name: config, metrics.csv, an empty shift.csv and,
 * unless NULL, eval.csv. */
static void hand_run(const char *name, const char *config, const char *metrics, const char *eval)
{
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s/%s", evdir, name);
    ck_assert_int_eq(mkdir(dir, 0777), 0);
    const char *files[] = {"config.resolved.json", "metrics.csv", "shift.csv", "eval.csv"};
    const char *texts[] = {config, metrics, SHIFT_HEADER "\n", eval};
    for (int i = 0; i < 4 && texts[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        write_text_file(path, texts[i]);
    }
}

#define EVAL_CONFIG(name, seed, lr)                                                                     \
    "{\"name\": \"" name "\", \"seed\": " #seed ", \"train\": {\"bn_estimator\": \"cumulative\", \"lr\": " #lr \
    "}, \"data\": {\"corruption\": {\"type\": \"contrast\", \"severity\": 2}}}"

static void eval_setup(void)
{
    make_test_dir(evdir, sizeof evdir, "bnshift-pdeval");
    hand_run("e-s1", EVAL_CONFIG("e-s1", 1, 0.1),
             METRICS_HEADER "\n1,0.1,1,0.5,1,0.4,1,0.3,1,1,1,0.35,1,0.25\n"
                            "2,0.1,1,0.5,1,0.4,1,0.2,1,1,1,0.3,1,0.15\n",
             TEST_EVAL_CSV);
    hand_run("e-s2", EVAL_CONFIG("e-s2", 2, 0.1), METRICS_HEADER_V1 "\n1,0.1,1,0.5,1,0.4,1,0.3,1,1\n", TEST_EVAL_CSV_V1);
    hand_run("plain", "{\"name\": \"plain\", \"seed\": 1}", METRICS_HEADER "\n1,0.1,1,0.5,1,0.4,1,0.3,1,1,,,,\n",
             NULL);
}

static void eval_teardown(void)
{
    remove_test_dir(evdir);
}

/* plot-data over the three hand-made runs (and extra) into evdir/out. */
static int plot_eval(const char *extra, char **errtext)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s plot-data %s/e-s1 %s/e-s2 %s/plain %s --out %s/out", bnshift_bin(), evdir, evdir,
             evdir, extra, evdir);
    return run_in(evdir, cmd, errtext);
}

static char *read_eval_out(const char *name)
{
    char path[400];
    snprintf(path, sizeof path, "%s/out/%s", evdir, name);
    char *s = slurp_file(path);
    ck_assert_msg(s != NULL, "%s missing", path);
    return s;
}

static void has_line(const char *text, const char *line)
{
    char want[512];
    snprintf(want, sizeof want, "\n%s\n", line);
    ck_assert_msg(strstr(text, want), "no line '%s' in:\n%s", line, text);
}

START_TEST(eval_summary_lists_the_last_conditions)
{
    char *err = NULL;
    int rc = plot_eval("", &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err ? err : "");
    free(err);
    char *e = read_eval_out("eval_summary.csv");
    ck_assert_starts(e, "label,seed,recalibrated_on,estimator,est_batches,est_batch_size,est_momentum,"
                        "batch_stats_size,corruption,severity,stage,set,err,batch_stats_err,mean_esm_mean,"
                        "mean_nesm_mean\n"
                        "e-s1,1,,,,,,32,,,before,test,0.22,0.32,2,0.2\n");
    ck_assert_int_eq(count_lines(e), 1 + 6 + 3); /* A, B and their repeats once each; plain has none */
    has_line(e, "e-s1,1,test,exact,,,,32,gaussian_noise,3,after,test,0.3,0.35,0.5,0.05");
    has_line(e, "e-s1,1,train,ema,5,64,0.1,32,,,after,train,0.6,0.6,1,0.1");
    has_line(e, "e-s1,1,,,,,,32,gaussian_noise,3,before,test,0.45,0.4,1,0.1");
    has_line(e, "e-s2,2,,,,,,,,,before,test,0.4,0.5,,");
    has_line(e, "e-s2,2,test,exact,,,,,,,after,test,0.35,0.5,,");
    ck_assert_ptr_null(strstr(e, ",0.5,0.4,")); /* B's first occurrence is replaced */
    free(e);
    /* errors.dat: the bstat columns and gaps; NaN for a V1 metrics.csv. */
    char *r = read_eval_out("errors.dat");
    ck_assert_starts(r, "# e-s1\n# epoch train_batch_err train_err test_err gap train_bstat_err test_bstat_err "
                        "train_gap test_gap\n1 ");
    const char *b1 = strstr(r, "# e-s1\n"), *b2 = strstr(r, "# e-s2\n");
    const double want[] = {0.3, 0.15, 0.4 - 0.3, 0.2 - 0.15};
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq_tol(num_at(r, b1, "2 ", ' ', 5 + i), want[i], 1e-12);
    ck_assert_ptr_nonnull(strstr(b2, "\n1 0.5 0.4 0.3 -0.2 NaN NaN NaN NaN\n"));
    free(r);
}
END_TEST

START_TEST(corruption_table_and_summary_columns)
{
    ck_assert_int_eq(plot_eval("", NULL), 0);
    char *c = read_eval_out("corruption.dat");
    ck_assert_str_eq(c, "# e-s1\n# type severity err adabn_err bstat_err mean_esm_mean\n"
                        "clean 0 0.22 NaN 0.32 2\n"
                        "gaussian_noise 3 0.45 0.3 0.4 1\n"
                        "gaussian_noise 5 0.9 NaN 0.8 8\n"
                        "contrast 3 0.7 NaN 0.6 6\n"
                        "mean 3 0.575 0.3 0.5 3.5\n"
                        "mean 5 0.9 NaN 0.8 8\n"
                        "\n\n# e-s2\n# type severity err adabn_err bstat_err mean_esm_mean\n"
                        "clean 0 0.4 0.35 0.5 NaN\n"
                        "\n\n# plain\n# type severity err adabn_err bstat_err mean_esm_mean\n");
    free(c);
    char *s = read_eval_out("summary.csv");
    ck_assert_starts(s, "label,norm,setting,train_size,seed,final_test_err,best_test_err,mean_esm_first,"
                        "mean_esm_last,esm_depth_slope,bn_estimator,corruption,final_test_bstat_err,corr_cells,"
                        "corr_err,corr_adabn_err,corr_bstat_err\n");
    const double corr_err = (0.45 + 0.9 + 0.7) / 3;
    ck_assert_ptr_nonnull(find_line(s, s, "e-s1,bn,train->test,all,1,0.2,0.2,,,,cumulative,contrast:2,0.15,3,"));
    ck_assert_double_eq_tol(num_at(s, s, "e-s1,", ',', 14), corr_err, 1e-12);
    ck_assert_double_eq_tol(num_at(s, s, "e-s1,", ',', 15), 0.3, 1e-12);
    ck_assert_double_eq_tol(num_at(s, s, "e-s1,", ',', 16), 0.6, 1e-12);
    has_line(s, "e-s2,bn,train->test,all,2,0.3,0.3,,,,cumulative,contrast:2,,0,,,");
    has_line(s, "plain,bn,train->test,all,1,0.3,0.3,,,,ema,none,,0,,,");
    char *g = read_eval_out("summary_grouped.csv");
    ck_assert_starts(g, "label,norm,setting,train_size,n_seeds,final_test_err_mean,final_test_err_std,"
                        "best_test_err_mean,best_test_err_std,mean_esm_last_mean,mean_esm_last_std,"
                        "esm_depth_slope_mean,esm_depth_slope_std,final_test_bstat_err_mean,"
                        "final_test_bstat_err_std,corr_err_mean,corr_err_std,corr_adabn_err_mean,"
                        "corr_adabn_err_std,corr_bstat_err_mean,corr_bstat_err_std\n");
    /* e-s1 and e-s2 differ only in seed; each new column has one value. */
    const char *p = find_line(g, g, "e-s1,bn,train->test,all,2,");
    ck_assert_ptr_nonnull(p);
    const double mean[] = {0.15, corr_err, 0.3, 0.6};
    for (int i = 0; i < 4; i++) {
        ck_assert_double_eq_tol(num_at(g, p, "e-s1,", ',', 13 + 2 * i), mean[i], 1e-12);
        ck_assert_double_eq(num_at(g, p, "e-s1,", ',', 14 + 2 * i), 0.0);
    }
    has_line(g, "plain,bn,train->test,all,1,0.3,0,0.3,0,,,,,,,,,,,,");
    free(s);
    free(g);
}
END_TEST

/* Without eval.csv rows neither eval table is written; a malformed eval.csv
 * is one line naming file:line, and nothing is written. */
START_TEST(eval_tables_only_with_rows_and_bad_eval_csv)
{
    char cmd[1024], path[400];
    snprintf(cmd, sizeof cmd, "%s plot-data %s/plain --out %s/none", bnshift_bin(), evdir, evdir);
    ck_assert_int_eq(run_in(evdir, cmd, NULL), 0);
    struct stat st;
    snprintf(path, sizeof path, "%s/none/eval_summary.csv", evdir);
    ck_assert_int_ne(stat(path, &st), 0);
    snprintf(path, sizeof path, "%s/none/corruption.dat", evdir);
    ck_assert_int_ne(stat(path, &st), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s/bad && cp -r %s/e-s1 %s/bad", evdir, evdir, evdir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof path, "%s/bad/eval.csv", evdir);
    write_text_file(path, EVAL_HEADER "\n2,,before,test,1,0.2,0.3,,,,,,,,,,,,,,,,32,fog,3\n");
    snprintf(cmd, sizeof cmd, "%s plot-data %s/e-s1 %s/bad --out %s/badout", bnshift_bin(), evdir, evdir, evdir);
    char *err = NULL, needle[400];
    ck_assert_int_eq(run_in(evdir, cmd, &err), 2);
    snprintf(needle, sizeof needle, "%s/bad/eval.csv:2: field 24", evdir);
    ck_assert_msg(err && strstr(err, needle), "stderr '%s' lacks '%s'", err ? err : "", needle);
    ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1, "not one line: '%s'", err);
    free(err);
    snprintf(path, sizeof path, "%s/badout", evdir);
    ck_assert_int_ne(stat(path, &st), 0);
}
END_TEST

Suite *plot_data_suite(void)
{
    Suite *s = suite_create("plot_data");
    TCase *tc = tcase_create("plot_data");
    tcase_set_timeout(tc, 600); /* a hang guard; a loaded machine can be slow */
    tcase_add_unchecked_fixture(tc, runs_setup, runs_teardown);
    tcase_add_test(tc, writes_every_file_with_headers);
    tcase_add_test(tc, tables_hold_the_logged_numbers);
    tcase_add_test(tc, summaries_have_runs_and_seed_groups);
    tcase_add_test(tc, epochs_option_picks_and_warns);
    tcase_add_test(tc, bad_input_exits_2_naming_the_file);
    suite_add_tcase(s, tc);
    TCase *ev = tcase_create("plot_data_eval");
    tcase_add_unchecked_fixture(ev, eval_setup, eval_teardown);
    tcase_add_test(ev, eval_summary_lists_the_last_conditions);
    tcase_add_test(ev, corruption_table_and_summary_columns);
    tcase_add_test(ev, eval_tables_only_with_rows_and_bad_eval_csv);
    suite_add_tcase(s, ev);
    return s;
}
