/* Estimation shift magnitude of one BN layer (REFERENCE.md §1): its running
 * estimates (mu_hat, var_hat) against the expected statistics (mu, var) of
 * its input on a set. */
#ifndef BS_ESM_H
#define BS_ESM_H

typedef struct {
    double esm_mean;  /* ||mu_hat - mu||_2 */
    double esm_std;   /* ||sigma_hat - sigma||_2 */
    double esm_var;   /* ||var_hat - var||_2 */
    double rms_mean;  /* esm_mean / sqrt(C) */
    double rms_std;   /* esm_std / sqrt(C) */
    double nesm_mean; /* ||(mu_hat - mu)/sigma||_2 / sqrt(C') */
    double nesm_std;  /* ||sigma_hat/sigma - 1||_2 / sqrt(C') */
    int skipped;      /* channels with sigma < 1e-12, left out of nesm_* (C' = C - skipped) */
} Esm;

/* mu/var may come from ShiftStats (double); run_* are the layer's floats. */
void esm_compute(const float *run_mean, const float *run_var, const double *mu,
                 const double *var, int C, Esm *out);

#endif
