/* Runs queue for cores instead of sharing them. OpenMP threads of two
 * processes on the same cores wait for each other at every barrier: two
 * runs at the default thread count side by side took 1.2-3.5x as long as
 * the same runs one after the other (docs/PERFORMANCE.md, "Concurrent
 * runs"), and letting threads count (more or fewer) would change the
 * numbers. So a run holds one lock file per CPU it uses, and a run that
 * finds too few free waits until they are.
 *
 * Each CPU of this process's affinity mask is a file cpuK under
 * ${TMPDIR:-/tmp}/bnshift-cpus-UID, held with flock (released by the
 * kernel when the process ends, however it ends) and holding the pid of its
 * holder for the waiting message. A Slurm job or taskset sees only its own
 * CPUs, so jobs on disjoint CPUs never wait for each other. */
#include "core_slots.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "core/error.h"

static void slot_dir(char *buf, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, cap, "%s/bnshift-cpus-%u", tmp && *tmp ? tmp : "/tmp", (unsigned)getuid());
}

void core_slots_release(CoreSlots *s)
{
    for (int i = 0; i < s->n; i++)
        close(s->fd[i]); /* closing the descriptor drops its flock */
    s->n = 0;
}

/* The pid written in a held slot file, or 0. */
static long holder_of(int fd)
{
    char buf[24] = {0};
    ssize_t k = pread(fd, buf, sizeof buf - 1, 0);
    return k > 0 ? strtol(buf, NULL, 10) : 0;
}

/* One pass over the CPUs: locks free ones until `want` are held. Appends
 * the holders of busy ones to `busy` (for the message). */
static void try_take(CoreSlots *s, const char *dir, const cpu_set_t *cpus, int want, char *busy, size_t cap)
{
    busy[0] = '\0';
    for (int cpu = 0; cpu < CPU_SETSIZE && s->n < want; cpu++) {
        if (!CPU_ISSET(cpu, cpus))
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/cpu%d", dir, cpu);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            continue;
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            long pid = holder_of(fd);
            size_t n = strlen(busy);
            if (pid > 0 && n + 24 < cap && !strstr(busy, "pid"))
                snprintf(busy + n, cap - n, " (pid %ld)", pid);
            close(fd);
            continue;
        }
        char me[24];
        int len = snprintf(me, sizeof me, "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) == 0)
            (void)!pwrite(fd, me, (size_t)len, 0);
        s->fd[s->n++] = fd;
    }
}

int core_slots_take(CoreSlots *s, int threads, volatile sig_atomic_t *stop)
{
    s->n = 0;
    const char *share = getenv("BNSHIFT_SHARE_CORES");
    if (share && *share && strcmp(share, "0") != 0)
        return BS_OK;
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof cpus, &cpus) != 0)
        return BS_OK;
    int have = CPU_COUNT(&cpus), want = threads < have ? threads : have;
    if (want > CORE_SLOTS_MAX)
        want = CORE_SLOTS_MAX;
    char dir[4096];
    slot_dir(dir, sizeof dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        cli_warn("%s: cannot create (%s); this run does not queue for free cores", dir, strerror(errno));
        return BS_OK;
    }
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int told = 0;
    for (;;) {
        char busy[64];
        try_take(s, dir, &cpus, want, busy, sizeof busy);
        if (s->n == want)
            break;
        core_slots_release(s);
        if (*stop)
            return BS_STOPPED;
        if (!told) {
            cli_note("waiting for %d free core%s: other bnshift runs hold them%s (BNSHIFT_SHARE_CORES=1 runs "
                     "beside them instead, slower)", want, want > 1 ? "s" : "", busy);
            told = 1;
        }
        /* 50-60 ms (a start up to that late is lost time), jittered by pid so
         * that waiting runs do not retry in step. */
        struct timespec nap = {0, 50000000L + (long)(getpid() % 10) * 1000000L};
        nanosleep(&nap, NULL);
    }
    if (told) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        cli_note("%d core%s free after %.0f s; starting", want, want > 1 ? "s" : "",
                 (double)(now.tv_sec - start.tv_sec) + 1e-9 * (double)(now.tv_nsec - start.tv_nsec));
    }
    return BS_OK;
}
