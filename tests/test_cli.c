/* bnshift run end to end, as a user runs it: exit codes and one-line
 * messages for bad configs (no output directory left behind), the CSVs of a
 * short synthetic run, and a run killed with SIGKILL during epoch 2 then
 * resumed, whose CSVs must equal an uninterrupted run's but for timings. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "suites.h"
#include "core/threads.h"
#include "layers/conv2d_onednn.h"
#include "test_util.h"

static char workdir[64];

static void make_workdir(void) { make_test_dir(workdir, sizeof workdir, "bnshift-cli"); }

static void remove_workdir(void) { remove_test_dir(workdir); }

static const char *SMOKE =
    "{\"name\": \"smoke\", \"seed\": 3,\n"
    " \"data\": {\"dataset\": \"synthetic\", \"synthetic\": {\"train\": 192, \"test\": 96, \"size\": 12}},\n"
    " \"model\": {\"arch\": \"resnet\", \"depth\": 8, \"width\": 8, \"norm\": \"%s\", \"groups\": 4},\n"
    " \"train\": {\"epochs\": %d, \"batch_size\": 32, \"lr\": 0.05, \"schedule\": {\"type\": \"cosine\"}}}\n";

static void write_smoke(const char *path, const char *norm, int epochs)
{
    char text[1024];
    snprintf(text, sizeof text, SMOKE, norm, epochs);
    write_text_file(path, text);
}

/* A bad config must exit 2 with one line containing `needle` and leave no
 * output directory behind. */
static void expect_config_error(const char *json, const char *extra, const char *needle)
{
    char cfg[300], out[300], cmd[1024];
    snprintf(cfg, sizeof cfg, "%s/bad.json", workdir);
    snprintf(out, sizeof out, "%s/out-bad", workdir);
    write_text_file(cfg, json);
    snprintf(cmd, sizeof cmd, "%s run %s --out %s %s", bnshift_bin(), cfg, out, extra ? extra : "");
    char *err = NULL;
    int rc = run_in(workdir, cmd, &err);
    ck_assert_msg(rc == 2, "exit %d for %s (stderr: %s)", rc, json, err ? err : "");
    ck_assert_msg(err && strstr(err, needle), "stderr '%s' lacks '%s'", err ? err : "", needle);
    ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1, "not one line: '%s'", err);
    struct stat st;
    ck_assert_msg(stat(out, &st) != 0, "output directory created for a bad config");
    free(err);
}

START_TEST(config_errors_exit_2_with_one_line)
{
    make_workdir();
    expect_config_error("{\"model\": {\"detph\": 20}}", NULL, "did you mean 'model.depth'");
    expect_config_error("{\"model\": {\"depth\": \"20\"}}", NULL, "model.depth: expected an integer");
    expect_config_error("{\"model\": {\"depth\": 21}}", NULL, "model.depth: 21 is not 6n+2");
    expect_config_error("{\"train\": {\"batch_size\": 0}}", NULL, "train.batch_size");
    expect_config_error("{\"train\": {\"lr\": -1}}", NULL, "train.lr");
    expect_config_error("{\"model\": {\"arch\": \"mlp\", \"norm\": \"in\"}}", NULL, "model.norm");
    expect_config_error("{\"data\": {\"dataset\": \"synthetic\"}, \"model\": {\"norm\": \"gn\", \"groups\": 3}}",
                        NULL, "model.groups");
    expect_config_error("{\"data\": {\"dataset\": \"cifar10\", \"root\": \"/nonexistent/cifar\"}}", NULL,
                        "/nonexistent/cifar/data_batch_1.bin");
    expect_config_error("{\"data\": {\"dataset\": \"synthetic\", \"train_subset\": 100000}}", NULL,
                        "data.train_subset");
    expect_config_error("{\"model\": {\"norm\": \"batch\"}}", NULL, "model.norm: \"batch\" is not one of");
    expect_config_error("{\"train\": {\"epochs\": 5,}}", NULL, "malformed JSON at line 1");
    expect_config_error("{}", "--set model.depth", "--set 'model.depth': expected key.path=value");
    expect_config_error("{}", "--set model.widht=3", "did you mean 'model.width'");
    remove_workdir();
}
END_TEST

