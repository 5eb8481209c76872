#include "mpi_comm.h"

#include <stdlib.h>
#include <string.h>

/* The process count a launcher announces (OpenMPI's mpirun, a PMIx or PMI
 * launcher such as srun), or 0. */
static int launcher_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return atoi(v);
    }
    return 0;
}

#ifdef BNSHIFT_MPI
#include <mpi.h>

typedef struct {
    double *scratch;
    size_t cap;
} MpiState;

static Comm world;
static MpiState state;
static int started, local_ranks = 1;

/* MPI counts are ints: large transfers go in pieces. */
#define CHUNK ((size_t)1 << 26)

static void mpi_sum(const Comm *c, double *buf, size_t n)
{
    MpiState *s = c->impl;
    for (size_t done = 0; done < n; done += CHUNK) {
        const size_t m = n - done < CHUNK ? n - done : CHUNK, need = m * (size_t)c->size;
        if (need > s->cap) {
            double *p = realloc(s->scratch, sizeof(double) * need);
            if (!p)
                MPI_Abort(MPI_COMM_WORLD, 1); /* out of memory mid-collective: no rank can go on */
            s->scratch = p;
            s->cap = need;
        }
        MPI_Allgather(buf + done, (int)m, MPI_DOUBLE, s->scratch, (int)m, MPI_DOUBLE, MPI_COMM_WORLD);
        /* rank order, the same on every rank: reproducible for a fixed K */
        for (size_t i = 0; i < m; i++) {
            double v = s->scratch[i];
            for (int k = 1; k < c->size; k++)
                v += s->scratch[(size_t)k * m + i];
            buf[done + i] = v;
        }
    }
}

static void mpi_gather(const Comm *c, const float *mine, float *all, size_t n)
{
    (void)c;
    MPI_Allgather(mine, (int)n, MPI_FLOAT, all, (int)n, MPI_FLOAT, MPI_COMM_WORLD);
}

static void mpi_bcast(const Comm *c, void *buf, size_t bytes, int root)
{
    (void)c;
    for (size_t done = 0; done < bytes; done += CHUNK)
        MPI_Bcast((char *)buf + done, (int)(bytes - done < CHUNK ? bytes - done : CHUNK), MPI_BYTE, root,
                  MPI_COMM_WORLD);
}

int mpi_comm_start(int *argc, char ***argv, const Comm **out, BsError *err)
{
    (void)err;
    *out = NULL;
    if (launcher_size() < 2)
        return BS_OK; /* alone: no MPI at all (sweeps start runs by the dozen) */
    MPI_Init(argc, argv);
    started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world.size);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &local_ranks);
    MPI_Comm_free(&node);
    world.sum = mpi_sum;
    world.gather = mpi_gather;
    world.bcast = mpi_bcast;
    world.impl = &state;
    *out = world.size > 1 ? &world : NULL;
    return BS_OK;
}

void mpi_comm_finish(void)
{
    if (started)
        MPI_Finalize();
    started = 0;
    free(state.scratch);
    memset(&state, 0, sizeof state);
}

int mpi_local_ranks(void) { return local_ranks; }
int mpi_built_in(void) { return 1; }

#else

int mpi_comm_start(int *argc, char ***argv, const Comm **out, BsError *err)
{
    (void)argc;
    (void)argv;
    *out = NULL;
    const int k = launcher_size();
    if (k > 1)
        return bs_fail(err, BS_ERR_USER,
                       "started as one of %d processes (mpirun), but this bnshift was built without MPI: "
                       "build it with `make MPI=1` for data-parallel training", k);
    return BS_OK;
}

void mpi_comm_finish(void) {}
int mpi_local_ranks(void) { return 1; }
int mpi_built_in(void) { return 0; }

#endif
