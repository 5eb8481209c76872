/* Running a model: forward and backward over the op list, each op through
 * its table entry (ops.h); the loss; checks on the numbers. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "layers/add.h"
#include "layers/softmax_xent.h"
#include "model.h"

void model_forward_until(Model *m, const float *x, int N, int train, int stop)
{
    memcpy(m->tensors[0].data, x, sizeof(float) * tensor_numel(&m->tensors[0]) * N);
    for (int i = 0; i < stop && i < m->n_ops; i++) {
        double t0 = m->op_seconds ? omp_get_wtime() : 0;
        const Op *op = &m->ops[i];
        op_type(op->kind)->forward(m, op, N, train);
        if (m->op_seconds)
            m->op_seconds[i] += omp_get_wtime() - t0;
    }
}

void model_forward(Model *m, const float *x, int N, int train)
{
    model_forward_until(m, x, N, train, m->n_ops);
}

double model_loss(Model *m, const int *labels, int N, int *correct, int want_grad)
{
    const Tensor *t = &m->tensors[m->output];
    return softmax_xent(t->data, labels, N, (int)tensor_numel(t), m->label_smoothing, want_grad ? t->grad : NULL,
                        correct);
}

/* Where an op should write the gradient of input tensor `id`: straight into
 * its grad buffer the first time, into scratch when another consumer has
 * already written there (then added by op_grad_end). */
float *op_grad_begin(Model *m, int id)
{
    if (id == 0)
        return NULL; /* nobody needs d(loss)/d(image) */
    return m->grad_written[id] ? m->scratch : m->tensors[id].grad;
}

float *op_grad_written(Model *m, int id) { return id != 0 && m->grad_written[id] ? m->tensors[id].grad : NULL; }

void op_grad_end(Model *m, int id, int N)
{
    if (id == 0)
        return;
    if (m->grad_written[id])
        add_inplace(m->tensors[id].grad, m->scratch, tensor_stride(&m->tensors[id]) * N);
    m->grad_written[id] = 1;
}

void model_backward(Model *m, int N, int train)
{
    memset(m->grad_written, 0, (size_t)m->n_tensors);
    for (int i = m->n_ops - 1; i >= 0; i--) {
        double t0 = m->op_seconds ? omp_get_wtime() : 0;
        const Op *op = &m->ops[i];
        op_type(op->kind)->backward(m, op, N, train);
        if (m->op_seconds)
            m->op_seconds[i] += omp_get_wtime() - t0;
    }
}

void model_zero_grad(Model *m) { memset(m->grads, 0, sizeof(float) * m->n_params); }

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

int model_find_nonfinite(const Model *m, int N)
{
    for (int i = 0; i < m->n_ops; i++) {
        const Tensor *t = &m->tensors[m->ops[i].out];
        if (!all_finite(t->data, tensor_stride(t) * N))
            return i;
    }
    return -1;
}

int model_state_finite(const Model *m)
{
    return all_finite(m->params, m->n_params) && all_finite(m->stats, m->n_stats);
}

double model_clip_grad_norm(Model *m, double max_norm)
{
    double ss = 0;
    for (size_t i = 0; i < m->n_params; i++)
        ss += (double)m->grads[i] * m->grads[i];
    double norm = sqrt(ss);
    if (norm > max_norm) {
        /* PyTorch's coefficient: max_norm / (norm + 1e-6). */
        float scale = (float)(max_norm / (norm + 1e-6));
        for (size_t i = 0; i < m->n_params; i++)
            m->grads[i] *= scale;
    }
    return norm;
}
