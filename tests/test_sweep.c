/* bnshift sweep: grid expansion (names, manifest, overrides down to
 * config.resolved.json), bad grids (exit 2, one line, nothing written), a
 * local sweep of 4 tiny runs 2 at a time equal to the same runs made alone,
 * --status after a sweep killed part-way, the resumed sweep equal to the
 * uninterrupted one, failed runs, SIGTERM, and the emitted GNU parallel and
 * Slurm files (the parallel one run with GNU parallel where installed). */
#include <check.h>
#include <cJSON.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run/sweep.h"
#include "suites.h"
#include "test_util.h"

static char work[64], bin[PATH_MAX];

static void setup(void)
{
    make_test_dir(work, sizeof work, "bnshift-sweep");
    ck_assert_msg(realpath(bnshift_bin(), bin) != NULL, "no bnshift binary at %s (run make)", bnshift_bin());
}

static void teardown(void) { remove_test_dir(work); }

/* ResNet-8 of width 8 on 12x12 synthetic images: a few tenths of a second
 * an epoch. */
static const char *BASE =
    "{\"name\": \"tiny\", \"seed\": 3,\n"
    " \"data\": {\"dataset\": \"synthetic\", \"synthetic\": {\"train\": 192, \"test\": 96, \"size\": 12}},\n"
    " \"model\": {\"arch\": \"resnet\", \"depth\": 8, \"width\": 8, \"norm\": \"bn\", \"groups\": 4},\n"
    " \"train\": {\"epochs\": 2, \"batch_size\": 32, \"lr\": 0.05, \"schedule\": {\"type\": \"cosine\"}}}\n";

static const char *const NAMES[4] = {"norm-bn_seed-1", "norm-bn_seed-2", "norm-gnbn_seed-1", "norm-gnbn_seed-2"};

/* The 4-run grid (norm x seed) of `epochs` epochs into WORK/file, out OUT. */
static void write_grid(const char *file, const char *out, int epochs, const char *seeds)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"base\": \"base.json\",\n \"axes\": {\"model.norm\": [\"bn\", \"gnbn\"], \"seed\": %s},\n"
             " \"set\": {\"train.epochs\": %d},\n \"out\": \"%s\"}\n", seeds, epochs, out);
    write_text_file(path_of(work, "base.json"), BASE);
    write_text_file(path_of(work, file), text);
}

/* `bnshift ARGS` run in WORK; its stdout and stderr into *out and *err
 * (caller frees; NULL: not wanted). Returns the exit status. */
