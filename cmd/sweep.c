/* `bnshift sweep GRID.json`: a grid of runs (run/sweep.h) run here J at a
 * time, one of them (--only I), emitted for GNU parallel or Slurm, or
 * reported (--status). REFERENCE.md §2, sweep. */
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "io/fsutil.h"
#include "sweep.h"

static const char USAGE[] =
    "usage: bnshift sweep GRID.json [--jobs J] [--threads-per-job T] [--force]\n"
    "       bnshift sweep GRID.json --only I [--threads-per-job T] [--force]\n"
    "       bnshift sweep GRID.json --emit parallel|slurm [--jobs J] [--threads-per-job T] [--force]\n"
    "       bnshift sweep --status GRID.json\n"
    "Expands a grid (a base config, \"axes\" of --set values to combine and/or a \"runs\" list, \"set\"\n"
    "for every run, \"out\") into runs OUT/<name>/ and the manifest OUT/sweep.json, then runs them\n"
    "here, J at a time (default 1), each as `bnshift run BASE --out DIR --set ... --threads T`\n"
    "(T default: cores / J), skipping finished runs and resuming interrupted ones.\n"
    "  --only I          run (or resume, or skip when finished) run I alone\n"
    "  --emit parallel   write OUT/sweep.parallel, one command per run, for GNU parallel\n"
    "  --emit slurm      write OUT/sweep.sbatch, a Slurm job array, one run per task\n"
    "  --status          each run: finished, running, interrupted, failed or not started\n"
    "  --force           expand over an OUT/sweep.json that a different grid wrote\n"
    "A run's stdout and stderr go to DIR/sweep.log; a failed one leaves DIR/sweep-failed.txt.\n"
    "See docs/REFERENCE.md or man bnshift.\n";

typedef struct {
    const char *grid, *emit;
    int jobs, threads, only; /* 0: not given (only: -1) */
    int status, force;
    int argc; /* the sweep's own arguments, for the resume line */
    char **argv;
} SweepArgs;

static int parse_sweep_args(int argc, char **argv, SweepArgs *a)
{
    memset(a, 0, sizeof *a);
    a->only = -1;
    a->argc = argc;
    a->argv = argv;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int has_value = i + 1 < argc;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            fputs(USAGE, stdout);
            return CLI_HELP_SHOWN;
        } else if (!strcmp(s, "--jobs") && has_value) {
            if (cli_parse_int("sweep", "--jobs", argv[++i], 1, 1024, &a->jobs))
                return BS_ERR_USER;
        } else if (!strcmp(s, "--threads-per-job") && has_value) {
            if (cli_parse_int("sweep", "--threads-per-job", argv[++i], 1, 1024, &a->threads))
                return BS_ERR_USER;
        } else if (!strcmp(s, "--only") && has_value) {
            if (cli_parse_int("sweep", "--only", argv[++i], 0, SWEEP_MAX_RUNS - 1, &a->only))
                return BS_ERR_USER;
        } else if (!strcmp(s, "--emit") && has_value) {
            a->emit = argv[++i];
            if (strcmp(a->emit, "parallel") && strcmp(a->emit, "slurm"))
                return cli_error(BS_ERR_USER, "sweep: --emit: expected parallel or slurm, got '%s'", a->emit);
        } else if (!strcmp(s, "--status")) {
            a->status = 1;
        } else if (!strcmp(s, "--force")) {
            a->force = 1;
        } else if (s[0] == '-') {
            return cli_error(BS_ERR_USER, "sweep: unknown or incomplete option '%s' (see bnshift sweep --help)", s);
        } else if (!a->grid) {
            a->grid = s;
        } else {
            return cli_error(BS_ERR_USER, "sweep: unexpected argument '%s'", s);
        }
    }
    if (!a->grid)
        return cli_error(BS_ERR_USER, "sweep: missing GRID.json (see bnshift sweep --help)");
    if (!a->grid[0])
        return cli_error(BS_ERR_USER, "sweep: GRID.json: empty path, expected a grid file");
    if (a->status && (a->emit || a->only >= 0 || a->jobs || a->threads || a->force))
        return cli_error(BS_ERR_USER, "sweep: --status takes no other option");
    if (a->only >= 0 && a->emit)
        return cli_error(BS_ERR_USER, "sweep: --only and --emit exclude each other");
    if (a->only >= 0 && a->jobs)
        return cli_error(BS_ERR_USER, "sweep: --jobs does not apply to --only (it runs one run)");
    return 0;
}

