#include "comm.h"

double comm_sum1(const Comm *c, double v)
{
    if (comm_is_multi(c))
        c->sum(c, &v, 1);
    return v;
}

void comm_share(int n, int rank, int size, int *first, int *count)
{
    const long lo = (long)n * rank / size, hi = (long)n * (rank + 1) / size;
    *first = (int)lo;
    *count = (int)(hi - lo);
}