static int bnshift_here(const char *args, char **out, char **err)
{
    char cmd[2 * PATH_MAX + 1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s > out.txt 2> err.txt < /dev/null", work, bin, args);
    int st = system(cmd);
    if (out)
        *out = slurp_file(path_of(work, "out.txt"));
    if (err)
        *err = slurp_file(path_of(work, "err.txt"));
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int shell_here(const char *what)
{
    char cmd[2 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s", work, what);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The state `sweep --status` printed for run `name` (a static copy). */
static const char *state_of(const char *status, const char *name)
{
    static char buf[512];
    buf[0] = '\0';
    size_t n = strlen(name);
    for (const char *line = status; line && *line;) {
        const char *p = line + strspn(line, " ");
        p += strspn(p, "0123456789");
        if (!strncmp(p, "  ", 2) && !strncmp(p + 2, name, n) && p[2 + n] == ' ') {
            p += 2 + n + strspn(p + 2 + n, " ");
            snprintf(buf, sizeof buf, "%.*s", (int)strcspn(p, "\n"), p);
            return buf;
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return buf;
}

static char *status_of(const char *grid)
{
    char args[256], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "sweep --status %s", grid);
    int rc = bnshift_here(args, &out, &err);
    ck_assert_msg(rc == 0, "sweep --status: exit %d: %s", rc, err);
    free(err);
    return out;
}

/* One line on stderr, "bnshift: ..." holding needle. */
static void assert_one_line(const char *err, const char *needle)
{
    ck_assert_ptr_nonnull(err);
    const char *nl = strchr(err, '\n');
    ck_assert_msg(nl && nl[1] == '\0', "not one line on stderr: %s", err);
    ck_assert_msg(!strncmp(err, "bnshift: ", 9), "no 'bnshift: ': %s", err);
    ck_assert_msg(strstr(err, needle) != NULL, "'%s' lacks '%s'", err, needle);
}

static const cJSON *member(const cJSON *o, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(m != NULL, "no member '%s'", key);
    return m;
}

/* ---- expansion ---------------------------------------------------------- */

START_TEST(names_follow_the_rule)
{
    write_text_file(path_of(work, "base.json"), BASE);
    write_text_file(path_of(work, "grid.json"),
                    "{\"base\": \"base.json\",\n"
                    " \"runs\": [{\"train.lr\": 0.05}, {\"train.lr\": 0.1, \"data.synthetic\": {\"train\": 64, "
                    "\"size\": 12}}],\n"
                    " \"axes\": {\"train.schedule.type\": [\"cosine\", \"constant\"], \"data.corruption.type\": "
                    "[\"none\"], \"seed\": [1, 2]},\n"
                    " \"set\": {\"train.epochs\": 1}}\n");
    SweepGrid g;
    BsError err = {0};
    char grid[128];
    snprintf(grid, sizeof grid, "%s/grid.json", work);
    ck_assert_msg(sweep_grid_load(&g, grid, &err) == BS_OK, "%s", err.msg);
    ck_assert_int_eq(g.n_runs, 8);
    /* Two keys end in "type": both get their full name. */
    ck_assert_str_eq(g.runs[0].name, "lr-0.05_train.schedule.type-cosine_data.corruption.type-none_seed-1");
    ck_assert_str_eq(g.runs[3].name, "lr-0.05_train.schedule.type-constant_data.corruption.type-none_seed-2");
    ck_assert_str_eq(g.runs[4].name,
                     "lr-0.1_synthetic-train_64_size_12_train.schedule.type-cosine_data.corruption.type-none_seed-1");
    ck_assert_str_eq(g.out, "runs/grid");
    ck_assert_str_eq(g.base, path_of(work, "base.json"));
    char dir[300];
    snprintf(dir, sizeof dir, "runs/grid/%s", g.runs[5].name);
    ck_assert_str_eq(g.runs[5].dir, dir);
    /* Overrides in order: name, set, the runs entry, the axes. */
    const SweepRun *r = &g.runs[5];
    ck_assert_int_eq(r->n_sets, 7);
    ck_assert_str_eq(r->sets[1], "train.epochs=1");
    ck_assert_str_eq(r->sets[2], "train.lr=0.1");
    ck_assert_str_eq(r->sets[3], "data.synthetic={\"train\":64,\"size\":12}");
    ck_assert_str_eq(r->sets[4], "train.schedule.type=cosine");
    ck_assert_str_eq(r->sets[6], "seed=2");
    ck_assert_int_eq(r->epochs, 1);
    sweep_grid_free(&g);

    /* A string that reads as JSON is quoted; a grid's own name wins. */
    write_text_file(path_of(work, "grid.json"),
                    "{\"base\": \"base.json\", \"runs\": [{\"name\": \"123\"}, {\"name\": \"a b/c\"}], \"out\": \"o/\"}");
    ck_assert_msg(sweep_grid_load(&g, grid, &err) == BS_OK, "%s", err.msg);
    ck_assert_str_eq(g.runs[0].name, "name-123");
    ck_assert_str_eq(g.runs[0].sets[0], "name=\"123\"");
    ck_assert_str_eq(g.runs[1].name, "name-a_b_c");
    ck_assert_str_eq(g.runs[1].sets[0], "name=a b/c");
    ck_assert_str_eq(g.out, "o");
    sweep_grid_free(&g);
}
END_TEST

START_TEST(manifest_and_emitted_files)
{
    write_grid("grid.json", "sw", 3, "[1, 2]");
    char *out = NULL, *err = NULL;
    int rc = bnshift_here("sweep grid.json --emit parallel --jobs 2 --threads-per-job 1", &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
    ck_assert_ptr_nonnull(strstr(out, "parallel --jobs 2 < sw/sweep.parallel"));
    free(out);
    free(err);
    char *manifest = slurp_file(path_of(work, "sw/sweep.json"));
    ck_assert_ptr_nonnull(manifest);
    cJSON *m = cJSON_Parse(manifest);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(member(m, "base")->valuestring, "base.json");
    ck_assert_str_eq(member(m, "out")->valuestring, "sw");
    ck_assert_int_eq(member(m, "threads_per_job")->valueint, 1);
    const cJSON *runs = member(m, "runs");
    ck_assert_int_eq(cJSON_GetArraySize(runs), 4);
    for (int i = 0; i < 4; i++) {
        const cJSON *r = cJSON_GetArrayItem(runs, i);
        ck_assert_int_eq(member(r, "index")->valueint, i);
        ck_assert_str_eq(member(r, "name")->valuestring, NAMES[i]);
        char dir[64], cmd[512];
        snprintf(dir, sizeof dir, "sw/%s", NAMES[i]);
        ck_assert_str_eq(member(r, "dir")->valuestring, dir);
        const cJSON *ov = member(r, "overrides");
        ck_assert_str_eq(member(ov, "name")->valuestring, NAMES[i]);
        ck_assert_int_eq(member(ov, "train.epochs")->valueint, 3);
        ck_assert_str_eq(member(ov, "model.norm")->valuestring, i < 2 ? "bn" : "gnbn");
        ck_assert_int_eq(member(ov, "seed")->valueint, 1 + i % 2);
        snprintf(cmd, sizeof cmd,
                 " run base.json --out sw/%s --set name=%s --set train.epochs=3 --set model.norm=%s --set seed=%d "
                 "--threads 1", NAMES[i], NAMES[i], i < 2 ? "bn" : "gnbn", 1 + i % 2);
        ck_assert_msg(strstr(member(r, "command")->valuestring, cmd), "command %s lacks %s",
                      member(r, "command")->valuestring, cmd);
    }
    cJSON_Delete(m);

    char *lines = slurp_file(path_of(work, "sw/sweep.parallel"));
    ck_assert_int_eq(count_lines(lines), 4);
    for (int i = 0; i < 4; i++) {
        char want[128];
        snprintf(want, sizeof want, " sweep grid.json --only %d --threads-per-job 1\n", i);
        ck_assert_msg(strstr(lines, want), "sweep.parallel lacks %s: %s", want, lines);
    }
    ck_assert_msg(!strncmp(lines, "cd ", 3) && strstr(lines, " && "), "%s", lines);
    free(lines);

    /* The same grid gives the same manifest; emitting runs nothing. */
    ck_assert_int_eq(bnshift_here("sweep grid.json --emit slurm --jobs 2 --threads-per-job 1", &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "sbatch sw/sweep.sbatch"));
    free(out);
    char *again = slurp_file(path_of(work, "sw/sweep.json"));
    ck_assert_str_eq(again, manifest);
    free(again);
    free(manifest);
    char *sbatch = slurp_file(path_of(work, "sw/sweep.sbatch"));
    static const char *const want[] = {"#!/bin/sh\n", "\n#SBATCH --array=0-3%2\n", "\n#SBATCH --cpus-per-task=1\n",
                                       "\n#SBATCH --requeue\n", "\n#SBATCH --ntasks=1\n", "\n#SBATCH --chdir=/",
                                       "/sw/slurm-%A_%a.out\n",
                                       " sweep grid.json --only \"$SLURM_ARRAY_TASK_ID\" --threads-per-job 1\n"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(sbatch, want[i]), "sweep.sbatch lacks %s:\n%s", want[i], sbatch);
    ck_assert_msg(strstr(sbatch, "\nexec "), "%s", sbatch);
    free(sbatch);
    char *status = status_of("grid.json");
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(state_of(status, NAMES[i]), "not started");
    ck_assert_ptr_nonnull(strstr(status, "4 runs in sw: 0 finished, 0 running, 0 interrupted, 0 failed, 4 not started"));
    free(status);
    struct stat st;
    ck_assert_int_ne(stat(path_of(work, "sw/norm-bn_seed-1"), &st), 0);

    /* Another grid over the same out: refused, naming the difference, unless --force. */
    write_grid("grid.json", "sw", 3, "[1, 3]");
    rc = bnshift_here("sweep grid.json --emit parallel", NULL, &err);
    ck_assert_int_eq(rc, 2);
    assert_one_line(err, "sw/sweep.json: run 1 is 'norm-bn_seed-2' there, 'norm-bn_seed-3' from the grid");
    free(err);
    ck_assert_int_eq(bnshift_here("sweep grid.json --emit parallel --force", NULL, NULL), 0);
}
END_TEST

/* ---- bad grids ------------------------------------------------------------ */

START_TEST(bad_grids_exit_2_with_one_line)
{
    write_text_file(path_of(work, "base.json"), BASE);
    static const struct {
        const char *grid, *needle;
    } cases[] = {
        {"{\"base\": \"nope.json\", \"axes\": {\"seed\": [1]}, \"out\": \"o\"}",
         "grid.json: base: nope.json: cannot read config: No such file or directory"},
        {"{\"axes\": {\"seed\": [1]}, \"out\": \"o\"}", "grid.json: base: missing"},
        {"{\"base\": \"base.json\", \"axes\": {\"model.nrom\": [\"bn\"]}, \"out\": \"o\"}",
         "grid.json: run 0 (nrom-bn): unknown key 'model.nrom' (did you mean 'model.norm'?)"},
        {"{\"base\": \"base.json\", \"axes\": {\"model.norm\": [\"bn\", \"bnx\"]}, \"out\": \"o\"}",
         "grid.json: run 1 (norm-bnx): model.norm: \"bnx\" is not one of"},
        {"{\"base\": \"base.json\", \"axes\": {\"seed\": []}, \"out\": \"o\"}", "grid.json: axes.seed: empty list"},
        {"{\"base\": \"base.json\", \"axes\": {\"data.root\": [\"a/b\", \"a b\"]}, \"out\": \"o\"}",
         "grid.json: runs 0 and 1 get the same name 'root-a_b'"},
        {"{\"base\": \"base.json\", \"axes\": {\"seed\": [1,]}}", "grid.json: malformed JSON at line 1"},
        {"{\"base\": \"base.json\", \"axes\": {\"seed\": [1]}, \"set\": {\"seed\": 2}, \"out\": \"o\"}",
         "grid.json: seed: given in both set and axes"},
        {"{\"base\": \"base.json\", \"axis\": {\"seed\": [1]}, \"out\": \"o\"}", "grid.json: unknown key 'axis'"},
        {"{\"base\": \"base.json\", \"set\": {\"seed\": 2}, \"out\": \"o\"}", "grid.json: no runs"},
        {"{\"base\": \"base.json\", \"axes\": {\"train.epochs\": [0]}, \"out\": \"o\"}",
         "grid.json: run 0 (epochs-0): train.epochs: must be"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text_file(path_of(work, "grid.json"), cases[i].grid);
        char *err = NULL;
        int rc = bnshift_here("sweep grid.json --jobs 2", NULL, &err);
        ck_assert_msg(rc == 2, "exit %d for %s: %s", rc, cases[i].grid, err);
        assert_one_line(err, cases[i].needle);
        free(err);
        struct stat st;
        ck_assert_msg(stat(path_of(work, "o"), &st) != 0, "%s left its out directory", cases[i].grid);
        ck_assert_msg(stat(path_of(work, "runs"), &st) != 0, "%s left runs/", cases[i].grid);
    }
}
END_TEST

/* ---- running ------------------------------------------------------------ */

/* `bnshift sweep GRID --jobs 1 --threads-per-job 1` in the background. */
static pid_t spawn_sweep(const char *grid)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (chdir(work) != 0 || !freopen("/dev/null", "w", stdout) || !freopen("bg-err.txt", "w", stderr))
            _exit(99);
        execl(bin, bin, "sweep", grid, "--jobs", "1", "--threads-per-job", "1", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Epochs of the runs killed part-way: a run (~20 ms an epoch here) must
 * still be going when the test, polling, sees its first checkpoint. */
#define EPOCHS 12

/* --status until no run is running (a killed sweep's runs stop after their
 * step); the last output. */
static char *status_when_settled(const char *grid)
{
    for (int i = 0; i < 600; i++) {
        char *s = status_of(grid);
        if (strstr(s, " 0 running,"))
            return s;
        free(s);
        usleep(50000);
    }
    ck_abort_msg("runs of %s still running after 30 s", grid);
    return NULL;
}

START_TEST(local_sweep_equals_runs_alone_and_resumes_after_sigkill)
{
    write_grid("a.json", "a", EPOCHS, "[1, 2]");
    char *out = NULL, *err = NULL;
    int rc = bnshift_here("sweep a.json --jobs 2 --threads-per-job 1", &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s\n%s", rc, err, out);
    ck_assert_ptr_nonnull(strstr(out, "all 4 runs finished in a"));
    free(out);
    free(err);
    char *status = status_of("a.json");
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(state_of(status, NAMES[i]), "finished");
    ck_assert_ptr_nonnull(strstr(status, "4 runs in a: 4 finished, 0 running, 0 interrupted, 0 failed, 0 not started"));
    free(status);

    /* The overrides reach the run's config; each run equals the same run alone. */
    for (int i = 0; i < 4; i++) {
        char dir[64], cmd[512];
        snprintf(dir, sizeof dir, "a/%s", NAMES[i]);
        char *resolved = slurp_file(path_of(path_of(work, dir), "config.resolved.json"));
        cJSON *c = cJSON_Parse(resolved);
        ck_assert_ptr_nonnull(c);
        ck_assert_str_eq(member(c, "name")->valuestring, NAMES[i]);
        ck_assert_int_eq(member(c, "seed")->valueint, 1 + i % 2);
        ck_assert_str_eq(member(member(c, "model"), "norm")->valuestring, i < 2 ? "bn" : "gnbn");
        ck_assert_int_eq(member(member(c, "train"), "epochs")->valueint, EPOCHS);
        ck_assert_int_eq(member(member(c, "meta"), "threads")->valueint, 1);
        cJSON_Delete(c);
        free(resolved);
        snprintf(cmd, sizeof cmd,
                 "run base.json --out alone%d --set name=%s --set train.epochs=%d --set model.norm=%s --set seed=%d "
                 "--threads 1 --quiet", i, NAMES[i], EPOCHS, i < 2 ? "bn" : "gnbn", 1 + i % 2);
        rc = bnshift_here(cmd, NULL, &err);
        ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
        free(err);
        char alone[64];
        snprintf(alone, sizeof alone, "alone%d", i);
        char a_dir[128];
        snprintf(a_dir, sizeof a_dir, "%s", path_of(work, dir));
        ck_assert_runs_equal(a_dir, path_of(work, alone));
    }
    /* Again: nothing to do, nothing changed. */
    char *before = slurp_file(path_of(work, "a/norm-bn_seed-1/metrics.csv"));
    ck_assert_int_eq(bnshift_here("sweep a.json --jobs 2 --threads-per-job 1", &out, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "4 finished; 0 to run"));
    char *after = slurp_file(path_of(work, "a/norm-bn_seed-1/metrics.csv"));
    ck_assert_str_eq(after, before);
    free(out);
    free(before);
    free(after);

    /* The same grid into b, one run at a time, SIGKILLed once run 1 has a
     * checkpoint: finished / interrupted / not started. */
    write_grid("b.json", "b", EPOCHS, "[1, 2]");
    pid_t sweep = spawn_sweep("b.json");
    wait_for_epoch1(path_of(work, "b/norm-bn_seed-2/metrics.csv"), path_of(work, "b/norm-bn_seed-2/checkpoint.bin"));
    kill(sweep, SIGKILL);
    ck_assert_int_eq(finish_run(sweep, -1), 128 + SIGKILL);
    status = status_when_settled("b.json");
    ck_assert_str_eq(state_of(status, NAMES[0]), "finished");
    const char *s1 = state_of(status, NAMES[1]);
    char of[32];
    snprintf(of, sizeof of, " of %d)", EPOCHS);
    ck_assert_msg(!strncmp(s1, "interrupted (epoch ", 19) && strstr(s1, of) && s1[19] != '0', "run 1: %s", s1);
    ck_assert_str_eq(state_of(status, NAMES[2]), "not started");
    ck_assert_str_eq(state_of(status, NAMES[3]), "not started");
    ck_assert_ptr_nonnull(strstr(status, "4 runs in b: 1 finished, 0 running, 1 interrupted, 0 failed, 2 not started"));
    free(status);

    /* Re-running the sweep finishes it, equal to the uninterrupted one. */
    rc = bnshift_here("sweep b.json --jobs 2 --threads-per-job 1", &out, &err);
    ck_assert_msg(rc == 0, "exit %d: %s\n%s", rc, err, out);
    ck_assert_msg(strstr(out, "[1] norm-bn_seed-2: resuming from epoch "), "%s", out);
    ck_assert_msg(strstr(out, "4 runs in b, 1 finished; 3 to run"), "%s", out);
    free(out);
    free(err);
    for (int i = 0; i < 4; i++) {
        char a_dir[128], b_dir[128];
        snprintf(a_dir, sizeof a_dir, "%s/a/%s", work, NAMES[i]);
        snprintf(b_dir, sizeof b_dir, "%s/b/%s", work, NAMES[i]);
        ck_assert_runs_equal(a_dir, b_dir);
    }
}
END_TEST

START_TEST(failed_runs_are_recorded_and_sigterm_is_forwarded)
{
    write_text_file(path_of(work, "base.json"), BASE);
    write_text_file(path_of(work, "d.json"), "{\"base\": \"base.json\", \"axes\": {\"data.train_subset\": [64, 100000]},"
                                             " \"set\": {\"train.epochs\": 1}, \"out\": \"d\"}");
    char *out = NULL, *err = NULL;
    int rc = bnshift_here("sweep d.json --jobs 2 --threads-per-job 1", &out, &err);
    ck_assert_int_eq(rc, 1);
    assert_one_line(err, "sweep: 1 of 2 runs failed");
    ck_assert_msg(strstr(out, "[1] train_subset-100000: failed (exit 2): bnshift: data.train_subset: 100000 is "
                              "larger than"), "%s", out);
    free(out);
    free(err);
    char *status = status_of("d.json");
    ck_assert_str_eq(state_of(status, "train_subset-64"), "finished");
    ck_assert_msg(!strncmp(state_of(status, "train_subset-100000"), "failed (exit 2): bnshift: data.train_subset", 43),
                  "%s", status);
    free(status);
    char *marker = slurp_file(path_of(work, "d/train_subset-100000/sweep-failed.txt"));
    ck_assert_msg(marker && !strncmp(marker, "exit 2\nbnshift: data.train_subset: 100000", 41), "%s", marker);
    free(marker);
    char *log = slurp_file(path_of(work, "d/train_subset-100000/sweep.log"));
    ck_assert_msg(log && !strncmp(log, "== ", 3) && strstr(log, " run base.json --out d/train_subset-100000 "), "%s",
                  log);
    free(log);

    /* SIGTERM: forwarded, waited for, 143 and the command to resume. */
    write_text_file(path_of(work, "e.json"), "{\"base\": \"base.json\", \"axes\": {\"seed\": [5]},"
                                             " \"set\": {\"train.epochs\": 400}, \"out\": \"e\"}");
    pid_t sweep = spawn_sweep("e.json");
    wait_for_epoch1(path_of(work, "e/seed-5/metrics.csv"), path_of(work, "e/seed-5/checkpoint.bin"));
    status = status_of("e.json");
    ck_assert_msg(!strncmp(state_of(status, "seed-5"), "running (pid ", 13), "%s", status);
    free(status);
    /* A second sweep leaves the run to the first. */
    int rc2 = bnshift_here("sweep e.json --only 0 --threads-per-job 1", &out, NULL);
    ck_assert_msg(rc2 == 0 && strstr(out, "[0] seed-5: running in another process (pid "), "exit %d: %s", rc2, out);
    free(out);
    kill(sweep, SIGTERM);
    ck_assert_int_eq(finish_run(sweep, 60L * 1000000), 143);
    err = slurp_file(path_of(work, "bg-err.txt"));
    assert_one_line(err, "resume with: ");
    ck_assert_msg(strstr(err, " sweep e.json --jobs 1 --threads-per-job 1\n"), "%s", err);
    free(err);
    status = status_of("e.json");
    ck_assert_msg(!strncmp(state_of(status, "seed-5"), "interrupted (epoch ", 19), "%s", status);
    free(status);
    log = slurp_file(path_of(work, "e/seed-5/sweep.log"));
    ck_assert_msg(log && strstr(log, "interrupted; the CSVs hold every finished epoch"), "%s", log);
    free(log);
}
END_TEST

START_TEST(emitted_parallel_file_runs_the_sweep)
{
    write_text_file(path_of(work, "base.json"), BASE);
    write_text_file(path_of(work, "p.json"), "{\"base\": \"base.json\", \"axes\": {\"model.norm\": [\"bn\", \"gn\"]},"
                                             " \"set\": {\"train.epochs\": 1}, \"out\": \"p\"}");
    ck_assert_int_eq(bnshift_here("sweep p.json --emit parallel --jobs 2 --threads-per-job 1", NULL, NULL), 0);
    const char *runner = "parallel --will-cite --jobs 2 < p/sweep.parallel > par.txt 2>&1";
    if (system("parallel --version 2>/dev/null | grep -q 'GNU parallel'") != 0) {
        fprintf(stderr, "sweep: GNU parallel is not installed; the emitted file runs under sh instead\n");
        runner = "sh p/sweep.parallel > par.txt 2>&1";
    }
    ck_assert_msg(shell_here(runner) == 0, "%s failed: %s", runner, slurp_file(path_of(work, "par.txt")));
    char *status = status_of("p.json");
    ck_assert_msg(strstr(status, "2 runs in p: 2 finished"), "%s", status);
    free(status);
    /* Run again: every line skips its finished run. */
    ck_assert_int_eq(shell_here(runner), 0);
    char *again = slurp_file(path_of(work, "par.txt"));
    ck_assert_msg(strstr(again, "[0] norm-bn: finished already") && strstr(again, "[1] norm-gn: finished already"),
                  "%s", again);
    free(again);
}
END_TEST

Suite *sweep_suite(void)
{
    Suite *s = suite_create("sweep");
    TCase *tc = tcase_create("sweep");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600); /* a hang guard; a loaded machine can be slow */
    tcase_add_test(tc, names_follow_the_rule);
    tcase_add_test(tc, manifest_and_emitted_files);
    tcase_add_test(tc, bad_grids_exit_2_with_one_line);
    tcase_add_test(tc, local_sweep_equals_runs_alone_and_resumes_after_sigkill);
    tcase_add_test(tc, failed_runs_are_recorded_and_sigterm_is_forwarded);
    tcase_add_test(tc, emitted_parallel_file_runs_the_sweep);
    suite_add_tcase(s, tc);
    return s;
}
