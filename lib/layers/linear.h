/* Fully connected layer through cblas_sgemm. Weight [out][in] (PyTorch
 * layout), bias [out]. */
#ifndef BS_LINEAR_H
#define BS_LINEAR_H

#include <stddef.h>

typedef struct {
    int in_f, out_f, has_bias;
} Linear;

void linear_init(Linear *l, int in_f, int out_f, int has_bias);
size_t linear_num_params(const Linear *l);

/* out[N][out_f] = in[N][in_f] · wᵀ + b. b may be NULL. */
void linear_forward(const Linear *l, const float *w, const float *b,
                    const float *in, float *out, int N);
/* din overwritten (skipped if NULL); dw, db (if non-NULL) accumulate. */
void linear_backward(const Linear *l, const float *w, const float *in,
                     const float *dout, float *din, float *dw, float *db, int N);

#endif
