#include "idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/mem.h"

/* The .gz name when it exists, else the plain one. */
static void find_file(char *path, size_t cap, const char *dir, const char *prefix, const char *kind)
{
    snprintf(path, cap, "%s/%s-%s.gz", dir, prefix, kind);
    if (access(path, R_OK) != 0)
        snprintf(path, cap, "%s/%s-%s", dir, prefix, kind);
}

/* In chunks: gzread takes an unsigned and returns an int, so one call
 * cannot read more than INT_MAX bytes. */
static int read_exact(gzFile f, void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        unsigned chunk = len < (1u << 30) ? (unsigned)len : 1u << 30;
        if (gzread(f, p, chunk) != (int)chunk)
            return 0;
        p += chunk;
        len -= chunk;
    }
    return 1;
}

/* zlib's reason for f's last failure and its code in *errnum (Z_OK when
 * there was none). zlib's message starts with the path, which every
 * message here already names, so that part is cut. */
static const char *gz_reason(gzFile f, const char *path, int *errnum)
{
    *errnum = Z_OK;
    const char *why = gzerror(f, errnum);
    size_t len = strlen(path);
    if (strncmp(why, path, len) == 0 && strncmp(why + len, ": ", 2) == 0)
        why += len + 2;
    return why;
}

/* A read that came up short. A read error (say, a directory where the file
 * should be) or a corrupt gzip stream is named as such; otherwise the file
 * just ended, and `truncated` says what was missing. */
static int read_failed(gzFile f, const char *path, const char *truncated, BsError *err)
{
    int errnum;
    const char *why = gz_reason(f, path, &errnum);
    if (errnum == Z_ERRNO)
        return bs_fail(err, BS_ERR_USER, "%s: cannot read IDX file: %s", path, why);
    if (errnum != Z_OK) /* a cut-off stream is only a soft error (Z_BUF_ERROR) */
        return bs_fail(err, BS_ERR_USER, "%s: corrupt or truncated gzip data (%s)", path, why);
    return bs_fail(err, BS_ERR_USER, "%s: %s", path, truncated);
}

/* After the data the file must end, and a gzip trailer must check out:
 * extra bytes mean a wrong or corrupt file, not one to half-trust. */
static int check_end(gzFile f, const char *path, BsError *err)
{
    unsigned char byte;
    int errnum;
    int got = gzread(f, &byte, 1);
    if (got > 0)
        return bs_fail(err, BS_ERR_USER, "%s: trailing data after the expected size (wrong size)",
                       path);
    const char *why = gz_reason(f, path, &errnum);
    if (got < 0 || errnum != Z_OK)
        return bs_fail(err, BS_ERR_USER, "%s: corrupt or truncated gzip data (%s)", path, why);
    return BS_OK;
}

/* Reads len bytes into a new buffer (*out, for free) that grows as the data
 * arrives, so a header claiming gigabytes costs memory only when the file
 * really holds them (it is checked before anything is sized by it). */
static int read_grown(gzFile f, const char *path, size_t len, unsigned char **out, BsError *err)
{
    unsigned char *buf = NULL;
    size_t have = 0;
    while (have < len) {
        size_t cap = have ? 2 * have : 1u << 20; /* 1 MiB, then doubling */
        if (cap > len || (have && have > len - have))
            cap = len;
        unsigned char *p = realloc(buf, cap);
        if (!p) {
            free(buf);
            return bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory reading %zu pixel bytes", path,
                           len);
        }
        buf = p;
        if (!read_exact(f, buf + have, cap - have)) {
            char what[64];
            free(buf);
            snprintf(what, sizeof what, "truncated (expected %zu pixel bytes)", len);
            return read_failed(f, path, what, err);
        }
        have = cap;
    }
    *out = buf;
    return BS_OK;
}

static unsigned be32(const unsigned char *b)
{
    return (unsigned)b[0] << 24 | (unsigned)b[1] << 16 | (unsigned)b[2] << 8 | b[3];
}

/* Opens an IDX file and checks its magic and rank; dims gets its sizes. */
static gzFile open_idx(const char *path, int rank, unsigned *dims, BsError *err)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        bs_fail(err, BS_ERR_USER, "%s: cannot open IDX file: %s", path,
                errno ? strerror(errno) : "out of memory");
        return NULL;
    }
    unsigned char hdr[16];
    if (!read_exact(f, hdr, 4 + 4 * (size_t)rank)) {
        read_failed(f, path, "truncated IDX header", err);
    } else if (hdr[0] || hdr[1] || hdr[2] != 0x08 || hdr[3] != rank) {
        bs_fail(err, BS_ERR_USER, "%s: bad IDX magic (expected unsigned-byte data of rank %d)",
                path, rank);
    } else {
        for (int i = 0; i < rank; i++)
            dims[i] = be32(hdr + 4 + 4 * i);
        return f;
    }
    gzclose(f);
    return NULL;
}

int idx_load(Dataset *d, const char *dir, const char *prefix, BsError *err)
{
    char ipath[1024], lpath[1024];
    unsigned idims[3], ldims[1];
    unsigned char *pixels = NULL;
    find_file(ipath, sizeof ipath, dir, prefix, "images-idx3-ubyte");
    find_file(lpath, sizeof lpath, dir, prefix, "labels-idx1-ubyte");
    memset(d, 0, sizeof *d);
    gzFile fi = open_idx(ipath, 3, idims, err);
    if (!fi)
        return err->code;
    gzFile fl = open_idx(lpath, 1, ldims, err);
    if (!fl) {
        gzclose(fi);
        return err->code;
    }
    if (idims[0] == 0) {
        bs_fail(err, BS_ERR_USER, "%s: no images (empty set)", ipath);
    } else if (idims[0] > 10000000u || idims[1] == 0 || idims[2] == 0 || idims[1] > 4096 ||
               idims[2] > 4096) {
        bs_fail(err, BS_ERR_USER, "%s: implausible size of %u images of %ux%u", ipath, idims[0],
                idims[1], idims[2]);
    } else if (idims[0] != ldims[0]) {
        bs_fail(err, BS_ERR_USER, "%s: %u images of %ux%u do not match %u labels in %s", ipath,
                idims[0], idims[1], idims[2], ldims[0], lpath);
    } else if (read_grown(fi, ipath, (size_t)idims[0] * idims[1] * idims[2], &pixels, err)) {
        /* err is set */
    } else if (dataset_alloc(d, (int)idims[0], 1, (int)idims[1], (int)idims[2], 10, err) == BS_OK) {
        memcpy(d->pixels, pixels, (size_t)d->n * d->h * d->w);
        unsigned char *labels = bs_alloc((size_t)d->n, err);
        char what[64];
        if (!labels) {
            /* err is set */
        } else if (!read_exact(fl, labels, (size_t)d->n)) {
            snprintf(what, sizeof what, "truncated (expected %d labels)", d->n);
            read_failed(fl, lpath, what, err);
        } else if (check_end(fi, ipath, err) == BS_OK && check_end(fl, lpath, err) == BS_OK) {
            for (int i = 0; i < d->n && err->code == BS_OK; i++) {
                if (labels[i] >= 10)
                    bs_fail(err, BS_ERR_USER, "%s: label %d of sample %d is out of range 0..9",
                            lpath, labels[i], i);
                d->labels[i] = labels[i];
            }
        }
        bs_free(labels);
    }
    free(pixels);
    gzclose(fi);
    gzclose(fl);
    if (err->code != BS_OK)
        dataset_free(d);
    return err->code;
}