/* CPUs this process may run on (its affinity mask: a Slurm job's or
 * taskset's share). */
static int usable_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

char *sweep_quote_command(const char *program, const char *const *words)
{
    size_t len = cli_shell_quote(NULL, 0, program) + 1;
    for (int i = 0; words[i]; i++)
        len += cli_shell_quote(NULL, 0, words[i]) + 1;
    char *s = malloc(len + 1);
    if (!s)
        return NULL;
    size_t n = cli_shell_quote(s, len + 1, program);
    for (int i = 0; words[i]; i++) {
        s[n++] = ' ';
        n += cli_shell_quote(s + n, len + 1 - n, words[i]);
    }
    s[n] = '\0';
    return s;
}

/* Checks OUT/sweep.json against the grid (unless --force), makes OUT and
 * writes the manifest: always (rewrite) or only when missing. */
static int write_manifest(const SweepGrid *g, int threads, int force, int rewrite)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", g->out, SWEEP_MANIFEST_FILE);
    BsError err = {0};
    if (!force && sweep_manifest_check(g, path, &err))
        return cli_error(err.code, "%s", err.msg);
    if (!rewrite && !force && access(path, F_OK) == 0)
        return 0;
    char threads_text[16];
    snprintf(threads_text, sizeof threads_text, "%d", threads);
    char **commands = calloc((size_t)g->n_runs, sizeof *commands);
    int ok = commands != NULL;
    for (int i = 0; ok && i < g->n_runs; i++) {
        const char **w = sweep_run_argv(g, &g->runs[i], threads_text, 0, 0);
        ok = w && (commands[i] = sweep_quote_command(cli_program, w));
        free(w);
    }
    cJSON *m = ok ? sweep_manifest(g, threads, commands) : NULL;
    for (int i = 0; commands && i < g->n_runs; i++)
        free(commands[i]);
    free(commands);
    size_t made = 0;
    if (!m)
        bs_fail(&err, BS_ERR_RUNTIME, "%s: out of memory building the sweep manifest", path);
    else if (fs_mkdir_p(g->out, &made, &err) == BS_OK)
        sweep_manifest_write(m, path, &err);
    cJSON_Delete(m);
    return err.code ? cli_error(err.code, "%s", err.msg) : 0;
}

static void state_text(const SweepState *s, int epochs, char *buf, size_t cap)
{
    switch (s->kind) {
    case SWEEP_RUNNING:
        if (s->pid > 0)
            snprintf(buf, cap, "running (pid %d)", s->pid);
        else
            snprintf(buf, cap, "running");
        return;
    case SWEEP_INTERRUPTED:
        if (s->note[0])
            snprintf(buf, cap, "interrupted (%s)", s->note);
        else
            snprintf(buf, cap, "interrupted (epoch %d of %d)", s->epoch, epochs);
        return;
    case SWEEP_FAILED:
        snprintf(buf, cap, "failed (exit %d)%s%s", s->exit_code, s->note[0] ? ": " : "", s->note);
        return;
    default:
        snprintf(buf, cap, "%s", sweep_state_name(s->kind));
    }
}

static int print_status(const SweepGrid *g)
{
    int count[SWEEP_FINISHED + 1] = {0};
    int width = 4;
    for (int i = 0; i < g->n_runs; i++)
        if ((int)strlen(g->runs[i].name) > width)
            width = (int)strlen(g->runs[i].name);
    for (int i = 0; i < g->n_runs; i++) {
        const SweepRun *r = &g->runs[i];
        SweepState s;
        sweep_run_state(r->dir, r->epochs, &s);
        count[s.kind]++;
        char text[800];
        state_text(&s, r->epochs, text, sizeof text);
        printf("%4d  %-*s  %s\n", i, width, r->name, text);
    }
    printf("%d runs in %s: %d finished, %d running, %d interrupted, %d failed, %d not started\n", g->n_runs, g->out,
           count[SWEEP_FINISHED], count[SWEEP_RUNNING], count[SWEEP_INTERRUPTED], count[SWEEP_FAILED],
           count[SWEEP_NOT_STARTED]);
    return 0;
}

/* This bnshift's own path (children and emitted files run the same binary). */
static void own_exe(char *buf, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    if (n > 0) {
        buf[n] = '\0';
        return;
    }
    char *abs = realpath(cli_program, NULL);
    snprintf(buf, cap, "%s", abs ? abs : cli_program);
    free(abs);
}

