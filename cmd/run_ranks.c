#include "run_ranks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/mem.h"
#include "mpi_comm.h"

int ranks_check_config(const Config *c, const Comm *comm, BsError *err)
{
    if (!comm_is_multi(comm))
        return BS_OK;
    const int K = comm->size, B = c->train.batch_size;
    if (B % K)
        return bs_fail(err, BS_ERR_USER,
                       "train.batch_size: %d does not split evenly among %d ranks (mpirun -np %d); use a multiple "
                       "of %d (the global batch; each rank takes batch_size / %d)", B, K, K, K, K);
    if (c->train.bn_sync == BN_SYNC_LOCAL && B / K < 2)
        return bs_fail(err, BS_ERR_USER,
                       "train.batch_size: %d leaves each of %d ranks %d sample; train.bn_sync local needs at least 2 "
                       "per rank (a batch variance): use %d or more, or train.bn_sync sync", B, K, B / K, 2 * K);
    return BS_OK;
}

int ranks_default_threads(int cores)
{
    const char *env = getenv("OMP_NUM_THREADS");
    if (env && *env)
        return cores; /* the user's per-process count (OpenMP read it) */
    int per = cores / mpi_local_ranks();
    return per > 0 ? per : 1;
}

int ranks_agree(const Comm *comm, BsError *err)
{
    if (!comm_is_multi(comm))
        return err->code;
    double failed[2] = {comm->rank == 0 && err->code, comm->rank != 0 && err->code};
    comm->sum(comm, failed, 2);
    if (failed[0] == 0 && failed[1] > 0) {
        if (comm->rank == 0)
            return bs_fail(err, BS_ERR_RUNTIME, "%.0f of the other ranks failed to start (their messages above)",
                           failed[1]);
        if (err->code) {
            cli_set_silent(0);
            cli_error(err->code, "rank %d: %s", comm->rank, err->msg);
            cli_set_silent(1);
        }
    }
    if (!err->code && (failed[0] > 0 || failed[1] > 0))
        err->code = BS_ERR_RUNTIME; /* a rank that did nothing wrong stops with the others, silently */
    return err->code;
}

int ranks_check_resume(const Config *c, const Comm *comm, const CheckpointMeta *peeked, const char *path,
                       char *warn, size_t cap, BsError *err)
{
    const int K = comm_is_multi(comm) ? comm->size : 1, had = peeked->ranks > 1 ? peeked->ranks : 1;
    warn[0] = '\0';
    if (had == K)
        return BS_OK;
    if (c->train.bn_sync == BN_SYNC_LOCAL && (had > 1 || K > 1))
        return bs_fail(err, BS_ERR_USER,
                       "%s: written by a run of %d rank%s, resumed with %d; with train.bn_sync local each rank keeps "
                       "its own running estimates, so resume it with %s%d",
                       path, had, had > 1 ? "s" : "", K, had > 1 ? "mpirun -np " : "one process: ", had);
    snprintf(warn, cap, "%s: written by %d rank%s, resumed with %d: numbers may differ from an uninterrupted run",
             path, had, had > 1 ? "s" : "", K);
    return BS_OK;
}

int ranks_share_start(const Comm *comm, int *resuming, Model *m, Optimizer *o, Rng *rng, CheckpointMeta *meta,
                      const float *rank_stats, BsError *err)
{
    if (!comm_is_multi(comm))
        return BS_OK;
    comm->bcast(comm, resuming, sizeof *resuming, 0);
    if (!*resuming)
        return BS_OK;
    comm->bcast(comm, m->params, sizeof(float) * m->n_params, 0);
    comm->bcast(comm, o->velocity, sizeof(float) * m->n_params, 0);
    comm->bcast(comm, &o->steps, sizeof o->steps, 0);
    comm->bcast(comm, rng, sizeof *rng, 0);
    CheckpointMeta shared = *meta;
    comm->bcast(comm, &shared, sizeof shared, 0);
    shared.rank_stats = NULL;
    *meta = shared;
    /* Rank 0's statistics, then ranks 1..K-1's where the checkpoint has them. */
    const size_t n = m->n_stats;
    float *all = bs_alloc(sizeof(float) * (n ? n : 1) * (size_t)comm->size, err);
    double failed = all == NULL;
    comm->sum(comm, &failed, 1);
    if (failed > 0) {
        bs_free(all);
        return err->code ? err->code : bs_fail(err, BS_ERR_RUNTIME, "another rank ran out of memory at the start");
    }
    if (comm->rank == 0) {
        memcpy(all, m->stats, sizeof(float) * n);
        for (int k = 1; k < comm->size; k++)
            memcpy(all + (size_t)k * n, rank_stats && k < meta->ranks ? rank_stats + (size_t)(k - 1) * n : m->stats,
                   sizeof(float) * n);
    }
    comm->bcast(comm, all, sizeof(float) * n * (size_t)comm->size, 0);
    memcpy(m->stats, all + (size_t)comm->rank * n, sizeof(float) * n);
    bs_free(all);
    return BS_OK;
}
