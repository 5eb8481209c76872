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
static int report_nonfinite(const Trainer *t, int epoch, int step, double loss, BsError *err)
{
    int op = model_find_nonfinite(t->m, t->batch);
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

int trainer_epoch(Trainer *t, int epoch, EpochStats *st, BsError *err)
{
    memset(st, 0, sizeof *st);
    memcpy(t->order, t->idx, sizeof(int) * (size_t)t->n);
    rng_shuffle(t->rng, t->order, t->n);
    const int steps = t->n / t->batch;
    double t0 = now_seconds(), loss_sum = 0;
    long hits = 0;
    for (int s = 0; s < steps; s++) {
        if (t->stop && *t->stop) {
            st->interrupted = 1;
            break;
        }
        const int *batch_idx = t->order + (size_t)s * t->batch;
        if (t->augment)
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
        double loss = train_step_clipped(t->m, t->o, t->x, t->y, t->batch, lr, t->grad_clip, &correct);
        if (!isfinite(loss))
            return report_nonfinite(t, epoch, s, loss, err);
        loss_sum += loss * t->batch;
        hits += correct;
        st->images += t->batch;
        if (t->progress)
            t->progress(t->progress_ctx, epoch, s + 1, steps, loss,
                        st->images / fmax(now_seconds() - t0, 1e-9));
    }
    if (!model_state_finite(t->m))
        return report_nonfinite(t, epoch, steps - 1, 0.0, err);
    st->seconds = now_seconds() - t0;
    st->loss = st->images ? loss_sum / st->images : 0;
    st->err = st->images ? 1.0 - (double)hits / st->images : 0;
    return BS_OK;
}