static int finish_sweep(const SweepGrid *g, const SweepArgs *a, const SweepOutcome *o)
{
    if (o->signal) {
        const char *words[64];
        int k = 0;
        words[k++] = "sweep";
        for (int i = 1; i < a->argc && k < 63; i++)
            words[k++] = a->argv[i];
        words[k] = NULL;
        char *cmd = sweep_quote_command(cli_program, words);
        int code = 128 + o->signal;
        cli_error(code, "sweep interrupted: %d run(s) stopped at their last checkpoint; resume with: %s",
                  o->interrupted, cmd ? cmd : "the same command");
        free(cmd);
        return code;
    }
    if (o->failed)
        return cli_error(BS_ERR_RUNTIME, "sweep: %d of %d runs failed (each run's %s says how; bnshift sweep "
                         "--status %s)", o->failed, a->only >= 0 ? 1 : g->n_runs, SWEEP_FAILED_FILE, a->grid);
    if (a->only >= 0)
        return 0; /* its one line said it all */
    if (o->elsewhere)
        printf("sweep: %d run(s) still running in another process; the rest finished\n", o->elsewhere);
    else
        printf("sweep: all %d runs finished in %s\n", g->n_runs, g->out);
    return 0;
}

static int run_here(const SweepGrid *g, const SweepArgs *a, const char *exe, int jobs, int threads, int cores)
{
    int *todo = malloc(sizeof *todo * (size_t)g->n_runs);
    if (!todo)
        return cli_error(BS_ERR_RUNTIME, "sweep: out of memory");
    int n = 0, done = 0;
    for (int i = 0; i < g->n_runs; i++) {
        if (a->only >= 0 && i != a->only)
            continue;
        SweepState s;
        sweep_run_state(g->runs[i].dir, g->runs[i].epochs, &s);
        if (s.kind == SWEEP_FINISHED)
            done++;
        else
            todo[n++] = i;
    }
    if (a->only >= 0 && done)
        printf("[%d] %s: finished already\n", a->only, g->runs[a->only].name);
    else if (a->only < 0)
        printf("sweep %s: %d runs in %s, %d finished; %d to run, %d at a time, %d thread%s each\n", a->grid,
               g->n_runs, g->out, done, n, jobs, threads, threads == 1 ? "" : "s");
    if ((n < jobs ? n : jobs) * threads > cores)
        cli_warn("sweep: %d jobs x %d threads = %d threads on %d cores: runs will wait for free cores (see bnshift "
                 "run --help)", jobs, threads, jobs * threads, cores);
    fflush(stdout);
    SweepPlan plan = {.g = g, .exe = exe, .jobs = jobs, .threads = threads, .todo = todo, .n_todo = n};
    SweepOutcome o = {0};
    sweep_execute(&plan, &o);
    free(todo);
    return finish_sweep(g, a, &o);
}

int cmd_sweep(int argc, char **argv)
{
    SweepArgs a;
    int parsed = parse_sweep_args(argc, argv, &a);
    if (parsed)
        return parsed == CLI_HELP_SHOWN ? 0 : BS_ERR_USER;
    SweepGrid g;
    BsError err = {0};
    if (sweep_grid_load(&g, a.grid, &err))
        return cli_error(err.code, "%s", err.msg);
    int rc;
    if (a.only >= g.n_runs) {
        rc = cli_error(BS_ERR_USER, "sweep: --only %d: %s has runs 0 to %d", a.only, a.grid, g.n_runs - 1);
    } else if (a.status) {
        rc = print_status(&g);
    } else {
        int cores = usable_cores(), jobs = a.jobs ? a.jobs : 1;
        int threads = a.threads ? a.threads : cores / jobs > 1 ? cores / jobs : 1;
        char exe[PATH_MAX];
        own_exe(exe, sizeof exe);
        /* --only writes the manifest only where none is: many run at once. */
        rc = write_manifest(&g, threads, a.force, a.only < 0);
        if (rc == 0 && a.emit && !strcmp(a.emit, "parallel"))
            rc = sweep_emit_parallel(&g, exe, a.jobs ? a.jobs : cores / threads > 1 ? cores / threads : 1, threads);
        else if (rc == 0 && a.emit)
            rc = sweep_emit_slurm(&g, exe, a.jobs, threads);
        else if (rc == 0)
            rc = run_here(&g, &a, exe, jobs, threads, cores);
    }
    sweep_grid_free(&g);
    return rc;
}