START_TEST(short_run_writes_spec_csvs)
{
    make_workdir();
    char cfg[300], out[300], cmd[1024], path[400];
    snprintf(cfg, sizeof cfg, "%s/smoke.json", workdir);
    snprintf(out, sizeof out, "%s/run", workdir);
    write_smoke(cfg, "xbnblock", 2);
    snprintf(cmd, sizeof cmd, "%s run %s --out %s --threads 2 --quiet", bnshift_bin(), cfg, out);
    ck_assert_int_eq(run_in(workdir, cmd, NULL), 0);
    snprintf(path, sizeof path, "%s/metrics.csv", out);
    char *m = slurp_file(path);
    ck_assert_ptr_nonnull(m);
    const char *mh = "epoch,lr,train_batch_loss,train_batch_err,train_loss,train_err,test_loss,"
                     "test_err,seconds,images_per_s,train_bstat_loss,train_bstat_err,test_bstat_loss,"
                     "test_bstat_err\n";
    ck_assert(!strncmp(m, mh, strlen(mh)));
    ck_assert_int_eq(count_lines(m), 3);
    snprintf(path, sizeof path, "%s/shift.csv", out);
    char *s = slurp_file(path);
    const char *sh = "epoch,set,layer,name,depth,channels,esm_mean,esm_std,esm_var,rms_mean,"
                     "rms_std,nesm_mean,nesm_std\n";
    ck_assert(!strncmp(s, sh, strlen(sh)));
    /* ResNet-8 xbnblock: 9 norms, GN at the 3 blocks' first norm: 6 BN.
     * 2 epochs x 2 sets x 6 layers. */
    ck_assert_int_eq(count_lines(s), 1 + 2 * 2 * 6);
    ck_assert_ptr_nonnull(strstr(s, "\n2,test,5,stage3.block1.shortcut.bn,9,32,"));
    snprintf(path, sizeof path, "%s/config.resolved.json", out);
    char *r = slurp_file(path);
    ck_assert_ptr_nonnull(strstr(r, "\"meta\""));
    ck_assert_ptr_nonnull(strstr(r, "\"bn_momentum\""));
    /* A second run into the same directory is refused. */
    char *err = NULL;
    ck_assert_int_eq(run_in(workdir, cmd, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "--overwrite"));
    free(err);
    free(m);
    free(s);
    free(r);
    remove_workdir();
}
END_TEST



/* Resumes the run in out to one epoch more than metrics.csv holds
 * (train.epochs may change on resume) and checks that epoch was added. */
static void resume_one_more_epoch(const char *cfg, const char *out, const char *after)
{
    char path[400], cmd[1024];
    snprintf(path, sizeof path, "%s/metrics.csv", out);
    char *m = slurp_file(path);
    const int rows = count_lines(m) - 1;
    free(m);
    snprintf(cmd, sizeof cmd, "%s run %s --out %s --threads 1 --quiet --resume --set train.epochs=%d",
             bnshift_bin(), cfg, out, rows + 1);
    char *err = NULL;
    int rc = run_in(workdir, cmd, &err);
    ck_assert_msg(rc == 0, "resume after %s: exit %d: %s", after, rc, err ? err : "");
    free(err);
    m = slurp_file(path);
    ck_assert_int_eq(count_lines(m), rows + 2);
    free(m);
}

/* Starts bnshift run in the background and SIGKILLs it once metrics.csv
 * holds epoch 1 (so it dies during epoch 2). */
static void run_and_kill_in_epoch2(const char *cfg, const char *out)
{
    pid_t pid = spawn_bnshift_run(cfg, out, "2", "/dev/null", NULL, NULL);
    char path[400], ckpt[400];
    snprintf(path, sizeof path, "%s/metrics.csv", out);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.bin", out);
    wait_for_epoch1(path, ckpt);
    usleep(20000); /* into epoch 2 */
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    char *m = slurp_file(path);
    ck_assert_msg(count_lines(m) == 2, "the kill missed epoch 2 (%d lines)", count_lines(m));
    free(m);
}

