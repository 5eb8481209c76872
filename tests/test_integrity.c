/* Run-directory integrity as a user meets it (issue 11): a second process
 * on a directory in use, a crash or Ctrl-C before the first checkpoint and
 * the printed advice followed literally, eval.csv that is cut or killed
 * while written, --overwrite over a run with eval.csv, standard output that
 * cannot be written, write errors in plot-data, a live writer under
 * plot-data, an address-space limit, and evaluation subsets that do not
 * depend on the training subset. The refusals whose inputs are files live
 * in the bad-input catalogue (tests/bad_inputs/), which also checks that
 * they change no file. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/logformat.h"
#include "suites.h"
#include "test_util.h"

static char workdir[64];

static void make_workdir(void) { make_test_dir(workdir, sizeof workdir, "bnshift-integrity"); }

static void remove_workdir(void) { remove_test_dir(workdir); }

/* A ResNet-8 on synthetic data: `epochs` of a few ms each. */
static void write_config(const char *path, int epochs, int checkpoint_every)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"name\": \"integrity\", \"seed\": 5,\n"
             " \"data\": {\"dataset\": \"synthetic\", \"normalize\": false,\n"
             "          \"synthetic\": {\"train\": 192, \"test\": 96, \"size\": 12}},\n"
             " \"model\": {\"arch\": \"resnet\", \"depth\": 8, \"width\": 8},\n"
             " \"train\": {\"epochs\": %d, \"batch_size\": 32, \"lr\": 0.05},\n"
             " \"log\": {\"checkpoint_every\": %d}}\n",
             epochs, checkpoint_every);
    write_text_file(path, text);
}

/* Runs a shell command line (from the repository root, where the tests
 * run) with stdout sent to `out` (a path, or /dev/null) and stderr kept;
 * returns the exit status and the stderr text. */
