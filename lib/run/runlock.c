#include "run/runlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int set_lock(int fd, short type, int *holder)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_SETLK, &fl) == 0)
        return 0;
    int e = errno;
    if (holder) {
        struct flock q = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        *holder = fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK ? (int)q.l_pid : 0;
    }
    errno = e;
    return -1;
}

int runlock_exclusive(RunLock *l, const char *dir, BsError *err)
{
    l->fd = -1;
    l->created = 0;
    snprintf(l->path, sizeof l->path, "%s/%s", dir, RUNLOCK_FILE);
    l->fd = open(l->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (l->fd >= 0)
        l->created = 1;
    else if (errno == EEXIST)
        l->fd = open(l->path, O_RDWR | O_CLOEXEC);
    if (l->fd < 0)
        return bs_fail(err, BS_ERR_RUNTIME, "%s: cannot open the run directory's lock file: %s", l->path,
                       strerror(errno));
    int holder = 0;
    if (set_lock(l->fd, F_WRLCK, &holder) == 0)
        return BS_OK;
    int e = errno;
    runlock_abandon(l);
    if (e == EAGAIN || e == EACCES) {
        if (holder > 0)
            return bs_fail(err, BS_ERR_USER,
                           "%s: in use by another bnshift process (pid %d); wait for it to end or stop it", dir,
                           holder);
        return bs_fail(err, BS_ERR_USER, "%s: in use by another bnshift process; wait for it to end or stop it",
                       dir);
    }
    return bs_fail(err, BS_ERR_RUNTIME, "%s: cannot lock: %s", l->path, strerror(e));
}

int runlock_shared(RunLock *l, const char *dir, int *writer_pid)
{
    l->created = 0;
    *writer_pid = 0;
    snprintf(l->path, sizeof l->path, "%s/%s", dir, RUNLOCK_FILE);
    l->fd = open(l->path, O_RDONLY | O_CLOEXEC);
    if (l->fd < 0)
        return BS_OK; /* no lock file: nobody writes under a lock here */
    int holder = 0;
    if (set_lock(l->fd, F_RDLCK, &holder) == 0)
        return BS_OK;
    int e = errno;
    close(l->fd);
    l->fd = -1;
    if (e != EAGAIN && e != EACCES)
        return BS_OK; /* locks unsupported (some network file systems): read as usual */
    *writer_pid = holder > 0 ? holder : -1;
    return RUNLOCK_LIVE;
}

int runlock_writer(const char *dir, int *pid)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, RUNLOCK_FILE);
    *pid = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    /* F_GETLK asks whether a read lock could be had: only a writer refuses it. */
    struct flock q = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    int live = fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK;
    if (live)
        *pid = q.l_pid > 0 ? (int)q.l_pid : -1;
    close(fd);
    return live;
}

void runlock_release(RunLock *l)
{
    if (l->fd >= 0)
        close(l->fd); /* closing drops the process's locks on the file */
    l->fd = -1;
}

void runlock_abandon(RunLock *l)
{
    if (l->fd >= 0 && l->created)
        unlink(l->path);
    runlock_release(l);
    l->created = 0;
}
