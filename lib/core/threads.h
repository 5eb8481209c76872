/* One knob for the thread count of OpenBLAS (OpenMP build) and of the core's
 * own OpenMP loops, so the two never multiply. The only global state. */
#ifndef BN_THREADS_H
#define BN_THREADS_H

void bn_set_threads(int n);
int bn_get_threads(void);
/* OpenBLAS core name (e.g. "Haswell") for run metadata. */
const char *bn_blas_core(void);

#endif
