#include "optimizer.h"

#include <math.h>

int optimizer_init(Optimizer *o, const Model *m, SgdConfig sgd, float weight_decay, int wd_norm,
                   BsError *err)
{
    o->sgd = sgd;
    o->weight_decay = weight_decay;
    o->wd_norm = wd_norm;
    o->steps = 0;
    o->velocity = bs_alloc(sizeof(float) * (m->n_params ? m->n_params : 1), err);
    return o->velocity ? BS_OK : err->code;
}

void optimizer_step(Optimizer *o, Model *m, float lr)
{
    int first = o->steps == 0;
    size_t nd = m->n_decay, tail = m->n_params - nd;
    sgd_update(&o->sgd, lr, o->weight_decay, m->params, m->grads, o->velocity, nd, first);
    sgd_update(&o->sgd, lr, o->wd_norm ? o->weight_decay : 0.0f, m->params + nd, m->grads + nd,
               o->velocity + nd, tail, first);
    o->steps++;
}

void optimizer_free(Optimizer *o)
{
    bs_free(o->velocity);
    o->velocity = NULL;
}

double train_step_clipped(Model *m, Optimizer *o, const float *x, const int *y, int N, float lr, float grad_clip,
                          int *correct)
{
    model_forward(m, x, N, 1);
    double loss = model_loss(m, y, N, correct, 1);
    if (!isfinite(loss))
        return loss; /* no update from a non-finite loss: the caller names the layer */
    model_zero_grad(m);
    model_backward(m, N, 1);
    if (grad_clip > 0)
        model_clip_grad_norm(m, grad_clip);
    optimizer_step(o, m, lr);
    return loss;
}

double train_step(Model *m, Optimizer *o, const float *x, const int *y, int N, float lr,
                  int *correct)
{
    return train_step_clipped(m, o, x, y, N, lr, 0.0f, correct);
}
