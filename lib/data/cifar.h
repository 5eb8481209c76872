/* CIFAR-10 / CIFAR-100, the "binary version" files. */
#ifndef BS_CIFAR_H
#define BS_CIFAR_H

#include "data/dataset.h"

/* Reads from root: CIFAR-10 data_batch_1..5.bin (train) or test_batch.bin,
 * records of <label><3072 pixels>; CIFAR-100 train.bin or test.bin, records
 * of <coarse label><fine label><3072 pixels>, keeping the fine label. The
 * pixels are R, G and B planes of 32x32, which is the Dataset layout.
 * Gives c=3, h=w=32, num_classes 10 or 100. Errors are BS_ERR_USER and name
 * the file: missing or unreadable, empty, size not a multiple of the record
 * size, label out of range. On error *d is left empty. */
int cifar_load(Dataset *d, const char *root, int cifar100, int train, BsError *err);

#endif
