#include "threads.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/mman.h>

/* Large enough that OpenBLAS takes its buffered path (not the small-matrix
 * kernels), so the calling thread's buffer is allocated too. */
#define WARMUP_DIM 256

void bs_set_threads(int n)
{
    if (n < 1)
        n = 1;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int bs_get_threads(void) { return omp_get_max_threads(); }

const char *bs_blas_core(void) { return openblas_get_corename(); }

const char *bs_blas_cpu_core(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512bf16"))
        return "Cooperlake";
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
    if (__builtin_cpu_supports("avx"))
        return "Sandybridge";
    return NULL; /* a CPU Prescott's kernels suit */
}

const char *bs_blas_better_core(const char *current)
{
    if (!current || strcasecmp(current, "Prescott") != 0)
        return NULL;
    return bs_blas_cpu_core();
}

int bs_blas_core_rank(const char *core)
{
    static const struct {
        const char *name;
        int rank;
    } cores[] = {
        {"Prescott", 0}, {"Sandybridge", 1}, {"Haswell", 2},   {"Zen", 2},
        {"SkylakeX", 3}, {"Cooperlake", 4},  {"SapphireRapids", 5},
    };
    for (size_t i = 0; core && i < sizeof cores / sizeof cores[0]; i++)
        if (!strcasecmp(core, cores[i].name))
            return cores[i].rank;
    return -1;
}

int bs_address_space_fits(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    munmap(p, bytes);
    return 1;
}

int bs_threads_start(int n, BsError *err)
{
    if (n < 1)
        n = 1;
    /* OpenBLAS allocated one buffer per thread of its start-up count while
     * loading; what remains is the calling thread's and those of threads
     * beyond that count. */
    int have = openblas_get_num_threads();
    size_t more = n > have ? (size_t)(n - have) : 0;
    size_t need = (1 + more) * BS_BLAS_BUFFER_BYTES + BS_START_MARGIN_BYTES;
    if (!bs_address_space_fits(need))
        return bs_fail(err, BS_ERR_RUNTIME,
                       "out of memory: %d thread(s) need about %zu MiB more of address space for OpenBLAS's "
                       "buffers than is left (ulimit -v?); use fewer --threads or raise the limit",
                       n, need >> 20);
    bs_set_threads(n);
    const size_t d = WARMUP_DIM;
    float *a = calloc(d * d * 3, sizeof *a);
    if (!a)
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory starting the BLAS");
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)d, (int)d, 1.0f, a, (int)d,
                a + d * d, (int)d, 0.0f, a + 2 * d * d, (int)d);
    volatile int started = 0;
#pragma omp parallel
    {
#pragma omp atomic
        started++;
    }
    free(a);
    return BS_OK;
}
