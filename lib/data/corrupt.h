/* Corrupted images in the style of CIFAR-10-C / ImageNet-C (Hendrycks and
 * Dietterich 2019), generated here since those sets cannot be downloaded:
 * ten corruptions at five severities, defined for 1- and 3-channel images
 * of any size, deterministic for a seed (image i draws from a stream of its
 * own, so neither the thread count nor the order matters). Each works on
 * x = pixel/255, clips to [0, 1] and rounds back to 8 bits. Parameters are
 * CIFAR-10-C's, with lengths (blur sigmas, disk radii) scaled by the image
 * size / 32; docs/REFERENCE.md §3 lists every formula and severity. */
#ifndef BS_CORRUPT_H
#define BS_CORRUPT_H

#include <stdint.h>

#include "core/error.h"
#include "data/dataset.h"

typedef enum {
    CORRUPT_NONE,
    CORRUPT_GAUSSIAN_NOISE,
    CORRUPT_SHOT_NOISE,
    CORRUPT_IMPULSE_NOISE,
    CORRUPT_SPECKLE_NOISE,
    CORRUPT_GAUSSIAN_BLUR,
    CORRUPT_DEFOCUS_BLUR,
    CORRUPT_CONTRAST,
    CORRUPT_BRIGHTNESS,
    CORRUPT_SATURATE,
    CORRUPT_PIXELATE,
    CORRUPT_N
} CorruptionType;

#define CORRUPT_MAX_SEVERITY 5

/* "none", "gaussian_noise", ... in enum order, then NULL (the config's
 * names); corruption_doc: one line saying what the corruption does with
 * its five severities. */
extern const char *const corruption_names[CORRUPT_N + 1];
const char *corruption_name(CorruptionType t);
const char *corruption_doc(CorruptionType t);

/* Corrupts every image of d in place at severity 1..5 with the stream of
 * seed. BS_ERR_USER: saturate on images without 3 channels, a severity out
 * of range; BS_ERR_RUNTIME: memory. */
int corrupt_dataset(Dataset *d, CorruptionType t, int severity, uint64_t seed, BsError *err);

#endif
