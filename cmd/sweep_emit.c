/* `bnshift sweep --emit parallel|slurm`: the sweep as a command file for GNU
 * parallel or a Slurm job-array script. Both run `bnshift sweep GRID --only
 * I` per run, which skips a finished run and resumes an interrupted one, so
 * either can be re-run (or a task requeued) until everything is finished.
 * Paths are absolute (or relative to a `cd` into this directory), so the
 * files work from anywhere, on any node that sees the same file system. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "io/fsutil.h"
#include "sweep.h"

/* What every run's command starts with: this bnshift and the grid, run
 * from this directory (out and the grid may be relative to it). */
typedef struct {
    char cwd[PATH_MAX], out[PATH_MAX];
} Where;

static int where_now(const SweepGrid *g, Where *w)
{
    if (!getcwd(w->cwd, sizeof w->cwd))
        return cli_error(BS_ERR_RUNTIME, "sweep: cannot get the current directory: %s", strerror(errno));
    if (!realpath(g->out, w->out))
        return cli_error(BS_ERR_RUNTIME, "sweep: %s: %s", g->out, strerror(errno));
    return 0;
}

static int write_file(const char *path, const char *text)
{
    BsError err = {0};
    if (fs_write_atomic(path, text, strlen(text), &err))
        return cli_error(err.code, "%s", err.msg);
    return 0;
}

/* "bnshift sweep GRID --only INDEX --threads-per-job T", quoted; INDEX is
 * a number or, unquoted, a shell variable. */
/* Writes text (then frees it) to OUT/name; path[PATH_MAX + 32] gets the
 * path and path_q[3 * PATH_MAX + 64] the path quoted for the shell. */
static int write_emitted(const SweepGrid *g, const char *name, char *text, char *path, char *path_q)
{
    snprintf(path, PATH_MAX + 32, "%s/%s", g->out, name);
    int rc = write_file(path, text);
    free(text);
    cli_shell_quote(path_q, 3 * PATH_MAX + 64, path);
    return rc;
}

static char *only_command(const SweepGrid *g, const char *exe, const char *index, int threads)
{
    char t[16];
    snprintf(t, sizeof t, "%d", threads);
    const char *words[] = {"sweep", g->path, "--only", "@", "--threads-per-job", t, NULL};
    char *cmd = sweep_quote_command(exe, words);
    char *at = cmd ? strstr(cmd, " --only @") : NULL;
    if (!at) {
        free(cmd);
        return NULL;
    }
    size_t n = strlen(cmd) + strlen(index) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%.*s --only %s%s", (int)(at - cmd), cmd, index, at + strlen(" --only @"));
    free(cmd);
    return s;
}

int sweep_emit_parallel(const SweepGrid *g, const char *exe, int jobs, int threads)
{
    Where w;
    if (where_now(g, &w))
        return BS_ERR_RUNTIME;
    char cwd_q[3 * PATH_MAX];
    if (cli_shell_quote(cwd_q, sizeof cwd_q, w.cwd) >= sizeof cwd_q)
        return cli_error(BS_ERR_RUNTIME, "sweep: the current directory's path is too long");
    size_t cap = 1, len = 0;
    char *text = malloc(cap);
    for (int i = 0; text && i < g->n_runs; i++) {
        char index[16];
        snprintf(index, sizeof index, "%d", i);
        char *cmd = only_command(g, exe, index, threads);
        size_t need = cmd ? strlen(cwd_q) + strlen(cmd) + 16 : 0;
        char *grown = cmd ? realloc(text, cap + need) : NULL;
        if (!grown) {
            free(text);
            text = NULL;
        } else {
            text = grown;
            cap += need;
            len += (size_t)snprintf(text + len, cap - len, "cd %s && %s\n", cwd_q, cmd);
        }
        free(cmd);
    }
    if (!text)
        return cli_error(BS_ERR_RUNTIME, "sweep: out of memory");
    text[len] = '\0';
    char path[PATH_MAX + 32], path_q[3 * PATH_MAX + 64];
    int rc = write_emitted(g, "sweep.parallel", text, path, path_q);
    if (rc)
        return rc;
    printf("wrote %s: %d commands, one per run (each skips a finished run and resumes an interrupted one).\n"
           "Run them (again, until all are finished) with:\n  parallel --jobs %d < %s\n",
           path, g->n_runs, jobs, path_q);
    return 0;
}

int sweep_emit_slurm(const SweepGrid *g, const char *exe, int jobs, int threads)
{
    Where w;
    if (where_now(g, &w))
        return BS_ERR_RUNTIME;
    char *cmd = only_command(g, exe, "\"$SLURM_ARRAY_TASK_ID\"", threads);
    if (!cmd)
        return cli_error(BS_ERR_RUNTIME, "sweep: out of memory");
    char throttle[24] = "";
    if (jobs)
        snprintf(throttle, sizeof throttle, "%%%d", jobs);
    size_t cap = strlen(cmd) + 2 * strlen(w.cwd) + 2 * strlen(w.out) + 2 * strlen(g->path) + 2048;
    char *text = malloc(cap);
    if (!text) {
        free(cmd);
        return cli_error(BS_ERR_RUNTIME, "sweep: out of memory");
    }
    snprintf(text, cap,
             "#!/bin/sh\n"
             "#SBATCH --job-name=bnshift-sweep\n"
             "#SBATCH --array=0-%d%s\n"
             "#SBATCH --ntasks=1\n"
             "#SBATCH --cpus-per-task=%d\n"
             "#SBATCH --requeue\n"
             "#SBATCH --chdir=%s\n"
             "#SBATCH --output=%s/slurm-%%A_%%a.out\n"
             "# The sweep of %s (bnshift sweep --emit slurm): array task I runs run I of\n"
             "# %s/sweep.json, resumes it from its last checkpoint (after a requeue,\n"
             "# a preemption or a crash), or does nothing when it is finished, so\n"
             "# submitting this script again completes the sweep.\n"
             "exec %s\n",
             g->n_runs - 1, throttle, threads, w.cwd, w.out, g->path, g->out, cmd);
    free(cmd);
    char path[PATH_MAX + 32], path_q[3 * PATH_MAX + 64];
    int rc = write_emitted(g, "sweep.sbatch", text, path, path_q);
    if (rc)
        return rc;
    printf("wrote %s: a job array of %d tasks, one run each, %d CPU%s per task.\nSubmit it (again, until all are "
           "finished) with:\n  sbatch %s\n", path, g->n_runs, threads, threads == 1 ? "" : "s", path_q);
    return 0;
}
