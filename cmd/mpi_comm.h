/* The MPI side of data-parallel training (`mpirun -np K bnshift run`):
 * starts MPI when a launcher started this process and hands lib/ a Comm
 * (core/comm.h). Only a `make MPI=1` build links MPI; the others refuse a
 * multi-process launch with a clear error instead of training K
 * independent copies into one directory. */
#ifndef BS_MPI_COMM_H
#define BS_MPI_COMM_H

#include "core/comm.h"
#include "core/error.h"

/* The ranks this process belongs to: NULL when run alone (no launcher, or
 * a launcher with one process). BS_ERR_USER when launched as one of
 * several processes by a build without MPI. */
int mpi_comm_start(int *argc, char ***argv, const Comm **out, BsError *err);
/* Processes of this run on this machine (1 alone). */
int mpi_local_ranks(void);
/* MPI_Finalize when started (every rank, after its last collective). */
void mpi_comm_finish(void);
/* Whether this binary was built with MPI. */
int mpi_built_in(void);

#endif
