#include "trainer.h"

#include <math.h>
#include <string.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Names where a non-finite value first shows up in this step. */
static int report_nonfinite(const Trainer *t, int epoch, int step, double loss, int samples, BsError *err)
{
    int op = model_find_nonfinite(t->m, samples);
    if (t->m->exec_failed)
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory at epoch %d, step %d (reference convolution fallback%s%s)",
                       epoch + 1, step + 1, op >= 0 ? " in layer " : "", op >= 0 ? t->m->ops[op].name : "");
    if (op >= 0)
        return bs_fail(err, BS_ERR_RUNTIME,
                       "non-finite activation at epoch %d, step %d, in the output of layer %s (%s); "
                       "try a smaller train.lr or train.grad_clip",
                       epoch + 1, step + 1, t->m->ops[op].name, op_kind_name(t->m->ops[op].kind));
    if (!isfinite(loss))
        return bs_fail(err, BS_ERR_RUNTIME, "non-finite loss at epoch %d, step %d", epoch + 1, step + 1);
    return bs_fail(err, BS_ERR_RUNTIME,
                   "non-finite weights or running statistics after epoch %d, step %d; "
                   "try a smaller train.lr or train.grad_clip", epoch + 1, step + 1);
}

double bn_estimator_factor(BnEstimator e, double momentum, long t)
{
    return e == BN_EST_CUMULATIVE ? 1.0 / (double)(t > 0 ? t : 1) : momentum;
}

/* One data-parallel step on this rank's n samples: forward, loss, an
 * agreement that every rank's loss is finite (before the backward, whose
 * synchronized BN layers are collectives), backward, the gradient sum with
 * each rank's stop request riding along, clipping, update. */
static double dist_step(Trainer *t, const float *x, const int *y, int n, float lr, int *correct, int *stop_all)
{
    Model *m = t->m;
    const Comm *c = t->comm;
    model_forward(m, x, n, 1);
    double loss = model_loss(m, y, n, correct, 1);
    if (comm_sum1(c, isfinite(loss) ? 0.0 : 1.0) > 0)
        return isfinite(loss) ? NAN : loss;
    model_zero_grad(m);
    model_backward(m, n, 1);
    double *g = t->grad_sum;
    const size_t np = m->n_params;
    for (size_t i = 0; i < np; i++)
        g[i] = m->grads[i];
    g[np] = t->stop && *t->stop;
    c->sum(c, g, np + 1);
    const double inv = 1.0 / c->size;
    for (size_t i = 0; i < np; i++)
        m->grads[i] = (float)(g[i] * inv);
    *stop_all = g[np] > 0;
    if (t->grad_clip > 0)
        model_clip_grad_norm(m, t->grad_clip);
    optimizer_step(t->o, m, lr);
    return loss;
}

int trainer_epoch(Trainer *t, int epoch, EpochStats *st, BsError *err)
{
    memset(st, 0, sizeof *st);
    memcpy(t->order, t->idx, sizeof(int) * (size_t)t->n);
    rng_shuffle(t->rng, t->order, t->n);
    const int steps = t->n / t->batch;
    double t0 = now_seconds(), loss_sum = 0;
    long hits = 0, images = 0;
    const int multi = comm_is_multi(t->comm);
    int first = 0, count = t->batch, stop_all = 0;
    if (multi)
        comm_share(t->batch, t->comm->rank, t->comm->size, &first, &count);
    const size_t sample = (size_t)t->d->c * (size_t)t->d->h * (size_t)t->d->w;
    for (int s = 0; s < steps; s++) {
        if (multi ? stop_all : t->stop && *t->stop) {
            st->interrupted = 1;
            break;
        }
        const int *batch_idx = t->order + (size_t)s * t->batch;
        if (multi && !t->augment) /* no random draws: only this rank's share */
            dataset_gather(t->d, batch_idx + first, count, t->mean, t->std, t->x + first * sample, t->y + first);
        else if (t->augment)
            dataset_gather_augmented(t->d, batch_idx, t->batch, t->mean, t->std, t->flip, t->rng,
                                     t->x, t->y);
        else
            dataset_gather(t->d, batch_idx, t->batch, t->mean, t->std, t->x, t->y);
        float lr = schedule_lr(t->sched, epoch, s, steps);
        if (t->bn_estimator == BN_EST_CUMULATIVE) { /* batches since the restart, this one included */
            const long seen = (t->bn_reset == BN_RESET_NEVER ? (long)epoch * steps : 0) + s + 1;
            model_set_bn_momentum(t->m, (float)bn_estimator_factor(BN_EST_CUMULATIVE, 0.0, seen));
        }
        int correct;
        double loss = multi ? dist_step(t, t->x + first * sample, t->y + first, count, lr, &correct, &stop_all)
                            : train_step_clipped(t->m, t->o, t->x, t->y, t->batch, lr, t->grad_clip, &correct);
        if (!isfinite(loss))
            return report_nonfinite(t, epoch, s, loss, count, err);
        loss_sum += loss * count;
        hits += correct;
        images += count;
        if (t->progress)
            t->progress(t->progress_ctx, epoch, s + 1, steps, loss,
                        images / fmax(now_seconds() - t0, 1e-9));
    }
    /* Every rank's weights are the same; its running statistics (local BN)
     * are its own, so the check is agreed on. */
    if (comm_sum1(t->comm, model_state_finite(t->m) ? 0.0 : 1.0) > 0)
        return report_nonfinite(t, epoch, steps - 1, 0.0, count, err);
    comm_sum_totals(t->comm, &loss_sum, &hits, &images); /* the epoch's, over every rank */
    st->images = images;
    st->seconds = now_seconds() - t0;
    st->loss = st->images ? loss_sum / st->images : 0;
    st->err = st->images ? 1.0 - (double)hits / st->images : 0;
    return BS_OK;
}
