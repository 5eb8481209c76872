/* bnshift report end to end: tiny synthetic runs made once with the binary
 * (two BN runs that differ only in seed, one with eval.csv; a GNBN run; a GN
 * run without BN layers, evaluated every other epoch and without bstat
 * columns), then the page checked as a reader would: well formed (every
 * element closed in order, one <html>, every <svg> closed, ids unique),
 * self-contained (nothing fetched: no src=, no href or url() but to the page
 * itself, no script, http(s) only in xmlns attributes), every section
 * present with its figures; and bad input exits 2 (1 for I/O or a missing
 * gnuplot) with one line and no file. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suites.h"
#include "test_util.h"

/* Set once by the unchecked fixture (in the parent, before any fork). */
static char workdir[64];

static const char *TINY =
    "{\"name\": \"%s\", \"seed\": %d,\n"
    " \"data\": {\"dataset\": \"synthetic\", \"synthetic\": {\"train\": 128, \"test\": 64, \"size\": 12}},\n"
    " \"model\": {\"arch\": \"resnet\", \"depth\": 8, \"width\": 4, \"norm\": \"%s\", \"groups\": 2},\n"
    " \"train\": {\"epochs\": 3, \"batch_size\": 32, \"lr\": 0.05}%s}\n";

static void sh(const char *fmt, const char *a, const char *b)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, bnshift_bin(), a, b);
    char *err = NULL;
    int rc = run_in(workdir, cmd, &err);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, err ? err : "");
    free(err);
}

static void make_run(const char *name, int seed, const char *norm, const char *extra)
{
    char cfg[300], text[1024], out[300];
    snprintf(cfg, sizeof cfg, "%s/%s.json", workdir, name);
    snprintf(text, sizeof text, TINY, name, seed, norm, extra);
    write_text_file(cfg, text);
    snprintf(out, sizeof out, "%s/%s", workdir, name);
    sh("%s run %s --out %s --threads 2 --quiet", cfg, out);
}

