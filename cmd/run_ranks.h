/* `run` as one of K data-parallel ranks (mpirun -np K, make MPI=1): the
 * checks of the config against K, the agreements that make every rank
 * start (or fail) together, and rank 0's resume state handed to the
 * others. Rank 0 alone owns the run directory. */
#ifndef BS_RUN_RANKS_H
#define BS_RUN_RANKS_H

#include "core/comm.h"
#include "run/checkpoint.h"
#include "run/config.h"

/* train.batch_size must split evenly among the ranks, with two samples
 * per rank for local BN (a batch variance). */
int ranks_check_config(const Config *c, const Comm *comm, BsError *err);
/* The thread count of a rank when --threads is not given: OMP_NUM_THREADS
 * when set (cores is then that count), else the cores this process may
 * use shared among the ranks on this machine. */
int ranks_default_threads(int cores);
/* Whether every rank got here without error: a failure on any rank fails
 * them all (a collective). Rank 0 reports its own failure; a failure only
 * elsewhere is printed by that rank ("rank N: ...") and named by rank 0. */
int ranks_agree(const Comm *comm, BsError *err);
/* Checks a checkpoint's rank count against this run's (rank 0, before
 * loading): local BN keeps running estimates per rank, so it resumes
 * under the same K only. *warn gets a note for a changed K under sync. */
int ranks_check_resume(const Config *c, const Comm *comm, const CheckpointMeta *peeked, const char *path,
                       char *warn, size_t cap, BsError *err);
/* Everything of rank 0's start every rank needs: whether it resumes, and
 * then the weights, momentum buffers, optimizer steps, training RNG and
 * checkpoint meta, and each rank's own running statistics (rank 0's for a
 * rank the checkpoint did not have). rank_stats: rank 0's loaded
 * (ranks 1.. of the checkpoint), may be NULL. */
int ranks_share_start(const Comm *comm, int *resuming, Model *m, Optimizer *o, Rng *rng, CheckpointMeta *meta,
                      const float *rank_stats, BsError *err);

#endif
