/* What `bnshift run` shows while it works: a one-line progress bar redrawn
 * in place on a terminal (epoch, batch, loss, images/s, ETA), nothing per
 * batch otherwise (the caller prints plain per-epoch lines). */
#ifndef BS_PROGRESS_H
#define BS_PROGRESS_H

#include <stdio.h>

typedef struct {
    FILE *out;
    int tty, quiet, epochs, batch;
    int last_percent;
} Progress;

void progress_init(Progress *p, FILE *out, int epochs, int batch, int quiet);
/* A ProgressFn (train/trainer.h); ctx is the Progress. */
void progress_batch(void *ctx, int epoch, int step, int steps, double loss, double images_per_s);
/* Clears the bar so a plain line can follow. */
void progress_clear(Progress *p);

#endif
