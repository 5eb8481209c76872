/* Seeded, class-dependent images of any shape, for tests and benchmarks:
 * each class has a smooth random prototype; a sample is its prototype,
 * randomly shifted by up to 2 pixels, plus pixel noise. Learnable, but not
 * separable by a single pixel. */
#ifndef BS_SYNTHETIC_H
#define BS_SYNTHETIC_H

#include <stdint.h>

#include "data/dataset.h"

/* noise: std of the per-pixel noise relative to the prototype's amplitude. */
int synthetic_make(Dataset *d, int n, int c, int h, int w, int num_classes, float noise,
                   uint64_t seed, BsError *err);

#endif
