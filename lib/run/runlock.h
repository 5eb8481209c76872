/* One writer per run directory: `run`, `run --resume`, `run --overwrite`
 * and `eval` hold an exclusive POSIX record lock (fcntl) on DIR/.bnshift.lock
 * from before they read anything until they exit; readers (plot-data) take
 * a shared one. The kernel drops the lock when its holder dies, even by
 * SIGKILL, so a crash never leaves a stale lock behind, and F_GETLK names
 * the holder's pid. The file itself is empty and stays; only the lock on it
 * matters. (fcntl locks belong to the process and go away when it closes
 * any descriptor of the file, so only this module opens it.) */
#ifndef BS_RUNLOCK_H
#define BS_RUNLOCK_H

#include "core/error.h"

#define RUNLOCK_FILE ".bnshift.lock"

typedef struct {
    int fd;      /* -1: not held */
    int created; /* this process created the lock file */
    char path[4200];
} RunLock;

/* Takes the exclusive lock of dir (which must exist), creating the lock
 * file if needed. BS_ERR_USER naming dir and the holder's pid when another
 * process holds it; BS_ERR_RUNTIME when the file cannot be made. */
int runlock_exclusive(RunLock *l, const char *dir, BsError *err);
/* Takes a shared lock when no writer holds dir. Returns BS_OK when it did
 * (or dir has no lock file: no bnshift ever wrote there under a lock),
 * RUNLOCK_LIVE when a live writer holds it (*writer_pid gets its pid;
 * nothing is held). */
#define RUNLOCK_LIVE 1
int runlock_shared(RunLock *l, const char *dir, int *writer_pid);
/* Whether a live process holds dir's exclusive lock (a run or eval writing
 * there), without taking any lock: *pid gets its pid (-1 unknown; 0 when
 * none). For a caller that holds no lock on dir itself (closing a
 * descriptor of the file would drop it). */
int runlock_writer(const char *dir, int *pid);
/* Drops the lock. */
void runlock_release(RunLock *l);
/* Drops the lock and removes the lock file if this process created it
 * (after a refusal, so that it leaves nothing behind). */
void runlock_abandon(RunLock *l);

#endif
