#include "comm.h"

double comm_sum1(const Comm *c, double v)
{
    if (comm_is_multi(c))
        c->sum(c, &v, 1);
    return v;
}

void comm_sum_totals(const Comm *c, double *sum, long *count1, long *count2)
{
    if (!comm_is_multi(c))
        return;
    double v[3] = {*sum, (double)*count1, count2 ? (double)*count2 : 0.0};
    c->sum(c, v, 3);
    *sum = v[0];
    *count1 = (long)v[1];
    if (count2)
        *count2 = (long)v[2];
}

void comm_share(int n, int rank, int size, int *first, int *count)
{
    const long lo = (long)n * rank / size, hi = (long)n * (rank + 1) / size;
    *first = (int)lo;
    *count = (int)(hi - lo);
}
