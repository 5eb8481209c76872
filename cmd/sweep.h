/* The pieces of `bnshift sweep` (cmd/sweep.c): running runs as child
 * processes (sweep_exec.c) and the files for GNU parallel and Slurm
 * (sweep_emit.c). */
#ifndef BS_CMD_SWEEP_H
#define BS_CMD_SWEEP_H

#include "run/sweep.h"

/* program and the words, each quoted for a POSIX shell, separated by
 * blanks; malloc'd (NULL when out of memory). */
char *sweep_quote_command(const char *program, const char *const *words);

typedef struct {
    const SweepGrid *g;
    const char *exe; /* what the children execute: this bnshift */
    int jobs, threads;
    const int *todo; /* run indices, in the order to start them */
    int n_todo;
} SweepPlan;

typedef struct {
    int finished, failed, interrupted, elsewhere; /* elsewhere: running in another process */
    int signal;                                   /* SIGINT/SIGTERM that stopped the sweep, or 0 */
} SweepOutcome;

/* Runs the plan's runs, jobs at a time: each `bnshift run ... --quiet`,
 * with --resume when its directory holds a run, stdout and stderr appended
 * to DIR/sweep.log; finished and running ones are skipped, a failure is
 * recorded in DIR/sweep-failed.txt. One line per run on stdout. SIGINT and
 * SIGTERM are forwarded to the children, which are waited for. */
void sweep_execute(const SweepPlan *p, SweepOutcome *o);

/* OUT/sweep.parallel (one `bnshift sweep GRID --only I` line per run) and
 * OUT/sweep.sbatch (a Slurm job array, one run per task); each prints how
 * to start it. jobs 0: not given (no %M throttle in the array). Exit
 * status. */
int sweep_emit_parallel(const SweepGrid *g, const char *exe, int jobs, int threads);
int sweep_emit_slurm(const SweepGrid *g, const char *exe, int jobs, int threads);

#endif
