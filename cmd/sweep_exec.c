/* The runs of a sweep as child processes, J at a time (cmd/sweep.h). Each
 * child is `bnshift run ... --quiet` of this same binary in a process group
 * of its own (a Ctrl-C reaches the sweep alone, which forwards it once, so a
 * run stops after its step instead of at once on a second signal), and is
 * sent SIGTERM by the kernel if the sweep dies (PR_SET_PDEATHSIG), so a
 * killed sweep leaves no run going on unwatched. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "io/fsutil.h"
#include "run/runlock.h"
#include "sweep.h"

/* A handler can only talk to the loop through globals: the first stop
 * signal, and how many have come (each is forwarded). */
static volatile sig_atomic_t stop_signal = 0;
static volatile sig_atomic_t signals_seen = 0;

static void on_stop(int sig)
{
    if (!stop_signal)
        stop_signal = sig;
    signals_seen++;
}

static void on_child(int sig) { (void)sig; /* wakes sigsuspend */ }

typedef struct {
    pid_t pid; /* 0: free slot */
    int run;
    struct timespec t0;
} Child;

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

static void log_path(const SweepRun *r, char *buf, size_t cap) { snprintf(buf, cap, "%s/%s", r->dir, SWEEP_LOG_FILE); }

/* The header of an attempt in its log: when, and the exact command. */
static void log_attempt(int fd, const char *cmd)
{
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    dprintf(fd, "== %s bnshift sweep (pid %ld): %s\n", when, (long)getpid(), cmd);
}

/* In the child: a process group of its own, SIGTERM when the sweep dies,
 * the signal mask of before the sweep, stdin from /dev/null, stdout and
 * stderr into the log; then exec. Never returns. */
static void exec_child(const char *exe, char *const *argv, int log_fd, pid_t sweep, const sigset_t *mask)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != sweep) /* the sweep died before prctl */
        _exit(143);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    sigprocmask(SIG_SETMASK, mask, NULL);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0)
        dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execv(exe, argv);
    dprintf(2, "bnshift: sweep: cannot execute %s: %s\n", exe, strerror(errno));
    _exit(127);
}

/* Starts run i in slot c, or says why not (finished or running by now,
 * its directory cannot be made). */
static void start_run(const SweepPlan *p, int i, Child *c, const sigset_t *mask, SweepOutcome *o)
{
    const SweepRun *r = &p->g->runs[i];
    SweepState s;
    sweep_run_state(r->dir, r->epochs, &s);
    if (s.kind == SWEEP_FINISHED) {
        printf("[%d] %s: finished already\n", i, r->name);
        o->finished++;
        return;
    }
    if (s.kind == SWEEP_RUNNING) {
        printf("[%d] %s: running in another process (pid %d); skipped\n", i, r->name, s.pid);
        o->elsewhere++;
        return;
    }
    BsError err = {0};
    size_t made;
    char log_file[4200], threads[16];
    log_path(r, log_file, sizeof log_file);
    snprintf(threads, sizeof threads, "%d", p->threads);
    int fd = -1;
    if (fs_mkdir_p(r->dir, &made, &err) == BS_OK &&
        (fd = open(log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666)) < 0)
        bs_fail(&err, BS_ERR_RUNTIME, "%s: cannot open: %s", log_file, strerror(errno));
    const char **words = err.code ? NULL : sweep_run_argv(p->g, r, threads, 1, s.holds_run);
    char *cmd = words ? sweep_quote_command(cli_program, words) : NULL;
    if (!err.code && !cmd)
        bs_fail(&err, BS_ERR_RUNTIME, "out of memory");
    if (err.code) {
        printf("[%d] %s: failed to start: %s\n", i, r->name, err.msg);
        o->failed++;
    } else {
        sweep_clear_failed(r->dir);
        log_attempt(fd, cmd);
        const char *argv[2 * SWEEP_MAX_OVERRIDES + 16];
        int k = 0;
        argv[k++] = cli_program;
        for (int j = 0; words[j]; j++)
            argv[k++] = words[j];
        argv[k] = NULL;
        fflush(stdout);
        fflush(stderr);
        pid_t sweep = getpid(), pid = fork();
        if (pid == 0)
            exec_child(p->exe, (char *const *)argv, fd, sweep, mask);
        if (pid < 0) {
            printf("[%d] %s: failed to start: fork: %s\n", i, r->name, strerror(errno));
            o->failed++;
        } else {
            setpgid(pid, pid); /* also here: no race with a signal to the group */
            c->pid = pid;
            c->run = i;
            clock_gettime(CLOCK_MONOTONIC, &c->t0);
            if (s.holds_run)
                printf("[%d] %s: resuming from epoch %d of %d\n", i, r->name, s.epoch, r->epochs);
            else
                printf("[%d] %s: started\n", i, r->name);
            if (s.holds_run && s.ckpt_threads && s.ckpt_threads != p->threads)
                printf("[%d] %s: its checkpoint was written with %d threads, this resume uses %d: numbers may "
                       "differ from an uninterrupted run\n", i, r->name, s.ckpt_threads, p->threads);
        }
    }
    if (fd >= 0)
        close(fd);
    free(cmd);
    free(words);
    fflush(stdout);
}