/* spawn_bnshift_run with 2 threads, stderr discarded. */
static pid_t spawn_run(const char *cfg, const char *out, const char *mode, const char *fault)
{
    return spawn_bnshift_run(cfg, out, "2", "/dev/null", mode, fault);
}


static int file_lines(const char *dir, const char *name)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *m = slurp_file(path);
    int n = count_lines(m);
    free(m);
    return n;
}

/* A run killed (SIGKILL, as a power cut) at many points: during the first
 * checkpoint's write, after an epoch's CSV rows but before its checkpoint,
 * during a later checkpoint's write, and at three random moments. Each time
 * it resumes (or, with no checkpoint yet, starts over); the final CSVs must
 * equal an uninterrupted run's in every column but the timing ones. */
START_TEST(sigkill_at_many_points_then_resume_equals_uninterrupted)
{
    make_workdir();
    char cfg[300], full[300], part[300], path[400];
    snprintf(cfg, sizeof cfg, "%s/kill.json", workdir);
    snprintf(full, sizeof full, "%s/full", workdir);
    snprintf(part, sizeof part, "%s/part", workdir);
    write_text_file(cfg, "{\"name\": \"kill\", \"seed\": 7,\n"
                    " \"data\": {\"dataset\": \"synthetic\", \"synthetic\": {\"train\": 1024, \"test\": 256, \"size\": 16}},\n"
                    " \"model\": {\"arch\": \"resnet\", \"depth\": 8, \"width\": 16, \"norm\": \"bn\"},\n"
                    " \"train\": {\"epochs\": 6, \"batch_size\": 32, \"lr\": 0.05}}\n");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(finish_run(spawn_run(cfg, full, "--overwrite", NULL), -1), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const long full_us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;

    /* 1. Killed half-way through writing the first checkpoint: no
     *    checkpoint.bin exists (only its temp file), so --resume starts the
     *    run over from epoch 1, as the message printed on a stop advises. */
    ck_assert_int_eq(finish_run(spawn_run(cfg, part, "--overwrite", "in-checkpoint:1"), -1), 128 + SIGKILL);
    snprintf(path, sizeof path, "%s/checkpoint.bin", part);
    ck_assert_int_ne(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/checkpoint.bin.tmp", part);
    ck_assert_int_eq(access(path, F_OK), 0);
    /* 2. That start-over killed after epoch 2's rows reached the CSVs,
     *    before its checkpoint. */
    ck_assert_int_eq(finish_run(spawn_run(cfg, part, "--resume", "after-csv:2"), -1), 128 + SIGKILL);
    ck_assert_int_eq(file_lines(part, "metrics.csv"), 3);
    /* 3. Resumed from epoch 1 (dropping epoch 2's rows), killed while
     *    writing epoch 3's checkpoint (epoch 2's is intact). */
    ck_assert_int_eq(finish_run(spawn_run(cfg, part, "--resume", "in-checkpoint:3"), -1), 128 + SIGKILL);
    ck_assert_int_eq(file_lines(part, "metrics.csv"), 4);
    /* 4-6. Random moments (seeded): resume and kill somewhere in the rest. */
    unsigned seed = 12345;
    int kills = 0;
    for (int i = 0; i < 3; i++) {
        long at = (long)(rand_r(&seed) % 1000) * (full_us / 4) / 1000 + full_us / 20;
        int rc = finish_run(spawn_run(cfg, part, "--resume", NULL), at);
        ck_assert_msg(rc == 0 || rc == 128 + SIGKILL, "resume %d: exit %d", i, rc);
        kills += rc != 0;
        if (rc == 0)
            break;
    }
    ck_assert_int_ge(kills, 1);
    ck_assert_int_eq(finish_run(spawn_run(cfg, part, "--resume", NULL), -1), 0);
    ck_assert_runs_equal(full, part);
    remove_workdir();
}
END_TEST

START_TEST(sigkill_in_epoch2_then_resume_equals_uninterrupted)
{
    make_workdir();
    char cfg[300], full[300], part[300], cmd[1024];
    snprintf(cfg, sizeof cfg, "%s/smoke.json", workdir);
    snprintf(full, sizeof full, "%s/full", workdir);
    snprintf(part, sizeof part, "%s/part", workdir);
    /* Epochs long enough (~0.5 s) to be killed in the middle of. */
    write_text_file(cfg, "{\"name\": \"kill\", \"seed\": 5,\n"
                    " \"data\": {\"dataset\": \"synthetic\", \"synthetic\": {\"train\": 1536, \"test\": 256, \"size\": 16}},\n"
                    " \"model\": {\"arch\": \"resnet\", \"depth\": 8, \"width\": 16, \"norm\": \"gnbn\", \"groups\": 4},\n"
                    " \"train\": {\"epochs\": 3, \"batch_size\": 32, \"lr\": 0.05}}\n");
    snprintf(cmd, sizeof cmd, "%s run %s --out %s --threads 2 --quiet", bnshift_bin(), cfg, full);
    ck_assert_int_eq(run_in(workdir, cmd, NULL), 0);
    run_and_kill_in_epoch2(cfg, part);
    snprintf(cmd, sizeof cmd, "%s run %s --out %s --threads 2 --quiet --resume", bnshift_bin(), cfg, part);
    char *err = NULL;
    int rc = run_in(workdir, cmd, &err);
    ck_assert_msg(rc == 0, "resume exit %d: %s", rc, err ? err : "");
    free(err);
    ck_assert_runs_equal(full, part);
    /* A changed config is refused without --force. */
    snprintf(cmd, sizeof cmd, "%s run %s --out %s --quiet --resume --set train.lr=0.1", bnshift_bin(), cfg, part);
    ck_assert_int_eq(run_in(workdir, cmd, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "--force"));
    free(err);
    remove_workdir();
}
END_TEST

/* SIGINT and SIGTERM finish the current step, keep whole CSV rows, exit
 * 130/143 with one line saying how to resume, and the run resumes. */
START_TEST(signals_stop_with_130_or_143_and_intact_csvs)
{
    static const int sigs[] = {SIGINT, SIGTERM};
    for (int k = 0; k < 2; k++) {
        make_workdir();
        char cfg[300], out[300], path[400], errpath[400];
        snprintf(cfg, sizeof cfg, "%s/smoke.json", workdir);
        snprintf(out, sizeof out, "%s/run", workdir);
        snprintf(errpath, sizeof errpath, "%s/child-stderr.txt", workdir);
        write_smoke(cfg, "bn", 200);
        pid_t pid = spawn_bnshift_run(cfg, out, "1", errpath, NULL, NULL);
        snprintf(path, sizeof path, "%s/metrics.csv", out);
        wait_for_epoch1(path, NULL);
        kill(pid, sigs[k]);
        int st;
        waitpid(pid, &st, 0);
        ck_assert(WIFEXITED(st));
        ck_assert_int_eq(WEXITSTATUS(st), sigs[k] == SIGINT ? 130 : 143);
        char *m = slurp_file(path);
        ck_assert(m && m[strlen(m) - 1] == '\n'); /* whole rows only */
        ck_assert_int_lt(count_lines(m), 201);
        free(m);
        char *e = slurp_file(errpath);
        ck_assert_int_eq(count_lines(e), 1);
        ck_assert_ptr_nonnull(strstr(e, "--resume"));
        free(e);
        resume_one_more_epoch(cfg, out, sigs[k] == SIGINT ? "SIGINT" : "SIGTERM");
        remove_workdir();
    }
}
END_TEST

/* A second signal does not wait for the step: the handler exits at once
 * with its own one line, so the "finish the step" path never runs. Both
 * signals are queued while the run is stopped so that they surely arrive
 * within one step. */
START_TEST(second_signal_exits_at_once)
{
    make_workdir();
    char cfg[300], out[300], path[400], ckpt[400], errpath[400];
    snprintf(cfg, sizeof cfg, "%s/smoke.json", workdir);
    snprintf(out, sizeof out, "%s/run", workdir);
    snprintf(errpath, sizeof errpath, "%s/child-stderr.txt", workdir);
    write_smoke(cfg, "bn", 200);
    pid_t pid = spawn_bnshift_run(cfg, out, "1", errpath, NULL, NULL);
    snprintf(path, sizeof path, "%s/metrics.csv", out);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.bin", out);
    wait_for_epoch1(path, ckpt);
    int st;
    kill(pid, SIGSTOP);
    ck_assert_int_eq(waitpid(pid, &st, WUNTRACED), pid);
    ck_assert(WIFSTOPPED(st));
    kill(pid, SIGINT);
    kill(pid, SIGTERM);
    kill(pid, SIGCONT);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st));
    ck_assert_msg(WEXITSTATUS(st) == 130 || WEXITSTATUS(st) == 143, "exit %d", WEXITSTATUS(st));
    char *e = slurp_file(errpath);
    ck_assert_msg(count_lines(e) == 1 && strstr(e, "stopped at once") && strstr(e, "--resume"),
                  "not the one line of a stop at once: %s", e);
    ck_assert_msg(!strstr(e, "the CSVs hold every finished epoch"), "the graceful stop ran: %s", e);
    free(e);
    /* Still resumable: the last checkpoint and the CSV lengths it records. */
    resume_one_more_epoch(cfg, out, "two signals");
    remove_workdir();
}
END_TEST

