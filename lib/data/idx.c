#include "idx.h"

#include <errno.h>
#include <stdio.h>
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

/* After the data the file must end, and a gzip trailer must check out:
 * extra bytes mean a wrong or corrupt file, not one to half-trust. */
static int check_end(gzFile f, const char *path, BnError *err)
{
    unsigned char byte;
    int errnum = Z_OK;
    int got = gzread(f, &byte, 1);
    if (got > 0)
        return bn_fail(err, BN_ERR_USER, "%s: trailing data after the expected size (wrong size)",
                       path);
    /* A cut-off stream is only a soft error (Z_BUF_ERROR) to gzread. zlib's
     * message starts with the path, which is already there. */
    const char *why = gzerror(f, &errnum);
    size_t len = strlen(path);
    if (strncmp(why, path, len) == 0 && strncmp(why + len, ": ", 2) == 0)
        why += len + 2;
    if (got < 0 || errnum != Z_OK)
        return bn_fail(err, BN_ERR_USER, "%s: corrupt or truncated gzip data (%s)", path, why);
    return BN_OK;
}

static unsigned be32(const unsigned char *b)
{
    return (unsigned)b[0] << 24 | (unsigned)b[1] << 16 | (unsigned)b[2] << 8 | b[3];
}

/* Opens an IDX file and checks its magic and rank; dims gets its sizes. */
static gzFile open_idx(const char *path, int rank, unsigned *dims, BnError *err)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        bn_fail(err, BN_ERR_USER, "%s: cannot open IDX file: %s", path,
                errno ? strerror(errno) : "out of memory");
        return NULL;
    }
    unsigned char hdr[16];
    if (!read_exact(f, hdr, 4 + 4 * (size_t)rank)) {
        bn_fail(err, BN_ERR_USER, "%s: truncated IDX header", path);
    } else if (hdr[0] || hdr[1] || hdr[2] != 0x08 || hdr[3] != rank) {
        bn_fail(err, BN_ERR_USER, "%s: bad IDX magic (expected unsigned-byte data of rank %d)",
                path, rank);
    } else {
        for (int i = 0; i < rank; i++)
            dims[i] = be32(hdr + 4 + 4 * i);
        return f;
    }
    gzclose(f);
    return NULL;
}

int idx_load(Dataset *d, const char *dir, const char *prefix, BnError *err)
{
    char ipath[1024], lpath[1024];
    unsigned idims[3], ldims[1];
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
        bn_fail(err, BN_ERR_USER, "%s: no images (empty set)", ipath);
    } else if (idims[0] > 10000000u || idims[1] == 0 || idims[2] == 0 || idims[1] > 4096 ||
               idims[2] > 4096) {
        bn_fail(err, BN_ERR_USER, "%s: implausible size of %u images of %ux%u", ipath, idims[0],
                idims[1], idims[2]);
    } else if (idims[0] != ldims[0]) {
        bn_fail(err, BN_ERR_USER, "%s: %u images of %ux%u do not match %u labels in %s", ipath,
                idims[0], idims[1], idims[2], ldims[0], lpath);
    } else if (dataset_alloc(d, (int)idims[0], 1, (int)idims[1], (int)idims[2], 10, err) == BN_OK) {
        size_t bytes = (size_t)d->n * d->h * d->w;
        unsigned char *labels = bn_alloc((size_t)d->n, err);
        if (!labels) {
            /* err is set */
        } else if (!read_exact(fi, d->pixels, bytes)) {
            bn_fail(err, BN_ERR_USER, "%s: truncated (expected %zu pixel bytes)", ipath, bytes);
        } else if (!read_exact(fl, labels, (size_t)d->n)) {
            bn_fail(err, BN_ERR_USER, "%s: truncated (expected %d labels)", lpath, d->n);
        } else if (check_end(fi, ipath, err) == BN_OK && check_end(fl, lpath, err) == BN_OK) {
            for (int i = 0; i < d->n && err->code == BN_OK; i++) {
                if (labels[i] >= 10)
                    bn_fail(err, BN_ERR_USER, "%s: label %d of sample %d is out of range 0..9",
                            lpath, labels[i], i);
                d->labels[i] = labels[i];
            }
        }
        bn_free(labels);
    }
    gzclose(fi);
    gzclose(fl);
    if (err->code != BN_OK)
        dataset_free(d);
    return err->code;
}