/* What a child's end means: finished, interrupted (by a signal: resumable),
 * refused because another process took the directory meanwhile, or failed
 * (recorded in the directory). */
static void end_run(const SweepPlan *p, Child *c, int status, SweepOutcome *o)
{
    const SweepRun *r = &p->g->runs[c->run];
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    double secs = seconds_since(&c->t0);
    int other;
    if (code == 0) {
        printf("[%d] %s: finished (%.1f s)\n", c->run, r->name, secs);
        o->finished++;
    } else if (stop_signal || code == 130 || code == 143) {
        printf("[%d] %s: interrupted (exit %d); a later sweep resumes it\n", c->run, r->name, code);
        o->interrupted++;
    } else if (runlock_writer(r->dir, &other)) {
        printf("[%d] %s: taken by another process (pid %d); skipped\n", c->run, r->name, other);
        o->elsewhere++;
    } else {
        char log_file[4200], last[1024];
        log_path(r, log_file, sizeof log_file);
        sweep_last_line(log_file, last, sizeof last);
        BsError err = {0};
        if (sweep_mark_failed(r->dir, code, last, &err))
            cli_warn("%s", err.msg);
        printf("[%d] %s: failed (exit %d): %s (log: %s)\n", c->run, r->name, code, last, log_file);
        o->failed++;
    }
    fflush(stdout);
    c->pid = 0;
}

static void forward(const Child *kids, int n, int sig)
{
    for (int j = 0; j < n; j++)
        if (kids[j].pid > 0)
            kill(kids[j].pid, sig);
}

void sweep_execute(const SweepPlan *p, SweepOutcome *o)
{
    memset(o, 0, sizeof *o);
    Child *kids = calloc((size_t)p->jobs, sizeof *kids);
    if (!kids) {
        printf("sweep: out of memory; no run started\n");
        o->failed = p->n_todo;
        return;
    }
    stop_signal = signals_seen = 0;
    struct sigaction stop = {0}, child = {0}, old_int, old_term, old_chld;
    stop.sa_handler = on_stop; /* no SA_RESTART: the wait below must wake */
    sigemptyset(&stop.sa_mask);
    child.sa_handler = on_child;
    child.sa_flags = SA_NOCLDSTOP;
    sigemptyset(&child.sa_mask);
    sigaction(SIGINT, &stop, &old_int);
    sigaction(SIGTERM, &stop, &old_term);
    sigaction(SIGCHLD, &child, &old_chld);
    /* Blocked except inside sigsuspend: a signal between the checks and the
     * wait cannot be missed. */
    sigset_t block, before;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &before);
    sigset_t waiting = before; /* what sigsuspend lets through: at least these three */
    sigdelset(&waiting, SIGINT);
    sigdelset(&waiting, SIGTERM);
    sigdelset(&waiting, SIGCHLD);

    int next = 0, forwarded = 0, running;
    for (;;) {
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
            for (int j = 0; j < p->jobs; j++)
                if (kids[j].pid == pid)
                    end_run(p, &kids[j], status, o);
        if (stop_signal && forwarded < signals_seen) {
            forward(kids, p->jobs, stop_signal);
            forwarded = signals_seen;
        }
        /* A free slot takes runs until one starts (others may be skipped). */
        for (int j = 0; j < p->jobs && !stop_signal && next < p->n_todo;) {
            if (kids[j].pid == 0)
                start_run(p, p->todo[next++], &kids[j], &before, o);
            if (kids[j].pid > 0)
                j++;
        }
        running = 0;
        for (int j = 0; j < p->jobs; j++)
            running += kids[j].pid > 0;
        if (running == 0 && (stop_signal || next >= p->n_todo))
            break;
        sigsuspend(&waiting);
    }
    o->signal = stop_signal;
    free(kids);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGCHLD, &old_chld, NULL);
    sigprocmask(SIG_SETMASK, &before, NULL);
}
