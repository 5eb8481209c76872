#include "esm.h"

#include <math.h>

void esm_compute(const float *run_mean, const float *run_var, const double *mu,
                 const double *var, int C, Esm *out)
{
    double dm = 0, ds = 0, dv = 0, nm = 0, ns = 0;
    int skipped = 0;
    for (int c = 0; c < C; c++) {
        double sigma_hat = sqrt(fmax((double)run_var[c], 0.0)), sigma = sqrt(fmax(var[c], 0.0));
        double e_mean = (double)run_mean[c] - mu[c];
        double e_std = sigma_hat - sigma;
        double e_var = (double)run_var[c] - var[c];
        dm += e_mean * e_mean;
        ds += e_std * e_std;
        dv += e_var * e_var;
        if (sigma < 1e-12) {
            skipped++;
            continue;
        }
        nm += (e_mean / sigma) * (e_mean / sigma);
        ns += (sigma_hat / sigma - 1) * (sigma_hat / sigma - 1);
    }
    int used = C - skipped;
    out->esm_mean = sqrt(dm);
    out->esm_std = sqrt(ds);
    out->esm_var = sqrt(dv);
    out->rms_mean = C ? out->esm_mean / sqrt((double)C) : 0;
    out->rms_std = C ? out->esm_std / sqrt((double)C) : 0;
    out->nesm_mean = used ? sqrt(nm / used) : 0;
    out->nesm_std = used ? sqrt(ns / used) : 0;
    out->skipped = skipped;
}
