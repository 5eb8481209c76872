/* Out-of-memory before main. OpenBLAS (0.3.21, Debian 12) allocates one
 * ~129 MiB buffer per thread while the dynamic loader initializes it,
 * before main runs, and retries a failed allocation forever: under a low
 * `ulimit -v` bnshift would spin and never start (OpenBLAS issue 5289, fixed
 * upstream in 0.3.30). Functions in the executable's .preinit_array run
 * before any shared library's initializer, so this one probes whether the
 * address space holds those buffers (an mmap of the same size, released at
 * once) and, if not, exits 1 with one line instead. Only raw system calls
 * and libc functions without state are used: nothing else is set up yet. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/threads.h"

#define OPENBLAS_MAX_THREADS 64

static long env_threads(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; e && *e; e++)
        if (!strncmp(*e, name, n) && (*e)[n] == '=')
            return strtol(*e + n + 1, NULL, 10); /* "4,2" (an OpenMP list) reads as 4 */
    return 0;
}

/* The thread count OpenBLAS will start with (its blas_get_cpu_number). */
static long openblas_threads(char **envp)
{
    long t = env_threads(envp, "OPENBLAS_NUM_THREADS");
    if (t < 1)
        t = env_threads(envp, "GOTO_NUM_THREADS");
    if (t < 1)
        t = env_threads(envp, "OMP_NUM_THREADS");
    if (t < 1) {
        cpu_set_t set;
        t = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
    }
    if (t < 1)
        t = 1;
    return t > OPENBLAS_MAX_THREADS ? OPENBLAS_MAX_THREADS : t;
}

static void put(const char *s) { (void)!write(2, s, strlen(s)); }

static void put_mib(size_t bytes)
{
    char buf[24], *p = buf + sizeof buf - 1;
    size_t v = bytes >> 20;
    *p = '\0';
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    put(p);
}

static void guard_openblas_start(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)argv;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return;
    size_t need = (size_t)openblas_threads(envp) * BS_BLAS_BUFFER_BYTES + BS_START_MARGIN_BYTES;
    if (bs_address_space_fits(need))
        return;
    put("bnshift: out of memory: the address-space limit (ulimit -v) of ");
    put_mib((size_t)rl.rlim_cur);
    put(" MiB leaves no room for OpenBLAS's start-up buffers (about ");
    put_mib(need);
    put(" MiB with this thread count); raise the limit or set OMP_NUM_THREADS=1\n");
    _exit(1);
}

__attribute__((section(".preinit_array"), used)) static void (*const preinit_guard)(int, char **, char **) =
    guard_openblas_start;