static void runs_setup(void)
{
    snprintf(workdir, sizeof workdir, "/tmp/bnshift-report-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(workdir));
    make_run("bn-s1", 1, "bn", "");
    make_run("bn-s2", 2, "bn", "");
    make_run("gnbn", 1, "gnbn", "");
    make_run("gn", 1, "gn", ", \"log\": {\"eval_every\": 2, \"bstat\": false}");
    char dir[300];
    snprintf(dir, sizeof dir, "%s/bn-s1", workdir);
    sh("%s eval %s --recalibrate test --threads 2%s", dir, "");
    sh("%s eval %s --only test --set data.corruption.type=contrast --recalibrate test --threads 2%s", dir, "");
}

static void runs_teardown(void)
{
    remove_test_dir(workdir);
}

/* report ARGS (run names relative to workdir) into workdir/OUT; the exit
 * status, stderr in *errtext when asked. */
static int report(const char *runs, const char *out, const char *extra, char **errtext)
{
    char cmd[2048], list[1024] = "";
    size_t used = 0;
    char copy[512];
    snprintf(copy, sizeof copy, "%s", runs);
    for (char *r = strtok(copy, " "); r; r = strtok(NULL, " "))
        used += (size_t)snprintf(list + used, sizeof list - used, " %s/%s", workdir, r);
    snprintf(cmd, sizeof cmd, "%s report%s --out %s/%s %s", bnshift_bin(), list, workdir, out, extra);
    return run_in(workdir, cmd, errtext);
}

static char *read_report(const char *out)
{
    char *html = slurp_file(path_of(workdir, out));
    ck_assert_msg(html != NULL, "%s missing", out);
    return html;
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static int is_void(const char *name, size_t len)
{
    static const char *const v[] = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "source"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (strlen(v[i]) == len && !strncmp(name, v[i], len))
            return 1;
    return 0;
}

/* Every element opened is closed, in order (void elements and <x/> stand
 * alone); the text of <style> is skipped. */
static void assert_balanced(const char *html)
{
    enum { DEPTH = 256 };
    char stack[DEPTH][24];
    int top = 0;
    for (const char *p = strchr(html, '<'); p; p = strchr(p, '<')) {
        if (!strncmp(p, "<!--", 4)) {
            p = strstr(p, "-->");
            ck_assert_ptr_nonnull(p);
            continue;
        }
        if (p[1] == '!' || p[1] == '?') { /* doctype */
            p = strchr(p, '>');
            ck_assert_ptr_nonnull(p);
            continue;
        }
        int closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t len = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-");
        ck_assert_msg(len > 0 && len < sizeof stack[0], "odd tag at '%.40s'", p);
        const char *end = strchr(name, '>');
        ck_assert_msg(end != NULL, "tag not ended at '%.40s'", p);
        if (closing) {
            ck_assert_msg(top > 0, "</%.*s> closes nothing", (int)len, name);
            top--;
            ck_assert_msg(strlen(stack[top]) == len && !strncmp(stack[top], name, len),
                          "</%.*s> closes <%s> at '%.60s'", (int)len, name, stack[top], p);
        } else if (end[-1] != '/' && !is_void(name, len)) {
            ck_assert_int_lt(top, DEPTH);
            snprintf(stack[top++], sizeof stack[0], "%.*s", (int)len, name);
            if (len == 5 && !strncmp(name, "style", 5)) {
                end = strstr(end, "</style>");
                ck_assert_ptr_nonnull(end);
                p = end;
                continue;
            }
        }
        p = end + 1;
    }
    ck_assert_msg(top == 0, "%d elements left open, the innermost <%s>", top, top ? stack[top - 1] : "");
}

/* Nothing the page would fetch: no src=, href and url() to the page's own
 * ids only, no script or import, and http(s) only as an XML namespace. */
static void assert_self_contained(const char *html)
{
    ck_assert_ptr_null(strstr(html, "src="));
    ck_assert_ptr_null(strstr(html, "<script"));
    ck_assert_ptr_null(strstr(html, "@import"));
    for (const char *p = strstr(html, "href="); p; p = strstr(p + 1, "href="))
        ck_assert_msg(p[6] == '#', "a link out of the page: '%.60s'", p);
    for (const char *p = strstr(html, "url("); p; p = strstr(p + 1, "url("))
        ck_assert_msg(p[4] == '#', "a url() out of the page: '%.60s'", p);
    for (const char *p = strstr(html, "http"); p; p = strstr(p + 1, "http")) {
        if (strncmp(p, "http://", 7) && strncmp(p, "https://", 8))
            continue;
        const char *q = p;
        while (q > html && q[-1] != ' ' && q[-1] != '\n')
            q--;
        ck_assert_msg(!strncmp(q, "xmlns", 5), "an address outside xmlns: '%.60s'", q);
    }
}

/* No id given twice (the figures' ids are prefixed per figure). */
static void assert_unique_ids(const char *html)
{
    int n = 0, cap = 4096;
    char (*ids)[64] = malloc((size_t)cap * sizeof *ids);
    ck_assert_ptr_nonnull(ids);
    for (const char *p = strstr(html, " id="); p; p = strstr(p + 1, " id=")) {
        char quote = p[4];
        const char *v = p + 5, *e = strchr(v, quote);
        ck_assert_ptr_nonnull(e);
        ck_assert_int_lt(n, cap);
        snprintf(ids[n], sizeof ids[0], "%.*s", (int)(e - v), v);
        for (int i = 0; i < n; i++)
            ck_assert_msg(strcmp(ids[i], ids[n]), "id '%s' twice", ids[n]);
        n++;
    }
    ck_assert_int_gt(n, 10);
    free(ids);
}

static void assert_has(const char *html, const char *needle)
{
    ck_assert_msg(strstr(html, needle) != NULL, "the report lacks '%s'", needle);
}

static void assert_well_formed(const char *html)
{
    ck_assert_msg(!strncmp(html, "<!DOCTYPE html>\n<html", 21), "starts '%.40s'", html);
    ck_assert_int_eq(count(html, "<html"), 1);
    ck_assert_int_eq(count(html, "</html>"), 1);
    ck_assert_int_eq(count(html, "<svg"), count(html, "</svg>"));
    ck_assert_ptr_null(strstr(html, "<?xml"));
    ck_assert_ptr_null(strstr(html, "<!DOCTYPE svg"));
    assert_balanced(html);
    assert_self_contained(html);
    assert_unique_ids(html);
}

START_TEST(page_is_well_formed_and_self_contained)
{
    char *err = NULL;
    int rc = report("bn-s1 bn-s2 gnbn gn", "all.html", "", &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err ? err : "");
    free(err);
    char *html = read_report("all.html");
    assert_well_formed(html);
    assert_has(html, "<meta name=\"viewport\"");
    assert_has(html, "@media print");
    assert_has(html, "@media (max-width");
    free(html);
}
END_TEST

START_TEST(every_section_and_figure_is_there)
{
    ck_assert_int_eq(report("bn-s1 bn-s2 gnbn gn", "all.html", "", NULL), 0);
    char *html = read_report("all.html");
    /* The two seeds make one group; gnbn and gn one each. */
    static const char *const ids[] = {"id=\"overview\"", "id=\"g1\"", "id=\"g1-config\"", "id=\"g1-errors\"",
                                      "id=\"g1-esm-epoch\"", "id=\"g1-esm-depth\"", "id=\"g1-summary\"",
                                      "id=\"g1-eval\"", "id=\"g2\"", "id=\"g2-esm-depth\"", "id=\"g3-summary\""};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        assert_has(html, ids[i]);
    ck_assert_ptr_null(strstr(html, "id=\"g4\""));
    ck_assert_ptr_null(strstr(html, "id=\"g2-eval\"")); /* gnbn has no eval.csv */
    assert_has(html, "<th class=\"l\">seeds</th><td class=\"l\">1, 2</td>");
    assert_has(html, "<th class=\"l\">dataset</th><td class=\"l\">synthetic</td>");
    assert_has(html, "depth 8, width 4, block basic");
    assert_has(html, "<th class=\"l\">final_test_err</th>");
    assert_has(html, "<th>mean &#177; std</th>");
    assert_has(html, "contrast 3"); /* eval.csv's corrupted condition */
    /* Figures: 2 in the overview; per BN group errors, esm_mean/std against
     * epoch on train and test, six forms against depth; gn only errors. */
    ck_assert_int_eq(count(html, "<svg"), 2 + 11 + 11 + 1);
    ck_assert_int_eq(count(html, "<figure>"), count(html, "<svg"));
    assert_has(html, "aria-label=\"nesm_std against depth\"");
    assert_has(html, "No BN layer: no estimation shift to show.");
    assert_has(html, "test set, epochs 1, 2, 3;");
    free(html);
}
END_TEST

START_TEST(one_run_and_chosen_epochs)
{
    char *err = NULL;
    int rc = report("gnbn", "one.html", "--epochs 2,9", &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err ? err : "");
    /* epoch 9 is not there: one warning for it, on stderr and in the page */
    ck_assert_msg(strstr(err, "has no test shift rows for epoch 9") != NULL, "stderr: %s", err);
    free(err);
    char *html = read_report("one.html");
    assert_well_formed(html);
    assert_has(html, "test set, epoch 2:");
    assert_has(html, "has no test shift rows for epoch 9; skipped");
    ck_assert_int_eq(count(html, "<svg"), 11); /* no overview figures for one group */
    ck_assert_ptr_null(strstr(html, "id=\"g2\""));
    free(html);
}
END_TEST

START_TEST(a_sweep_stands_for_its_runs)
{
    char grid[300], text[600];
    snprintf(grid, sizeof grid, "%s/grid.json", workdir);
    snprintf(text, sizeof text, "{\"base\": \"gnbn.json\", \"axes\": {\"seed\": [1, 2]}, \"out\": \"%s/sw\"}\n",
             workdir);
    write_text_file(grid, text);
    sh("%s sweep %s --threads-per-job 2%s > /dev/null", grid, "");
    char *err = NULL;
    int rc = report("sw", "sweep.html", "", &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err ? err : "");
    free(err);
    char *html = read_report("sweep.html");
    assert_well_formed(html);
    assert_has(html, "2 runs in 1 group");
    assert_has(html, "<th class=\"l\">seeds</th><td class=\"l\">1, 2</td>");
    free(html);
}
END_TEST

/* A refused command: exit code, one line "bnshift: ..." holding needle,
 * and no page (nor its temp file). */
static void refused(const char *runs, const char *out, const char *extra, int code, const char *needle)
{
    char *err = NULL;
    int rc = report(runs, out, extra, &err);
    ck_assert_msg(rc == code, "%s %s: exit %d, expected %d: %s", runs, extra, rc, code, err ? err : "");
    ck_assert_msg(err && count_lines(err) == 1 && !strncmp(err, "bnshift: ", 9) && strstr(err, needle),
                  "%s %s: stderr '%s' lacks '%s'", runs, extra, err ? err : "", needle);
    free(err);
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    struct stat st;
    ck_assert_msg(stat(path_of(workdir, out), &st) != 0 || S_ISDIR(st.st_mode), "%s written", out);
    ck_assert_msg(access(path_of(workdir, tmp), F_OK) != 0, "%s left behind", tmp);
}

START_TEST(bad_input_exits_with_one_line_and_no_file)
{
    write_text_file(path_of(workdir, "plain-file"), "x\n");
    mkdir(path_of(workdir, "a-dir"), 0755);
    refused("missing-run", "bad.html", "", 2, "missing-run");
    refused("plain-file", "bad.html", "", 2, "plain-file: not a run directory");
    refused("bn-s1 missing-run", "bad.html", "", 2, "missing-run");
    refused("bn-s1", "bad.html", "--epochs 0", 2, "--epochs '0'");
    refused("bn-s1", "bad.html", "--epochs 1,x", 2, "--epochs '1,x'");
    refused("bn-s1", "bad.html", "--epochs ''", 2, "--epochs ''");
    refused("bn-s1", "bad.html", "--bogus", 2, "unexpected argument '--bogus'");
    refused("bn-s1", "a-dir", "", 2, "is a directory");
    refused("bn-s1", "no-such-dir/bad.html", "", 1, "no-such-dir/bad.html: cannot write");
    char cmd[1024], *err = NULL;
    snprintf(cmd, sizeof cmd, "%s report", bnshift_bin());
    ck_assert_int_eq(run_in(workdir, cmd, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "missing RUN_DIR"));
    free(err);
    /* Without gnuplot on PATH: exit 1 naming it, nothing written. */
    snprintf(cmd, sizeof cmd, "PATH=%s %s report %s/bn-s1 --out %s/nognuplot.html", workdir, bnshift_bin(), workdir,
             workdir);
    ck_assert_int_eq(run_in(workdir, cmd, &err), 1);
    ck_assert_msg(count_lines(err) == 1 && strstr(err, "gnuplot is not installed"), "stderr: %s", err);
    free(err);
    ck_assert_int_ne(access(path_of(workdir, "nognuplot.html"), F_OK), 0);
}
END_TEST

START_TEST(help_lists_the_sections)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s report --help > %s/help.txt", bnshift_bin(), workdir);
    ck_assert_int_eq(system(cmd), 0);
    char *text = slurp_file(path_of(workdir, "help.txt"));
    ck_assert_ptr_nonnull(text);
    static const char *const want[] = {"usage: bnshift report RUN_DIR|SWEEP... [--out FILE] [--epochs LIST]",
                                       "configuration", "error curves", "ESM vs epoch", "ESM vs depth", "summary",
                                       "recalibration", "gnuplot"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(text, want[i]), "--help lacks '%s'", want[i]);
    free(text);
}
END_TEST

Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("report");
    tcase_set_timeout(tc, 600); /* a hang guard; a loaded machine can be slow */
    tcase_add_unchecked_fixture(tc, runs_setup, runs_teardown);
    tcase_add_test(tc, page_is_well_formed_and_self_contained);
    tcase_add_test(tc, every_section_and_figure_is_there);
    tcase_add_test(tc, one_run_and_chosen_epochs);
    tcase_add_test(tc, a_sweep_stands_for_its_runs);
    tcase_add_test(tc, bad_input_exits_with_one_line_and_no_file);
    tcase_add_test(tc, help_lists_the_sections);
    suite_add_tcase(s, tc);
    return s;
}
