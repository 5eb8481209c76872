/* The safetensors format (Hugging Face's; what PyTorch users exchange
 * weights in): an 8-byte little-endian header length N, N bytes of JSON
 * {"__metadata__": {string: string}, NAME: {"dtype", "shape",
 * "data_offsets": [begin, end]}, ...}, then the raw little-endian data,
 * offsets relative to its start. Written with the header padded by spaces
 * to a multiple of 8 bytes (so the data is aligned) and the tensors packed
 * in the order given; read strictly: every entry well-formed, its byte
 * range inside the data and sized for its dtype and shape, no two ranges
 * overlapping. Errors are BS_ERR_USER naming the file (and tensor). */
#ifndef BS_SAFETENSORS_H
#define BS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define ST_MAX_DIMS 8
#define ST_NAME_MAX 256

typedef struct {
    char name[ST_NAME_MAX];
    char dtype[8];  /* "F32", "I64", ... */
    int ndim;       /* 0: a scalar */
    int64_t shape[ST_MAX_DIMS];
    size_t begin, end; /* into StFile.data */
} StEntry;

typedef struct {
    unsigned char *bytes; /* the whole file */
    size_t size;
    const unsigned char *data; /* after the header */
    size_t data_size;
    StEntry *entries;
    int n;
    /* "__metadata__" as key/value pairs (may be 0). */
    char **meta_keys, **meta_values;
    int n_meta;
} StFile;

int st_read(const char *path, StFile *f, BsError *err);
void st_free(StFile *f);
/* The entry called name, or NULL. */
const StEntry *st_find(const StFile *f, const char *name);
/* The value of a __metadata__ key, or NULL. */
const char *st_meta(const StFile *f, const char *key);
/* Bytes per element of a dtype name (0: unknown). */
size_t st_dtype_size(const char *dtype);
/* Elements of an entry (1 for a scalar). */
int64_t st_numel(const StEntry *e);
/* "[a, b, c]" into buf. */
void st_shape_text(const int64_t *shape, int ndim, char *buf, size_t cap);

typedef struct {
    const char *name, *dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data; /* numel x st_dtype_size(dtype) bytes, little-endian */
} StTensor;

/* Writes the tensors (in this order) and the metadata pairs to path,
 * atomically (path.tmp, fsync, rename). BS_ERR_RUNTIME on I/O errors. */
int st_write(const char *path, const StTensor *t, int n, const char *const *meta_keys,
             const char *const *meta_values, int n_meta, BsError *err);

#endif
