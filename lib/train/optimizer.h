/* The model's optimizer: SGD over the one parameter buffer, with the
 * momentum buffer alongside. Weight decay covers params[0, n_decay) always
 * and the norm/bias tail only when wd_norm is set (PyTorch's default). */
#ifndef BS_OPTIMIZER_H
#define BS_OPTIMIZER_H

#include "models/model.h"
#include "train/sgd.h"

typedef struct {
    SgdConfig sgd;
    float weight_decay;
    int wd_norm;
    float *velocity;
    long steps;
} Optimizer;

int optimizer_init(Optimizer *o, const Model *m, SgdConfig sgd, float weight_decay, int wd_norm,
                   BsError *err);
void optimizer_step(Optimizer *o, Model *m, float lr);
void optimizer_free(Optimizer *o);

/* The training step `run` executes (trainer_epoch) and `bench` times:
 * forward (training mode), loss, backward, gradient clipping to grad_clip
 * (0 = off), update. Returns the mean loss of the batch (*correct gets its
 * hits); a non-finite loss returns before backward, updating nothing. */
double train_step_clipped(Model *m, Optimizer *o, const float *x, const int *y, int N, float lr, float grad_clip,
                          int *correct);
/* train_step_clipped without clipping. */
double train_step(Model *m, Optimizer *o, const float *x, const int *y, int N, float lr,
                  int *correct);

#endif
