#include "cifar.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_PIXELS (3 * 32 * 32)
#define CIFAR_MAX_FILES 5

typedef struct {
    const char *name;    /* "CIFAR-10" or "CIFAR-100", for messages */
    int label_bytes;     /* 1, or 2 when a coarse label comes first */
    int num_classes;     /* of the label that is kept (the last one) */
    int coarse_classes;  /* range of the label that is skipped, 0 if none */
    const char *files[CIFAR_MAX_FILES];
    int nfiles;
} CifarFormat;

static CifarFormat cifar_format(int cifar100, int train)
{
    CifarFormat f10 = {"CIFAR-10", 1, 10, 0, {NULL}, 1};
    CifarFormat f100 = {"CIFAR-100", 2, 100, 20, {NULL}, 1};
    CifarFormat f = cifar100 ? f100 : f10;
    if (cifar100) {
        f.files[0] = train ? "train.bin" : "test.bin";
    } else if (train) {
        static const char *const batches[CIFAR_MAX_FILES] = {
            "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
            "data_batch_5.bin"};
        memcpy(f.files, batches, sizeof batches);
        f.nfiles = CIFAR_MAX_FILES;
    } else {
        f.files[0] = "test_batch.bin";
    }
    return f;
}

/* Opens one file and counts its records; the size is checked before any
 * allocation so that a wrong file fails fast with a clear message. */
static FILE *open_batch(const char *path, const CifarFormat *fmt, long *records, BsError *err)
{
    const long rec = fmt->label_bytes + CIFAR_PIXELS;
    FILE *f = fopen(path, "rb");
    if (!f) {
        bs_fail(err, BS_ERR_USER, "%s: cannot open %s file: %s", path, fmt->name, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        bs_fail(err, BS_ERR_USER, "%s: not a regular %s file", path, fmt->name);
    else if (st.st_size == 0)
        bs_fail(err, BS_ERR_USER, "%s: empty %s file (no records)", path, fmt->name);
    else if (st.st_size % rec != 0)
        bs_fail(err, BS_ERR_USER,
                "%s: size %lld is not a multiple of the %s record size %ld (truncated?)", path,
                (long long)st.st_size, fmt->name, rec);
    else if (st.st_size / rec > INT_MAX)
        bs_fail(err, BS_ERR_USER, "%s: too many records (%lld)", path,
                (long long)(st.st_size / rec));
    else {
        *records = (long)(st.st_size / rec);
        return f;
    }
    fclose(f);
    return NULL;
}

/* Reads `count` records into samples [first, first + count) of d. */
static int read_batch(FILE *f, const char *path, const CifarFormat *fmt, Dataset *d, int first,
                      int count, BsError *err)
{
    unsigned char rec[2 + CIFAR_PIXELS];
    const size_t rec_bytes = (size_t)fmt->label_bytes + CIFAR_PIXELS;
    for (int i = 0; i < count; i++) {
        if (fread(rec, 1, rec_bytes, f) != rec_bytes)
            return bs_fail(err, BS_ERR_USER, "%s: truncated while reading record %d of %d", path,
                           i, count);
        int label = rec[fmt->label_bytes - 1];
        if (label >= fmt->num_classes)
            return bs_fail(err, BS_ERR_USER, "%s: %slabel %d of record %d is out of range 0..%d",
                           path, fmt->coarse_classes ? "fine " : "", label, i,
                           fmt->num_classes - 1);
        if (fmt->coarse_classes && rec[0] >= fmt->coarse_classes)
            return bs_fail(err, BS_ERR_USER,
                           "%s: coarse label %d of record %d is out of range 0..%d", path, rec[0],
                           i, fmt->coarse_classes - 1);
        d->labels[first + i] = label;
        memcpy(d->pixels + (size_t)(first + i) * CIFAR_PIXELS, rec + fmt->label_bytes,
               CIFAR_PIXELS);
    }
    return BS_OK;
}

int cifar_load(Dataset *d, const char *root, int cifar100, int train, BsError *err)
{
    const CifarFormat fmt = cifar_format(cifar100, train);
    char paths[CIFAR_MAX_FILES][1024];
    FILE *files[CIFAR_MAX_FILES] = {NULL};
    long counts[CIFAR_MAX_FILES] = {0}, total = 0;
    memset(d, 0, sizeof *d);
    for (int i = 0; i < fmt.nfiles && err->code == BS_OK; i++) {
        int len = snprintf(paths[i], sizeof paths[i], "%s/%s", root, fmt.files[i]);
        if (len < 0 || (size_t)len >= sizeof paths[i])
            bs_fail(err, BS_ERR_USER, "%s: %s data directory path is too long", root, fmt.name);
        else if ((files[i] = open_batch(paths[i], &fmt, &counts[i], err)) != NULL)
            total += counts[i];
    }
    if (err->code == BS_OK && total > INT_MAX)
        bs_fail(err, BS_ERR_USER, "%s: too many %s records (%ld)", root, fmt.name, total);
    if (err->code == BS_OK &&
        dataset_alloc(d, (int)total, 3, 32, 32, fmt.num_classes, err) == BS_OK) {
        int first = 0;
        for (int i = 0; i < fmt.nfiles && err->code == BS_OK; i++) {
            read_batch(files[i], paths[i], &fmt, d, first, (int)counts[i], err);
            first += (int)counts[i];
        }
    }
    for (int i = 0; i < fmt.nfiles; i++)
        if (files[i])
            fclose(files[i]);
    if (err->code != BS_OK)
        dataset_free(d);
    return err->code;
}
