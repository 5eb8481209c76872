/* checkpoint.bin (REFERENCE.md §4): weights, running statistics, momentum buffers,
 * RNG state, the epoch, the CSV byte lengths at that moment, and the config
 * hash; versioned header, CRC-32 trailer; written to a temp file, fsynced and
 * renamed, so a crash leaves the previous checkpoint or the new one. */
#ifndef BS_CHECKPOINT_H
#define BS_CHECKPOINT_H

#include <stdint.h>

#include "core/rng.h"
#include "train/optimizer.h"

/* Version 2 is written by data-parallel runs only (ranks > 1): version 1's
 * header plus the rank count and ranks.csv's length, and after rank 0's
 * running statistics those of ranks 1..K-1. A one-process run writes
 * version 1, as before; both are read. */
#define CHECKPOINT_VERSION 2

typedef struct {
    uint64_t config_hash;
    int epoch;   /* epochs completed */
    int threads; /* thread count of the run that wrote it */
    Rng rng;     /* training RNG (shuffling, augmentation) after `epoch` */
    long metrics_len, shift_len; /* CSV byte lengths */
    int ranks;       /* processes of the run that wrote it (0 or 1: one) */
    long ranks_len;  /* ranks.csv's byte length (ranks > 1) */
    /* (ranks - 1) · n_stats floats: ranks 1..K-1's running statistics.
     * Saving reads it when ranks > 1; loading sets it to the buffer given
     * to checkpoint_load_ranks (NULL otherwise). */
    float *rank_stats;
} CheckpointMeta;

int checkpoint_save(const char *path, const Model *m, const Optimizer *o, const CheckpointMeta *meta,
                    BsError *err);
/* Reads into a model/optimizer built from the same config. Errors are
 * BS_ERR_USER naming the file: missing, bad magic or version, truncated,
 * checksum mismatch, sizes that do not fit the model. */
int checkpoint_load(const char *path, Model *m, Optimizer *o, CheckpointMeta *meta, BsError *err);
/* The same, and the other ranks' running statistics of a data-parallel
 * run's checkpoint into rank_stats (cap floats; size it with
 * checkpoint_peek's ranks), or skipped when rank_stats is NULL (eval
 * measures rank 0's model). BS_ERR_USER when they do not fit cap. */
int checkpoint_load_ranks(const char *path, Model *m, Optimizer *o, CheckpointMeta *meta, float *rank_stats,
                          size_t cap, BsError *err);
/* The header alone (to compare hashes before building anything). */
int checkpoint_peek(const char *path, CheckpointMeta *meta, BsError *err);

#endif