static int sh(const char *cmd, const char *out, char **err)
{
    char full[9000], errpath[600];
    snprintf(errpath, sizeof errpath, "%s/sh-stderr.txt", workdir);
    snprintf(full, sizeof full, "%s >%s 2>%s", cmd, out, errpath);
    int st = system(full);
    if (err)
        *err = slurp_file(errpath);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The pid holding dir's run lock for writing (0 = none). */
static int lock_holder(const char *dir)
{
    int fd = open(path_of(dir, ".bnshift.lock"), O_RDONLY);
    if (fd < 0)
        return 0;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int pid = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK ? (int)fl.l_pid : 0;
    close(fd);
    return pid;
}

/* A fresh workdir holding the config cfg and the finished run run/ of it
 * (cfg and run: 300 bytes). */
static void finished_run(char *cfg, char *run, int epochs, int checkpoint_every)
{
    make_workdir();
    snprintf(cfg, 300, "%s/c.json", workdir);
    snprintf(run, 300, "%s/run", workdir);
    write_config(cfg, epochs, checkpoint_every);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s run %s --out %s --threads 1 --quiet", bnshift_bin(), cfg, run);
    ck_assert_int_eq(sh(cmd, "/dev/null", NULL), 0);
}

static void assert_one_line(const char *err, const char *needle)
{
    ck_assert_msg(err && count_lines(err) == 1 && !strncmp(err, "bnshift: ", 9), "not one bnshift line: '%s'",
                  err ? err : "(none)");
    ck_assert_msg(strstr(err, needle), "'%s' lacks '%s'", err, needle);
}

/* A run, a resume, an overwrite and an eval are all refused while another
 * process writes the directory, naming the holder's pid; the holder is not
 * disturbed; once it is SIGKILLed, nothing blocks the next resume. */
START_TEST(second_process_on_a_run_directory_is_refused)
{
    make_workdir();
    char cfg[300], run[300], cmd[2048], errpath[400], holder[32];
    snprintf(cfg, sizeof cfg, "%s/long.json", workdir);
    snprintf(run, sizeof run, "%s/run", workdir);
    snprintf(errpath, sizeof errpath, "%s/holder-stderr.txt", workdir);
    write_config(cfg, 100000, 1);
    pid_t pid = spawn_bnshift_run(cfg, run, "1", errpath, NULL, NULL);
    snprintf(holder, sizeof holder, "(pid %d)", (int)pid);
    wait_for_epoch1(path_of(run, "metrics.csv"), path_of(run, "checkpoint.bin"));
    /* Bounded: a second writer that is not refused would run for ever. */
    static const char *const modes[] = {"timeout -s KILL 60 %s run %s --out %s --threads 1",
                                        "timeout -s KILL 60 %s run %s --out %s --resume --threads 1",
                                        "timeout -s KILL 60 %s run %s --out %s --overwrite --threads 1"};
    for (int k = 0; k < 3; k++) {
        snprintf(cmd, sizeof cmd, modes[k], bnshift_bin(), cfg, run);
        char *err = NULL;
        ck_assert_int_eq(sh(cmd, "/dev/null", &err), 2);
        assert_one_line(err, "in use by another bnshift process");
        ck_assert_msg(strstr(err, holder), "'%s' does not name %s", err, holder);
        free(err);
    }
    snprintf(cmd, sizeof cmd, "%s eval %s --threads 1", bnshift_bin(), run);
    char *err = NULL;
    ck_assert_int_eq(sh(cmd, "/dev/null", &err), 2);
    assert_one_line(err, holder);
    free(err);
    ck_assert_msg(waitpid(pid, NULL, WNOHANG) == 0, "the holder stopped");
    ck_assert_int_eq(access(path_of(run, "eval.csv"), F_OK), -1);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    /* The kernel dropped the dead holder's lock. */
    snprintf(cmd, sizeof cmd, "%s run %s --out %s --resume --threads 1 --quiet --set train.epochs=%d", bnshift_bin(),
             cfg, run, csv_rows(path_of(run, "metrics.csv")) + 1);
    ck_assert_int_eq(sh(cmd, "/dev/null", &err), 0);
    free(err);
    remove_workdir();
}
END_TEST

/* While eval holds the directory (caught holding its lock and stopped with
 * SIGSTOP), a resume is refused; once the eval has ended it goes ahead. */
START_TEST(resume_is_refused_while_eval_holds_the_directory)
{
    make_workdir();
    char cfg[300], run[300], cmd[2048], errpath[400];
    snprintf(cfg, sizeof cfg, "%s/short.json", workdir);
    snprintf(run, sizeof run, "%s/run", workdir);
    snprintf(errpath, sizeof errpath, "%s/eval-stderr.txt", workdir);
    write_config(cfg, 1, 1);
    /* A test set large enough that the eval holds the lock for a while. */
    snprintf(cmd, sizeof cmd, "%s run %s --out %s --threads 1 --quiet --set data.synthetic.test=3000",
             bnshift_bin(), cfg, run);
    ck_assert_int_eq(sh(cmd, "/dev/null", NULL), 0);
    const char *const args[] = {"eval", run, "--threads", "1", NULL};
    pid_t pid = 0;
    for (int tries = 0; tries < 50 && !pid; tries++) {
        pid_t p = spawn_bnshift(args, errpath, NULL);
        int st, ended = 0;
        while (!(ended = waitpid(p, &st, WNOHANG) == p) && lock_holder(run) != p)
            usleep(200);
        if (ended) { /* finished before it was caught (or it never locks) */
            ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
            continue;
        }
        kill(p, SIGSTOP);
        waitpid(p, &st, WUNTRACED);
        if (lock_holder(run) == p) {
            pid = p;
            break;
        }
        kill(p, SIGCONT);
        ck_assert_int_eq(finish_run(p, -1), 0);
    }
    ck_assert_msg(pid > 0, "never caught the eval holding its lock");
    snprintf(cmd, sizeof cmd,
             "%s run %s --out %s --resume --threads 1 --quiet --set data.synthetic.test=3000 --set train.epochs=2",
             bnshift_bin(), cfg, run);
    char *err = NULL;
    ck_assert_int_eq(sh(cmd, "/dev/null", &err), 2);
    char holder[32];
    snprintf(holder, sizeof holder, "(pid %d)", (int)pid);
    assert_one_line(err, holder);
    free(err);
    kill(pid, SIGCONT);
    ck_assert_int_eq(finish_run(pid, -1), 0);
    ck_assert_int_eq(sh(cmd, "/dev/null", NULL), 0);
    ck_assert_int_eq(csv_rows(path_of(run, "metrics.csv")), 2);
    remove_workdir();
}
END_TEST

/* A first SIGINT/SIGTERM ends the process within a few seconds even when
 * the current step cannot finish (here it never returns): exit 130/143 and
 * one line saying so and how to resume. */
START_TEST(first_signal_ends_a_step_that_cannot_finish)
{
    static const int sigs[] = {SIGINT, SIGTERM};
    for (int k = 0; k < 2; k++) {
        make_workdir();
        char cfg[300], run[300], errpath[400];
        snprintf(cfg, sizeof cfg, "%s/h.json", workdir);
        snprintf(run, sizeof run, "%s/run", workdir);
        snprintf(errpath, sizeof errpath, "%s/hang-stderr.txt", workdir);
        write_config(cfg, 5, 1);
        pid_t pid = spawn_bnshift_run(cfg, run, "1", errpath, NULL, "hang-epoch:2");
        wait_for_epoch1(path_of(run, "metrics.csv"), path_of(run, "checkpoint.bin"));
        usleep(100000); /* into the hang */
        kill(pid, sigs[k]);
        /* 5 s of grace, then out; killed (137) if it takes over 30 s. */
        ck_assert_int_eq(finish_run(pid, 30L * 1000 * 1000), 128 + sigs[k]);
        char *err = slurp_file(errpath);
        assert_one_line(err, "did not finish within 5 s");
        ck_assert_ptr_nonnull(strstr(err, "--resume"));
        free(err);
        ck_assert_int_eq(csv_rows(path_of(run, "metrics.csv")), 1);
        remove_workdir();
    }
}
END_TEST

/* Starts a run that stops (SIGINT) after epoch 1 with no checkpoint yet and
 * returns the resume command it printed. */
static char *interrupt_before_first_checkpoint(const char *cfg, const char *run)
{
    char errpath[400];
    snprintf(errpath, sizeof errpath, "%s/first-stderr.txt", workdir);
    pid_t pid = spawn_bnshift_run(cfg, run, "1", errpath, NULL, NULL);
    wait_for_epoch1(path_of(run, "metrics.csv"), NULL);
    kill(pid, SIGINT);
    ck_assert_int_eq(finish_run(pid, -1), 130);
    ck_assert_int_eq(access(path_of(run, "checkpoint.bin"), F_OK), -1);
    char *err = slurp_file(errpath);
    assert_one_line(err, "Resume with: ");
    char *advice = strdup(strstr(err, "Resume with: ") + strlen("Resume with: "));
    advice[strcspn(advice, "\n")] = '\0';
    free(err);
    return advice;
}

/* Ctrl-C before the first checkpoint: the advice printed, run as it is,
 * starts the run over from epoch 1 (its CSV rows dropped). */
START_TEST(ctrl_c_before_first_checkpoint_then_the_printed_advice)
{
    make_workdir();
    char cfg[300], run[300], cmd[4096];
    snprintf(cfg, sizeof cfg, "%s/with space.json", workdir); /* the advice must quote it */
    snprintf(run, sizeof run, "%s/run", workdir);
    write_config(cfg, 100000, 100000);
    char *advice = interrupt_before_first_checkpoint(cfg, run);
    ck_assert_msg(strstr(advice, "--resume") && strstr(advice, "'"), "advice: %s", advice);
    /* Followed literally; the fault stops it after its second epoch's rows. */
    snprintf(cmd, sizeof cmd, "BNSHIFT_FAULT=after-csv:2 %s", advice);
    char *err = NULL;
    ck_assert_int_eq(sh(cmd, "/dev/null", &err), 128 + SIGKILL);
    ck_assert_msg(err && strstr(err, "starting it over from epoch 1"), "stderr: %s", err ? err : "");
    free(err);
    char *m = slurp_file(path_of(run, "metrics.csv"));
    ck_assert_int_eq(count_lines(m), 3);
    ck_assert_msg(strstr(m, "\n1,") && strstr(m, "\n2,"), "metrics: %s", m);
    free(m);
    free(advice);
    remove_workdir();
}
END_TEST

/* A crash (SIGKILL) before the first checkpoint: --resume starts over and
 * the result equals an uninterrupted run's. */
START_TEST(crash_before_first_checkpoint_then_resume_equals_uninterrupted)
{
    make_workdir();
    char cfg[300], full[300], part[300], cmd[2048];
    snprintf(cfg, sizeof cfg, "%s/c.json", workdir);
    snprintf(full, sizeof full, "%s/full", workdir);
    snprintf(part, sizeof part, "%s/part", workdir);
    write_config(cfg, 3, 3);
    snprintf(cmd, sizeof cmd, "%s run %s --out %s --threads 1 --quiet", bnshift_bin(), cfg, full);
    ck_assert_int_eq(sh(cmd, "/dev/null", NULL), 0);
    ck_assert_int_eq(finish_run(spawn_bnshift_run(cfg, part, "1", "/dev/null", NULL, "after-csv:2"), -1),
                     128 + SIGKILL);
    ck_assert_int_eq(access(path_of(part, "checkpoint.bin"), F_OK), -1);
    /* A plain re-run says what to do, and that works. */
    snprintf(cmd, sizeof cmd, "%s run %s --out %s --threads 1 --quiet", bnshift_bin(), cfg, part);
    char *err = NULL;
    ck_assert_int_eq(sh(cmd, "/dev/null", &err), 2);
    assert_one_line(err, "use --resume to continue it");
    free(err);
    ck_assert_int_eq(finish_run(spawn_bnshift_run(cfg, part, "1", "/dev/null", "--resume", NULL), -1), 0);
    ck_assert_runs_equal(full, part);
    remove_workdir();
}
END_TEST

/* eval.csv: a last row cut by a killed eval is dropped (said once on
 * stderr) and the new rows follow; an eval killed while writing leaves the
 * file as it was; --overwrite removes it with the rest of the run. */
START_TEST(eval_csv_is_appended_whole_or_not_at_all)
{
    char cfg[300], run[300], cmd[2048];
    finished_run(cfg, run, 1, 1);
    snprintf(cmd, sizeof cmd, "%s eval %s --threads 1", bnshift_bin(), run);
    ck_assert_int_eq(sh(cmd, "/dev/null", NULL), 0);
    char *once = slurp_file(path_of(run, "eval.csv"));
    const int rows = count_lines(once) - 1; /* one eval's rows */
    ck_assert_int_gt(rows, 2);
    /* Cut the last row as a kill during a plain append would. */
    struct stat st;
    ck_assert_int_eq(stat(path_of(run, "eval.csv"), &st), 0);
    ck_assert_int_eq(truncate(path_of(run, "eval.csv"), st.st_size - 7), 0);
    char *err = NULL;
    ck_assert_int_eq(sh(cmd, "/dev/null", &err), 0);
    ck_assert_msg(err && count_lines(err) == 1 && strstr(err, "dropped its cut last row"), "stderr: %s",
                  err ? err : "");
    free(err);
    char *twice = slurp_file(path_of(run, "eval.csv"));
    ck_assert_int_eq(count_lines(twice), 1 + 2 * rows - 1);
    for (const char *p = twice; (p = strchr(p, '\n')) && p[1]; p++) { /* every row whole */
        int commas = 0;
        for (const char *q = p + 1; *q && *q != '\n'; q++)
            commas += *q == ',';
        ck_assert_int_eq(commas, EVAL_COLUMNS - 1);
    }
    /* Killed half-way through writing: the file is exactly as it was. */
    const char *const args[] = {"eval", run, "--threads", "1", NULL};
    ck_assert_int_eq(finish_run(spawn_bnshift(args, "/dev/null", "in-atomic-write:0"), -1), 128 + SIGKILL);
    char *after_kill = slurp_file(path_of(run, "eval.csv"));
    ck_assert_str_eq(after_kill, twice);
    ck_assert_int_eq(sh(cmd, "/dev/null", NULL), 0);
    char *thrice = slurp_file(path_of(run, "eval.csv"));
    ck_assert_int_eq(count_lines(thrice), count_lines(twice) + rows);
    ck_assert(!strncmp(thrice, twice, strlen(twice)));
    /* --overwrite replaces the whole run, eval.csv included. */
    snprintf(cmd, sizeof cmd, "%s run %s --out %s --threads 1 --quiet --overwrite", bnshift_bin(), cfg, run);
    ck_assert_int_eq(sh(cmd, "/dev/null", NULL), 0);
    ck_assert_int_eq(access(path_of(run, "eval.csv"), F_OK), -1);
    ck_assert_int_eq(access(path_of(run, "eval.csv.tmp"), F_OK), -1);
    free(once);
    free(twice);
    free(after_kill);
    free(thrice);
    remove_workdir();
}
END_TEST

/* Every command checks its standard output at exit: into /dev/full, each
 * exits 1 with one line. */
START_TEST(commands_writing_to_a_full_stdout_exit_1)
{
    char cfg[300], run[300];
    finished_run(cfg, run, 1, 1);
    char commands[8][1024];
    snprintf(commands[0], 1024, "%s info %s", bnshift_bin(), cfg);
    snprintf(commands[1], 1024, "%s eval %s --threads 1", bnshift_bin(), run);
    snprintf(commands[2], 1024, "%s plot-data %s --out %s/plots", bnshift_bin(), run, workdir);
    snprintf(commands[3], 1024, "%s --help", bnshift_bin());
    snprintf(commands[4], 1024, "%s --version", bnshift_bin());
    snprintf(commands[5], 1024, "%s run --help", bnshift_bin());
    snprintf(commands[6], 1024, "%s eval --help", bnshift_bin());
    snprintf(commands[7], 1024, "%s run %s --out %s/run2 --threads 1", bnshift_bin(), cfg, workdir);
    for (int k = 0; k < 8; k++) {
        char *err = NULL;
        int rc = sh(commands[k], "/dev/full", &err);
        ck_assert_msg(rc == 1, "%s > /dev/full: exit %d", commands[k], rc);
        assert_one_line(err, "standard output: write failed");
        free(err);
    }
    remove_workdir();
}
END_TEST

/* plot-data under a file-size limit (writes fail with EFBIG, as on a full
 * disk): exit 1 with one line, and the --out directory it created is gone. */
START_TEST(plot_data_write_error_exits_1_and_leaves_nothing)
{
    char cfg[300], run[300], cmd[2048];
    finished_run(cfg, run, 3, 1);
    snprintf(cmd, sizeof cmd, "sh -c 'trap \"\" XFSZ; ulimit -f 2; exec %s plot-data %s --out %s/new/plots'",
             bnshift_bin(), run, workdir);
    char *err = NULL;
    ck_assert_int_eq(sh(cmd, "/dev/null", &err), 1);
    assert_one_line(err, "write failed");
    free(err);
    ck_assert_int_eq(access(path_of(workdir, "new"), F_OK), -1);
    remove_workdir();
}
END_TEST

/* plot-data beside a live run: it reads up to the last whole epoch, says so,
 * and never takes a half-written row for data. */
START_TEST(plot_data_reads_a_live_run_up_to_whole_epochs)
{
    make_workdir();
    char cfg[300], run[300], cmd[2048];
    snprintf(cfg, sizeof cfg, "%s/l.json", workdir);
    snprintf(run, sizeof run, "%s/run", workdir);
    write_config(cfg, 100000, 1);
    pid_t pid = spawn_bnshift_run(cfg, run, "1", "/dev/null", NULL, NULL);
    wait_for_epoch1(path_of(run, "metrics.csv"), NULL);
    for (int k = 0; k < 20; k++) {
        snprintf(cmd, sizeof cmd, "%s plot-data %s --out %s/plots", bnshift_bin(), run, workdir);
        char *err = NULL;
        int rc = sh(cmd, "/dev/null", &err);
        ck_assert_msg(rc == 0, "plot-data on a live run: exit %d: %s", rc, err ? err : "");
        ck_assert_msg(err && strstr(err, "is being written by another bnshift process"), "stderr: %s",
                      err ? err : "");
        free(err);
        char *errors = slurp_file(path_of(workdir, "plots/errors.dat"));
        ck_assert_ptr_nonnull(errors);
        ck_assert_msg(!strstr(errors, "NaN NaN NaN"), "an epoch without its evaluation: %s", errors);
        free(errors);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    remove_workdir();
}
END_TEST

/* Under an address-space limit a run fits or exits 1 saying "out of
 * memory"; it never spins (OpenBLAS 0.3.21 retries failed allocations
 * forever: the start-up guard and the early buffer allocation catch it).
 * Below ~150 MiB the dynamic loader itself cannot map the libraries and
 * exits 127 before bnshift runs: nothing to test there. */
START_TEST(run_under_an_address_space_limit_fits_or_exits_1)
{
#if defined(__SANITIZE_ADDRESS__)
    return; /* ASan reserves terabytes of shadow memory: no ulimit -v there */
#endif
    make_workdir();
    char cfg[300], cmd[2048];
    snprintf(cfg, sizeof cfg, "%s/m.json", workdir);
    write_config(cfg, 2, 1);
    static const long limits_mib[] = {200, 300, 400, 460, 500, 560, 700, 1200};
    int fitted = 0, refused = 0;
    for (size_t k = 0; k < sizeof limits_mib / sizeof limits_mib[0]; k++) {
        snprintf(cmd, sizeof cmd,
                 "timeout -s KILL 30 sh -c 'ulimit -v %ld; exec %s run %s --out %s/run%zu --quiet --threads 2'",
                 limits_mib[k] * 1024, bnshift_bin(), cfg, workdir, k);
        char *err = NULL;
        int rc = sh(cmd, "/dev/null", &err);
        ck_assert_msg(rc == 0 || rc == 1, "ulimit -v %ld MiB: exit %d (137: it hung): %s", limits_mib[k], rc,
                      err ? err : "");
        if (rc == 1)
            ck_assert_msg(err && strstr(err, "bnshift: ") && (strstr(err, "out of memory") || strstr(err, "library")),
                          "ulimit -v %ld MiB: %s", limits_mib[k], err ? err : "");
        fitted += rc == 0;
        refused += rc == 1;
        free(err);
    }
    ck_assert_int_ge(fitted, 1);
    ck_assert_int_ge(refused, 1);
    remove_workdir();
}
END_TEST

/* The test-set evaluation subset depends on the seed and the set alone: the
 * same checkpoint scored with other train_subset / train_from gives the
 * same test rows (normalization is off, so S does not enter the inputs). */
START_TEST(evaluation_subset_does_not_depend_on_the_training_subset)
{
    make_workdir();
    char cfg[300], run[300], cmd[2048];
    snprintf(cfg, sizeof cfg, "%s/s.json", workdir);
    snprintf(run, sizeof run, "%s/run", workdir);
    write_config(cfg, 1, 1);
    snprintf(cmd, sizeof cmd, "%s run %s --out %s --threads 1 --quiet --set data.eval_subset=40", bnshift_bin(),
             cfg, run);
    ck_assert_int_eq(sh(cmd, "/dev/null", NULL), 0);
    static const char *const sets[] = {"", "--set data.train_subset=100", "--set data.train_subset=150",
                                       "--set data.train_from=test --set data.train_subset=64"};
    char *first = NULL;
    for (int k = 0; k < 4; k++) {
        unlink(path_of(run, "eval.csv"));
        snprintf(cmd, sizeof cmd, "%s eval %s --threads 1 %s", bnshift_bin(), run, sets[k]);
        ck_assert_int_eq(sh(cmd, "/dev/null", NULL), 0);
        char *csv = slurp_file(path_of(run, "eval.csv"));
        /* Only the test rows, from the first one's line to the end. */
        char *hit = strstr(csv, ",before,test,");
        ck_assert_ptr_nonnull(hit);
        while (hit > csv && hit[-1] != '\n')
            hit--;
        char *test_rows = strdup(hit);
        if (!first)
            first = test_rows;
        else {
            ck_assert_msg(!strcmp(first, test_rows), "test rows differ with '%s'", sets[k]);
            free(test_rows);
        }
        free(csv);
    }
    free(first);
    remove_workdir();
}
END_TEST

Suite *integrity_suite(void)
{
    Suite *s = suite_create("integrity");
    TCase *tc = tcase_create("run_directory");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, second_process_on_a_run_directory_is_refused);
    tcase_add_test(tc, resume_is_refused_while_eval_holds_the_directory);
    tcase_add_test(tc, ctrl_c_before_first_checkpoint_then_the_printed_advice);
    tcase_add_test(tc, first_signal_ends_a_step_that_cannot_finish);
    tcase_add_test(tc, crash_before_first_checkpoint_then_resume_equals_uninterrupted);
    tcase_add_test(tc, eval_csv_is_appended_whole_or_not_at_all);
    tcase_add_test(tc, commands_writing_to_a_full_stdout_exit_1);
    tcase_add_test(tc, plot_data_write_error_exits_1_and_leaves_nothing);
    tcase_add_test(tc, plot_data_reads_a_live_run_up_to_whole_epochs);
    tcase_add_test(tc, run_under_an_address_space_limit_fits_or_exits_1);
    tcase_add_test(tc, evaluation_subset_does_not_depend_on_the_training_subset);
    suite_add_tcase(s, tc);
    return s;
}
