#include "schedule.h"

#include <math.h>

float schedule_lr(const Schedule *s, int epoch, int step, int steps_per_epoch)
{
    if (s->warmup_epochs > 0 && epoch < s->warmup_epochs) {
        long total = (long)s->warmup_epochs * steps_per_epoch;
        long done = (long)epoch * steps_per_epoch + step + 1;
        return s->base_lr * (float)done / (float)total;
    }
    switch (s->type) {
    case SCHED_MULTISTEP: {
        float lr = s->base_lr;
        for (int i = 0; i < s->n_milestones; i++)
            if (epoch >= s->milestones[i])
                lr *= s->gamma;
        return lr;
    }
    case SCHED_COSINE: {
        /* CosineAnnealingLR(T_max = total_epochs, eta_min = 0), closed form. */
        int t_max = s->total_epochs > 0 ? s->total_epochs : 1;
        return (float)(0.5 * s->base_lr * (1.0 + cos(M_PI * (double)epoch / t_max)));
    }
    case SCHED_CONSTANT:
    default:
        return s->base_lr;
    }
}
