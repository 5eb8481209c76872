/* One knob for the thread count of OpenBLAS (OpenMP build) and of the core's
 * own OpenMP loops, so the two never multiply. The only global state. */
#ifndef BS_THREADS_H
#define BS_THREADS_H

#include <stddef.h>

#include "core/error.h"

/* OpenBLAS's per-thread work buffer (BUFFER_SIZE, 128 MiB on x86-64, plus its
 * 1 MiB alignment slack). */
#define BS_BLAS_BUFFER_BYTES ((size_t)129 << 20)
/* Address space the libraries need besides those buffers (thread stacks,
 * malloc arenas) when a command starts. */
#define BS_START_MARGIN_BYTES ((size_t)96 << 20)

void bs_set_threads(int n);
int bs_get_threads(void);
/* OpenBLAS core name (e.g. "Haswell") for run metadata. */
const char *bs_blas_core(void);
/* The OpenBLAS core (an OPENBLAS_CORETYPE name) this CPU should run when
 * OpenBLAS runs `current` (bs_blas_core()) and that is its "Prescott"
 * (SSE3) fallback on a CPU with AVX or better, as Debian's 0.3.21 does on
 * CPUs newer than itself (Emerald Rapids: sgemm 5x slower); NULL when
 * OpenBLAS's own choice stands. OpenBLAS reads OPENBLAS_CORETYPE only while
 * it loads, so the caller re-executes. */
const char *bs_blas_better_core(const char *current);
/* The OpenBLAS core whose kernels this CPU's widest vector unit runs
 * (Cooperlake, SkylakeX, Haswell, Sandybridge), or NULL (SSE3 only). */
const char *bs_blas_cpu_core(void);
/* How wide an OpenBLAS core's kernels are: 0 Prescott (SSE3) ... 5
 * SapphireRapids; -1 for a name not listed. Haswell and Zen share 2. */
int bs_blas_core_rank(const char *core);

/* Whether `bytes` more of address space can be mapped now (an mmap probe,
 * released at once). Uses only system calls: safe before main. */
int bs_address_space_fits(size_t bytes);

/* bs_set_threads(n), then makes OpenBLAS and OpenMP allocate their buffers
 * and threads now, before the run allocates anything: OpenBLAS 0.3.21 retries
 * a failed buffer allocation forever, so under an address-space limit it must
 * find room at a moment when that is checked first. BS_ERR_RUNTIME ("out of
 * memory ...") when the buffers of n threads do not fit. */
int bs_threads_start(int n, BsError *err);

#endif
