/* File-system helpers every output path uses: mkdir -p that remembers what
 * it created (so a failure can take it back), and atomic file replacement
 * (temp file, fsync, rename, fsync of the directory): a reader or a crash
 * sees the old file or the new one, never a mix. */
#ifndef BS_FSUTIL_H
#define BS_FSUTIL_H

#include <stddef.h>
#include <stdio.h>

#include "core/error.h"

/* mkdir -p path. *made gets the length of the first directory this call
 * created (0 = none existed-missing), for fs_unmake_dirs. BS_ERR_RUNTIME
 * naming path when a component cannot be made or path is not a directory. */
int fs_mkdir_p(const char *path, size_t *made, BsError *err);
/* Removes the directories fs_mkdir_p(path) created (made from it), deepest
 * first; directories that are not empty stay. */
void fs_unmake_dirs(const char *path, size_t made);

/* A file written in pieces and replaced atomically: fs_atomic_open makes
 * path.tmp, the caller writes to af.f, fs_atomic_commit flushes, fsyncs,
 * renames it over path and fsyncs the directory (BS_ERR_RUNTIME naming
 * path on any failure, the temp file removed). fs_atomic_abort drops it. */
typedef struct {
    FILE *f;
    char path[4096], tmp[4104];
} AtomicFile;
int fs_atomic_open(AtomicFile *af, const char *path, BsError *err);
int fs_atomic_commit(AtomicFile *af, BsError *err);
void fs_atomic_abort(AtomicFile *af);

/* Replaces path by data[len] atomically (path.tmp, fsync, rename, fsync of
 * the directory). BS_ERR_RUNTIME naming path; the temp file is removed. */
int fs_write_atomic(const char *path, const void *data, size_t len, BsError *err);
/* fsync of the directory holding path (makes a rename durable). */
void fs_sync_parent(const char *path);

/* The whole regular file path, NUL-terminated, into *data (caller frees) and
 * its length into *len. Returns 0, or -1 with errno set (EISDIR for a
 * directory, ENOENT when missing, EFBIG past max bytes). */
int fs_read_all(const char *path, size_t max, char **data, size_t *len);

#endif
