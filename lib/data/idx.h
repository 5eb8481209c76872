/* MNIST / Fashion-MNIST IDX files, plain or gzip'd (zlib reads both). */
#ifndef BS_IDX_H
#define BS_IDX_H

#include "data/dataset.h"

/* Reads `prefix`-images-idx3-ubyte[.gz] and `prefix`-labels-idx1-ubyte[.gz]
 * from dir (prefix "train" or "t10k"). Errors are BS_ERR_USER and name the
 * file: missing, bad magic, truncated, count mismatch, label >= 10. */
int idx_load(Dataset *d, const char *dir, const char *prefix, BsError *err);

#endif
