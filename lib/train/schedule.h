/* Learning-rate schedules, evaluated per step so warm-up is smooth.
 * Epochs are 0-based here (PyTorch's scheduler epoch counter). */
#ifndef BS_SCHEDULE_H
#define BS_SCHEDULE_H

typedef enum { SCHED_CONSTANT, SCHED_MULTISTEP, SCHED_COSINE } ScheduleType;

#define SCHED_MAX_MILESTONES 16

typedef struct {
    ScheduleType type;
    float base_lr, gamma;
    int milestones[SCHED_MAX_MILESTONES];
    int n_milestones;
    int total_epochs;  /* cosine period */
    int warmup_epochs; /* linear ramp from base_lr/steps to base_lr */
} Schedule;

/* lr for step `step` (0-based) of epoch `epoch` (0-based). */
float schedule_lr(const Schedule *s, int epoch, int step, int steps_per_epoch);

#endif