START_TEST(nan_stops_with_exit_1_naming_epoch_and_layer)
{
    make_workdir();
    char cfg[300], out[300], cmd[1024];
    snprintf(cfg, sizeof cfg, "%s/smoke.json", workdir);
    snprintf(out, sizeof out, "%s/run", workdir);
    write_smoke(cfg, "bn", 3);
    snprintf(cmd, sizeof cmd, "%s run %s --out %s --quiet --set train.lr=1e30", bnshift_bin(), cfg, out);
    char *err = NULL;
    int rc = run_in(workdir, cmd, &err);
    ck_assert_msg(rc == 1, "exit %d: %s", rc, err ? err : "");
    ck_assert_msg(strstr(err, "non-finite") && strstr(err, "epoch 1"), "message: %s", err);
    ck_assert_msg(strstr(err, "layer ") || strstr(err, "loss"), "no layer named: %s", err);
    free(err);
    char path[400];
    snprintf(path, sizeof path, "%s/metrics.csv", out);
    char *m = slurp_file(path);
    ck_assert_int_eq(count_lines(m), 1); /* header only: no epoch finished */
    free(m);
    remove_workdir();
}
END_TEST

START_TEST(corrupt_idx_file_exit_2_naming_it)
{
    make_workdir();
    char dir[300], path[400], cfg[300], cmd[1024];
    snprintf(dir, sizeof dir, "%s/fmnist", workdir);
    ck_assert_int_eq(mkdir(dir, 0777), 0);
    /* A labels file with a bad magic and an images file cut short. */
    const unsigned char bad_labels[8] = {0, 0, 9, 1, 0, 0, 0, 1};
    const unsigned char short_images[12] = {0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 28};
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    FILE *f = fopen(path, "wb");
    fwrite(bad_labels, 1, sizeof bad_labels, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    f = fopen(path, "wb");
    fwrite(short_images, 1, sizeof short_images, f);
    fclose(f);
    snprintf(cfg, sizeof cfg, "%s/c.json", workdir);
    char json[600];
    snprintf(json, sizeof json, "{\"data\": {\"dataset\": \"fashion-mnist\", \"root\": \"%s\"}}", dir);
    write_text_file(cfg, json);
    snprintf(cmd, sizeof cmd, "%s run %s --out %s/out", bnshift_bin(), cfg, workdir);
    char *err = NULL;
    ck_assert_int_eq(run_in(workdir, cmd, &err), 2);
    ck_assert_msg(strstr(err, dir) && strstr(err, "idx"), "message: %s", err);
    free(err);
    remove_workdir();
}
END_TEST

START_TEST(same_samples_setting_evaluates_one_subset_twice)
{
    /* test_from: train with eval_subset: "train" and "test" must be the same
     * sampled subset of S, so their shift rows agree exactly. */
    make_workdir();
    char cfg[300], out[300], cmd[1024], path[400];
    snprintf(cfg, sizeof cfg, "%s/smoke.json", workdir);
    snprintf(out, sizeof out, "%s/run", workdir);
    write_smoke(cfg, "bn", 1);
    snprintf(cmd, sizeof cmd,
             "%s run %s --out %s --quiet --set data.test_from=train --set data.eval_subset=50", bnshift_bin(), cfg, out);
    ck_assert_int_eq(run_in(workdir, cmd, NULL), 0);
    snprintf(path, sizeof path, "%s/shift.csv", out);
    char *csv = slurp_file(path);
    ck_assert_ptr_nonnull(csv);
    int layers = 0;
    for (char *t = strstr(csv, "\n1,train,"); t; t = strstr(t + 1, "\n1,train,")) {
        char want[256], *end = strchr(t + 1, '\n');
        snprintf(want, sizeof want, "\n1,test,%.*s", (int)(end - t - 9), t + 9);
        ck_assert_msg(strstr(csv, want), "no test row equal to %.*s", (int)(end - t), t);
        layers++;
    }
    ck_assert_int_eq(layers, 9);
    free(csv);
    remove_workdir();
}
END_TEST

/* esm_mean (column 12) of every eval.csv row of `stage` on `set`: the
 * largest, and how many rows there were. */
static double max_esm_mean(const char *csv, const char *stage, const char *set, int *rows)
{
    char key[64];
    snprintf(key, sizeof key, ",%s,%s,", stage, set);
    double worst = 0;
    *rows = 0;
    for (const char *line = strchr(csv, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        const char *p = line + 1;
        const char *end = strchr(p, '\n');
        const char *hit = strstr(p, key);
        if (!hit || (end && hit > end))
            continue;
        for (int col = 1; col < 12; col++)
            p = strchr(p, ',') + 1;
        double v = strtod(p, NULL);
        worst = v > worst ? v : worst;
        (*rows)++;
    }
    return worst;
}

START_TEST(eval_recalibration_removes_the_shift)
{
    make_workdir();
    char cfg[300], out[300], cmd[1024], path[400];
    snprintf(cfg, sizeof cfg, "%s/smoke.json", workdir);
    snprintf(out, sizeof out, "%s/run", workdir);
    write_smoke(cfg, "bn", 2);
    snprintf(cmd, sizeof cmd, "%s run %s --out %s --quiet", bnshift_bin(), cfg, out);
    ck_assert_int_eq(run_in(workdir, cmd, NULL), 0);
    snprintf(cmd, sizeof cmd, "%s eval %s --recalibrate test", bnshift_bin(), out);
    char *err = NULL;
    int rc = run_in(workdir, cmd, &err);
    ck_assert_msg(rc == 0, "eval exit %d: %s", rc, err ? err : "");
    free(err);
    snprintf(path, sizeof path, "%s/eval.csv", out);
    char *csv = slurp_file(path);
    ck_assert_ptr_nonnull(csv);
    const char *head = "checkpoint_epoch,recalibrated_on,stage,set,loss,err,batch_stats_err,";
    ck_assert(!strncmp(csv, head, strlen(head)));
    int rows_before, rows_after;
    double before = max_esm_mean(csv, "before", "test", &rows_before);
    double after = max_esm_mean(csv, "after", "test", &rows_after);
    ck_assert_int_eq(rows_before, 9); /* ResNet-8 bn: 9 BN layers */
    ck_assert_int_eq(rows_after, 9);
    ck_assert_msg(before > 1e-2, "no shift before recalibration (%g)", before);
    ck_assert_msg(after < 1e-3, "shift left after recalibration on the test set: %g", after);
    free(csv);
    snprintf(cmd, sizeof cmd, "%s eval %s --recalibrate valid", bnshift_bin(), out);
    ck_assert_int_eq(run_in(workdir, cmd, NULL), 2);
    snprintf(cmd, sizeof cmd, "%s eval %s/nonexistent", bnshift_bin(), workdir);
    ck_assert_int_eq(run_in(workdir, cmd, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "nonexistent"));
    free(err);
    remove_workdir();
}
END_TEST

/* `bench` prints every figure issue 5 asks for, on both convolution
 * backends (no timing is asserted), and rejects bad options with exit 2. */
/* What `env ENV bnshift ARGS` prints (run in workdir). */
static char *output_under(const char *env, const char *args)
{
    char cmd[1024], path[300];
    snprintf(path, sizeof path, "%s/output.txt", workdir);
    snprintf(cmd, sizeof cmd, "{ env %s %s %s > %s; }", env, bnshift_bin(), args, path);
    ck_assert_int_eq(run_in(workdir, cmd, NULL), 0);
    char *out = slurp_file(path);
    ck_assert_ptr_nonnull(out);
    return out;
}

/* Debian's OpenBLAS 0.3.21 falls back to its SSE3 "Prescott" kernels on CPUs
 * newer than itself; bnshift then names kernels the CPU runs
 * (cmd/startup_env.c), unless the user chose (OPENBLAS_CORETYPE). */
START_TEST(openblas_kernels_fit_the_cpu)
{
    ck_assert_ptr_null(bs_blas_better_core("Haswell"));
    ck_assert_ptr_null(bs_blas_better_core("Cooperlake"));
    ck_assert_ptr_null(bs_blas_better_core(NULL));
    __builtin_cpu_init();
    const char *better = bs_blas_better_core("Prescott");
    if (!__builtin_cpu_supports("avx"))
        ck_assert_ptr_null(better);
    else if (__builtin_cpu_supports("avx512bf16"))
        ck_assert_str_eq(better, "Cooperlake");
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        ck_assert_msg(!strcmp(better, "SkylakeX") || !strcmp(better, "Haswell"), "core %s", better);
    else
        ck_assert_str_eq(better, "Sandybridge");
    const char *cpu = bs_blas_cpu_core();
    ck_assert_msg(cpu == better || (cpu && better && !strcmp(cpu, better)), "cpu core %s", cpu ? cpu : "none");

    /* Kernel widths: the order bench compares the forced core with. */
    static const char *const widening[] = {"Prescott", "Sandybridge", "Haswell", "SkylakeX", "Cooperlake"};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(bs_blas_core_rank(widening[i]), i);
    ck_assert_int_eq(bs_blas_core_rank("zen"), bs_blas_core_rank("Haswell"));
    ck_assert_int_eq(bs_blas_core_rank("Nehalem"), -1);
    ck_assert_int_eq(bs_blas_core_rank(NULL), -1);

    make_workdir();
    char *out = output_under("-u OPENBLAS_CORETYPE", "--version");
    ck_assert_msg(strstr(out, "OpenBLAS core: "), "--version lacks the core:\n%s", out);
    if (__builtin_cpu_supports("avx"))
        ck_assert_msg(!strstr(out, "OpenBLAS core: Prescott"), "SSE3 kernels on an AVX CPU:\n%s", out);
    free(out);
    out = output_under("OPENBLAS_CORETYPE=Prescott", "--version");
    ck_assert_msg(strstr(out, "OpenBLAS core: Prescott\n"), "the user's choice overridden:\n%s", out);
    free(out);
    /* bench says when the user's core makes its % of sgemm read high. */
    static const char *const bench = "bench --steps 1 --batch 8 --threads 1 --set model.depth=8";
    out = output_under("OPENBLAS_CORETYPE=Prescott", bench);
    ck_assert_msg(!cpu || strstr(out, "(OPENBLAS_CORETYPE=Prescott runs kernels narrower than this CPU's"),
                  "no note on the narrow kernels:\n%s", out);
    free(out);
    out = output_under("-u OPENBLAS_CORETYPE", bench);
    ck_assert_msg(!strstr(out, "runs kernels narrower"), "a note without the user's core:\n%s", out);
    free(out);
    remove_workdir();
}
END_TEST

START_TEST(bench_prints_its_figures)
{
    make_workdir();
    static const char *const backends[] = {"im2col", "onednn"};
    static const char *const expected[] = {"images/s", "by op: conv", "GFLOP/s useful",
                                           "of sgemm", "sgemm 1024^3:", "norm floor: ",
                                           "the step with norms at the floor: ", "memory stream (",
                                           "inference + ESM pass:", "peak resident memory:",
                                           "per op, ms per step", "stage1.block1.bn1 "};
    char cmd[1024], path[300];
    snprintf(path, sizeof path, "%s/bench.txt", workdir);
    for (int b = 0; b < 2; b++) {
        if (b == 1 && !onednn_available())
            break;
        /* A group, so that its redirection wins over run_in's >/dev/null. */
        snprintf(cmd, sizeof cmd, "{ %s bench --steps 2 --batch 8 --threads 2 --backend %s --per-op "
                 "--set model.depth=8 > %s; }", bnshift_bin(), backends[b], path);
        ck_assert_int_eq(run_in(workdir, cmd, NULL), 0);
        char *out = slurp_file(path);
        ck_assert_ptr_nonnull(out);
        for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
            ck_assert_msg(strstr(out, expected[i]), "bench output lacks '%s':\n%s", expected[i], out);
        ck_assert_ptr_nonnull(strstr(out, b ? "convolution: onednn" : "convolution: im2col+openblas"));
        /* --per-op: a norm's line carries its floor, a conv's none. */
        const char *bn = strstr(out, "stage1.block1.bn1 "), *floor = bn ? strstr(bn, " floor ") : NULL;
        ck_assert_msg(floor && floor < strchr(bn, '\n'), "no floor on the norm's line:\n%s", out);
        const char *conv = strstr(out, "stage1.block1.conv1 ");
        ck_assert_msg(conv && !memchr(conv, '(', (size_t)(strchr(conv, '\n') - conv)), "a floor on a conv:\n%s", out);
        free(out);
    }
    char *err = NULL;
    snprintf(cmd, sizeof cmd, "%s bench --steps 0", bnshift_bin());
    ck_assert_int_eq(run_in(workdir, cmd, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "--steps expects an integer"));
    free(err);
    snprintf(cmd, sizeof cmd, "%s bench --backend cuda --steps 1", bnshift_bin());
    ck_assert_int_eq(run_in(workdir, cmd, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "--backend expects im2col or onednn"));
    free(err);
    remove_workdir();
}
END_TEST

Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("run");
    tcase_set_timeout(tc, 600); /* a hang guard; a loaded machine can be slow */
    tcase_add_test(tc, config_errors_exit_2_with_one_line);
    tcase_add_test(tc, short_run_writes_spec_csvs);
    tcase_add_test(tc, sigkill_in_epoch2_then_resume_equals_uninterrupted);
    tcase_add_test(tc, sigkill_at_many_points_then_resume_equals_uninterrupted);
    tcase_add_test(tc, signals_stop_with_130_or_143_and_intact_csvs);
    tcase_add_test(tc, second_signal_exits_at_once);
    tcase_add_test(tc, nan_stops_with_exit_1_naming_epoch_and_layer);
    tcase_add_test(tc, corrupt_idx_file_exit_2_naming_it);
    tcase_add_test(tc, eval_recalibration_removes_the_shift);
    tcase_add_test(tc, same_samples_setting_evaluates_one_subset_twice);
    tcase_add_test(tc, bench_prints_its_figures);
    tcase_add_test(tc, openblas_kernels_fit_the_cpu);
    suite_add_tcase(s, tc);
    return s;
}
