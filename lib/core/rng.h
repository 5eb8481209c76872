/* xoshiro256** — one seeded generator for init, shuffling and augmentation.
 * The state is four words so checkpoints can save and restore it exactly. */
#ifndef BS_RNG_H
#define BS_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_next(Rng *r);
/* Uniform in [0, 1) with 24 random bits (exactly representable floats). */
float rng_uniform(Rng *r);
/* Uniform integer in [0, n), unbiased. n > 0. */
uint32_t rng_below(Rng *r, uint32_t n);
/* Standard normal (Box-Muller, both draws consumed, no cached state). */
float rng_normal(Rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
void rng_shuffle(Rng *r, int *idx, int n);

/* FNV-1a 64 of a string: a stable, seedable hash of text (config hashes,
 * stream seeds from names). */
uint64_t rng_hash_string(const char *s);

#endif
