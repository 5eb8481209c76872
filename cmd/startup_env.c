/* Settings the libraries read only while they load, before main, so
 * bnshift sets them and re-executes itself once:
 * - How long idle OpenMP threads spin. libgomp (which OpenBLAS, oneDNN and
 *   our own loops share) reads OMP_WAIT_POLICY and GOMP_SPINCOUNT; unset, an
 *   idle thread spins 300000 iterations (milliseconds) before it sleeps, and
 *   two processes on the same cores burn each other's time in those spins
 *   (two runs side by side were ~10x slower). GOMP_SPINCOUNT is set short
 *   unless the user set either variable (theirs wins). docs/PERFORMANCE.md
 *   ("Concurrent runs") has the measurements behind the value.
 * - OpenBLAS's kernels. Debian's OpenBLAS 0.3.21 does not know CPUs newer
 *   than itself and falls back to its SSE3 "Prescott" kernels (on Emerald
 *   Rapids: sgemm 5x, the reference backend's training step 2x slower);
 *   OPENBLAS_CORETYPE then names the kernels the CPU can run
 *   (bs_blas_better_core), unless the user set it.
 * When /proc/self/exe cannot be executed bnshift runs on with what the
 * libraries read: slower, never different in kind. */
#include <stdlib.h>
#include <unistd.h>

#include "commands.h"
#include "core/threads.h"

/* Iterations an idle thread spins before it sleeps (libgomp's default:
 * 300000). */
#define BS_SPINCOUNT "10000"

void startup_env_apply(char **argv)
{
    int changed = 0;
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT"))
        changed |= setenv("GOMP_SPINCOUNT", BS_SPINCOUNT, 0) == 0;
    const char *core = getenv("OPENBLAS_CORETYPE") ? NULL : bs_blas_better_core(bs_blas_core());
    if (core)
        changed |= setenv("OPENBLAS_CORETYPE", core, 0) == 0;
    if (changed)
        execv("/proc/self/exe", argv);
    /* Not re-executed: the libraries keep what they read; harmless. */
}
