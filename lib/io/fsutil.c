#include "io/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fault.h"

int fs_mkdir_p(const char *path, size_t *made, BsError *err)
{
    *made = 0;
    if (!path[0])
        return bs_fail(err, BS_ERR_USER, "empty directory path");
    char buf[PATH_MAX];
    if (strlen(path) >= sizeof buf)
        return bs_fail(err, BS_ERR_RUNTIME, "%s: cannot create the output directory: File name too long", path);
    strcpy(buf, path);
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) == 0) {
            if (!*made)
                *made = strlen(buf);
        } else if (errno != EEXIST) {
            int e = errno;
            fs_unmake_dirs(path, *made);
            *made = 0;
            return bs_fail(err, BS_ERR_RUNTIME, "%s: cannot create the output directory: %s", path, strerror(e));
        }
        *p = c;
        if (!c)
            break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fs_unmake_dirs(path, *made);
        *made = 0;
        return bs_fail(err, BS_ERR_RUNTIME, "%s: cannot create the output directory: Not a directory", path);
    }
    return BS_OK;
}

void fs_unmake_dirs(const char *path, size_t made)
{
    char buf[PATH_MAX];
    if (!made || strlen(path) >= sizeof buf)
        return;
    strcpy(buf, path);
    for (size_t len = strlen(buf); len >= made;) {
        buf[len] = '\0';
        rmdir(buf);
        const char *slash = strrchr(buf, '/');
        if (!slash)
            break;
        len = (size_t)(slash - buf);
    }
}

void fs_sync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash != path ? slash - path : 1), path); /* "/x": the root */
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int fs_atomic_open(AtomicFile *af, const char *path, BsError *err)
{
    if (snprintf(af->path, sizeof af->path, "%s", path) >= (int)sizeof af->path)
        return bs_fail(err, BS_ERR_RUNTIME, "%s: cannot write: File name too long", path);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp", path);
    af->f = fopen(af->tmp, "wb");
    if (!af->f)
        return bs_fail(err, BS_ERR_RUNTIME, "%s: cannot write: %s", path, strerror(errno));
    return BS_OK;
}

int fs_atomic_commit(AtomicFile *af, BsError *err)
{
    int ok = !ferror(af->f) && fflush(af->f) == 0 && fsync(fileno(af->f)) == 0;
    int e = errno;
    ok = fclose(af->f) == 0 && ok;
    af->f = NULL;
    if (ok && rename(af->tmp, af->path) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(af->tmp);
        return bs_fail(err, BS_ERR_RUNTIME, "%s: write failed: %s", af->path, strerror(e ? e : EIO));
    }
    fs_sync_parent(af->path);
    return BS_OK;
}

void fs_atomic_abort(AtomicFile *af)
{
    if (af->f)
        fclose(af->f);
    af->f = NULL;
    unlink(af->tmp);
}

int fs_write_atomic(const char *path, const void *data, size_t len, BsError *err)
{
    AtomicFile af = {0};
    if (fs_atomic_open(&af, path, err))
        return err->code;
    const char *bytes = data;
    fwrite(bytes, 1, len / 2, af.f);
    fflush(af.f);
    bs_fault_point("in-atomic-write", 0, NULL); /* half the temp file written */
    fwrite(bytes + len / 2, 1, len - len / 2, af.f);
    return fs_atomic_commit(&af, err);
}

int fs_read_all(const char *path, size_t max, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    int stat_ok = fstat(fd, &st) == 0;
    if (!stat_ok || !S_ISREG(st.st_mode)) {
        int e = !stat_ok ? errno : S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        close(fd);
        errno = e;
        return -1;
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        errno = EFBIG;
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    int e = buf ? errno : ENOMEM;
    close(fd);
    if (!buf || got != (size_t)st.st_size) {
        free(buf);
        errno = e ? e : EIO;
        return -1;
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return 0;
}
