/* How long idle OpenMP threads spin. libgomp (which OpenBLAS, oneDNN and
 * our own loops share) reads OMP_WAIT_POLICY and GOMP_SPINCOUNT once, while
 * it loads, before main; unset, an idle thread spins 300000 iterations
 * (milliseconds) before it sleeps, and two processes on the same cores burn
 * each other's time in those spins (two runs side by side were ~10x slower).
 * So bnshift re-executes itself once with a short spin set, unless the user
 * set either variable (theirs wins) or /proc/self/exe cannot be executed
 * (then it runs on with libgomp's default). docs/PERFORMANCE.md
 * ("Concurrent runs") has the measurements behind the value. */
#include <stdlib.h>
#include <unistd.h>

#include "commands.h"

/* Iterations an idle thread spins before it sleeps (libgomp's default:
 * 300000). */
#define BS_SPINCOUNT "10000"

void wait_policy_apply(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT"))
        return;
    if (setenv("GOMP_SPINCOUNT", BS_SPINCOUNT, 0) != 0)
        return;
    execv("/proc/self/exe", argv);
    /* Not re-executed: libgomp keeps what it read; harmless. */
}
