/* Runs queue for cores (cmd/core_slots.c): a run waits while other
 * processes hold the CPU lock files it needs, says so once, starts when
 * they are free, can be interrupted while it waits, and does not wait with
 * BNSHIFT_SHARE_CORES=1. The test holds the lock files itself (in a TMPDIR
 * of its own, so that a user's real runs play no part). */
#include <check.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

static char workdir[64];

static const char *TINY =
    "{\"name\": \"tiny\", \"seed\": 5,\n"
    " \"data\": {\"dataset\": \"synthetic\", \"synthetic\": {\"train\": 64, \"test\": 32, \"size\": 8}},\n"
    " \"model\": {\"arch\": \"resnet\", \"depth\": 8, \"width\": 8, \"norm\": \"bn\"},\n"
    " \"train\": {\"epochs\": 1, \"batch_size\": 16, \"lr\": 0.05}}\n";

/* The test's own lock directory, as core_slots.c names it under TMPDIR. */
static void setup_env(char *cfg, size_t cap)
{
    make_test_dir(workdir, sizeof workdir, "bnshift-cores");
    setenv("TMPDIR", workdir, 1);
    unsetenv("BNSHIFT_SHARE_CORES");
    snprintf(cfg, cap, "%s/tiny.json", workdir);
    write_text_file(cfg, TINY);
}

static void teardown_env(void)
{
    unsetenv("TMPDIR");
    setenv("BNSHIFT_SHARE_CORES", "1", 1); /* as tests/main.c sets it */
    remove_test_dir(workdir);
}

/* Locks the lock files of the first `k` CPUs this process may use (as a
 * run holding them would); fds[] receives the descriptors. Returns how
 * many CPUs the process may use. */
static int hold_cpus(int k, int *fds)
{
    char dir[200];
    snprintf(dir, sizeof dir, "%s/bnshift-cpus-%u", workdir, (unsigned)getuid());
    ck_assert(mkdir(dir, 0700) == 0 || access(dir, F_OK) == 0);
    cpu_set_t cpus;
    ck_assert_int_eq(sched_getaffinity(0, sizeof cpus, &cpus), 0);
    int held = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && held < k; cpu++) {
        if (!CPU_ISSET(cpu, &cpus))
            continue;
        char path[300];
        snprintf(path, sizeof path, "%s/cpu%d", dir, cpu);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
        char me[24];
        int len = snprintf(me, sizeof me, "%ld\n", (long)getpid());
        ck_assert_int_eq(pwrite(fd, me, (size_t)len, 0), len);
        fds[held++] = fd;
    }
    return CPU_COUNT(&cpus);
}

/* Polls errpath until it contains `needle` (up to 60 s). */
static void wait_for_text(const char *errpath, const char *needle)
{
    for (int i = 0; i < 60000; i++) {
        char *e = slurp_file(errpath);
        int found = e && strstr(e, needle);
        free(e);
        if (found)
            return;
        usleep(1000);
    }
    ck_abort_msg("%s never said '%s'", errpath, needle);
}

/* One test's files and the lock files it holds. */
typedef struct {
    char cfg[200], out[200], err[200];
    int fds[CPU_SETSIZE];
    int held, cpus;
} Case;

/* The environment, the config, and the first `hold` CPUs' lock files held. */
static void case_begin(Case *c, int hold)
{
    setup_env(c->cfg, sizeof c->cfg);
    snprintf(c->out, sizeof c->out, "%s/run", workdir);
    snprintf(c->err, sizeof c->err, "%s/stderr.txt", workdir);
    c->cpus = hold_cpus(hold, c->fds);
    c->held = hold < c->cpus ? hold : c->cpus;
}

static void release_cpus(Case *c)
{
    for (int i = 0; i < c->held; i++)
        close(c->fds[i]);
    c->held = 0;
}

static void case_end(Case *c)
{
    release_cpus(c);
    teardown_env();
}

/* Whether the run's stderr says `needle`, asserted to be `want`. */
static void assert_said(const Case *c, const char *needle, int want)
{
    char *e = slurp_file(c->err);
    ck_assert_msg(!strstr(e, needle) == !want, "stderr %s '%s': %s", want ? "lacks" : "has", needle, e);
    free(e);
}

START_TEST(a_run_waits_for_held_cores_then_starts)
{
    Case c;
    case_begin(&c, CPU_SETSIZE);
    pid_t pid = spawn_bnshift_run(c.cfg, c.out, "1", c.err, NULL, NULL);
    wait_for_text(c.err, "waiting for 1 free core");
    usleep(300000);
    ck_assert_msg(waitpid(pid, NULL, WNOHANG) == 0, "the run ended while every core was held");
    ck_assert_msg(access(path_of(c.out, "checkpoint.bin"), F_OK) != 0, "the run trained while waiting");
    char holder[32];
    snprintf(holder, sizeof holder, "(pid %ld)", (long)getpid());
    assert_said(&c, holder, 1);
    release_cpus(&c);
    ck_assert_int_eq(finish_run(pid, 60L * 1000 * 1000), 0);
    assert_said(&c, "free after", 1);
    char *e = slurp_file(c.err);
    ck_assert_int_eq(count_lines(e), 2);
    free(e);
    ck_assert_int_eq(csv_rows(path_of(c.out, "metrics.csv")), 1);
    case_end(&c);
}
END_TEST

START_TEST(interrupt_while_waiting_exits_130)
{
    Case c;
    case_begin(&c, CPU_SETSIZE);
    pid_t pid = spawn_bnshift_run(c.cfg, c.out, "1", c.err, NULL, NULL);
    wait_for_text(c.err, "waiting for");
    kill(pid, SIGINT);
    ck_assert_int_eq(finish_run(pid, 30L * 1000 * 1000), 130);
    assert_said(&c, "interrupted", 1);
    assert_said(&c, "--resume", 1);
    case_end(&c);
}
END_TEST

START_TEST(share_cores_runs_at_once)
{
    Case c;
    case_begin(&c, CPU_SETSIZE);
    setenv("BNSHIFT_SHARE_CORES", "1", 1);
    ck_assert_int_eq(finish_run(spawn_bnshift_run(c.cfg, c.out, "2", c.err, NULL, NULL), 60L * 1000 * 1000), 0);
    assert_said(&c, "waiting", 0);
    case_end(&c);
}
END_TEST

/* With two or more CPUs, a one-thread run takes a free one beside a held
 * one without waiting. */
START_TEST(a_free_core_is_taken_at_once)
{
    Case c;
    case_begin(&c, 1);
    if (c.cpus >= 2) {
        ck_assert_int_eq(finish_run(spawn_bnshift_run(c.cfg, c.out, "1", c.err, NULL, NULL), 60L * 1000 * 1000), 0);
        assert_said(&c, "waiting", 0);
    }
    case_end(&c);
}
END_TEST

Suite *cores_suite(void)
{
    Suite *s = suite_create("cores");
    TCase *tc = tcase_create("queue");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, a_run_waits_for_held_cores_then_starts);
    tcase_add_test(tc, interrupt_while_waiting_exits_130);
    tcase_add_test(tc, share_cores_runs_at_once);
    tcase_add_test(tc, a_free_core_is_taken_at_once);
    suite_add_tcase(s, tc);
    return s;
}
