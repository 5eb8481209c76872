/* An in-memory image classification set: 8-bit pixels NCHW (real data sets
 * are 8-bit; 50k CIFAR images stay at 150 MB), labels in [0, num_classes). */
#ifndef BS_DATASET_H
#define BS_DATASET_H

#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"

typedef struct {
    int n, c, h, w, num_classes;
    uint8_t *pixels;
    int *labels;
} Dataset;

int dataset_alloc(Dataset *d, int n, int c, int h, int w, int num_classes, BsError *err);
void dataset_free(Dataset *d);
/* Copies samples [first, first+n) of src into a new dataset. */
int dataset_slice(const Dataset *src, int first, int n, Dataset *out, BsError *err);

/* Per-channel mean and std of pixel/255 over the whole set (double sums). */
void dataset_channel_stats(const Dataset *d, float *mean, float *std);
/* The same over the samples idx[0..n) only (the training set S). */
void dataset_channel_stats_of(const Dataset *d, const int *idx, int n, float *mean, float *std);
/* x[i] = (pixel/255 - mean[c]) / std[c] for samples idx[0..N); y[i] labels.
 * mean/std may be NULL (no normalization). */
void dataset_gather(const Dataset *d, const int *idx, int N, const float *mean,
                    const float *std, float *x, int *y);

/* One sample, normalized, shifted by (dy, dx) pixels with zero pixels (black,
 * before normalization, as torchvision's RandomCrop padding) filling what
 * comes from outside, then mirrored when flip. */
void dataset_copy_sample(const Dataset *d, int i, const float *mean, const float *std, int dy,
                         int dx, int flip, float *dst);

/* Training-time augmentation: a random crop of the image zero-padded by 4
 * pixels (any image size), and a horizontal flip with probability 1/2 when
 * flip. The random draws happen in sample order before the parallel copy, so
 * results do not depend on the thread count. */
void dataset_gather_augmented(const Dataset *d, const int *idx, int N, const float *mean,
                              const float *std, int flip, Rng *rng, float *x, int *y);

#endif
