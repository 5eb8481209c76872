/* The ranks of a data-parallel run (mpirun -np K bnshift run): who this
 * process is and the three collectives training needs. lib/ never sees
 * MPI: cmd/mpi_comm.c fills these in a `make MPI=1` build. Every
 * collective must be called by all ranks in the same order. NULL (or
 * size 1) means one process, and then nothing here is called. */
#ifndef BS_COMM_H
#define BS_COMM_H

#include <stddef.h>

typedef struct Comm Comm;
struct Comm {
    int rank, size;
    /* buf[0..n) becomes the sum over ranks, added in rank order (0, 1,
     * ..., K-1) whatever the transport does, so every rank gets the same
     * bits and a rerun with the same K the same numbers. */
    void (*sum)(const Comm *c, double *buf, size_t n);
    /* all[r*n .. r*n+n) = rank r's mine[0..n), on every rank. */
    void (*gather)(const Comm *c, const float *mine, float *all, size_t n);
    /* buf (bytes) of rank root, on every rank. */
    void (*bcast)(const Comm *c, void *buf, size_t bytes, int root);
    void *impl;
};

static inline int comm_is_multi(const Comm *c) { return c && c->size > 1; }
/* Rank 0 (or a single process) writes the run directory. */
static inline int comm_writes(const Comm *c) { return !c || c->rank == 0; }

/* A sum of one value; v on one process. */
double comm_sum1(const Comm *c, double v);
/* A pass's totals over every rank in one collective: a sum (loss) and two
 * counts (hits, samples; count2 may be NULL). Unchanged on one process. */
void comm_sum_totals(const Comm *c, double *sum, long *count1, long *count2);

/* The contiguous share [*first, *first + *count) of n items that rank
 * `rank` of `size` takes: sizes differ by at most one, lower ranks first. */
void comm_share(int n, int rank, int size, int *first, int *count);

#endif
