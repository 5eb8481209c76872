#include "threads.h"

#include <cblas.h>
#include <omp.h>

void bn_set_threads(int n)
{
    if (n < 1)
        n = 1;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int bn_get_threads(void) { return omp_get_max_threads(); }

const char *bn_blas_core(void) { return openblas_get_corename(); }
